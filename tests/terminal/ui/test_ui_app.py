"""The whole kiosk screen, offscreen: every screen in every language, enrolment by touch, responsiveness.

Screens are produced by the real presenter and drawn by the real view; the
kiosk runs with its real core, outbox and sync client against a real server
process on loopback.

Every screen is written as a PNG into the test's temporary folder.  With
``KOKREATIV_SCREENSHOTS=DIR`` (``make screenshots`` sets it to ``docs/img/ui``)
the German set (and a few Arabic screens) is copied there too, which is how the docs' pictures are made.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from hardware.reader import ReaderStatus, Tap
from hardware.simulated import SimulatedReader
from kokreativ.demo import demo_keys
from protocol import Reason
from terminal.config import KioskConfig, load_config, write_config
from terminal.service import KioskService, open_service
from terminal.tap import Outcome, TapOutcome
from terminal.ui import screens
from terminal.ui.app import kivy_post
from terminal.ui.controller import ScreenController, enrol_against
from terminal.ui.i18n import LANGUAGES
from terminal.ui.model import Layout
from terminal.ui.presenter import EnrolResult
from terminal.ui.screens import KioskStatus
from terminal.ui.view import ScreenView
from tests.conftest import EnrolledKiosk, ServerProcess
from tests.terminal.ui.conftest import ARABIC_DOCS, IgnoreInput, ScreenCheck
from tests.terminal.ui.ui_helpers import INFO, NOW, Harness

DOCS_UI = Path(__file__).resolve().parents[3] / "docs" / "img" / "ui"
MINUTE = 60_000
REASON_OF_GROUP = {
    "blocked": Reason.CARD_BLOCKED,
    "unknown": Reason.UNKNOWN_CARD,
    "expired": Reason.CREDENTIAL_EXPIRED,
    "not_yet_valid": Reason.CREDENTIAL_NOT_YET_VALID,
    "not_valid_here": Reason.UNKNOWN_ISSUER,
    "unreadable": Reason.BAD_CREDENTIAL,
}
ALL_SCREENS = {
    "idle",
    "check_in",
    "check_out",
    "undone",
    "undo_refused",
    "already_recorded",
    *(f"denied_{group}" for group in screens.DENIED_GROUPS),
    "error_incomplete",
    "error_storage",
    "error",
    "pin_entry",
    "menu",
    "pin_none",
    "enrol_code",
    "enrol_busy",
    "enrol_done",
    "pin_set",
    "pin_confirm",
    "pin_saved",
}


def _kiosk_steps(h: Harness) -> Iterator[Callable[[], None]]:
    """Drive an enrolled kiosk's presenter through its screens, one step per screen."""
    p = h.presenter
    assert p.info is not None
    p.info = dataclasses.replace(p.info, undo_window_s=10.0)  # kiosk.toml's default: the button shows
    yield lambda: p.update_status(
        KioskStatus(online=True, pending=3, last_sync_ms=NOW - 2 * MINUTE, reader=ReaderStatus.OK)
    )
    yield lambda: p.show_outcome(TapOutcome(Outcome.CHECK_IN, "c_a", NOW + 2 * MINUTE, seq=4))
    yield lambda: p.show_outcome(
        TapOutcome(
            Outcome.CHECK_OUT,
            "c_b",
            NOW,
            seq=5,
            shift_minutes=135,
            tokens=22,
            balance=140,
            balance_as_of_ms=NOW - 30 * MINUTE,
        )
    )
    yield lambda: p.undo_finished(
        TapOutcome(Outcome.UNDONE, "c_b", NOW, seq=6, recorded_kind=Outcome.CHECK_OUT, undone_seq=5)
    )
    yield lambda: p.undo_finished(TapOutcome(Outcome.ERROR, "c_b", NOW, reason=Reason.UNDO_TOO_LATE))
    yield lambda: p.show_outcome(
        TapOutcome(Outcome.ALREADY_RECORDED, "c_b", NOW, recorded_kind=Outcome.CHECK_OUT)
    )
    for group in screens.DENIED_GROUPS:
        yield partial(p.show_outcome, TapOutcome(Outcome.DENIED, "u_x", NOW, reason=REASON_OF_GROUP[group]))
    yield lambda: p.show_outcome(TapOutcome(Outcome.ERROR, None, NOW, reason=Reason.TAP_INCOMPLETE))
    yield lambda: p.show_outcome(TapOutcome(Outcome.ERROR, None, NOW, reason=Reason.STORAGE_FULL))
    yield lambda: p.show_outcome(TapOutcome(Outcome.ERROR, None, NOW, message="OSError"))

    def pin_entry() -> None:
        h.wait(10)  # back to idle
        p.long_press()
        h.type("0000")
        p.press_action("ok")
        p.pin_checked(False)
        h.type("47")

    yield pin_entry

    def menu() -> None:
        h.type("11")
        p.press_action("ok")
        p.pin_checked(True)

    yield menu

    def no_pin() -> None:
        p.press_action("close")
        p.pin_set = False
        p.long_press()

    yield no_pin


