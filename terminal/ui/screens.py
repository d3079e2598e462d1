"""Screen builders: kiosk facts in, translated :class:`~terminal.ui.model.Screen` out.

Pure functions, one per screen, so each is tested (and screenshotted) on its
own and the presenter only decides *which* screen to show.  A shop terminal
adds its own builders next to these; the view needs no change.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from hardware.reader import ReaderStatus
from protocol import Reason
from protocol.enrolment import ENROL_CODE_DIGITS
from terminal.tap import Outcome, TapOutcome
from terminal.ui.i18n import Translator
from terminal.ui.model import Action, Icon, Layout, Screen, StatusLine, Tone

PIN_MASK = "•"


@dataclass(frozen=True, slots=True)
class KioskInfo:
    """What the kiosk is: fixed after enrolment."""

    kiosk_id: str
    site_name: str
    version: str
    undo_window_s: float = 0.0  # how long a check-in or check-out offers "Rückgängig" (kiosk.toml)


@dataclass(frozen=True, slots=True)
class KioskStatus:
    """A snapshot for the status line and the coordinator menu, gathered off the UI thread.

    ``online`` is ``None`` until the first sync round of this run ended.
    ``sync_error`` is the last round's reason code (``None``: it went well).
    ``trust_issued_ms`` is ``None`` without a trust list (every card is then denied).
    """

    online: bool | None
    pending: int
    last_sync_ms: int | None
    reader: ReaderStatus
    alarm: str | None = None
    sync_error: str | None = None
    trust_issued_ms: int | None = None


# Why a card was refused, in the words a volunteer understands.
_DENIED_TEXT: dict[Reason, str] = {
    Reason.CARD_BLOCKED: "blocked",
    Reason.UNKNOWN_CARD: "unknown",
    Reason.CREDENTIAL_FORGED: "unknown",
    Reason.UID_MISMATCH: "unknown",
    Reason.CREDENTIAL_EXPIRED: "expired",
    Reason.CREDENTIAL_NOT_YET_VALID: "not_yet_valid",
    Reason.UNKNOWN_ISSUER: "not_valid_here",  # issued by a programme this site does not take part in
    Reason.UNCREDENTIALED_CARD: "not_valid_here",
}
DENIED_GROUPS = ("blocked", "unknown", "expired", "not_yet_valid", "not_valid_here", "unreadable")
"""The denied screens there are, by name suffix (``denied_blocked`` …)."""


def denied_group(reason: Reason | None) -> str:
    """Which plain-words denied screen a reason code gets; garbled or unforeseen codes are ``unreadable``."""
    return _DENIED_TEXT.get(reason, "unreadable") if reason is not None else "unreadable"


def status_line(t: Translator, status: KioskStatus | None, *, now_ms: int) -> StatusLine:
    """The idle screen's four status items."""
    if status is None:
        return StatusLine(t("status.connecting"), False, "", t("status.never_synced"), "", True)
    if status.alarm is not None:
        connection, online = t("status.alarm", code=status.alarm), False
    elif status.online is None:
        connection, online = t("status.connecting"), False
    elif status.online and status.sync_error is not None:
        # The server answers but refuses (kiosk suspended or revoked, a bad receipt …): not "online".
        connection, online = t("status.sync_error", code=status.sync_error), False
    else:
        connection, online = t("status.online" if status.online else "status.offline"), status.online
    last = (
        t("status.last_sync", when=t.when(status.last_sync_ms, now_ms=now_ms))
        if status.last_sync_ms is not None
        else t("status.never_synced")
    )
    reader = {
        ReaderStatus.OK: "status.reader_ok",
        ReaderStatus.MISSING: "status.reader_missing",
        ReaderStatus.ERROR: "status.reader_error",
    }[status.reader]
    return StatusLine(
        connection=connection,
        online=online,
        pending=t.plural("status.pending", status.pending),
        last_sync=last,
        reader=t(reader),
        reader_ok=status.reader is ReaderStatus.OK,
    )


def idle_screen(t: Translator, info: KioskInfo, status: KioskStatus | None, *, now_ms: int) -> Screen:
    """ "Karte auflegen", the site, the time and the status line."""
    return Screen(
        name="idle",
        layout=Layout.IDLE,
        tone=Tone.NEUTRAL,
        icon=Icon.CARD,
        title=t("idle.title"),
        lines=(info.site_name, t("idle.hint")),
        clock=t.time(now_ms),
        status=status_line(t, status, now_ms=now_ms),
    )


_UNDO_REFUSALS: Final = frozenset(
    {Reason.UNDO_TOO_LATE, Reason.UNDO_SUPERSEDED, Reason.ALREADY_UNDONE, Reason.UNDO_UNKNOWN_TAP}
)


