"""Till staff at a real shop terminal against a real server process (issue 19; docs/kiosk.md, "Till staff").

The shop's owner adds staff and asks for a void through the services the shop
page calls (run against the server's data folder while the server is stopped,
as no console page is in this test's reach); the till learns both from the
server-signed answer to its heartbeat, asks for a PIN before it redeems, keeps
the cashier out of the void menu and carries out the owner's void itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from protocol.economy.models import RedemptionStatus
from server import tillstaff, voidrequests
from server.context import ServerContext
from server.datadir import open_data_dir
from server.principals import Permission, Principal
from terminal.shop import TillOutcome
from terminal.shop.staff import MAX_WRONG_PINS, TillStaff
from tests.conftest import EnrolledKiosk, ServerProcess
from tests.terminal.test_terminal_shop_server import ShopTerminal, _server_balance, _shop_terminal

T = TypeVar("T")


@pytest.fixture
def shop(
    server_process: ServerProcess, enrolled_kiosk: EnrolledKiosk, tmp_path: Path
) -> Iterator[ShopTerminal]:
    for terminal in _shop_terminal(server_process, enrolled_kiosk, tmp_path / "shop"):
        terminal.till.staff = TillStaff(
            terminal.outbox, server_key=terminal.config.server_public_key, kiosk_id=terminal.config.kiosk_id
        )
        yield terminal


def _offline_change(shop: ShopTerminal, change: Callable[[ServerContext, Principal, str], T]) -> T:
    """Run ``change(ctx, owner, shop_id)`` on the server's data folder while the server is stopped."""
    shop.server.stop()
    try:
        with open_data_dir(shop.server.data_dir) as ctx:
            with ctx.storage.read() as tx:
                site_id = tx.get_kiosk(shop.config.kiosk_id).site_id  # type: ignore[union-attr]
            owner = Principal("owner", frozenset({Permission.RUN_SHOP}), frozenset({site_id}))
            return change(ctx, owner, site_id)
    finally:
        shop.server.start()


def _heartbeat(shop: ShopTerminal) -> None:
    from terminal.sync import SyncClient

    with SyncClient(shop.config, shop.outbox) as client:
        assert client.send_heartbeat() is not None


def test_a_shop_without_staff_redeems_without_a_pin(shop: ShopTerminal) -> None:
    _heartbeat(shop)
    assert shop.till.staff is not None and not shop.till.staff.required()
    assert shop.till.redeem(shop.present(shop.rich), 2).outcome is TillOutcome.PAID


def test_the_till_asks_for_a_pin_redeems_for_the_member_and_keeps_the_cashier_out_of_voids(
    shop: ShopTerminal,
) -> None:
    def add(ctx: ServerContext, owner: Principal, site_id: str) -> tuple[str, str, str]:
        cashier, pin = tillstaff.add_staff(ctx, owner, site_id, "Aylin", "cashier", 10)
        _, manager_pin = tillstaff.add_staff(ctx, owner, site_id, "Ben", "manager", 50)
        return cashier.staff_id, pin, manager_pin

    cashier_id, pin, manager_pin = _offline_change(shop, add)
    _heartbeat(shop)
    staff = shop.till.staff
    assert staff is not None and staff.required()
    card = shop.present(shop.rich)
    refused = shop.till.redeem(card, 5)
    assert (refused.outcome, refused.reason) == (TillOutcome.DENIED, "staff_pin_required")
    assert shop.till.recent() == []  # nothing recorded
    wrong = "000000" if pin != "000000" else "111111"
    assert staff.unlock(wrong) is None
    member = staff.unlock(pin)
    assert member is not None and member.staff_id == cashier_id and not member.may_void
    paid = shop.till.redeem(card, 5)
    assert paid.outcome is TillOutcome.PAID
    with open_data_dir(shop.server.data_dir) as ctx, ctx.storage.read() as tx:
        stored = tx.get_redemption(paid.redemption_id)
    assert stored is not None and stored.staff_id == cashier_id
    # The server enforces the cashier's daily maximum of 10 even if the till would not.
    over = shop.till.redeem(shop.present(shop.rich), 6)
    assert (over.outcome, over.reason) == (TillOutcome.DECLINED, "staff_over_daily_cap")
    assert not shop.till.may_void()
    assert shop.till.void(paid.redemption_id).reason == "forbidden"
    staff.lock()
    assert staff.unlock(manager_pin) is not None and shop.till.may_void()
    assert _server_balance(shop.server, shop.rich) == 15


def test_five_wrong_pins_lock_the_pad_and_a_removed_member_cannot_sell(shop: ShopTerminal) -> None:
    row, pin = _offline_change(
        shop, lambda ctx, owner, site: tillstaff.add_staff(ctx, owner, site, "C", "cashier", 5)
    )
    _heartbeat(shop)
    staff = shop.till.staff
    assert staff is not None and staff.unlock(pin) is not None
    _offline_change(shop, lambda ctx, owner, site: tillstaff.remove_staff(ctx, owner, site, row.staff_id))
    _heartbeat(shop)
    assert staff.current() is None and staff.required()  # nobody left, yet the shop has had staff
    refused = shop.till.redeem(shop.present(shop.rich), 1)
    assert (refused.outcome, refused.reason) == (TillOutcome.DENIED, "staff_pin_required")
    for _ in range(MAX_WRONG_PINS):
        assert staff.unlock(pin) is None  # the removed member's PIN is gone with the new state
    assert staff.locked_for_s() > 0


def test_the_till_carries_out_a_void_the_owner_asked_for(shop: ShopTerminal) -> None:
    paid = shop.till.redeem(shop.present(shop.rich), 4)
    assert paid.outcome is TillOutcome.PAID
    _offline_change(
        shop, lambda ctx, owner, site: voidrequests.request_void(ctx, owner, site, paid.redemption_id)
    )
    assert shop.till.carry_out_void_requests() == []  # nothing known before the next heartbeat
    _heartbeat(shop)
    ((voided, result),) = shop.till.carry_out_void_requests()
    assert voided == paid.redemption_id and result.ok, result
    assert _server_balance(shop.server, shop.rich) == 20
    with open_data_dir(shop.server.data_dir) as ctx:
        with ctx.storage.read() as tx:
            record, request = tx.get_redemption(voided), tx.get_void_request(voided)
        assert voidrequests.pending_voids(ctx, record.site_id if record else "") == {}
    assert record is not None and record.status is RedemptionStatus.VOIDED
    assert request is not None and request.status == "done"
    assert shop.till.carry_out_void_requests() == []  # once only