def _enrolment_steps(h: Harness) -> Iterator[Callable[[], None]]:
    p = h.presenter
    yield lambda: h.type("1234567890123456")  # 16 of a code's 20 digits

    def busy() -> None:
        h.type("7890")
        p.press_action("submit")

    yield busy
    yield lambda: p.enrol_finished(EnrolResult(INFO))
    yield lambda: p.press_action("continue")

    def confirm() -> None:
        h.type("4711")
        p.press_action("ok")
        h.type("47")

    yield confirm

    def saved() -> None:
        h.type("11")
        p.press_action("ok")
        p.pin_saved(True)

    yield saved


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_every_screen_renders_in_every_language_and_fits_small_and_large(
    language: str, render: Any, frames: Any, resize: Any, screenshot: Any, tmp_path: Path
) -> None:
    view = ScreenView(screen_input=IgnoreInput())
    view.set_language(language)
    render(view)
    check = ScreenCheck(
        view, language=language, resize=resize, frames=frames, screenshot=screenshot, folder=tmp_path
    )

    for make_harness, steps in (
        (lambda: Harness(pin_set=True, language=language, on_change=view.show), _kiosk_steps),
        (lambda: Harness(info=None, language=language, on_change=view.show), _enrolment_steps),
    ):
        h = make_harness()
        frames(2)
        check(h.screen)
        for step in steps(h):
            step()
            frames(2)
            assert view.screen == h.screen
            check(h.screen)
    assert set(check.seen) == ALL_SCREENS
    assert {s.layout for s in check.seen.values()} == set(Layout)


def test_the_docs_keep_the_german_screenshots_and_some_arabic_ones() -> None:
    missing = sorted(name for name in ALL_SCREENS if not (DOCS_UI / f"{name}.de.png").is_file())
    missing += sorted(name for name in ARABIC_DOCS if not (DOCS_UI / f"{name}.ar.png").is_file())
    assert missing == [], "run 'make screenshots' and commit docs/img/ui"


# -- the real app: controller, core and server -----------------------------------------------------------


def _runtime(reader: str = "sim") -> Callable[[KioskConfig], Any]:
    return partial(
        open_service, stdin=io.StringIO(), stdout=io.StringIO(), reader=reader, indicator="console"
    )


def _kiosk_reader(controller: ScreenController) -> SimulatedReader:
    service = controller.service
    assert service is not None and isinstance(service.reader, SimulatedReader)
    return service.reader


def test_enrolment_by_touch_against_the_real_server(
    server_process: ServerProcess, tmp_path: Path, app_screen: Any, tap: Any, frames: Any, frames_until: Any
) -> None:
    with server_process.admin() as admin:
        site = admin.add_site("Stadtteilzentrum Nord", tokens_per_hour=10)
        code = admin.create_enrolment_code(site["site_id"])["code"]
    config_path = tmp_path / "kiosk" / "kiosk.toml"
    controller = ScreenController(
        config_path=config_path,
        post=kivy_post,
        open_runtime=_runtime(),
        enrol=enrol_against(server_process.url, config_path.parent, reader="sim", indicator="console"),
    )
    screen = app_screen(controller, server_url=server_process.url)
    view = screen.view
    frames_until(lambda: view.screen is not None and view.screen.name == "enrol_code")
    frames(3)  # laid out: the keys are where the touches go
    assert f"Server: {server_process.url}" in view.rendered_texts()

    for digit in code.replace("-", ""):
        tap(view.key_button(digit))
    assert view.screen.entry.replace(" ", "") == code.replace("-", "")
    tap(view.action_button("submit"))
    frames_until(lambda: view.screen.name == "enrol_done")
    assert "Standort: Stadtteilzentrum Nord" in view.rendered_texts()
    assert config_path.is_file()

    tap(view.action_button("continue"))
    for _ in range(2):  # choose the PIN, then repeat it
        frames_until(lambda: view.screen.layout is Layout.KEYPAD and view.screen.entry == "")
        frames(3)
        for digit in "4711":
            tap(view.key_button(digit))
        tap(view.action_button("ok"))
    frames_until(lambda: view.screen.name == "pin_saved")
    assert load_config(config_path).coordinator_pin is not None

    frames_until(lambda: view.screen.name == "idle", timeout_s=30)
    assert "Stadtteilzentrum Nord" in view.rendered_texts()
    _kiosk_reader(controller).present_card(bytes.fromhex("04a1b2c3d4e5f6"), None)
    frames_until(lambda: view.screen.name == "denied_unknown")  # enrolled, but this card was never issued


