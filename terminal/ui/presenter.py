"""The kiosk screen's state machine: which screen to show, and what a touch means.

Everything here runs on the UI thread and returns at once.  Work that takes
time (enrolling over the network, checking a PIN hash, saving it, syncing) is
handed to :class:`PresenterActions`, which runs it elsewhere and reports back
through :meth:`Presenter.enrol_finished`, :meth:`Presenter.pin_checked` and
:meth:`Presenter.pin_saved` (on the UI thread again).  Taps arrive already
recorded, as :class:`~terminal.tap.TapOutcome`, through :meth:`Presenter.show_outcome`.

Screens and their way back to idle:

* a tap result stays ``result_s`` seconds (``problem_s`` for denied and
  errors, which take longer to read), or until the next tap;
* the PIN keypad and the coordinator menu close after ``menu_idle_s``
  without a touch, so a kiosk is never left open;
* after ``max_pin_failures`` wrong PINs the keypad is locked for
  ``pin_lockout_s``; a coordinator card still opens the menu.

Non-tap screens that carry a tone (enrolment failed, wrong PIN) ask
:meth:`PresenterActions.signal` for the matching pattern, so the buzzer agrees
with the colour; tap results were already signalled by the kiosk core.

No Kivy here: the presenter is tested by calling it, with a fake clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from hardware.indicator import Signal
from protocol import Reason
from terminal.tap import Outcome, TapOutcome
from terminal.ui import screens
from terminal.ui.i18n import Translator
from terminal.ui.model import Icon, Screen, Tone
from terminal.ui.screens import KioskInfo, KioskStatus

log = logging.getLogger(__name__)

CODE_DIGITS = 12
PIN_MIN_DIGITS = 4
PIN_MAX_DIGITS = 8


class PresenterActions(Protocol):
    """Slow or side-effecting work; each call returns at once and reports back later, if at all."""

    def sync_now(self) -> None:
        """Start a sync round soon."""

    def enrol(self, code: str) -> None:
        """Enrol this kiosk with ``code``; then call :meth:`Presenter.enrol_finished`."""

    def check_pin(self, pin: str) -> None:
        """Compare ``pin`` with the stored hash; then call :meth:`Presenter.pin_checked`."""

    def save_pin(self, pin: str) -> None:
        """Store the hash of ``pin``; then call :meth:`Presenter.pin_saved`."""

    def signal(self, signal: Signal) -> None:
        """Play ``signal`` on the lights and buzzer."""


@dataclass(frozen=True, slots=True)
class EnrolResult:
    """How an enrolment attempt ended: ``info`` on success, else the reason code."""

    info: KioskInfo | None
    reason: str | None = None


class Mode(StrEnum):
    IDLE = "idle"
    RESULT = "result"
    ENROL_CODE = "enrol_code"
    ENROL_BUSY = "enrol_busy"
    ENROL_DONE = "enrol_done"
    PIN_SET = "pin_set"
    PIN_CONFIRM = "pin_confirm"
    PIN_SAVING = "pin_saving"
    PIN_ENTRY = "pin_entry"
    PIN_CHECKING = "pin_checking"
    MENU = "menu"


# The modes that take keypad digits, and how many.
_KEYPAD_MODES = {
    Mode.ENROL_CODE: CODE_DIGITS,
    Mode.PIN_SET: PIN_MAX_DIGITS,
    Mode.PIN_CONFIRM: PIN_MAX_DIGITS,
    Mode.PIN_ENTRY: PIN_MAX_DIGITS,
}
_ENROL_MODES = {
    Mode.ENROL_CODE,
    Mode.ENROL_BUSY,
    Mode.ENROL_DONE,
    Mode.PIN_SET,
    Mode.PIN_CONFIRM,
    Mode.PIN_SAVING,
}

# Enrolment failures in plain words; anything else shows its reason code.
_ENROL_TEXT = {
    Reason.ENROLMENT_CODE_INVALID.value: "enrol.code_invalid",
    Reason.ENROLMENT_CODE_USED.value: "enrol.code_invalid",
    Reason.ENROLMENT_CODE_EXPIRED.value: "enrol.code_invalid",
    Reason.NETWORK_ERROR.value: "enrol.unreachable",
    Reason.SERVER_ERROR.value: "enrol.unreachable",
    "server_unreachable": "enrol.unreachable",  # provisioning.errors.ServerUnreachable
    "already_enrolled": "enrol.already",
}


class Presenter:
    """Turns kiosk events and touches into screens; see the module docstring.

    ``info`` is ``None`` for a kiosk that is not enrolled yet: it starts on the
    enrolment keypad.  ``pin_set`` says whether a coordinator PIN exists (the
    long press asks for it).  ``on_change`` receives every new screen.
    """

    def __init__(
        self,
        *,
        translator: Translator,
        actions: PresenterActions,
        now_ms: Callable[[], int],
        on_change: Callable[[Screen], None],
        info: KioskInfo | None,
        server_url: str = "",
        pin_set: bool = False,
        result_s: float = 4.0,
        problem_s: float = 6.0,
        menu_idle_s: float = 60.0,
        max_pin_failures: int = 5,
        pin_lockout_s: float = 300.0,
    ) -> None:
        self._t = translator
        self._actions = actions
        self._now_ms = now_ms
        self._on_change = on_change
        self.info = info
        self._server_url = server_url
        self.pin_set = pin_set
        self._result_ms = int(result_s * 1000)
        self._problem_ms = int(problem_s * 1000)
        self._menu_idle_ms = int(menu_idle_s * 1000)
        self._max_pin_failures = max_pin_failures
        self._lockout_ms = int(pin_lockout_s * 1000)

        self.mode = Mode.IDLE if info is not None else Mode.ENROL_CODE
        self.screen: Screen | None = None
        self._status: KioskStatus | None = None
        self._digits = ""  # keypad entry in progress
        self._first_pin = ""  # the PIN typed once, while it is confirmed
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

    def show_outcome(self, outcome: TapOutcome) -> None:
        """A tap the core handled (and signalled): show its result, or the menu for a coordinator's card."""
        if self.mode in _ENROL_MODES:
            return  # no kiosk to tap on yet; the core does not run before enrolment either
        if outcome.kind is Outcome.COORDINATOR:
            self._open_menu()
            return
        self.mode = Mode.RESULT
        now = self._now_ms()
        problem = outcome.kind in (Outcome.DENIED, Outcome.ERROR)
        self._deadline_ms = now + (self._problem_ms if problem else self._result_ms)
        # Every tap is news, even when it reads like the last one (two check-ins in the same minute).
        self._show(screens.outcome_screen(self._t, outcome, now_ms=now), force=True)

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

    # -- results of the slow actions -------------------------------------------------------------------

    def enrol_finished(self, result: EnrolResult) -> None:
        """The enrolment started by "submit" ended."""
        if self.mode is not Mode.ENROL_BUSY:
            return
        if result.info is not None:
            self.info = result.info
            self.mode = Mode.ENROL_DONE
            self._digits = self._error = ""
            self._render()
            return
        key = _ENROL_TEXT.get(result.reason or "", "enrol.other")
        self._error = self._t(key, code=result.reason or "?")
        self.mode = Mode.ENROL_CODE
        self._actions.signal("error")
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
        self._actions.signal("denied")
        self._touch()
        self._render()

    def pin_saved(self, ok: bool) -> None:
        """The new coordinator PIN was (not) stored."""
        if self.mode is not Mode.PIN_SAVING:
            return
        if not ok:
            self.mode = Mode.PIN_SET
            self._error = self._t("error.failed")
            self._actions.signal("error")
            self._render()
            return
        self.pin_set = True
        self._message("pin_saved", Tone.OK, Icon.CHECK, self._t("pin.saved"))

    # -- touches (ScreenInput) -------------------------------------------------------------------------

    def press_key(self, key: str) -> None:
        """A keypad key: a digit, ``back`` or ``clear``."""
        limit = _KEYPAD_MODES.get(self.mode)
        if limit is None:
            return
        self._touch()
        if key == "back":
            self._digits = self._digits[:-1]
        elif key == "clear":
            self._digits = ""
        elif key.isdigit() and len(key) == 1 and len(self._digits) < limit:
            self._digits += key
        self._render()

    def press_action(self, action_id: str) -> None:
        """A button on the current screen."""
        self._touch()
        handler = {
            (Mode.ENROL_CODE, "submit"): self._submit_code,
            (Mode.ENROL_DONE, "continue"): self._ask_new_pin,
            (Mode.PIN_SET, "ok"): self._first_pin_done,
            (Mode.PIN_SET, "skip"): self._go_idle,
            (Mode.PIN_CONFIRM, "ok"): self._confirm_pin_done,
            (Mode.PIN_CONFIRM, "skip"): self._go_idle,
            (Mode.PIN_ENTRY, "ok"): self._submit_pin,
            (Mode.PIN_ENTRY, "cancel"): self._go_idle,
            (Mode.MENU, "sync_now"): self._sync_now,
            (Mode.MENU, "close"): self._go_idle,
        }.get((self.mode, action_id))
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

    # -- transitions -----------------------------------------------------------------------------------

    def _submit_code(self) -> None:
        if len(self._digits) != CODE_DIGITS:
            self._error = self._t("enrol.too_short")
            self._render()
            return
        self.mode = Mode.ENROL_BUSY
        self._error = ""
        self._render()
        self._actions.enrol(self._digits)

    def _ask_new_pin(self) -> None:
        self.mode = Mode.PIN_SET
        self._digits = self._first_pin = self._error = ""
        self._render()

    def _first_pin_done(self) -> None:
        if len(self._digits) < PIN_MIN_DIGITS:
            self._error = self._t("pin.too_short")
            self._render()
            return
        self._first_pin, self._digits, self._error = self._digits, "", ""
        self.mode = Mode.PIN_CONFIRM
        self._render()

    def _confirm_pin_done(self) -> None:
        if self._digits != self._first_pin:
            self._error = self._t("pin.mismatch")
            self._digits = self._first_pin = ""
            self.mode = Mode.PIN_SET
            self._render()
            return
        pin, self._digits, self._first_pin = self._digits, "", ""
        self.mode = Mode.PIN_SAVING
        self._render()
        self._actions.save_pin(pin)

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
        self._actions.check_pin(pin)

    def _sync_now(self) -> None:
        self._note = self._t("menu.sync_started")
        self._actions.sync_now()
        self._render()

    def _open_menu(self) -> None:
        self.mode = Mode.MENU
        self._digits = self._error = self._note = ""
        self._touch()
        self._render()

    def _go_idle(self) -> None:
        if self.info is None:  # enrolment skipped nothing: without a kiosk there is no idle screen
            self.mode = Mode.ENROL_CODE
        else:
            self.mode = Mode.IDLE
        self._digits = self._first_pin = self._error = self._note = ""
        self._deadline_ms = None
        self._render()

    def _message(self, name: str, tone: Tone, icon: Icon, title: str, *lines: str) -> None:
        self.mode = Mode.RESULT
        self._deadline_ms = self._now_ms() + self._result_ms
        self._show(screens.message_screen(name, tone, icon, title, *lines))

    def _touch(self) -> None:
        """Push back the inactivity timeout of the PIN keypad and the menu."""
        if self.mode in (Mode.PIN_ENTRY, Mode.PIN_CHECKING, Mode.MENU):
            self._deadline_ms = self._now_ms() + self._menu_idle_ms

    def _lock_text(self) -> str:
        if self._locked_until_ms is None:
            return ""
        minutes = max(1, -(-(self._locked_until_ms - self._now_ms()) // 60_000))
        return self._t("pin.locked", minutes=minutes)

    # -- drawing ---------------------------------------------------------------------------------------

    def _render(self) -> None:
        now = self._now_ms()
        t, mode = self._t, self.mode
        if mode is Mode.IDLE and self.info is not None:
            self._clock_minute = now // 60_000
            screen = screens.idle_screen(t, self.info, self._status, now_ms=now)
        elif mode in (Mode.ENROL_CODE, Mode.ENROL_BUSY):
            screen = screens.enrol_code_screen(
                t,
                server_url=self._server_url,
                digits=self._digits,
                error=self._error,
                busy=mode is Mode.ENROL_BUSY,
            )
        elif mode is Mode.ENROL_DONE and self.info is not None:
            screen = screens.enrol_done_screen(t, site_name=self.info.site_name, kiosk_id=self.info.kiosk_id)
        elif mode in (Mode.PIN_SET, Mode.PIN_CONFIRM, Mode.PIN_SAVING):
            screen = screens.pin_set_screen(
                t,
                digits=self._digits,
                confirming=mode is Mode.PIN_CONFIRM,
                error=self._error,
                busy=mode is Mode.PIN_SAVING,
            )
        elif mode in (Mode.PIN_ENTRY, Mode.PIN_CHECKING):
            screen = screens.pin_entry_screen(
                t, digits=self._digits, error=self._error, busy=mode is Mode.PIN_CHECKING
            )
        elif mode is Mode.MENU and self.info is not None:
            screen = screens.menu_screen(t, self.info, self._status, now_ms=now, note=self._note)
        else:
            return  # RESULT screens are shown directly and not redrawn
        self._show(screen)

    def _show(self, screen: Screen, *, force: bool = False) -> None:
        if screen == self.screen and not force:
            return
        self.screen = screen
        self._on_change(screen)
