"""``kokreativ demo``: one simulated day, end to end, on embedded defaults (its acts: :mod:`.day`).

It runs the real parts: the ledger server's app under uvicorn on loopback
with SQLite in a temporary folder, the coordinator's provisioning over the
admin API (an issuer key, cards carrying signed credentials), a kiosk enrolled
with a fresh key, the kiosk core with a simulated reader and clock, the sync
client and the server's own re-verification.  The server is stopped while the
day is replayed (nothing listens on its port), to show that the kiosk works
offline, checking credentials too.  The day is two days ago, and the server
lives through it on a clock the demo moves forward act by act
(:mod:`.ledger`), so it enrols the kiosk that morning, before the day's taps.

At the end an auditor re-checks the public log with nothing but the published
verifier key, and then catches a dishonest edit of the server's database.

Where a display is available (``DISPLAY`` or ``WAYLAND_DISPLAY`` is set) the
demo then opens the kiosk's screen in a window, with the server running and a
simulated reader: keys 1, 2 and 3 tap the three volunteers' cards, any other
key an unknown card, and a long press with PIN 1234 opens the coordinator menu.
Closing the window ends the demo.  Without a display (or with ``--no-window``)
the demo stays headless.

With ``--serve`` (``make serve-demo``) the demo's server keeps running after
the day on 127.0.0.1 (port 8765, ``--port``), with a second site, a shift
waiting for a second signature, an open hours confirmation and four
console accounts whose passwords and TOTP codes the terminal prints, so that a
newcomer can click through the web console (:mod:`.serve`) until Ctrl-C.  Before
the day the server lives through six months of other sites and shops
(:mod:`.history`), so the public page ``/`` has closed months to show; plain
``kokreativ demo`` skips them and stays quick.

The cards are issued exactly as ``kokreativ provision card issue`` does,
through nfcpy's real code, onto emulated NTAG215 stickers (nfcpy's ``udp``
driver; :mod:`hardware.emulator`), which end up read-only.  The kiosk then
replays the day with those tags' UIDs and NDEF bytes on a simulated reader
and clock; ``make test`` also reads such tags through nfcpy at the kiosk.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from kokreativ.demo.day import run_demo
from kokreativ.demo.script import DAY, TOKENS_PER_HOUR
from kokreativ.demo.window import demo_keys, display_available
from protocol import Reason

__all__ = ["DAY", "TOKENS_PER_HOUR", "DemoError", "configure", "demo_keys", "display_available", "run_demo"]


class DemoError(RuntimeError):
    """A demo that cannot start; ``reason`` and ``message`` are what ``kokreativ`` prints."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


def _new_folder(path: str) -> Path:
    """``--dir``, made new: a demo never writes into (or over) an earlier run's files."""
    workdir = Path(path)
    try:
        workdir.mkdir(parents=True, exist_ok=False)
    except FileExistsError:
        raise DemoError(
            Reason.FOLDER_EXISTS,
            f"{workdir} exists already: give --dir a folder that does not exist yet "
            "(the demo makes it), or leave --dir out to run in a temporary folder",
        ) from None
    return workdir


def _run(args: argparse.Namespace) -> int:
    # The demo tells its own story on stdout, the outage included ("sync while offline: network_error"):
    # the components' warnings about that outage would only repeat it in log form.  Errors still show.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    workdir = _new_folder(args.dir) if args.dir else None
    if args.serve:
        from kokreativ.demo.serve import serve_demo, stop_on_sigterm

        stop_on_sigterm()
        if workdir is not None:
            return serve_demo(workdir, sys.stdout, port=args.port)
        with tempfile.TemporaryDirectory(prefix="kokreativ-demo-") as tmp:
            return serve_demo(Path(tmp), sys.stdout, port=args.port)
    window = display_available() and not args.no_window
    if workdir is not None:
        return run_demo(workdir, sys.stdout, keep=True, window=window)
    with tempfile.TemporaryDirectory(prefix="kokreativ-demo-") as tmp:
        return run_demo(Path(tmp), sys.stdout, window=window)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "example:\n  kokreativ demo\n  kokreativ demo --dir /tmp/kk-demo   # keep the files\n"
        "  kokreativ demo --serve            # then click through the console at http://127.0.0.1:8765"
    )
    parser.add_argument("--dir", help="keep everything in this new folder instead of a temporary one")
    parser.add_argument("--no-window", action="store_true", help="stay headless even where a display is")
    parser.add_argument(
        "--serve",
        action="store_true",
        help="after the day keep the server running with console accounts (printed) until Ctrl-C",
    )
    parser.add_argument(
        "--port", type=int, default=8765, help="the console's port with --serve (default: 8765)"
    )
    parser.set_defaults(func=_run)
