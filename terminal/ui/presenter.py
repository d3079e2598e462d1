"""The check-in kiosk's state machine: which screen to show, and what a touch means.

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

Those timeouts, the PIN keypad and the menu are shared with the shop
terminal's presenter and live in :mod:`terminal.ui.base_presenter`; this
module adds the tap results and enrolment.

Non-tap screens that carry a tone (enrolment failed, wrong PIN) ask
:meth:`PresenterActions.signal` for the matching pattern, so the buzzer agrees
with the colour; tap results were already signalled by the kiosk core.

No Kivy here: the presenter is tested by calling it, with a fake clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

from protocol import Reason
from protocol.enrolment import ENROL_CODE_DIGITS
from terminal.tap import Outcome, TapOutcome
from terminal.ui import screens
from terminal.ui.base_presenter import (
    DEFAULT_TIMINGS,
    PIN_MAX_DIGITS,
    PIN_MIN_DIGITS,
    BaseActions,
    BasePresenter,
    Handler,
    Mode,
    Timings,
)
from terminal.ui.i18n import Translator
from terminal.ui.model import Icon, Screen, Tone
from terminal.ui.screens import KioskInfo

__all__ = [
    "CODE_DIGITS",
    "PIN_MAX_DIGITS",
    "PIN_MIN_DIGITS",
    "EnrolMode",
    "EnrolResult",
    "Mode",
    "Presenter",
    "PresenterActions",
]

log = logging.getLogger(__name__)

CODE_DIGITS = ENROL_CODE_DIGITS


class PresenterActions(BaseActions, Protocol):
    """Slow or side-effecting work; each call returns at once and reports back later, if at all."""

    def enrol(self, code: str) -> None:
        """Enrol this kiosk with ``code``; then call :meth:`Presenter.enrol_finished`."""

    def undo(self, outcome: TapOutcome) -> None:
        """Take back ``outcome``, a check-in or check-out, off the UI thread; answers ``undo_finished``."""

    def save_pin(self, pin: str) -> None:
        """Store the hash of ``pin``; then call :meth:`Presenter.pin_saved`."""


@dataclass(frozen=True, slots=True)
class EnrolResult:
    """How an enrolment attempt ended: ``info`` on success, else the reason code."""

    info: KioskInfo | None
    reason: str | None = None


class EnrolMode(StrEnum):
    """The check-in kiosk's own modes, on top of :class:`~terminal.ui.base_presenter.Mode`: enrolment."""

    ENROL_CODE = "enrol_code"
    ENROL_BUSY = "enrol_busy"
    ENROL_DONE = "enrol_done"
    PIN_SET = "pin_set"
    PIN_CONFIRM = "pin_confirm"
    PIN_SAVING = "pin_saving"


# The enrolment modes that take keypad digits, and how many.
_KEYPAD_MODES: dict[StrEnum, int] = {
    EnrolMode.ENROL_CODE: CODE_DIGITS,
    EnrolMode.PIN_SET: PIN_MAX_DIGITS,
    EnrolMode.PIN_CONFIRM: PIN_MAX_DIGITS,
}

# Enrolment failures in plain words; anything else shows its reason code.
_ENROL_TEXT = {
    Reason.ENROLMENT_CODE_INVALID.value: "enrol.code_invalid",
    Reason.ENROLMENT_CODE_USED.value: "enrol.code_invalid",
    Reason.ENROLMENT_CODE_EXPIRED.value: "enrol.code_invalid",
    Reason.RATE_LIMITED.value: "enrol.rate_limited",
    Reason.NETWORK_ERROR.value: "enrol.unreachable",
    Reason.SERVER_ERROR.value: "enrol.unreachable",
    "server_unreachable": "enrol.unreachable",  # provisioning.errors.ServerUnreachable
    "already_enrolled": "enrol.already",
}


