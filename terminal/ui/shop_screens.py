"""Screen builders for a shop terminal's till: facts in, translated :class:`~terminal.ui.model.Screen` out.

Pure functions, one per screen, like :mod:`terminal.ui.screens` for the
check-in kiosk; :class:`~terminal.ui.shop_presenter.ShopPresenter` decides which
one to show.  They use the view's four layouts and nothing more:

* the till (``shop-idle``): the amount on the ``KEYPAD`` layout, with the
  shop's presets as quick picks beside the keypad and the status line below;
* "tap your card", the confirmation with the balance and every result: the
  ``RESULT`` layout, with buttons where there is a choice;
* the recent sales behind the PIN: the ``MENU`` layout, a "void" button on
  each row that can still be voided.

Screen names start with ``shop-``; the screenshots in ``docs/img/ui`` carry them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from protocol import Reason
from protocol.trust import ShopLimits
from terminal.shop import CardAtTill, CardRefused, RecentRedemption, RedeemResult, TillOutcome, VoidResult
from terminal.ui import screens
from terminal.ui.i18n import Translator
from terminal.ui.model import Action, Icon, Layout, Screen, Tone
from terminal.ui.screens import KioskInfo, KioskStatus

AMOUNT_DIGITS = 4
"""The most digits the amount keypad takes; anything above the shop's ``max_amount`` is refused on screen."""

RECENT_PAGE = 5
"""Sales per page of the recent list: five rows with a button each fit the 7" screen."""

PRESET_ACTION = "preset:"
VOID_ACTION = "void:"

# Why the server (or the till) declined a redemption, in plain words; card reasons use the denied texts.
_DECLINED_TEXT = {
    Reason.NOT_A_SHOP.value: "shop.declined.not_a_shop",
    Reason.AMOUNT_OVER_LIMIT.value: "shop.declined.amount_over_limit",
    Reason.REDEMPTION_MISMATCH.value: "shop.declined.mismatch",
    Reason.ALREADY_REDEEMED.value: "shop.declined.already_redeemed",
}
# Why a void was refused; any other code is shown as it is, on the amber error screen.
_VOID_REFUSED_TEXT = {
    Reason.VOID_TOO_LATE.value: "shop.void_reason.too_late",
    Reason.ALREADY_VOIDED.value: "shop.void_reason.already_voided",
    Reason.UNKNOWN_REDEMPTION.value: "shop.void_reason.unknown",
    Reason.VOID_OTHER_SHOP.value: "shop.void_reason.other_shop",
    Reason.REDEMPTION_MISMATCH.value: "shop.void_reason.mismatch",
    Reason.NOT_A_SHOP.value: "shop.declined.not_a_shop",
}
# A recent sale's state (terminal.redemptions.RedemptionState) in words; unknown states show their code.
STATES = (
    "pending",
    "paid",
    "paid_offline",
    "declined",
    "refused",
    "offline_limit",
    "void_pending",
    "voided",
    "void_refused",
)


def tokens(t: Translator, amount: int) -> str:
    """``5 Token`` / ``1 token`` / ``5 tokens``."""
    return t.plural("shop.tokens", amount)


def _reason(code: str | None) -> Reason | None:
    try:
        return Reason(code) if code is not None else None
    except ValueError:
        return None


# -- the till --------------------------------------------------------------------------------------


def preset_actions(t: Translator, limits: ShopLimits) -> tuple[Action, ...]:
    """The shop's presets as quick-pick buttons: the label over its price; IDs ``preset:<index>``."""
    return tuple(
        Action(f"{PRESET_ACTION}{index}", t("shop.preset", label=p.label, price=tokens(t, p.amount)))
        for index, p in enumerate(limits.presets)
    )


def idle_screen(
    t: Translator,
    info: KioskInfo,
    limits: ShopLimits,
    status: KioskStatus | None,
    *,
    digits: str,
    now_ms: int,
    error: str = "",
    signed_in: bool = False,
) -> Screen:
    """The till at rest: "Betrag eingeben", the keypad, the presets and the status line.

    Holding the title or status area (not a key) opens the coordinator PIN,
    as the idle screen of a check-in kiosk does.  ``signed_in``: a till staff
    member's session is open, and "Abmelden" ends it.
    """
    actions: tuple[Action, ...] = (Action("ok", t("shop.next"), primary=True),)
    if signed_in:
        actions = (*actions, Action(STAFF_LOGOUT_ACTION, t("shop.staff.logout")))
    return Screen(
        name="shop-idle",
        layout=Layout.KEYPAD,
        tone=Tone.NEUTRAL,
        icon=Icon.COIN,
        title=t("shop.idle_title"),
        lines=(t("shop.idle_prompt", max=tokens(t, limits.max_amount)),),
        entry=tokens(t, int(digits)) if digits else "",
        max_digits=AMOUNT_DIGITS,
        actions=actions,
        choices=preset_actions(t, limits),
        error=error,
        status=screens.status_line(t, status, now_ms=now_ms),
        long_press=True,
    )


