"""What every kiosk screen's state machine shares: timeouts, the coordinator PIN and the menu.

A check-in kiosk (:class:`terminal.ui.presenter.Presenter`) and a shop
terminal (:class:`terminal.ui.shop_presenter.ShopPresenter`) show different
screens for a card, but the rest is the same and lives here, once:

* the status snapshot, which redraws the idle screen and the menu when it changes;
* a result screen stays ``result_s`` seconds (``problem_s`` for denied and
  errors, which take longer to read), then the idle screen comes back;
* a long press on the idle screen opens the PIN keypad (or says no PIN is
  set); after ``max_pin_failures`` wrong PINs the keypad is locked for
  ``pin_lockout_s`` (a coordinator card still opens the menu);
* the PIN keypad and the coordinator menu close after ``menu_idle_s``
  without a touch, so a kiosk is never left open.

A subclass adds its own modes (any :class:`~enum.StrEnum`) and overrides the
hooks: :meth:`BasePresenter._screen_for` draws its modes,
:meth:`BasePresenter._handlers` says what its buttons do,
:meth:`BasePresenter._keypad_limit` which of its modes take digits, and
:meth:`BasePresenter._reset` forgets its state on the way back to idle.

Everything runs on the UI thread and returns at once; slow work goes to the
``actions`` object, which reports back later through a method of the
presenter (:meth:`BasePresenter.pin_checked` for the PIN).  No Kivy here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Protocol

from hardware.indicator import Signal
from terminal.ui import screens
from terminal.ui.i18n import Translator
from terminal.ui.model import Icon, Screen, Tone
from terminal.ui.screens import KioskInfo, KioskStatus

log = logging.getLogger(__name__)

PIN_MIN_DIGITS = 4
PIN_MAX_DIGITS = 8

Handler = Callable[[], None]


class BaseActions(Protocol):
    """The slow work every kiosk screen asks for; each call returns at once."""

    def sync_now(self) -> None:
        """Start a sync round soon."""

    def check_pin(self, pin: str) -> None:
        """Compare ``pin`` with the stored hash; then call :meth:`BasePresenter.pin_checked`."""

    def signal(self, signal: Signal) -> None:
        """Play ``signal`` on the lights and buzzer."""


class Mode(StrEnum):
    """The modes every kiosk screen has; a presenter may add its own in an enum of its own."""

    IDLE = "idle"
    RESULT = "result"
    PIN_ENTRY = "pin_entry"
    PIN_CHECKING = "pin_checking"
    MENU = "menu"


@dataclass(frozen=True, slots=True)
class Timings:
    """How long screens stay, and the PIN lockout; one record for every presenter.

    The shop's three (``card_wait_s``, ``confirm_s``, ``hint_s``) are read by the
    till's presenter only.
    """

    result_s: float = 4.0  # a result, then back to idle
    problem_s: float = 6.0  # a denial or an error stays longer, to be read
    menu_idle_s: float = 60.0  # the menu closes after a minute without a touch
    max_pin_failures: int = 5
    pin_lockout_s: float = 300.0
    card_wait_s: float = 60.0  # the till waits this long for the card after the amount
    confirm_s: float = 30.0  # and this long for the volunteer to confirm
    hint_s: float = 3.0  # "enter an amount first"


DEFAULT_TIMINGS: Final = Timings()


class BasePresenter:
    """Timeouts, the PIN keypad with its lockout, and the coordinator menu; see the module docstring.

    ``info`` is ``None`` only for a kiosk that is not enrolled yet (the
    check-in presenter then starts with enrolment).  ``on_change`` receives
    every new screen.
    """

    def __init__(
        self,
        *,
        translator: Translator,
        actions: BaseActions,
        now_ms: Callable[[], int],
        on_change: Callable[[Screen], None],
        info: KioskInfo | None,
        pin_set: bool = False,
        timings: Timings = DEFAULT_TIMINGS,
    ) -> None:
        self._t = translator
        self._base_actions = actions
        self._now_ms = now_ms
        self._on_change = on_change
        self.info = info
        self.pin_set = pin_set
        self.timings = timings
        self._result_ms = int(timings.result_s * 1000)
        self._problem_ms = int(timings.problem_s * 1000)
        self._menu_idle_ms = int(timings.menu_idle_s * 1000)
        self._max_pin_failures = timings.max_pin_failures
        self._lockout_ms = int(timings.pin_lockout_s * 1000)

        self.mode: StrEnum = Mode.IDLE
        self.screen: Screen | None = None
        self._status: KioskStatus | None = None
        self._digits = ""  # keypad entry in progress
        self._error = ""  # the keypad's error line
        self._note = ""  # the menu's note line ("sync running")
        self._deadline_ms: int | None = None  # when the current screen gives way to idle
        self._pin_failures = 0
        self._locked_until_ms: int | None = None
        self._clock_minute: int | None = None

    # -- inputs from the kiosk -------------------------------------------------------------------------

    def start(self) -> None:
        """Show the first screen."""
        self._render()

    def update_status(self, status: KioskStatus) -> None:
        """A new status snapshot; redraws the idle screen or the menu if it changed what they show."""
        if status == self._status:
            return
        self._status = status
        if self.mode in (Mode.IDLE, Mode.MENU):
            self._render()

    def tick(self) -> None:
        """Called about every second: timeouts back to idle, and the idle clock."""
        now = self._now_ms()
        if self._locked_until_ms is not None and now >= self._locked_until_ms:
            self._locked_until_ms = None
            self._pin_failures = 0
        if self._deadline_ms is not None and now >= self._deadline_ms:
            self._go_idle()
            return
        if self.mode is Mode.IDLE and now // 60_000 != self._clock_minute:
            self._render()

    def pin_checked(self, ok: bool) -> None:
        """The PIN typed on the keypad was (not) the coordinator PIN."""
        if self.mode is not Mode.PIN_CHECKING:
            return
        self._digits = ""
        if ok:
            self._pin_failures = 0
            self._open_menu()
            return
        self._pin_failures += 1
        if self._pin_failures >= self._max_pin_failures:
            self._locked_until_ms = self._now_ms() + self._lockout_ms
        self._error = self._lock_text() or self._t("pin.wrong")
        self.mode = Mode.PIN_ENTRY
        self._base_actions.signal("denied")
        self._touch()
        self._render()

    # -- touches (ScreenInput) -------------------------------------------------------------------------

    def press_key(self, key: str) -> None:
        """A keypad key: a digit, ``back`` or ``clear``."""
        limit = self._keypad_limit()
        if limit is None:
            return
        self._touch()
        if key == "back":
            self._digits = self._digits[:-1]
        elif key == "clear":
            self._digits = ""
        elif key.isdigit() and len(key) == 1 and len(self._digits) < limit:
            self._digits += key
        self._digits_changed()
        self._render()

    def press_action(self, action_id: str) -> None:
        """A button on the current screen; one the current mode does not know is ignored."""
        self._touch()
        handler = self._handlers().get((self.mode, action_id)) or self._dynamic_handler(action_id)
        if handler is None:
            log.debug("action %s ignored in mode %s", action_id, self.mode)
            return
        handler()

    def long_press(self) -> None:
        """Held on the idle screen: the PIN keypad (or a hint when no PIN is set)."""
        if self.mode is not Mode.IDLE:
            return
        if not self.pin_set:
            self._message(
                "pin_none", Tone.NEUTRAL, Icon.LOCK, self._t("pin.none_set"), self._t("pin.none_set_hint")
            )
            return
        self.mode = Mode.PIN_ENTRY
        self._digits = ""
        self._error = self._lock_text()
        self._touch()
        self._render()

    # -- hooks for subclasses --------------------------------------------------------------------------

    def _handlers(self) -> dict[tuple[StrEnum, str], Handler]:
        """What each button does, by ``(mode, action_id)``; subclasses add theirs to these."""
        return {
            (Mode.PIN_ENTRY, "ok"): self._submit_pin,
            (Mode.PIN_ENTRY, "cancel"): self._go_idle,
            (Mode.MENU, "sync_now"): self._sync_now,
            (Mode.MENU, "close"): self._go_idle,
        }

    def _dynamic_handler(self, action_id: str) -> Handler | None:
        """A button whose ID carries data (``preset:2``, ``void:r_…``); ``None``: not one of those."""
        return None

    def _keypad_limit(self) -> int | None:
        """How many digits the current mode's keypad takes; ``None``: the keypad is not for typing now."""
        return PIN_MAX_DIGITS if self.mode is Mode.PIN_ENTRY else None

    def _digits_changed(self) -> None:
        """A key changed the digits; subclasses may clear an error line here."""

    def _idle_timeout_ms(self) -> int | None:
        """How long the current mode may go without a touch before the idle screen returns."""
        if self.mode in (Mode.PIN_ENTRY, Mode.PIN_CHECKING, Mode.MENU):
            return self._menu_idle_ms
        return None

    def _idle_mode(self) -> StrEnum:
        """The mode the kiosk returns to when nothing happens."""
        return Mode.IDLE

    def _reset(self) -> None:
        """Forget the subclass's state on the way back to idle."""

    def _idle_screen(self, now: int) -> Screen:
        """The idle screen (needs :attr:`info`)."""
        raise NotImplementedError

    def _menu_screen(self, now: int) -> Screen:
        """The coordinator menu (needs :attr:`info`)."""
        assert self.info is not None
        return screens.menu_screen(self._t, self.info, self._status, now_ms=now, note=self._note)

    def _screen_for(self, now: int) -> Screen | None:
        """The screen of the current mode; ``None`` for modes whose screen is shown directly (results)."""
        mode = self.mode
        if mode is Mode.IDLE and self.info is not None:
            self._clock_minute = now // 60_000
            return self._idle_screen(now)
        if mode in (Mode.PIN_ENTRY, Mode.PIN_CHECKING):
            return screens.pin_entry_screen(
                self._t, digits=self._digits, error=self._error, busy=mode is Mode.PIN_CHECKING
            )
        if mode is Mode.MENU and self.info is not None:
            return self._menu_screen(now)
        return None

    # -- transitions -----------------------------------------------------------------------------------

    def _submit_pin(self) -> None:
        locked = self._lock_text()
        if locked:
            self._error, self._digits = locked, ""
            self._render()
            return
        if len(self._digits) < PIN_MIN_DIGITS:
            self._error = self._t("pin.too_short")
            self._render()
            return
        pin, self._digits = self._digits, ""
        self.mode = Mode.PIN_CHECKING
        self._error = ""
        self._render()
        self._base_actions.check_pin(pin)

    def _sync_now(self) -> None:
        self._note = self._t("menu.sync_started")
        self._base_actions.sync_now()
        self._render()

    def _open_menu(self) -> None:
        self.mode = Mode.MENU
        self._digits = self._error = self._note = ""
        self._touch()
        self._render()

    def _go_idle(self) -> None:
        self.mode = self._idle_mode()
        self._digits = self._error = self._note = ""
        self._deadline_ms = None
        self._reset()
        self._render()

    def _message(self, name: str, tone: Tone, icon: Icon, title: str, *lines: str) -> None:
        """A short result screen that is not about a card (PIN saved, no PIN set …)."""
        self._show_result(screens.message_screen(name, tone, icon, title, *lines))

    def _show_result(self, screen: Screen, *, force: bool = False) -> None:
        """Show a result screen until the usual timeout: longer for denied and errors."""
        self.mode = Mode.RESULT
        problem = screen.tone in (Tone.DENIED, Tone.ERROR)
        self._deadline_ms = self._now_ms() + (self._problem_ms if problem else self._result_ms)
        self._show(screen, force=force)

    def _touch(self) -> None:
        """Push back the inactivity timeout of the modes that have one (PIN keypad, menu …)."""
        timeout = self._idle_timeout_ms()
        if timeout is not None:
            self._deadline_ms = self._now_ms() + timeout

    def _lock_text(self) -> str:
        if self._locked_until_ms is None:
            return ""
        minutes = max(1, -(-(self._locked_until_ms - self._now_ms()) // 60_000))
        return self._t("pin.locked", minutes=minutes)

    # -- drawing ---------------------------------------------------------------------------------------

    def _render(self) -> None:
        screen = self._screen_for(self._now_ms())
        if screen is not None:  # RESULT screens are shown directly and not redrawn
            self._show(screen)

    def _show(self, screen: Screen, *, force: bool = False) -> None:
        if screen == self.screen and not force:
            return
        self.screen = screen
        self._on_change(screen)