def undo_action(t: Translator, seconds: int) -> Action:
    """The "Rückgängig (7)" button of a check-in or check-out result, with the seconds left."""
    return Action("undo", t("undo.button", seconds=seconds))


def outcome_screen(t: Translator, outcome: TapOutcome, *, now_ms: int, undo: Action | None = None) -> Screen:
    """The result of one tap: colour, icon and words follow from ``outcome.kind`` (and its reason).

    ``undo`` is the button that takes a check-in or check-out back, while it may (issue 20).
    """
    if undo is not None and outcome.kind in (Outcome.CHECK_IN, Outcome.CHECK_OUT):
        return replace(outcome_screen(t, outcome, now_ms=now_ms), actions=(undo,))
    at = outcome.wall_ms if outcome.wall_ms is not None else now_ms
    if outcome.kind is Outcome.UNDONE:
        which = "undo.done_check_in" if outcome.recorded_kind is Outcome.CHECK_IN else "undo.done_check_out"
        return Screen("undone", Layout.RESULT, Tone.OK, Icon.CHECK, t("undo.done"), (t(which),))
    if outcome.kind is Outcome.ERROR and outcome.reason in _UNDO_REFUSALS:
        return Screen(
            "undo_refused",
            Layout.RESULT,
            Tone.ERROR,
            Icon.WARNING,
            t("undo.refused"),
            (t("undo.refused_hint"),),
        )
    if outcome.kind is Outcome.CHECK_IN:
        lines = [t("check_in.line", time=t.time(at)), t("check_in.hint")]
        if outcome.abandoned_start_ms is not None:
            lines.append(t("check_in.abandoned", when=t.when(outcome.abandoned_start_ms, now_ms=at)))
        return Screen("check_in", Layout.RESULT, Tone.OK, Icon.CHECK_IN, t("check_in.title"), tuple(lines))
    if outcome.kind is Outcome.CHECK_OUT:
        lines = [
            t("check_out.shift", duration=t.duration(outcome.shift_minutes or 0)),
            t.plural("check_out.tokens", outcome.tokens or 0),
            t("check_out.balance", balance=outcome.balance, when=t.when(outcome.balance_as_of_ms, now_ms=at))
            if outcome.balance is not None and outcome.balance_as_of_ms is not None
            else t("check_out.balance_unknown"),
        ]
        title = t("check_out.title", time=t.time(at))
        return Screen("check_out", Layout.RESULT, Tone.OK, Icon.CHECK_OUT, title, tuple(lines))
    if outcome.kind is Outcome.ALREADY_RECORDED:
        which = {Outcome.CHECK_IN: "already.check_in", Outcome.CHECK_OUT: "already.check_out"}.get(
            outcome.recorded_kind or Outcome.ERROR, "already.other"
        )
        return Screen(
            "already_recorded", Layout.RESULT, Tone.INFO, Icon.REPEAT, t("already.title"), (t(which),)
        )
    if outcome.kind is Outcome.DENIED:
        group = denied_group(outcome.reason)
        return Screen(
            f"denied_{group}",
            Layout.RESULT,
            Tone.DENIED,
            Icon.CROSS,
            t(f"denied.{group}"),
            (t("denied.help"),),
        )
    if outcome.reason is Reason.TAP_INCOMPLETE:
        return Screen(
            "error_incomplete",
            Layout.RESULT,
            Tone.ERROR,
            Icon.WARNING,
            t("error.incomplete"),
            (t("error.incomplete_hint"),),
        )
    if outcome.reason in (Reason.STORAGE_FULL, Reason.STORAGE_UNAVAILABLE):
        # Tapping again cannot help while the disk cannot write: ask for a coordinator at once.
        return Screen(
            "error_storage",
            Layout.RESULT,
            Tone.ERROR,
            Icon.WARNING,
            t("error.storage"),
            (t("error.storage_hint"),),
        )
    return Screen(
        "error", Layout.RESULT, Tone.ERROR, Icon.WARNING, t("error.failed"), (t("error.failed_hint"),)
    )


def _group_code(digits: str) -> str:
    """``12345678…`` → ``1234 5678 …``: easier to compare with the printed code."""
    return " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))


def keypad_screen(
    name: str,
    *,
    title: str,
    prompt: str,
    entry: str,
    max_digits: int,
    actions: tuple[Action, ...],
    lines: tuple[str, ...] = (),
    error: str = "",
    busy: bool = False,
    icon: Icon = Icon.LOCK,
    tone: Tone = Tone.NEUTRAL,
) -> Screen:
    """A keypad screen; ``entry`` is shown as given (grouped code or PIN dots)."""
    return Screen(
        name=name,
        layout=Layout.KEYPAD,
        tone=tone,
        icon=icon,
        title=title,
        lines=(prompt, *lines),
        entry=entry,
        max_digits=max_digits,
        actions=actions,
        error=error,
        busy=busy,
    )


