"""A shop presenter driven by hand with a fake clock, and a hand-written till: shared by the shop UI tests."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import UTC

from hardware.indicator import Signal
from hardware.reader import Tap
from protocol.trust import Preset, ShopLimits
from terminal.shop import CardAtTill, CardRefused, RecentRedemption, RedeemResult, TillOutcome, VoidResult
from terminal.ui.i18n import Translator
from terminal.ui.model import Screen
from terminal.ui.shop_presenter import ShopPresenter
from tests.terminal.ui.ui_helpers import INFO, NOW, ScreenRecorder

MINUTE = 60_000
LIMITS = ShopLimits(
    max_amount=50,
    offline_allowance=10,
    offline_daily_cap=200,
    void_window_s=900,
    presets=(Preset("Kaffee", 2), Preset("Kuchen", 3), Preset("Mittagessen", 6)),
)
CARD = CardAtTill(card_id="c_" + "a" * 32, balance=12, balance_as_of_ms=NOW, fresh=True, offline_headroom=22)
STALE_CARD = CardAtTill(
    card_id="c_" + "b" * 32,
    balance=12,
    balance_as_of_ms=NOW - 2 * 60 * MINUTE,
    fresh=False,
    offline_headroom=3,
)


def redeemed(
    outcome: TillOutcome,
    amount: int = 5,
    *,
    reason: str | None = None,
    balance: int | None = 7,
    as_of_ms: int | None = NOW,
) -> RedeemResult:
    return RedeemResult(
        outcome=outcome,
        redemption_id="r_" + "1" * 32,
        amount=amount,
        reason=reason,
        balance=balance,
        balance_as_of_ms=as_of_ms,
    )


def sale(n: int, *, amount: int = 5, state: str = "paid", voidable: bool = True) -> RecentRedemption:
    """The ``n``-th sale, ``n`` minutes before NOW."""
    return RecentRedemption(
        redemption_id=f"r_{n:032d}",
        card_id="c_" + "a" * 32,
        amount=amount,
        created_ms=NOW - n * MINUTE,
        state=state,
        voidable=voidable,
    )


class RecordingShopActions:
    """A hand-written ShopActions that remembers what it was asked to do."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def sync_now(self) -> None:
        self.calls.append(("sync_now", None))

    def check_pin(self, pin: str) -> None:
        self.calls.append(("check_pin", pin))

    def signal(self, signal: Signal) -> None:
        self.calls.append(("signal", signal))

    def redeem(self, card: CardAtTill, amount: int) -> None:
        self.calls.append(("redeem", (card.card_id, amount)))

    def load_recent(self, limit: int) -> None:
        self.calls.append(("load_recent", limit))

    def void(self, redemption_id: str) -> None:
        self.calls.append(("void", redemption_id))

    def check_staff_pin(self, pin: str) -> None:
        self.calls.append(("check_staff_pin", pin))

    def staff_logout(self) -> None:
        self.calls.append(("staff_logout", None))

    def named(self, name: str) -> list[object]:
        return [arg for call, arg in self.calls if call == name]


class ShopHarness(ScreenRecorder):
    presenter: ShopPresenter

    def __init__(
        self,
        *,
        limits: ShopLimits = LIMITS,
        pin_set: bool = True,
        language: str = "de",
        on_change: Callable[[Screen], None] | None = None,
    ) -> None:
        super().__init__(on_change)
        self.actions = RecordingShopActions()
        self.presenter = ShopPresenter(
            translator=Translator(language, tz=UTC),
            actions=self.actions,
            now_ms=lambda: self.now,
            on_change=self._show,
            info=INFO,
            limits=limits,
            pin_set=pin_set,
        )
        self.presenter.start()

    def sell(self, amount: str = "5", card: CardAtTill = CARD) -> None:
        """Type ``amount``, go on, and tap ``card``: the confirmation is showing."""
        self.type(amount)
        self.presenter.press_action("ok")
        self.presenter.card_presented(card)

    def open_menu(self) -> None:
        self.presenter.long_press()
        self.type("4711")
        self.presenter.press_action("ok")
        self.presenter.pin_checked(True)


@dataclasses.dataclass(frozen=True)
class FakeMember:
    staff_id: str
    role: str


class FakeStaff:
    """A hand-written :class:`terminal.shop.staff.TillStaff`: PINs to roles, and what was asked of it."""

    def __init__(self, pins: dict[str, str]) -> None:
        self.pins = pins
        self.tried: list[str] = []
        self.locked = 0

    def required(self) -> bool:
        return True

    def unlock(self, pin: str) -> FakeMember | None:
        self.tried.append(pin)
        role = self.pins.get(pin)
        return None if role is None else FakeMember("e_" + "1" * 32, role)

    def lock(self) -> None:
        self.locked += 1


class FakeTill:
    """A hand-written till with the real one's interface: answers as scripted, remembers what it did.

    ``present`` answers with ``next_card``; ``redeem`` with ``next_redeem``
    (paid, with the balance less the amount, by default); ``void`` with
    ``next_void``.  While ``gate`` is set to an unset event, ``redeem`` and
    ``void`` wait for it: a slow network, without timing anything.
    """

    def __init__(self, limits: ShopLimits = LIMITS) -> None:
        self.limits = limits
        self.on_recorded: Callable[[], None] | None = None  # ShopService wires its sync wake-up here
        self.next_card: CardAtTill | CardRefused = CARD
        self.presented = 0
        self.redeemed: list[tuple[str, int]] = []
        self.voided: list[str] = []
        self.signals: list[Signal] = []
        self.sales: list[RecentRedemption] = [sale(1), sale(20, amount=3, voidable=False)]
        self.next_redeem: RedeemResult | None = None
        self.next_void = VoidResult(ok=True, queued=False, reason=None)
        self.fail_with: Exception | None = None
        self.gate: threading.Event | None = None
        self.staff: object | None = None  # no till staff: ShopTill.staff is None without a TillStaff

    def present(self, tap: Tap) -> CardAtTill | CardRefused:
        self.presented += 1
        return self.next_card

    def redeem(self, card: CardAtTill, amount: int) -> RedeemResult:
        self._wait()
        if self.fail_with is not None:
            raise self.fail_with
        self.redeemed.append((card.card_id, amount))
        balance = None if card.balance is None else card.balance - amount
        return self.next_redeem or redeemed(TillOutcome.PAID, amount, balance=balance)

    def recent(self, limit: int = 10) -> list[RecentRedemption]:
        if self.fail_with is not None:
            raise self.fail_with
        return self.sales[:limit]

    def void(self, redemption_id: str) -> VoidResult:
        self._wait()
        if self.fail_with is not None:
            raise self.fail_with
        self.voided.append(redemption_id)
        return self.next_void

    def signal(self, signal: Signal) -> None:
        self.signals.append(signal)

    def carry_out_void_requests(self) -> list[tuple[str, VoidResult]]:
        return []

    def healthy(self) -> bool:
        return True

    def show_status(self, healthy: bool) -> None:
        self.signals.append("ok" if healthy else "error")

    def _wait(self) -> None:
        if self.gate is not None:
            assert self.gate.wait(30), "the test never opened the gate"


REFUSED = CardRefused(reason="card_blocked")
