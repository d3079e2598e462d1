"""``kokreativ terminal …``: run a kiosk, sync its outbox, show its status and log evidence, clear an alarm.

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
from typing import Any

from protocol import b64encode
from terminal.config import INDICATORS, READERS, KioskConfig, load_config
from terminal.outbox import Outbox, OutboxStatus
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

With --once prints one JSON line {"sent","acknowledged","pending","error","message",
"trust_issued_ms","log_size"} and exits 0 only when nothing is pending and the round
had no error, else 1.
"""
STATUS_EXAMPLES = """\
examples:
  kokreativ terminal status --config /var/lib/kokreativ/kiosk.toml

Reads the outbox only; if it does not exist yet the command fails (not_found)
instead of creating it.  "alarm" and "alarm_code" (fork_detected or
log_inconsistent) say why sync is halted; "log" is the last checkpoint of the
server's transparency log this kiosk verified ("verified": when it first
verified that tree head), "evidence" how many inconsistencies it has kept (see
'kokreativ terminal evidence').
"""
EVIDENCE_EXAMPLES = """\
examples:
  kokreativ terminal evidence --config /var/lib/kokreativ/kiosk.toml
  kokreativ terminal evidence --config /var/lib/kokreativ/kiosk.toml --out /media/usb/evidence.json

Prints (or writes to FILE) a JSON list with one object per inconsistency the
kiosk found in the server's log: "kind", both signed checkpoints, the
consistency proof the server sent, "detail", "detected" and "reported" (when the
server acknowledged it, or null).  An empty list [] when there is none.  With
--out prints one JSON line {"evidence": <count>, "written": FILE}.
"""
CLEAR_ALARM_EXAMPLES = """\
examples:
  kokreativ terminal clear-alarm --config /var/lib/kokreativ/kiosk.toml

Run this only after a coordinator has looked into a fork_detected or
log_inconsistent alarm (see 'kokreativ terminal status' and 'kokreativ
terminal evidence'; copy the data folder first).  Prints one JSON line
{"alarm_cleared": <the alarm that was set, or null>}; sync resumes on its next
round.  Evidence is kept.  After log_inconsistent the kiosk also forgets the
checkpoint it had verified and accepts the server's current log as its new
starting point.
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


def _log_report(config: KioskConfig, status: OutboxStatus) -> dict[str, Any] | None:
    verified = status.log
    if verified is None:
        return None
    return {
        "size": verified.size,
        "root": b64encode(verified.root),
        "verified": _iso(verified.verified_ms),
        "origin": config.log_origin or status.log_origin or verified.origin,
    }


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
        "alarm_code": status.alarm_code,
        # The server's transparency log as this kiosk last verified it; null before the first sync.
        "log": _log_report(config, status),
        "evidence": status.evidence,
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


def _evidence(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with Outbox(config.outbox_path, create=False) as outbox:
        items = outbox.evidence()
    report = [
        {
            **item.to_json(),
            "detected": _iso(item.detected_ms),
            "detected_ms": item.detected_ms,
            "reported": _iso(item.reported_ms),
            "reported_ms": item.reported_ms,
        }
        for item in items
    ]
    text = json.dumps(report, sort_keys=True, indent=2) + "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
        print(json.dumps({"evidence": len(report), "written": str(args.out)}, sort_keys=True))
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
    """Add the ``run``, ``sync``, ``status``, ``evidence`` and ``clear-alarm`` sub-commands to ``parser``."""
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
        subparsers,
        "status",
        "show the outbox: last event, pending, last sync, alarm, verified log",
        STATUS_EXAMPLES,
    )
    status.set_defaults(func=_status)

    evidence = _add(
        subparsers,
        "evidence",
        "export the inconsistencies this kiosk found in the server's transparency log, as JSON",
        EVIDENCE_EXAMPLES,
    )
    evidence.add_argument("--out", type=Path, metavar="FILE", help="write the JSON to FILE instead of stdout")
    evidence.set_defaults(func=_evidence)

    clear_alarm = _add(
        subparsers,
        "clear-alarm",
        "lift a fork_detected or log_inconsistent alarm after it was investigated, so sync resumes",
        CLEAR_ALARM_EXAMPLES,
    )
    clear_alarm.set_defaults(func=_clear_alarm)
