"""``kokreativ terminal …``: run a kiosk, sync its outbox, show its status, clear a fork alarm.

Glue only: every command parses arguments and calls :mod:`terminal` functions.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from terminal.config import INDICATORS, READERS, load_config
from terminal.outbox import Outbox
from terminal.service import join_sync_thread, open_service, stop_on_signals
from terminal.sync import SyncClient
from terminal.trust import TrustStore

SYNC_SHUTDOWN_S = 5.0  # how long ``sync`` waits for a round in flight after SIGTERM

RUN_EXAMPLES = """\
examples:
  printf '04a2b3c4 c_00a71ed80fa1e76c198371c3ece0dc0e\\n' | \\
      kokreativ terminal run --config /var/lib/kokreativ/kiosk.toml --reader stdin --no-sync
  kokreativ terminal run --config /var/lib/kokreativ/kiosk.toml --indicator gpio

With --reader stdin each input line is one tap, 'UIDHEX' or 'UIDHEX CARD_ID';
each tap prints one line starting with OK, DENIED or ERROR; the run ends at EOF.
"""
SYNC_EXAMPLES = """\
examples:
  kokreativ terminal sync --config /var/lib/kokreativ/kiosk.toml --once
  kokreativ terminal sync --config /var/lib/kokreativ/kiosk.toml     # until SIGTERM

With --once prints one JSON line {"sent","acknowledged","pending","error","message"}
and exits 0 only when nothing is pending and the round had no error, else 1.
"""
STATUS_EXAMPLES = """\
examples:
  kokreativ terminal status --config /var/lib/kokreativ/kiosk.toml

Reads the outbox only; if it does not exist yet the command fails (not_found)
instead of creating it.
"""
CLEAR_ALARM_EXAMPLES = """\
examples:
  kokreativ terminal clear-alarm --config /var/lib/kokreativ/kiosk.toml

Run this only after a coordinator has looked into a fork_detected alarm (see
'kokreativ terminal status').  Prints one JSON line {"alarm_cleared": <the
alarm that was set, or null>}; sync resumes on its next round.
"""


def _logging(verbose: bool) -> None:
    if not logging.getLogger().handlers:  # leave a host application's logging alone
        logging.basicConfig(
            level=logging.DEBUG if verbose else logging.INFO,
            stream=sys.stderr,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )


def _run(args: argparse.Namespace) -> int:
    _logging(args.verbose)
    config = load_config(args.config)
    stop = threading.Event()
    with (
        stop_on_signals(stop),
        open_service(
            config,
            stdin=sys.stdin,
            stdout=sys.stdout,
            reader=args.reader,
            indicator=args.indicator,
            sync=not args.no_sync,
        ) as service,
    ):
        service.run(stop)
    return 0


def _sync(args: argparse.Namespace) -> int:
    _logging(args.verbose)
    config = load_config(args.config)
    with Outbox(config.outbox_path) as outbox, SyncClient(config, outbox) as client:
        if args.once:
            result = client.sync_once()
            print(json.dumps(result.to_json(), sort_keys=True))
            return 0 if result.ok and result.pending == 0 else 1
        stop = threading.Event()
        with stop_on_signals(stop):
            # The loop runs in a daemon thread so that SIGTERM is not held up by a request on the wire:
            # the main thread waits for ``stop``, then gives the loop a bounded time to finish.
            thread = threading.Thread(
                target=client.run_forever, args=(stop,), name="kokreativ-sync", daemon=True
            )
            thread.start()
            join_sync_thread(thread, stop, poll_s=0.5, grace_s=SYNC_SHUTDOWN_S)
    return 0


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def _status(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with Outbox(config.outbox_path, create=False) as outbox:
        status = outbox.status()
        trust = TrustStore(outbox, server_key=config.server_public_key, kiosk_id=config.kiosk_id).current()
    report = {
        "kiosk_id": config.kiosk_id,
        "site": {"site_id": config.site_id, "name": config.site_name},
        "server_url": config.server_url,
        "last_seq": status.last_seq,
        "synced_seq": status.synced_seq,
        "pending": status.pending,
        "open_shifts": status.open_shifts,
        "last_sync": _iso(status.last_sync_ms),
        "last_sync_ms": status.last_sync_ms,
        "alarm": status.alarm,
        "reader": config.nfc_path if config.reader == "nfc" else config.reader,
        # What cards are checked against; null before the first list (every card is then denied).
        "trust_list": None
        if trust is None
        else {
            "issued": _iso(trust.issued_ms),
            "issuer_keys": len(trust.issuers),
            "blocked_cards": len(trust.blocked),
            "allow_uncredentialed": trust.allow_uncredentialed,
        },
    }
    print(json.dumps(report, sort_keys=True, indent=2))
    return 0


def _clear_alarm(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with Outbox(config.outbox_path, create=False) as outbox:
        previous = outbox.clear_alarm()
    print(json.dumps({"alarm_cleared": previous}, sort_keys=True))
    return 0


def _add(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str, epilog: str
) -> argparse.ArgumentParser:
    sub = subparsers.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.add_argument("--config", type=Path, required=True, metavar="PATH", help="the kiosk's kiosk.toml")
    return sub


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``run``, ``sync``, ``status`` and ``clear-alarm`` sub-commands to ``parser``."""
    subparsers = parser.add_subparsers(dest="terminal_command", metavar="COMMAND", required=True)

    run = _add(subparsers, "run", "record taps (offline) and sync them in the background", RUN_EXAMPLES)
    run.add_argument("--reader", choices=READERS, help="override the config's reader")
    run.add_argument("--indicator", choices=INDICATORS, help="override the config's indicator")
    run.add_argument("--no-sync", action="store_true", help="record only; do not contact the server")
    run.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    run.set_defaults(func=_run)

    sync = _add(subparsers, "sync", "send the outbox to the ledger server", SYNC_EXAMPLES)
    sync.add_argument(
        "--once",
        action="store_true",
        help="one round, print a JSON summary; exit 0 if nothing is pending and no error, else 1",
    )
    sync.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sync.set_defaults(func=_sync)

    status = _add(
        subparsers, "status", "show the outbox: last event, pending, last sync, alarm", STATUS_EXAMPLES
    )
    status.set_defaults(func=_status)

    clear_alarm = _add(
        subparsers,
        "clear-alarm",
        "lift a fork_detected alarm after it was investigated, so sync resumes",
        CLEAR_ALARM_EXAMPLES,
    )
    clear_alarm.set_defaults(func=_clear_alarm)
