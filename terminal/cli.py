"""``kokreativ terminal …``: run a kiosk, sync its outbox, show its status and log evidence, clear an alarm.

Glue only: every command parses arguments and calls :mod:`terminal` functions.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
import logging
import sys
import threading
from functools import partial
from pathlib import Path

from hardware.sdnotify import Watchdog
from protocol import Reason
from terminal.config import (
    CONFIG_ENV,
    DEFAULT_CONFIG_PATH,
    INDICATORS,
    LANGUAGES,
    config_path,
    load_config,
    write_config,
)
from terminal.errors import ModeError, TerminalError
from terminal.outbox import Outbox
from terminal.pin import hash_pin
from terminal.readeropts import add_device, add_reader_kind
from terminal.service import (
    Mode,
    join_sync_thread,
    kiosk_mode,
    open_service,
    open_shop_service,
    stop_on_signals,
)
from terminal.status import evidence_report, status_report
from terminal.sync import SyncClient

SYNC_SHUTDOWN_S = 5.0  # how long ``sync`` waits for a round in flight after SIGTERM

RUN_EXAMPLES = """\
examples:
  kokreativ terminal run --config /var/lib/kokreativ/kiosk.toml
  kokreativ terminal run --config /var/lib/kokreativ/kiosk.toml --server https://ledger.example.org
  kokreativ terminal run --config ./kiosk.toml --windowed --reader sim --language en
  kokreativ terminal run --headless --reader nfc --device tty:AMA0:pn532
  printf '04a2b3c4 d1...\\n' | \\
      kokreativ terminal run --config /var/lib/kokreativ/kiosk.toml --headless --reader stdin --no-sync

Without --headless the kiosk screen opens fullscreen (Kivy).  A kiosk that is not
enrolled yet (no kiosk.toml) starts on the enrolment keypad and enrols against
--server.  With --headless there is no screen: with --reader stdin each input
line is one tap, 'UIDHEX' or 'UIDHEX NDEFHEX'; each tap prints one line starting
with OK, DENIED or ERROR; the run ends at EOF.  --reader is the reader's kind
(nfc, stdin, sim); --device the nfcpy device of an nfc reader (usb,
tty:AMA0:pn532, udp:localhost:54321), else kiosk.toml's 'device'.  A shop terminal (enrolled with a
shop's code) has no --headless mode: its till needs the screen.  With --no-sync
(a separate 'terminal sync' service) the till still asks the server to authorise
each redemption; only the background sync runs elsewhere.
"""
SYNC_EXAMPLES = """\
examples:
  kokreativ terminal sync --once    # config: $KOKREATIV_CONFIG, else /var/lib/kokreativ/kiosk.toml
  kokreativ terminal sync --config ./kiosk.toml     # until SIGTERM

With --once it runs one round, then sends a heartbeat, and prints one JSON line
{"sent","acknowledged","pending","error","message","trust_issued_ms","log_size",
"clock_offset_ms"} (the offset the server measured; null when the heartbeat failed).
It exits 0 only when nothing is pending and the round had no error, else 1.
"""
STATUS_EXAMPLES = """\
examples:
  kokreativ terminal status
  KOKREATIV_CONFIG=/srv/kiosk2/kiosk.toml kokreativ terminal status

Every terminal command finds the kiosk's config without --config: in
$KOKREATIV_CONFIG if set, else at /var/lib/kokreativ/kiosk.toml (where
enrolment writes it).

Reads the outbox only; if it does not exist yet the command fails (not_found)
instead of creating it.  Times are ISO 8601 in the site's zone with its offset
(2026-12-07T14:05:00+01:00); "last_sync_ms" and "clock_offset_ms" are integers.
"reader" is the reader's kind (nfc, stdin, sim), "device" its nfcpy device
(null unless nfc).  "mode" is check_in or shop (from the trust list); a
shop terminal also shows "shop": its limits and "offline_today", today's
offline redemptions (Europe/Berlin day) against the daily cap.
"sync_round" says when the sync side last noted a round
and its "error" (null: it went well).  "alarm" and "alarm_code" (fork_detected or
log_inconsistent) say why sync is halted; "log" is the last checkpoint of the
server's transparency log this kiosk verified ("verified": when it first
verified that tree head), "evidence" how many inconsistencies it has kept (see
'kokreativ terminal evidence').  "server_key" is the server key this kiosk verifies
with ("public_key", base64) and where it came from: "source" is "enrolment"
(kiosk.toml) or "rotation" (a key transition the kiosk followed; "pinned" says when).
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
SET_PIN_EXAMPLES = """\
examples:
  kokreativ terminal set-pin --config /var/lib/kokreativ/kiosk.toml
  echo 482913 | kokreativ terminal set-pin --config ./kiosk.toml --pin-stdin

Asks twice for a PIN of 4 to 8 digits and stores its argon2id hash in the
config (never the PIN).  A long press on the idle screen asks for it and opens
the coordinator menu; five wrong PINs lock the keypad for five minutes.  The
screen offers the same right after enrolment.  Prints {"coordinator_pin": "set"}.
Restart the kiosk service for a running screen to use the new PIN.
"""


