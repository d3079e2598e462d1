"""A presenter driven by hand with a fake clock, shared by the presenter, app and screenshot tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC

from hardware.indicator import Signal
from terminal.ui.base_presenter import BasePresenter
from terminal.ui.i18n import Translator
from terminal.ui.model import Screen
from terminal.ui.presenter import Presenter
from terminal.ui.screens import KioskInfo

NOW = 1_795_939_200_000  # 2026-11-29 08:00 UTC
INFO = KioskInfo(kiosk_id="k_" + "1" * 32, site_name="Tafel Linden", version="0.1.0")


class RecordingActions:
    """A hand-written PresenterActions that remembers what it was asked to do."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def sync_now(self) -> None:
        self.calls.append(("sync_now", None))

    def enrol(self, code: str) -> None:
        self.calls.append(("enrol", code))

    def check_pin(self, pin: str) -> None:
        self.calls.append(("check_pin", pin))

    def save_pin(self, pin: str) -> None:
        self.calls.append(("save_pin", pin))

    def signal(self, signal: Signal) -> None:
        self.calls.append(("signal", signal))

    def undo(self, outcome: object) -> None:
        self.calls.append(("undo", outcome))


class ScreenRecorder:
    """What both presenter harnesses share: a clock the test moves and every screen shown, in order.

    Subclasses make ``presenter`` with ``now_ms=lambda: self.now`` and ``on_change=self._show``.
    """

    presenter: BasePresenter

    def __init__(self, on_change: Callable[[Screen], None] | None) -> None:
        self.now = NOW
        self.shown: list[Screen] = []
        self._also = on_change

    @property
    def screen(self) -> Screen:
        return self.shown[-1]

    def wait(self, seconds: float) -> None:
        self.now += int(seconds * 1000)
        self.presenter.tick()

    def type(self, digits: str) -> None:
        for digit in digits:
            self.presenter.press_key(digit)

    def _show(self, screen: Screen) -> None:
        self.shown.append(screen)
        if self._also is not None:
            self._also(screen)


class Harness(ScreenRecorder):
    presenter: Presenter

    def __init__(
        self,
        *,
        info: KioskInfo | None = INFO,
        pin_set: bool = False,
        language: str = "de",
        on_change: Callable[[Screen], None] | None = None,
    ) -> None:
        super().__init__(on_change)
        self.actions = RecordingActions()
        self.presenter = Presenter(
            translator=Translator(language, tz=UTC),
            actions=self.actions,
            now_ms=lambda: self.now,
            on_change=self._show,
            info=info,
            server_url="https://ledger.example.org",
            pin_set=pin_set,
        )
        self.presenter.start()
