"""The kiosk screen under load, in a process of its own: ``python -m bench.kiosk_screen --config F``.

Runs the real app (view, presenter, controller, kiosk core, sync thread)
rendering offscreen with a simulated reader, taps ``--taps`` cards one after
another and prints one JSON line:

- ``tap_to_screen_ms``: per tap, from handing the card to the reader until the
  window has flipped the first frame that shows the result screen;
- ``rss_mb``: the process's resident memory after the last tap (``VmRSS``);
- ``screens``: how many result screens were shown (must equal the taps).

With ``--empty-window`` it only opens an empty Kivy window the same way and
prints ``{"rss_mb": …}``: the floor that SDL, OpenGL (here Mesa's llvmpipe,
on a Pi the V3D driver) and Kivy cost before any kiosk code runs.

Its own process, so that the memory figure is the kiosk app's alone.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from functools import partial
from pathlib import Path

from hardware.reader import Tap
from hardware.simulated import SimulatedReader
from terminal.ui.app import kivy_post, prepare_kivy
from terminal.ui.model import Layout, Screen


def rss_mb() -> float:
    """Resident memory of this process in MiB, from ``/proc/self/status``."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def run(config_path: Path, taps: list[Tap], count: int) -> dict[str, object]:
    prepare_kivy(fullscreen=False, headless=True)
    from kivy.base import EventLoop
    from kivy.core.window import Window

    from terminal.service import open_service
    from terminal.ui.app import KioskScreen
    from terminal.ui.controller import ScreenController

    controller = ScreenController(
        config_path=config_path,
        post=kivy_post,
        open_runtime=partial(
            open_service, stdin=io.StringIO(), stdout=io.StringIO(), reader="sim", indicator="console"
        ),
    )
    screen = KioskScreen(controller)
    Window.add_widget(screen.root)
    results: list[Screen] = []
    screen.add_listener(lambda shown: results.append(shown) if shown.layout is Layout.RESULT else None)
    flips: list[float] = []
    Window.bind(on_flip=lambda *_: flips.append(time.perf_counter()))
    service = controller.service
    assert service is not None and isinstance(service.reader, SimulatedReader)
    for _ in range(5):
        EventLoop.idle()
    latencies: list[float] = []
    try:
        for i in range(count):
            # Each card twice in a row: check-in, check-out, so each result differs from the one before
            # and is drawn (an identical screen is not redrawn, and there would be no frame to time).
            tap = taps[(i // 2) % len(taps)]
            seen = len(results)
            started = time.perf_counter()
            service.reader.present_card(tap.uid, tap.ndef)
            while len(results) == seen:
                EventLoop.idle()  # the frame in which the result screen is shown is flipped before it returns
            latencies.append((flips[-1] - started) * 1000)
            del flips[:]
        memory = rss_mb()
    finally:
        screen.close()
    return {"tap_to_screen_ms": latencies, "rss_mb": memory, "screens": len(results)}


def empty_window() -> dict[str, object]:
    prepare_kivy(fullscreen=False, headless=True)
    from kivy.base import EventLoop
    from kivy.core.window import Window

    Window.clearcolor = (0.1, 0.1, 0.1, 1)
    for _ in range(5):
        EventLoop.idle()
    return {"rss_mb": rss_mb()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.kiosk_screen", description=__doc__.splitlines()[0])
    parser.add_argument("--empty-window", action="store_true", help="only an empty window: the memory floor")
    parser.add_argument("--config", type=Path)
    parser.add_argument("--taps-file", type=Path, help="one 'UIDHEX NDEFHEX' line per card")
    parser.add_argument("--taps", type=int, default=1000)
    args = parser.parse_args(argv)
    if args.empty_window:
        print(json.dumps(empty_window()))
        return 0
    if args.config is None or args.taps_file is None:
        parser.error("--config and --taps-file are needed unless --empty-window")
    taps = []
    for line in args.taps_file.read_text().splitlines():
        uid, ndef = line.split()
        taps.append(Tap(uid=bytes.fromhex(uid), ndef=bytes.fromhex(ndef)))
    print(json.dumps(run(args.config, taps, args.taps)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