def _logging(verbose: bool) -> None:
    if not logging.getLogger().handlers:  # leave a host application's logging alone
        logging.basicConfig(
            level=logging.DEBUG if verbose else logging.INFO,
            stream=sys.stderr,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )


def _config(args: argparse.Namespace) -> Path:
    """``--config``, else ``$KOKREATIV_CONFIG``, else where enrolment writes it (terminal.config)."""
    return config_path(args.config)


def _run(args: argparse.Namespace) -> int:
    _logging(args.verbose)
    if not args.headless:
        return _run_screen(args)
    config = load_config(_config(args))
    if kiosk_mode(config) is Mode.SHOP:
        raise ModeError(
            "shop_terminal",
            "this kiosk is a shop terminal and needs its screen: "
            "run 'kokreativ terminal run' without --headless",
        )
    stop = threading.Event()
    with (
        stop_on_signals(stop),
        open_service(
            config,
            stdin=sys.stdin,
            stdout=sys.stdout,
            reader=args.reader,
            device=args.device,
            indicator=args.indicator,
            sync=not args.no_sync,
        ) as service,
    ):
        service.run(stop, watchdog=Watchdog())  # READY and pings under systemd (Type=notify)
    return 0


def _run_screen(args: argparse.Namespace) -> int:
    """The touchscreen app; enrols first when ``--config`` does not exist yet."""
    from terminal.ui.app import kivy_post, prepare_kivy, run_app  # Kivy only where a screen is wanted
    from terminal.ui.controller import ScreenController, enrol_against

    enrolled = _config(args).exists()
    if enrolled:
        server_url = load_config(_config(args)).server_url
    elif args.server is None:
        raise TerminalError(
            Reason.MISSING_FIELD,
            f"{_config(args)} does not exist: pass --server URL to enrol on the screen, "
            f"or point at an enrolled kiosk's config with --config PATH or {CONFIG_ENV}",
        )
    elif _config(args).name != "kiosk.toml":
        raise TerminalError(
            Reason.BAD_FIELD, "a kiosk that enrols on the screen keeps its config in kiosk.toml"
        )
    else:
        server_url = args.server
    prepare_kivy(fullscreen=not args.windowed)
    controller = ScreenController(
        config_path=_config(args),
        post=kivy_post,
        open_runtime=partial(
            open_service,
            stdin=sys.stdin,
            stdout=sys.stdout,
            reader=args.reader,
            device=args.device,
            indicator=args.indicator,
            sync=not args.no_sync,
        ),
        open_shop_runtime=partial(
            open_shop_service,
            stdin=sys.stdin,
            stdout=sys.stdout,
            reader=args.reader,
            device=args.device,
            indicator=args.indicator,
            sync=not args.no_sync,
        ),
        enrol=enrol_against(
            server_url,
            _config(args).parent,
            reader=args.reader or "nfc",
            indicator=args.indicator or "console",
            device=args.device,
        ),
        language=args.language,
    )
    run_app(controller, server_url=server_url, watchdog=Watchdog())
    return 0


def _sync(args: argparse.Namespace) -> int:
    _logging(args.verbose)
    config = load_config(_config(args))
    with Outbox(config.outbox_path) as outbox, SyncClient(config, outbox) as client:
        if args.once:
            result = client.sync_once()
            # A heartbeat too, as the service sends after its rounds: a kiosk synced only by a timer
            # (or by hand) still shows up as alive, with its clock offset, in 'provision terminal list'.
            offset = client.send_heartbeat()
            client.write_metrics()  # a kiosk synced by a timer keeps node_exporter's file current too
            print(
                json.dumps(
                    {**result.to_json(), "clock_offset_ms": offset}, sort_keys=True, ensure_ascii=False
                )
            )
            return 0 if result.ok and result.pending == 0 else 1
        stop = threading.Event()
        with stop_on_signals(stop):
            # The loop runs in a daemon thread so that SIGTERM is not held up by a request on the wire:
            # the main thread waits for ``stop``, then gives the loop a bounded time to finish.
            thread = threading.Thread(
                # The loop pings the watchdog (this thread only joins): a hung loop gets restarted.
                target=client.run_forever,
                args=(stop, None, Watchdog()),
                name="kokreativ-sync",
                daemon=True,
            )
            thread.start()
            join_sync_thread(thread, stop, poll_s=0.5, grace_s=SYNC_SHUTDOWN_S)
    return 0


