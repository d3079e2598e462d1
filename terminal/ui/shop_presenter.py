"""A shop terminal's till on the screen: amount, card, confirmation, result; and voids behind the PIN.

A state machine (``IDLE``, ``CARD_WAIT``, ``CONFIRM``, ``REDEEMING``, the
result), described in docs/ui.md, "Shop terminal"; the rules behind it are
docs/economy.md, "At the till".  While redeeming, the screen takes no touch,
card or timeout until :meth:`ShopPresenter.redeem_finished`, so a second press
never pays twice.  Behind the PIN (a long press, or a coordinator card): the
menu plus the recent sales, each voidable while it may be.

Slow work goes to :class:`ShopActions` and comes back through
:meth:`ShopPresenter.redeem_finished`, :meth:`ShopPresenter.recent_loaded` and
:meth:`ShopPresenter.void_finished`.  The till plays the pattern for each of
its answers and the screen takes the matching tone
(:data:`~terminal.ui.model.TONE_SIGNAL`); screens the till has no part in ask
:meth:`ShopActions.signal` for theirs.  No Kivy here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Protocol

from protocol import Reason
from protocol.trust import ShopLimits
from terminal.shop import CardAtTill, CardRefused, RecentRedemption, RedeemResult, VoidResult
from terminal.ui import shop_screens
from terminal.ui.base_presenter import DEFAULT_TIMINGS, BaseActions, BasePresenter, Handler, Mode, Timings
from terminal.ui.i18n import Translator
from terminal.ui.model import Screen
from terminal.ui.screens import KioskInfo
from terminal.ui.shop_screens import (
    AMOUNT_DIGITS,
    PRESET_ACTION,
    RECENT_PAGE,
    STAFF_LOGOUT_ACTION,
    STAFF_PIN_DIGITS,
    VOID_ACTION,
)

log = logging.getLogger(__name__)

RECENT_LIMIT = 20
"""How many recent sales the list asks the till for (four pages)."""


class ShopActions(BaseActions, Protocol):
    """The till's slow work; each call returns at once and reports back on the UI thread."""

    def redeem(self, card: CardAtTill, amount: int) -> None:
        """Redeem ``amount`` from ``card``; then call :meth:`ShopPresenter.redeem_finished`."""

    def load_recent(self, limit: int) -> None:
        """Read the terminal's last ``limit`` sales; then call :meth:`ShopPresenter.recent_loaded`."""

    def void(self, redemption_id: str) -> None:
        """Void one sale; then call :meth:`ShopPresenter.void_finished`."""

    def check_staff_pin(self, pin: str) -> None:
        """Open a till staff session with ``pin``; then call :meth:`ShopPresenter.staff_checked`."""

    def staff_logout(self) -> None:
        """End the till staff session ("Abmelden")."""


class ShopMode(StrEnum):
    """The till's own modes, on top of :class:`~terminal.ui.base_presenter.Mode` (idle is the amount)."""

    CARD_WAIT = "card_wait"
    CONFIRM = "confirm"
    REDEEMING = "redeeming"
    RECENT_LOADING = "recent_loading"
    RECENT = "recent"
    VOID_CONFIRM = "void_confirm"
    VOIDING = "voiding"
    STAFF_PIN = "staff_pin"
    STAFF_CHECKING = "staff_checking"


# Waiting for the till or the outbox: nothing is accepted, nothing times out, a card changes nothing.
_BUSY = frozenset(
    {
        ShopMode.REDEEMING,
        ShopMode.VOIDING,
        ShopMode.RECENT_LOADING,
        Mode.PIN_CHECKING,
        ShopMode.STAFF_CHECKING,
    }
)
# Behind the PIN: a minute without a touch closes them, as the menu does.
_COORDINATOR = frozenset(
    {ShopMode.RECENT, ShopMode.VOID_CONFIRM, ShopMode.RECENT_LOADING, ShopMode.STAFF_PIN}
)


