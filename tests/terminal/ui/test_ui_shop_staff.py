"""Till staff on the till's screen (docs/kiosk.md, "Till staff"): the PIN pad before a sale, sign-out,
and a cashier kept out of the void menu.  The presenter driven by hand: no Kivy, no threads, no till."""

from __future__ import annotations

from terminal.shop import TillOutcome
from terminal.ui.base_presenter import Mode
from terminal.ui.shop_presenter import ShopMode
from tests.terminal.ui.shop_helpers import CARD, ShopHarness, redeemed


def _staffed() -> ShopHarness:
    h = ShopHarness()
    h.presenter.update_staff(True)
    return h


def test_a_shop_without_staff_sells_without_a_pin() -> None:
    h = ShopHarness()
    h.sell("5")
    assert h.presenter.mode is ShopMode.CONFIRM
    assert h.actions.named("check_staff_pin") == []


def test_the_pin_pad_comes_before_the_sale_and_the_sale_goes_on_after_it() -> None:
    h = _staffed()
    h.type("5")
    h.presenter.press_action("ok")
    assert (h.presenter.mode, h.screen.name) == (ShopMode.STAFF_PIN, "shop-staff-pin")
    assert h.screen.error == "Bitte erst mit der eigenen PIN anmelden."
    h.type("12345")
    h.presenter.press_action("ok")  # five digits: not sent
    assert h.actions.named("check_staff_pin") == []
    h.type("6")
    assert h.screen.entry == "••••••"
    h.presenter.press_action("ok")
    assert h.presenter.mode is ShopMode.STAFF_CHECKING and h.screen.busy
    assert h.actions.named("check_staff_pin") == ["123456"]
    h.presenter.card_presented(CARD)  # ignored while the PIN is checked
    h.presenter.staff_checked(None)
    assert (h.presenter.mode, h.screen.error) == (ShopMode.STAFF_PIN, "Falsche PIN")
    assert h.actions.named("signal") == ["denied"]
    h.type("654321")
    h.presenter.press_action("ok")
    h.presenter.staff_checked("cashier")
    assert (h.presenter.mode, h.presenter.amount) == (ShopMode.CARD_WAIT, 5)
    h.presenter.card_presented(CARD)
    h.presenter.press_action("pay")
    assert h.actions.named("redeem") == [(CARD.card_id, 5)]
    h.presenter.redeem_finished(redeemed(TillOutcome.PAID, 5))
    assert h.presenter.staff_role == "cashier"  # the session outlives the sale; the till times it out


def test_a_session_the_till_ended_asks_for_the_pin_and_pays_the_same_card_again() -> None:
    h = _staffed()
    h.presenter.staff_role = "cashier"
    h.sell("5")
    h.presenter.press_action("pay")
    h.presenter.redeem_finished(redeemed(TillOutcome.DENIED, 5, reason="staff_pin_required"))
    assert h.presenter.mode is ShopMode.STAFF_PIN and h.presenter.staff_role is None
    h.type("111111")
    h.presenter.press_action("ok")
    h.presenter.staff_checked("cashier")
    assert (h.presenter.mode, h.presenter.card, h.presenter.amount) == (ShopMode.CONFIRM, CARD, 5)


def test_sign_out_and_a_cashier_is_kept_out_of_the_void_menu() -> None:
    h = _staffed()
    h.presenter.staff_role = "cashier"
    h.presenter.press_action("ok")  # re-render at rest
    assert [a.action_id for a in h.screen.actions] == ["ok", "staff_logout"]
    h.open_menu()
    h.presenter.press_action("recent")
    assert h.screen.name == "shop-manager-only"
    assert h.actions.named("load_recent") == []
    h.presenter.staff_role = "manager"
    h.open_menu()
    h.presenter.press_action("recent")
    assert h.actions.named("load_recent") == [20]
    h.presenter.recent_loaded([])
    h.presenter.press_action("back")
    h.presenter.press_action("close")
    assert h.presenter.mode is Mode.IDLE
    h.presenter.press_action("staff_logout")
    assert h.actions.named("staff_logout") == [None] and h.presenter.staff_role is None
    assert [a.action_id for a in h.screen.actions] == ["ok"]