def _status(args: argparse.Namespace) -> int:
    print(json.dumps(status_report(load_config(_config(args))), sort_keys=True, ensure_ascii=False, indent=2))
    return 0


def _evidence(args: argparse.Namespace) -> int:
    report = evidence_report(load_config(_config(args)))
    text = json.dumps(report, sort_keys=True, ensure_ascii=False, indent=2) + "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
        print(
            json.dumps(
                {"evidence": len(report), "written": str(args.out)}, sort_keys=True, ensure_ascii=False
            )
        )
    return 0


def _clear_alarm(args: argparse.Namespace) -> int:
    config = load_config(_config(args))
    with Outbox(config.outbox_path, create=False) as outbox:
        previous = outbox.clear_alarm()
    print(json.dumps({"alarm_cleared": previous}, sort_keys=True, ensure_ascii=False))
    return 0


def _set_pin(args: argparse.Namespace) -> int:
    config = load_config(_config(args))
    if args.pin_stdin:
        pin = sys.stdin.readline().strip()
    else:
        pin = getpass.getpass("new coordinator PIN (4 to 8 digits): ")
        if getpass.getpass("repeat the PIN: ") != pin:
            raise TerminalError(Reason.BAD_FIELD, "the two PINs differ; nothing was changed")
    try:
        hashed = hash_pin(pin)
    except ValueError as exc:
        raise TerminalError(Reason.BAD_FIELD, str(exc)) from exc
    write_config(_config(args), dataclasses.replace(config, coordinator_pin=hashed))
    print(json.dumps({"coordinator_pin": "set"}, sort_keys=True, ensure_ascii=False))
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
    sub.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help=f"the kiosk's kiosk.toml (default: ${CONFIG_ENV}, else {DEFAULT_CONFIG_PATH})",
    )
    return sub


def configure(parser: argparse.ArgumentParser) -> None:
    """Add ``run``, ``sync``, ``status``, ``evidence``, ``clear-alarm`` and ``set-pin`` to ``parser``."""
    subparsers = parser.add_subparsers(dest="terminal_command", metavar="COMMAND", required=True)

    _configure_run(subparsers)
    _configure_sync(subparsers)
    _configure_inspection(subparsers)
    _configure_set_pin(subparsers)


def _configure_run(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``terminal run``: the kiosk itself."""
    run = _add(
        subparsers,
        "run",
        "the kiosk: show the screen, record taps (offline), sync in the background",
        RUN_EXAMPLES,
    )
    run.add_argument("--headless", action="store_true", help="no screen: the tap loop alone, lights and log")
    run.add_argument("--windowed", action="store_true", help="a 800x480 window instead of fullscreen")
    run.add_argument("--language", choices=LANGUAGES, help="override the config's screen language")
    run.add_argument("--server", metavar="URL", help="the ledger server to enrol against (first start only)")
    add_reader_kind(run, default=None, help_text="the reader's kind; overrides the config's 'reader'")
    add_device(
        run, help_text="the nfc reader's nfcpy device (usb, tty:AMA0:pn532, …); overrides the config's"
    )
    run.add_argument("--indicator", choices=INDICATORS, help="override the config's indicator")
    run.add_argument("--no-sync", action="store_true", help="record only; do not contact the server")
    run.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    run.set_defaults(func=_run)


def _configure_sync(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``terminal sync``: send the outbox."""
    sync = _add(subparsers, "sync", "send the outbox to the ledger server", SYNC_EXAMPLES)
    sync.add_argument(
        "--once",
        action="store_true",
        help="one round, print a JSON summary; exit 0 if nothing is pending and no error, else 1",
    )
    sync.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sync.set_defaults(func=_sync)


def _configure_inspection(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``status``, ``evidence`` and ``clear-alarm``: what an operator looks at and lifts."""
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


def _configure_set_pin(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``terminal set-pin``: the coordinator PIN."""
    set_pin = _add(
        subparsers,
        "set-pin",
        "set the coordinator PIN that opens the kiosk's menu after a long press",
        SET_PIN_EXAMPLES,
    )
    set_pin.add_argument("--pin-stdin", action="store_true", help="read the PIN from one line of stdin")
    set_pin.set_defaults(func=_set_pin)