class ShopPresenter(BasePresenter):
    """The till's state machine; see the module docstring.

    ``limits`` are the shop's, from the trust list (:meth:`update_limits`
    follows a new list).  The other options are those of
    :class:`~terminal.ui.base_presenter.BasePresenter`, plus the till's
    timeouts.

    Example::

        presenter = ShopPresenter(translator=t, actions=controller, now_ms=wall_ms,
                                  on_change=view.show, info=info, limits=trust.shop)
        presenter.start()
        presenter.press_key("5"); presenter.press_action("ok")   # "Karte auflegen — 5 Token"
        presenter.card_presented(till.present(tap))             # from the reader's thread, posted
    """

    def __init__(
        self,
        *,
        translator: Translator,
        actions: ShopActions,
        now_ms: Callable[[], int],
        on_change: Callable[[Screen], None],
        info: KioskInfo,
        limits: ShopLimits,
        pin_set: bool = False,
        timings: Timings = DEFAULT_TIMINGS,
        staff_required: bool = False,
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
        self.limits = limits
        self._card_wait_ms = int(timings.card_wait_s * 1000)
        self._confirm_ms = int(timings.confirm_s * 1000)
        self._hint_ms = int(timings.hint_s * 1000)
        self.amount: int | None = None  # the amount of the sale in progress
        self._label: str | None = None  # the preset it came from
        self.card: CardAtTill | None = None  # the card that is paying
        self._again = False  # the last card left the reader too soon: "tap again"
        self._hint_until_ms: int | None = None  # the "enter an amount first" hint goes away then
        self._recent: list[RecentRedemption] = []
        self._page = 0
        self._void_item: RecentRedemption | None = None
        # Till staff (docs/kiosk.md, "Till staff"): whether a PIN is needed, the signed-in member's role,
        # and what to do once they signed in (start the sale typed, or pay the card again).
        self.staff_required = staff_required
        self.staff_role: str | None = None
        self._after_pin: Handler | None = None

    # -- inputs from the till --------------------------------------------------------------------------

    def card_presented(self, card: CardAtTill | CardRefused) -> None:
        """A card the till looked at (in the reader's thread): pay with it if a sale is waiting for one.

        The till played the pattern for a refused card already; its screen has the matching tone.
        """
        again = isinstance(card, CardRefused) and card.reason == Reason.TAP_INCOMPLETE.value
        if self.mode is ShopMode.CARD_WAIT:
            if again:  # the card left too soon: the sale still waits, the screen says "tap again"
                self._again = True
                self._deadline_ms = self._now_ms() + self._card_wait_ms
                self._render()
            elif isinstance(card, CardRefused):
                self._result(shop_screens.refused_screen(self._t, card))
            else:
                self.card = card
                self.mode = ShopMode.CONFIRM
                self._deadline_ms = self._now_ms() + self._confirm_ms
                self._render()
            return
        if self.mode not in (Mode.IDLE, Mode.RESULT):
            log.debug("card ignored in mode %s", self.mode)  # confirming, paying, or behind the PIN
            return
        if isinstance(card, CardRefused) and not again:
            # Refused whatever the amount (and the buzzer said so): the red screen, as on a check-in kiosk.
            self._result(shop_screens.refused_screen(self._t, card))
            return
        # No sale waits for a card: say so, and change nothing else (not even what was typed).
        if self.mode is Mode.RESULT:
            self._go_idle()
        self._error = self._t("shop.tap_first")
        self._hint_until_ms = self._now_ms() + self._hint_ms
        self._render()

    def coordinator_card(self) -> None:
        """A coordinator's card: the menu, unless a sale is being confirmed or paid."""
        if self.mode in _BUSY or self.mode is ShopMode.CONFIRM:
            return
        self._open_menu()

    def update_limits(self, limits: ShopLimits) -> None:
        """The trust list brought new limits or presets; the till shows them from now on."""
        if limits == self.limits:
            return
        self.limits = limits
        if self.mode is Mode.IDLE:
            self._render()

    def update_staff(self, required: bool) -> None:
        """Whether the shop has till staff now (from the till's signed state); a change is shown at rest."""
        if required == self.staff_required:
            return
        self.staff_required = required
        if not required:
            self.staff_role = None
        if self.mode is Mode.IDLE:
            self._render()

    def staff_checked(self, role: str | None) -> None:
        """The staff PIN opened a session for a member of ``role``; ``None``: a wrong PIN."""
        if self.mode is not ShopMode.STAFF_CHECKING:
            return
        self._digits = ""
        if role is None:
            self._error = self._t("shop.staff.wrong")
            self.mode = ShopMode.STAFF_PIN
            self._actions.signal("denied")
            self._touch()
            self._render()
            return
        self.staff_role, self._error = role, ""
        after, self._after_pin = self._after_pin, None
        if after is None:
            self._go_idle()
        else:
            after()

    def tick(self) -> None:
        if self._hint_until_ms is not None and self._now_ms() >= self._hint_until_ms:
            self._hint_until_ms = None
            if self.mode is Mode.IDLE and self._error == self._t("shop.tap_first"):
                self._error = ""
                self._render()
        super().tick()

    # -- results of the slow actions -------------------------------------------------------------------

    def redeem_finished(self, result: RedeemResult) -> None:
        """The redemption started by "pay" ended: show how."""
        if self.mode is not ShopMode.REDEEMING:
            log.warning("a redemption result arrived in mode %s; not shown", self.mode)
            return
        if result.reason == Reason.STAFF_PIN_REQUIRED.value and self.card is not None:
            # The session ended at the till (idle, or the member was removed): sign in, then pay again.
            self.staff_required, self.staff_role = True, None
            self._ask_staff_pin(self._back_to_confirm)
            return
        self._result(shop_screens.result_screen(self._t, result, now_ms=self._now_ms(), limits=self.limits))

    def recent_loaded(self, items: Sequence[RecentRedemption]) -> None:
        """The recent sales for the list, newest first."""
        if self.mode is not ShopMode.RECENT_LOADING:
            return
        self._recent = list(items)
        self._page = 0
        self.mode = ShopMode.RECENT
        self._touch()
        self._render()

    def recent_failed(self) -> None:
        """The recent sales could not be read (a broken outbox): say so rather than show an empty list."""
        if self.mode is ShopMode.RECENT_LOADING:
            self._result(shop_screens.failed_screen(self._t), signalled=False)

    def void_finished(self, result: VoidResult) -> None:
        """The void started on the confirmation ended."""
        if self.mode is not ShopMode.VOIDING or self._void_item is None:
            return
        item = self._void_item
        self._result(shop_screens.void_result_screen(self._t, result, item, limits=self.limits))

    # -- hooks -----------------------------------------------------------------------------------------

    def _handlers(self) -> dict[tuple[StrEnum, str], Handler]:
        return {
            **super()._handlers(),
            (Mode.IDLE, "ok"): self._amount_typed,
            (ShopMode.CARD_WAIT, "cancel"): self._go_idle,
            (ShopMode.CONFIRM, "pay"): self._pay,
            (ShopMode.CONFIRM, "cancel"): self._go_idle,
            (Mode.MENU, "recent"): self._load_recent,
            (Mode.RESULT, "recent"): self._load_recent,  # "back to the list" after a void
            (ShopMode.RECENT, "older"): lambda: self._turn(1),
            (ShopMode.RECENT, "newer"): lambda: self._turn(-1),
            (ShopMode.RECENT, "back"): self._open_menu,
            (ShopMode.VOID_CONFIRM, "void"): self._void,
            (ShopMode.VOID_CONFIRM, "back"): self._back_to_list,
            (ShopMode.STAFF_PIN, "ok"): self._submit_staff_pin,
            (ShopMode.STAFF_PIN, "cancel"): self._go_idle,
            (Mode.IDLE, STAFF_LOGOUT_ACTION): self._staff_logout,
        }

    def _dynamic_handler(self, action_id: str) -> Handler | None:
        if self.mode is Mode.IDLE and action_id.startswith(PRESET_ACTION):
            index = action_id.removeprefix(PRESET_ACTION)
            if index.isdigit() and int(index) < len(self.limits.presets):
                preset = self.limits.presets[int(index)]
                return lambda: self._start_sale(preset.amount, preset.label)
        if self.mode is ShopMode.RECENT and action_id.startswith(VOID_ACTION):
            rid = action_id.removeprefix(VOID_ACTION)
            item = next((r for r in self._recent if r.redemption_id == rid and r.voidable), None)
            if item is not None:
                return lambda: self._ask_void(item)
        return None

    def _keypad_limit(self) -> int | None:
        if self.mode is ShopMode.STAFF_PIN:
            return STAFF_PIN_DIGITS
        return AMOUNT_DIGITS if self.mode is Mode.IDLE else super()._keypad_limit()

    def _digits_changed(self) -> None:
        if self.mode is Mode.IDLE:
            self._digits = self._digits.lstrip("0")  # "05" is 5; a lone 0 is no amount
            self._error = ""
            self._hint_until_ms = None

    def _idle_timeout_ms(self) -> int | None:
        if self.mode in _COORDINATOR:
            return self._menu_idle_ms
        return super()._idle_timeout_ms()

    def _reset(self) -> None:
        self.amount = self.card = self._label = self._void_item = None
        self._after_pin = None  # the staff session itself outlives the sale (the till times it out)
        self._again = False
        self._hint_until_ms = None
        self._recent, self._page = [], 0

    def _idle_screen(self, now: int) -> Screen:
        assert self.info is not None
        return shop_screens.idle_screen(
            self._t,
            self.info,
            self.limits,
            self._status,
            digits=self._digits,
            now_ms=now,
            error=self._error,
            signed_in=self.staff_required and self.staff_role is not None,
        )

    def _menu_screen(self, now: int) -> Screen:
        assert self.info is not None
        return shop_screens.menu_screen(
            self._t, self.info, self._status, self.limits, now_ms=now, note=self._note
        )

    def _screen_for(self, now: int) -> Screen | None:
        mode, t = self.mode, self._t
        if mode in (ShopMode.STAFF_PIN, ShopMode.STAFF_CHECKING):
            return shop_screens.staff_pin_screen(
                t, digits=self._digits, error=self._error, busy=mode is ShopMode.STAFF_CHECKING
            )
        if mode is ShopMode.CARD_WAIT and self.amount is not None:
            return shop_screens.card_screen(t, amount=self.amount, label=self._label, again=self._again)
        if mode in (ShopMode.CONFIRM, ShopMode.REDEEMING) and self.card is not None and self.amount:
            return shop_screens.confirm_screen(
                t, self.card, amount=self.amount, now_ms=now, busy=mode is ShopMode.REDEEMING
            )
        if mode in (ShopMode.RECENT, ShopMode.RECENT_LOADING):
            busy = mode is ShopMode.RECENT_LOADING
            return shop_screens.recent_screen(t, self._recent, page=self._page, now_ms=now, busy=busy)
        if mode in (ShopMode.VOID_CONFIRM, ShopMode.VOIDING) and self._void_item is not None:
            return shop_screens.void_screen(t, self._void_item, now_ms=now, busy=mode is ShopMode.VOIDING)
        return super()._screen_for(now)

    # -- transitions -----------------------------------------------------------------------------------

    def _amount_typed(self) -> None:
        self._start_sale(int(self._digits or 0), None)

    def _start_sale(self, amount: int, label: str | None) -> None:
        if amount <= 0:
            self._error = self._t("shop.amount_missing")
        elif amount > self.limits.max_amount:
            self._error = self._t(
                "shop.amount_over", max=shop_screens.tokens(self._t, self.limits.max_amount)
            )
        elif self.staff_required and self.staff_role is None:
            self._digits = ""
            self._ask_staff_pin(lambda: self._start_sale(amount, label))
            return
        else:
            self.amount, self._label = amount, label
            self._digits = self._error = ""
            self._hint_until_ms = None
            self.mode = ShopMode.CARD_WAIT
            self._deadline_ms = self._now_ms() + self._card_wait_ms
        self._render()

    def _pay(self) -> None:
        card, amount = self.card, self.amount
        if card is None or not amount:
            return
        # No deadline while paying: the result must be shown, however long the till takes.
        self.mode = ShopMode.REDEEMING
        self._deadline_ms = None
        self._render()
        self._actions.redeem(card, amount)

    def _ask_staff_pin(self, after: Handler) -> None:
        self._after_pin = after
        self.mode = ShopMode.STAFF_PIN
        self._digits = ""
        self._error = self._t("shop.staff.required")
        self._deadline_ms = None
        self._touch()
        self._render()

    def _submit_staff_pin(self) -> None:
        if len(self._digits) != STAFF_PIN_DIGITS:
            self._error = self._t("shop.staff.pin_prompt")
            self._render()
            return
        pin, self.mode = self._digits, ShopMode.STAFF_CHECKING
        self._render()
        self._actions.check_staff_pin(pin)

    def _staff_logout(self) -> None:
        self.staff_role = None
        self._actions.staff_logout()
        self._render()

    def _back_to_confirm(self) -> None:
        if self.card is None or not self.amount:
            self._go_idle()
            return
        self.mode = ShopMode.CONFIRM
        self._deadline_ms = self._now_ms() + self._confirm_ms
        self._render()

    def _load_recent(self) -> None:
        if self.staff_required and self.staff_role != "manager":
            # A cashier redeems only; the till refuses their voids too (ShopTill.may_void).
            self._result(shop_screens.manager_only_screen(self._t), signalled=False)
            return
        self.mode = ShopMode.RECENT_LOADING
        self._void_item = None
        self._note = ""
        self._touch()
        self._render()
        self._actions.load_recent(RECENT_LIMIT)

    def _turn(self, pages: int) -> None:
        last = max(0, (len(self._recent) - 1) // RECENT_PAGE)
        self._page = min(last, max(0, self._page + pages))
        self._render()

    def _ask_void(self, item: RecentRedemption) -> None:
        self._void_item = item
        self.mode = ShopMode.VOID_CONFIRM
        self._touch()
        self._render()

    def _back_to_list(self) -> None:
        self._void_item = None
        self.mode = ShopMode.RECENT
        self._touch()
        self._render()

    def _void(self) -> None:
        item = self._void_item
        if item is None:
            return
        self.mode = ShopMode.VOIDING
        self._deadline_ms = None  # like paying: the void's result is always shown
        self._render()
        self._actions.void(item.redemption_id)

    def _result(self, screen: Screen, *, signalled: bool = True) -> None:
        """Show a result screen; ``signalled``: the till played its pattern already (with its answer)."""
        self._show_result(screen, force=True)
        signal = screen.signal
        if not signalled and signal is not None:
            self._actions.signal(signal)

    def _open_menu(self) -> None:
        self.amount = self.card = self._label = self._void_item = None
        super()._open_menu()