STAFF_PIN_DIGITS = 6
STAFF_LOGOUT_ACTION = "staff_logout"


def staff_pin_screen(t: Translator, *, digits: str, error: str = "", busy: bool = False) -> Screen:
    """The till staff's PIN pad: shown before a sale when the shop has staff and nobody is signed in."""
    return screens.keypad_screen(
        "shop-staff-pin",
        title=t("shop.staff.pin_title"),
        prompt=t("shop.staff.checking") if busy else t("shop.staff.pin_prompt"),
        entry=screens.PIN_MASK * len(digits),
        max_digits=STAFF_PIN_DIGITS,
        actions=(Action("ok", t("pin.ok"), primary=True), Action("cancel", t("pin.cancel"))),
        error=error,
        busy=busy,
    )


def manager_only_screen(t: Translator) -> Screen:
    """A cashier (or nobody) asked for the void menu of a shop with till staff."""
    return screens.message_screen(
        "shop-manager-only",
        Tone.ERROR,
        Icon.LOCK,
        t("shop.staff.manager_only"),
        t("shop.staff.manager_only_hint"),
    )


def card_screen(t: Translator, *, amount: int, label: str | None = None, again: bool = False) -> Screen:
    """ "Karte auflegen — 5 Token" while the till waits for the volunteer's card.

    ``again``: the card left the reader before it was read (the till played
    ``error``): amber, "Bitte nochmal auflegen", and the sale still waits.
    """
    lines = (label,) if label else ()
    if again:
        return Screen(
            "shop-card-again",
            Layout.RESULT,
            Tone.ERROR,
            Icon.WARNING,
            t("shop.card_again", amount=tokens(t, amount)),
            (*lines, t("error.incomplete_hint")),
            actions=(Action("cancel", t("shop.cancel")),),
        )
    return Screen(
        "shop-card",
        Layout.RESULT,
        Tone.NEUTRAL,
        Icon.CARD,
        t("shop.card_title", amount=tokens(t, amount)),
        (*lines, t("shop.card_hint")),
        actions=(Action("cancel", t("shop.cancel")),),
    )


def balance_line(
    t: Translator, balance: int | None, as_of_ms: int | None, *, fresh: bool, now_ms: int
) -> str:
    """ "Guthaben: 12 Token", with "(Stand 14:02)" when it is not fresh from the server."""
    if balance is None:
        return t("shop.balance_unknown")
    if fresh or as_of_ms is None:
        return t("shop.balance", amount=tokens(t, balance))
    return t("shop.balance_as_of", amount=tokens(t, balance), when=t.when(as_of_ms, now_ms=now_ms))


def confirm_screen(
    t: Translator, card: CardAtTill, *, amount: int, now_ms: int, busy: bool = False
) -> Screen:
    """The volunteer's balance and the amount, "Bezahlen" / "Abbrechen"; ``busy`` while the till pays.

    Offline (``fresh`` false) it also says when the amount is beyond what the
    till may accept without the server, so nobody is surprised by the refusal.
    """
    lines = [balance_line(t, card.balance, card.balance_as_of_ms, fresh=card.fresh, now_ms=now_ms)]
    if not card.fresh and amount > card.offline_headroom:
        lines.append(t("shop.headroom", amount=tokens(t, max(0, card.offline_headroom))))
    title = t("shop.busy") if busy else t("shop.confirm_title", amount=tokens(t, amount))
    return Screen(
        "shop-paying" if busy else "shop-confirm",
        Layout.RESULT,
        Tone.NEUTRAL,
        Icon.COIN,
        title,
        tuple(lines),
        actions=(Action("pay", t("shop.pay"), primary=True), Action("cancel", t("shop.cancel"))),
        busy=busy,
    )


