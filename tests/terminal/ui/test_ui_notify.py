"""The Kivy app says READY after its first frame and pings from its own loop; a stuck loop stops them.

The window is the offscreen one of this folder's conftest; the test drives
Kivy's loop itself (``frames_until``), so "the UI hangs" is a clock callback
that does not return.  A real unix datagram socket is ``NOTIFY_SOCKET``.
"""

from __future__ import annotations

import os
import time
from typing import Any

from hardware.sdnotify import Watchdog
from terminal.ui.app import KioskScreen, kivy_post
from terminal.ui.controller import ScreenController
from tests.notify_helpers import PINGS, READY, WATCHDOG, between, notify_listener, pings_since, watchdog_env

WINDOW_S = 1.2  # three watchdog intervals of 400 ms


def _screen(tmp_path, window: Any, watchdog: Watchdog) -> KioskScreen:
    # Not enrolled yet: the enrolment screen, without a server or a reader.
    controller = ScreenController(
        config_path=tmp_path / "kiosk.toml", post=kivy_post, open_runtime=lambda _config: None
    )
    screen = KioskScreen(controller, watchdog=watchdog)
    window.add_widget(screen.root)
    return screen


def _run_frames_for(seconds: float, frames_until: Any) -> None:
    deadline = time.monotonic() + seconds
    frames_until(lambda: time.monotonic() >= deadline)


def test_ready_after_the_first_frame_pings_from_the_loop_and_none_while_it_is_stuck(
    tmp_path, window, frames, frames_until
):
    from kivy.clock import Clock

    with notify_listener() as listener:
        screen = _screen(tmp_path, window, Watchdog(environ=watchdog_env(listener)))
        try:
            listener.mark("BUILT")
            frames(1)
            listener.mark("WINDOW-START")
            frames_until(lambda: pings_since(listener.messages(), "WINDOW-START") >= PINGS)
            listener.mark("WINDOW-END")

            def stuck(_dt: float) -> None:  # a callback that hangs the UI loop for three intervals
                listener.mark("BLOCK-START")
                time.sleep(WINDOW_S)
                listener.mark("BLOCK-END")

            Clock.schedule_once(stuck, 0)
            frames(1)
            listener.mark("STUCK-RETURNED")
            _run_frames_for(0.5, frames_until)
        finally:
            screen.close()
        listener.mark("END")
        messages = listener.wait_for_mark("END")
    assert messages.index("BUILT") < messages.index(READY) < messages.index("WINDOW-START")
    assert messages.count(READY) == 1
    assert between(messages, "WINDOW-START", "WINDOW-END").count(WATCHDOG) >= PINGS
    assert between(messages, "BLOCK-START", "BLOCK-END") == []
    assert WATCHDOG in between(messages, "STUCK-RETURNED", "END")  # the loop runs again: pings resume


def test_pings_go_on_after_a_first_frame_slower_than_the_ping_period(tmp_path, window, frames, frames_until):
    """A slow first frame (fonts and textures load then) brings the first ping right after READY's.

    The watchdog's rate limit skips that one, and the loop must go on pinging:
    Kivy cancels an interval whose callback returns False.  Without the slow frame
    made here on purpose this happened only when the first frame was slow by
    chance (a test process whose earlier tests had not drawn yet), and the test
    above failed in some orders of the suite only.
    """
    from kivy.clock import Clock

    with notify_listener() as listener:
        screen = _screen(tmp_path, window, Watchdog(environ=watchdog_env(listener)))
        try:
            Clock.schedule_once(lambda _dt: time.sleep(WINDOW_S), 0)  # in the frame that says READY
            frames(1)
            listener.mark("FIRST-FRAME-DRAWN")
            frames_until(lambda: pings_since(listener.messages(), "FIRST-FRAME-DRAWN") >= PINGS)
        finally:
            screen.close()
        messages = listener.messages()
    assert messages.index(READY) < messages.index("FIRST-FRAME-DRAWN")


def test_another_process_s_watchdog_pid_and_no_socket_send_no_pings(
    tmp_path, window, frames_until, monkeypatch
):
    with notify_listener() as listener:
        screen = _screen(tmp_path, window, Watchdog(environ=watchdog_env(listener, pid=os.getppid())))
        try:
            _run_frames_for(WINDOW_S, frames_until)
        finally:
            screen.close()
        listener.mark("END")
        assert listener.wait_for_mark("END") == [READY, "END"]
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    screen = _screen(tmp_path, window, Watchdog())
    try:
        _run_frames_for(0.3, frames_until)  # nothing to send to, nothing raises
    finally:
        screen.close()