def test_taps_status_and_the_coordinator_pin_on_an_enrolled_kiosk(
    enrolled_kiosk: EnrolledKiosk, app_screen: Any, tap: Any, touch_down: Any, frames: Any, frames_until: Any
) -> None:
    from terminal.pin import hash_pin

    config = dataclasses.replace(enrolled_kiosk.config, coordinator_pin=hash_pin("2580"))
    write_config(enrolled_kiosk.config_path, config)
    controller = ScreenController(
        config_path=enrolled_kiosk.config_path,
        post=kivy_post,
        open_runtime=_runtime(),
        status_interval_s=0.05,
    )
    screen = app_screen(controller)
    view = screen.view
    reader = _kiosk_reader(controller)
    frames_until(lambda: view.screen.name == "idle" and view.screen.status.online is True)
    assert view.screen.status.pending == "Alles übertragen"

    card = enrolled_kiosk.card_ids[0]
    issued = enrolled_kiosk.issuer.tap(card)
    reader.present_card(issued.uid, issued.ndef)
    frames_until(lambda: view.screen.name == "check_in")
    frames_until(lambda: view.screen.name == "idle", timeout_s=30)

    touch = touch_down(view)
    frames_until(lambda: view.screen.name == "pin_entry")
    touch.touch_up()
    frames(3)
    for digit in "2580":
        tap(view.key_button(digit))
    tap(view.action_button("ok"))
    frames_until(lambda: view.screen.name == "menu")
    rows = dict(view.screen.rows)
    assert rows["Kiosk"] == config.kiosk_id
    assert rows["Leser"] == "Leser bereit"
    tap(view.action_button("sync_now"))
    frames_until(lambda: "Sync läuft …" in view.rendered_texts())


class _BrokenReader(SimulatedReader):
    """A reader that keeps failing: every wait raises, and its status says so."""

    def wait_for_tap(self, timeout: float | None) -> Tap | None:
        raise OSError(19, "No such device")

    @property
    def status(self) -> ReaderStatus:
        return ReaderStatus.ERROR


class _SilentServer:
    """Accepts connections and never answers: a server that hangs every request.

    :meth:`close` stops the accepting thread before it closes anything, so a
    connection accepted while it closes is not left open.
    """

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.05)  # so the accepting thread sees the stop
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()
        for conn in self.accepted:
            conn.close()


def test_the_screen_keeps_responding_while_sync_hangs_and_the_reader_fails(
    enrolled_kiosk: EnrolledKiosk, app_screen: Any, tap: Any, touch_down: Any, frames: Any, frames_until: Any
) -> None:
    silent = _SilentServer()
    config = dataclasses.replace(enrolled_kiosk.config, server_url=silent.url, coordinator_pin=None)
    write_config(enrolled_kiosk.config_path, config)

    @contextlib.contextmanager
    def broken_runtime(cfg: KioskConfig) -> Iterator[KioskService]:
        with open_service(cfg, stdin=io.StringIO(), stdout=io.StringIO(), reader="sim") as service:
            service.reader = _BrokenReader()
            yield service

    controller = ScreenController(
        config_path=enrolled_kiosk.config_path,
        post=kivy_post,
        open_runtime=broken_runtime,
        status_interval_s=0.05,
    )
    view = app_screen(controller).view
    frames_until(lambda: len(silent.accepted) >= 1)  # a sync request is now on the wire, unanswered
    frames_until(lambda: view.screen.name == "idle" and view.screen.status.reader == "Leserfehler")
    sync = controller.service.sync if controller.service else None
    assert sync is not None and sync.last_result is None  # the first round is still waiting

    # Touches are handled and drawn while the sync thread waits and the reader keeps failing.
    touch = touch_down(view)
    frames_until(lambda: view.screen.name == "pin_none")
    touch.touch_up()
    frames(60)
    assert sync.last_result is None and len(silent.accepted) >= 1
    silent.close()


def test_demo_keys_tap_the_demo_cards_and_anything_else_an_unknown_card() -> None:
    from hardware.emulator import EmulatedType2Tag

    stickers = [EmulatedType2Tag(bytes([4, i, 1, 2, 3, 4, 5])) for i in range(3)]
    reader = SimulatedReader()
    on_key = demo_keys(lambda: reader, stickers)
    assert on_key("2") and on_key("x")
    assert not on_key("\t")
    second, other = reader.wait_for_tap(1), reader.wait_for_tap(1)
    assert second is not None and second.uid == stickers[1].uid and second.ndef == stickers[1].ndef_message
    assert other is not None and other.uid not in {s.uid for s in stickers} and other.ndef is None
    assert not demo_keys(lambda: None, stickers)("1")  # before the kiosk runs: nothing to tap


def test_terminal_run_opens_the_screen_and_stops_cleanly_on_sigterm(enrolled_kiosk: EnrolledKiosk) -> None:
    env = {**os.environ, "SDL_VIDEODRIVER": "offscreen", "KIVY_METRICS_DENSITY": "1"}
    argv = [sys.executable, "-m", "kokreativ", "terminal", "run", "--config", str(enrolled_kiosk.config_path)]
    proc = subprocess.Popen(
        [*argv, "--windowed", "--reader", "sim", "--indicator", "console"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "kiosk screen started (enrolled)" in line:
                break
        else:
            pytest.fail("the screen never started")
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=60)[1]
    finally:
        proc.kill()
    assert proc.returncode == 0, rest
    assert "received SIGTERM; stopping" in rest
    assert "Traceback" not in rest