def refused_screen(t: Translator, refused: CardRefused) -> Screen:
    """A card the till will not take: the red denied screen, in the check-in kiosk's words.

    A code that is no reason code names an exception: the till failed (and
    played ``error``), so the screen is the amber error, not a refusal.
    """
    reason = _reason(refused.reason)
    if reason is None:
        return failed_screen(t)
    if reason is Reason.TAP_INCOMPLETE:  # amber, as the till's "error" pattern: nothing wrong with the card
        return Screen(
            "shop-tap-again",
            Layout.RESULT,
            Tone.ERROR,
            Icon.WARNING,
            t("error.incomplete"),
            (t("error.incomplete_hint"),),
        )
    group = screens.denied_group(reason)
    return Screen(
        f"shop-denied-{group.replace('_', '-')}",
        Layout.RESULT,
        Tone.DENIED,
        Icon.CROSS,
        t(f"denied.{group}"),
        (t("denied.help"),),
    )


def _declined_title(t: Translator, result: RedeemResult, limits: ShopLimits | None) -> tuple[str, str]:
    """The title and the first line of a declined redemption, from its reason."""
    code = result.reason or ""
    if code == Reason.INSUFFICIENT_BALANCE.value:
        if result.balance is None:
            return t("shop.declined.insufficient_unknown"), t("shop.nothing_debited")
        return t("shop.declined.insufficient", balance=tokens(t, result.balance)), t("shop.nothing_debited")
    if code == Reason.AMOUNT_OVER_LIMIT.value and limits is not None:
        return t(_DECLINED_TEXT[code]), t("shop.amount_over", max=tokens(t, limits.max_amount))
    if code in _DECLINED_TEXT:
        return t(_DECLINED_TEXT[code]), t("shop.nothing_debited")
    reason = _reason(code)
    if reason is not None and screens.denied_group(reason) != "unreadable":
        return t(f"denied.{screens.denied_group(reason)}"), t("shop.nothing_debited")
    return t("shop.declined.other", code=code or "?"), t("shop.nothing_debited")


def result_screen(
    t: Translator, result: RedeemResult, *, now_ms: int, limits: ShopLimits | None = None
) -> Screen:
    """How a redemption ended; colour, icon and sound follow from ``result.outcome``."""
    outcome = result.outcome
    if outcome in (TillOutcome.PAID, TillOutcome.PAID_OFFLINE):
        offline = outcome is TillOutcome.PAID_OFFLINE
        lines = [t("shop.paid_offline")] if offline else []
        if result.balance is None:
            lines.append(t("shop.new_balance_unknown"))
        elif offline and result.balance_as_of_ms is not None:
            lines.append(t("shop.new_balance_estimate", amount=tokens(t, result.balance)))
        else:
            lines.append(t("shop.new_balance", amount=tokens(t, result.balance)))
        return Screen(
            "shop-paid-offline" if offline else "shop-paid",
            Layout.RESULT,
            Tone.OK,
            Icon.CHECK,
            t("shop.paid", amount=tokens(t, result.amount)),
            tuple(lines),
        )
    if outcome is TillOutcome.OFFLINE_LIMIT:
        return Screen(
            "shop-offline-limit",
            Layout.RESULT,
            Tone.DENIED,
            Icon.CROSS,
            t("shop.offline_limit"),
            (t("shop.offline_limit_hint"),),
        )
    if outcome in (TillOutcome.DECLINED, TillOutcome.DENIED):
        title, line = _declined_title(t, result, limits)
        code = (result.reason or "other").replace("_", "-")
        return Screen(f"shop-declined-{code}", Layout.RESULT, Tone.DENIED, Icon.CROSS, title, (line,))
    return failed_screen(t)


def failed_screen(t: Translator) -> Screen:
    """Something failed (the till or the outbox broke): amber, "try again"; the log has the details."""
    return Screen(
        "shop-error", Layout.RESULT, Tone.ERROR, Icon.WARNING, t("error.failed"), (t("shop.error_hint"),)
    )


# -- behind the PIN --------------------------------------------------------------------------------