def enrol_code_screen(
    t: Translator, *, server_url: str, digits: str, error: str = "", busy: bool = False
) -> Screen:
    """The first-boot screen: type the 20-digit enrolment code on the keypad."""
    return keypad_screen(
        "enrol_busy" if busy else "enrol_code",
        title=t("enrol.title"),
        prompt=t("enrol.busy") if busy else t("enrol.prompt"),
        lines=(t("enrol.server", url=server_url),),
        entry=_group_code(digits),
        max_digits=ENROL_CODE_DIGITS,
        actions=(Action("submit", t("enrol.submit"), primary=True),),
        error=error,
        busy=busy,
        icon=Icon.KEY,
    )


def enrol_done_screen(t: Translator, *, site_name: str, kiosk_id: str) -> Screen:
    """Enrolment worked: where this kiosk now belongs."""
    return Screen(
        "enrol_done",
        Layout.RESULT,
        Tone.OK,
        Icon.CHECK,
        t("enrol.done"),
        (t("enrol.site", site=site_name), t("enrol.kiosk", kiosk_id=kiosk_id)),
        actions=(Action("continue", t("enrol.continue"), primary=True),),
    )


def pin_set_screen(
    t: Translator, *, digits: str, confirming: bool, error: str = "", busy: bool = False
) -> Screen:
    """Choose the coordinator PIN (twice); offered right after enrolment."""
    return keypad_screen(
        "pin_confirm" if confirming else "pin_set",
        title=t("pin.set_title"),
        prompt=t("pin.confirm_prompt" if confirming else "pin.set_prompt"),
        entry=PIN_MASK * len(digits),
        max_digits=8,
        actions=(Action("ok", t("pin.ok"), primary=True), Action("skip", t("pin.skip"))),
        error=error,
        busy=busy,
    )


def pin_entry_screen(t: Translator, *, digits: str, error: str = "", busy: bool = False) -> Screen:
    """The PIN keypad behind the long press."""
    return keypad_screen(
        "pin_entry",
        title=t("pin.entry_title"),
        prompt=t("pin.checking") if busy else t("pin.entry_prompt"),
        entry=PIN_MASK * len(digits),
        max_digits=8,
        actions=(Action("ok", t("pin.ok"), primary=True), Action("cancel", t("pin.cancel"))),
        error=error,
        busy=busy,
    )


def message_screen(name: str, tone: Tone, icon: Icon, title: str, *lines: str) -> Screen:
    """A short result screen that is not about a tap (PIN saved, no PIN set, enrolment failed …)."""
    return Screen(name, Layout.RESULT, tone, icon, title, tuple(lines))


def menu_screen(
    t: Translator, info: KioskInfo, status: KioskStatus | None, *, now_ms: int, note: str = ""
) -> Screen:
    """The coordinator menu: who the kiosk is and how it is doing, and "sync now"."""
    dash = "–"
    if status is None:
        reader = pending = last = result = trust = alarm = dash
    else:
        line = status_line(t, status, now_ms=now_ms)
        reader, pending = line.reader, str(status.pending)
        last = t.when(status.last_sync_ms, now_ms=now_ms) if status.last_sync_ms is not None else dash
        result = (
            dash
            if status.online is None
            else t("menu.sync_ok")
            if status.sync_error is None
            else status.sync_error
        )
        trust = (
            t.when(status.trust_issued_ms, now_ms=now_ms)
            if status.trust_issued_ms is not None
            else t("menu.trust_none")
        )
        alarm = status.alarm or t("menu.alarm_none")
    rows = (
        (t("menu.kiosk"), info.kiosk_id),
        (t("menu.site"), info.site_name),
        (t("menu.version"), info.version),
        (t("menu.reader"), reader),
        (t("menu.pending"), pending),
        (t("menu.last_sync"), last),
        (t("menu.sync_result"), result),
        (t("menu.trust"), trust),
        (t("menu.alarm"), alarm),
    )
    return Screen(
        name="menu",
        layout=Layout.MENU,
        tone=Tone.NEUTRAL,
        icon=Icon.GEAR,
        title=t("menu.title"),
        lines=(note,) if note else (),
        rows=rows,
        actions=(Action("sync_now", t("menu.sync_now"), primary=True), Action("close", t("menu.close"))),
    )