class Presenter(BasePresenter):
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
        timings: Timings = DEFAULT_TIMINGS,
    ) -> None:
        super().__init__(
            translator=translator,
            actions=actions,
            now_ms=now_ms,
            on_change=on_change,
            info=info,
            pin_set=pin_set,
            timings=timings,
        )
        self._actions = actions
        self._server_url = server_url
        self._first_pin = ""  # the PIN typed once, while it is confirmed
        self.mode = self._idle_mode()
        # The check-in or check-out whose result offers "Rückgängig", and until when (issue 20).  The
        # kiosk core decides by its monotonic clock; this countdown only tells the volunteer.
        self._undoable: TapOutcome | None = None
        self._undo_until_ms = 0
        self._undo_left_s = 0

    # -- inputs from the kiosk -------------------------------------------------------------------------

    def show_outcome(self, outcome: TapOutcome) -> None:
        """A tap the core handled (and signalled): show its result, or the menu for a coordinator's card."""
        if isinstance(self.mode, EnrolMode):
            return  # no kiosk to tap on yet; the core does not run before enrolment either
        if outcome.kind is Outcome.COORDINATOR:
            self._open_menu()
            return
        # Every tap is news, even when it reads like the last one (two check-ins in the same minute).
        now = self._now_ms()
        self._undoable = None
        window_ms = int(self.info.undo_window_s * 1000) if self.info is not None else 0
        if window_ms and outcome.kind in (Outcome.CHECK_IN, Outcome.CHECK_OUT):
            self._undoable, self._undo_until_ms = outcome, now + window_ms
        self._show_result(self._outcome_screen(outcome, now), force=True)
        if self._undoable is not None and self._deadline_ms is not None:
            # The result stays while its undo is offered.
            self._deadline_ms = max(self._deadline_ms, self._undo_until_ms)

    def undo_finished(self, outcome: TapOutcome) -> None:
        """The undo started by the button ended: "Rückgängig gemacht", or why not."""
        if self.mode is not Mode.RESULT:
            return
        self._show_result(screens.outcome_screen(self._t, outcome, now_ms=self._now_ms()), force=True)

    def tick(self) -> None:
        """The base presenter's tick, and the undo button's countdown (gone when it runs out)."""
        if self._undoable is not None and self.mode is Mode.RESULT:
            now = self._now_ms()
            left = -(-(self._undo_until_ms - now) // 1000)
            if left != self._undo_left_s:
                self._show(self._outcome_screen(self._undoable, now))
        super().tick()

    def _outcome_screen(self, outcome: TapOutcome, now: int) -> Screen:
        left = -(-(self._undo_until_ms - now) // 1000) if self._undoable is outcome else 0
        self._undo_left_s = max(0, left)
        if left <= 0:
            self._undoable = None if self._undoable is outcome else self._undoable
            return screens.outcome_screen(self._t, outcome, now_ms=now)
        return screens.outcome_screen(self._t, outcome, now_ms=now, undo=screens.undo_action(self._t, left))

    def _press_undo(self) -> None:
        outcome = self._undoable
        if outcome is None or self._now_ms() >= self._undo_until_ms:
            return
        self._undoable = None
        screen = self.screen
        if screen is not None:  # the result again, without its button, until the kiosk answers
            self._show(replace(screen, actions=(), lines=(*screen.lines, self._t("undo.busy"))))
        self._actions.undo(outcome)

    # -- results of the slow actions -------------------------------------------------------------------

    def enrol_finished(self, result: EnrolResult) -> None:
        """The enrolment started by "submit" ended."""
        if self.mode is not EnrolMode.ENROL_BUSY:
            return
        if result.info is not None:
            self.info = result.info
            self.mode = EnrolMode.ENROL_DONE
            self._digits = self._error = ""
            self._render()
            return
        key = _ENROL_TEXT.get(result.reason or "", "enrol.other")
        self._error = self._t(key, code=result.reason or "?")
        self.mode = EnrolMode.ENROL_CODE
        self._actions.signal("error")
        self._render()

    def pin_saved(self, ok: bool) -> None:
        """The new coordinator PIN was (not) stored."""
        if self.mode is not EnrolMode.PIN_SAVING:
            return
        if not ok:
            self.mode = EnrolMode.PIN_SET
            self._error = self._t("error.failed")
            self._actions.signal("error")
            self._render()
            return
        self.pin_set = True
        self._message("pin_saved", Tone.OK, Icon.CHECK, self._t("pin.saved"))

    # -- hooks -----------------------------------------------------------------------------------------

    def _handlers(self) -> dict[tuple[StrEnum, str], Handler]:
        return {
            **super()._handlers(),
            (EnrolMode.ENROL_CODE, "submit"): self._submit_code,
            (EnrolMode.ENROL_DONE, "continue"): self._ask_new_pin,
            (EnrolMode.PIN_SET, "ok"): self._first_pin_done,
            (EnrolMode.PIN_SET, "skip"): self._go_idle,
            (EnrolMode.PIN_CONFIRM, "ok"): self._confirm_pin_done,
            (EnrolMode.PIN_CONFIRM, "skip"): self._go_idle,
            (Mode.RESULT, "undo"): self._press_undo,
        }

    def _keypad_limit(self) -> int | None:
        return _KEYPAD_MODES.get(self.mode) or super()._keypad_limit()

    def _idle_mode(self) -> StrEnum:
        # Without a kiosk there is no idle screen: back to the enrolment keypad.
        return Mode.IDLE if self.info is not None else EnrolMode.ENROL_CODE

    def _reset(self) -> None:
        self._first_pin = ""
        self._undoable = None

    def _idle_screen(self, now: int) -> Screen:
        assert self.info is not None
        return screens.idle_screen(self._t, self.info, self._status, now_ms=now)

    def _screen_for(self, now: int) -> Screen | None:
        t, mode = self._t, self.mode
        if mode in (EnrolMode.ENROL_CODE, EnrolMode.ENROL_BUSY):
            return screens.enrol_code_screen(
                t,
                server_url=self._server_url,
                digits=self._digits,
                error=self._error,
                busy=mode is EnrolMode.ENROL_BUSY,
            )
        if mode is EnrolMode.ENROL_DONE and self.info is not None:
            return screens.enrol_done_screen(t, site_name=self.info.site_name, kiosk_id=self.info.kiosk_id)
        if mode in (EnrolMode.PIN_SET, EnrolMode.PIN_CONFIRM, EnrolMode.PIN_SAVING):
            return screens.pin_set_screen(
                t,
                digits=self._digits,
                confirming=mode is EnrolMode.PIN_CONFIRM,
                error=self._error,
                busy=mode is EnrolMode.PIN_SAVING,
            )
        return super()._screen_for(now)

    # -- transitions -----------------------------------------------------------------------------------

    def _submit_code(self) -> None:
        if len(self._digits) != CODE_DIGITS:
            self._error = self._t("enrol.too_short")
            self._render()
            return
        self.mode = EnrolMode.ENROL_BUSY
        self._error = ""
        self._render()
        self._actions.enrol(self._digits)

    def _ask_new_pin(self) -> None:
        self.mode = EnrolMode.PIN_SET
        self._digits = self._first_pin = self._error = ""
        self._render()

    def _first_pin_done(self) -> None:
        if len(self._digits) < PIN_MIN_DIGITS:
            self._error = self._t("pin.too_short")
            self._render()
            return
        self._first_pin, self._digits, self._error = self._digits, "", ""
        self.mode = EnrolMode.PIN_CONFIRM
        self._render()

    def _confirm_pin_done(self) -> None:
        if self._digits != self._first_pin:
            self._error = self._t("pin.mismatch")
            self._digits = self._first_pin = ""
            self.mode = EnrolMode.PIN_SET
            self._render()
            return
        pin, self._digits, self._first_pin = self._digits, "", ""
        self.mode = EnrolMode.PIN_SAVING
        self._render()
        self._actions.save_pin(pin)