def menu_screen(
    t: Translator,
    info: KioskInfo,
    status: KioskStatus | None,
    limits: ShopLimits,
    *,
    now_ms: int,
    note: str = "",
) -> Screen:
    """The coordinator menu of a check-in kiosk, plus the shop's limit and "Letzte Buchungen"."""
    menu = screens.menu_screen(t, info, status, now_ms=now_ms, note=note)
    return dataclasses.replace(
        menu,
        name="shop-menu",
        rows=(*menu.rows, (t("shop.max_amount"), tokens(t, limits.max_amount))),
        actions=(Action("recent", t("shop.recent")), *menu.actions),
    )


def state_text(t: Translator, state: str) -> str:
    """A recent sale's state in words; a state this screen does not know shows its code."""
    return t(f"shop.state.{state}") if state in STATES else state


def recent_screen(
    t: Translator,
    items: Sequence[RecentRedemption],
    *,
    page: int,
    now_ms: int,
    busy: bool = False,
) -> Screen:
    """One page of the terminal's recent sales, newest first; "void" on those that can still be voided."""
    shown = list(items[page * RECENT_PAGE : (page + 1) * RECENT_PAGE])
    rows = tuple(
        (
            t("shop.recent_row", when=t.when(r.created_ms, now_ms=now_ms), amount=tokens(t, r.amount)),
            state_text(t, r.state),
        )
        for r in shown
    )
    row_actions = tuple(
        Action(f"{VOID_ACTION}{r.redemption_id}", t("shop.void")) if r.voidable else None for r in shown
    )
    actions = []
    if page > 0:
        actions.append(Action("newer", t("shop.newer")))
    if (page + 1) * RECENT_PAGE < len(items):
        actions.append(Action("older", t("shop.older")))
    actions.append(Action("back", t("shop.back"), primary=True))
    lines = (t("shop.busy"),) if busy else () if items else (t("shop.recent_empty"),)
    return Screen(
        name="shop-recent",
        layout=Layout.MENU,
        tone=Tone.NEUTRAL,
        icon=Icon.GEAR,
        title=t("shop.recent"),
        lines=lines,
        rows=rows,
        row_actions=row_actions if any(a is not None for a in row_actions) else (),
        actions=tuple(actions),
        busy=busy,
    )


def void_screen(t: Translator, item: RecentRedemption, *, now_ms: int, busy: bool = False) -> Screen:
    """ "Buchung stornieren?" with the sale's amount and time; ``busy`` while the void is signed."""
    return Screen(
        "shop-void",
        Layout.RESULT,
        Tone.NEUTRAL,
        Icon.UNDO,
        t("shop.busy") if busy else t("shop.void_title"),
        (
            t("shop.void_line", amount=tokens(t, item.amount), when=t.when(item.created_ms, now_ms=now_ms)),
            t("shop.void_hint"),
        ),
        actions=(Action("void", t("shop.void"), primary=True), Action("back", t("shop.back"))),
        busy=busy,
    )


def void_result_screen(
    t: Translator, result: VoidResult, item: RecentRedemption, *, limits: ShopLimits | None = None
) -> Screen:
    """How a void ended: credited back, stored until the kiosk is online, or refused with the reason."""
    to_list = (Action("recent", t("shop.to_list")),)
    if result.queued:  # signed and stored; the server has not answered yet (offline)
        return Screen(
            "shop-void-queued",
            Layout.RESULT,
            Tone.OK,
            Icon.CHECK,
            t("shop.void_queued"),
            (t("shop.void_queued_line"),),
            actions=to_list,
        )
    if result.ok:
        return Screen(
            "shop-voided",
            Layout.RESULT,
            Tone.OK,
            Icon.CHECK,
            t("shop.voided"),
            (t("shop.voided_line", amount=tokens(t, item.amount)),),
            actions=to_list,
        )
    code = result.reason or ""
    key = _VOID_REFUSED_TEXT.get(code)
    if key is None and _reason(code) is not None:  # a refusal this screen has no words for
        key = "shop.void_reason.other"
    if key is None:  # no reason code but an exception's name: the till failed (and played ``error``)
        return Screen(
            "shop-void-error",
            Layout.RESULT,
            Tone.ERROR,
            Icon.WARNING,
            t("shop.void_failed"),
            (t("shop.failed_code", code=code or "?"),),
            actions=to_list,
        )
    minutes = (limits.void_window_s if limits is not None else 0) // 60
    return Screen(
        "shop-void-refused",
        Layout.RESULT,
        Tone.DENIED,
        Icon.CROSS,
        t("shop.void_refused"),
        (t(key, minutes=minutes, code=code),),
        actions=to_list,
    )
