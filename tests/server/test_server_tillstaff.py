"""Till staff and void requests as services (issue 19): who may, what is logged, what never is.

The shop page (``/console/laden/{shop_id}/personal``) is a thin layer over
these; the rules the server applies to a staff member's redemptions are in
``test_server_till_staff_rules.py``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import pytest
from server_helpers import MINUTE, Api, FakeKiosk
from server_shop_helpers import ShopWorld, redeem, void

from protocol import PrivateKey, ProtocolError, PublicKey, Reason
from protocol.economy.models import StaffRole
from protocol.encoding import b64decode
from protocol.heartbeat import Heartbeat, sign_heartbeat
from protocol.tillstate import VoidOrder, verify_till_state
from server import tillstaff, voidrequests
from server.errors import InputError, ServiceError
from server.principals import Permission, Principal
from terminal.pin import verify_pin


def _owner(shop_id: str, *perms: Permission) -> Principal:
    return Principal("owner", frozenset(perms or {Permission.RUN_SHOP}), frozenset({shop_id}))


def _log_entries(api: Api, kind: str) -> list[dict[str, object]]:
    with api.context.storage.read() as tx:
        size = tx.tlog_size()
        entries = [json.loads(e) for e in tx.tlog_entry_range(0, size)]
    return [e for e in entries if e["kind"] == kind]


@pytest.fixture
def world(api: Api) -> ShopWorld:
    return ShopWorld(api, void_window_s=600)


def test_an_owner_adds_staff_gets_the_pin_once_and_the_log_holds_no_name_or_hash(
    api: Api, world: ShopWorld
) -> None:
    shop = world.shop["site_id"]
    row, pin = tillstaff.add_staff(api.context, _owner(shop), shop, " Aylin ", "cashier", 80)
    assert (row.name, row.role, row.daily_max) == ("Aylin", StaffRole.CASHIER, 80)
    assert len(pin) == 6 and pin.isdigit()
    wrong = "000000" if pin != "000000" else "111111"
    assert verify_pin(row.pin_hash, pin) and not verify_pin(row.pin_hash, wrong)
    assert [r.staff_id for r in tillstaff.list_staff(api.context, shop)] == [row.staff_id]
    (entry,) = _log_entries(api, "till_staff")
    assert {k: entry[k] for k in ("site_id", "staff_id", "role", "daily_max", "active")} == {
        "site_id": shop, "staff_id": row.staff_id, "role": "cashier", "daily_max": 80, "active": True,
    }  # fmt: skip
    with api.context.storage.read() as tx:
        log = b"".join(tx.tlog_entry_range(0, tx.tlog_size()))
    assert b"Aylin" not in log and b"argon2" not in log


def test_a_new_pin_replaces_the_old_and_is_not_logged(api: Api, world: ShopWorld) -> None:
    shop = world.shop["site_id"]
    row, old = tillstaff.add_staff(api.context, _owner(shop), shop, "Ben", "manager", 100)
    new = tillstaff.reset_pin(api.context, _owner(shop), shop, row.staff_id)
    (stored,) = tillstaff.list_staff(api.context, shop)
    assert verify_pin(stored.pin_hash, new)
    assert old == new or not verify_pin(stored.pin_hash, old)
    assert len(_log_entries(api, "till_staff")) == 1


def test_daily_max_and_removal_are_logged_and_a_removed_member_is_gone(api: Api, world: ShopWorld) -> None:
    shop = world.shop["site_id"]
    row, _ = tillstaff.add_staff(api.context, _owner(shop), shop, "Cem", "cashier", 50)
    assert tillstaff.set_daily_max(api.context, _owner(shop), shop, row.staff_id, 70).daily_max == 70
    tillstaff.remove_staff(api.context, _owner(shop), shop, row.staff_id)
    assert tillstaff.list_staff(api.context, shop) == []
    assert [(e["daily_max"], e["active"]) for e in _log_entries(api, "till_staff")] == [
        (50, True), (70, True), (70, False),
    ]  # fmt: skip
    for call in (
        lambda: tillstaff.reset_pin(api.context, _owner(shop), shop, row.staff_id),
        lambda: tillstaff.remove_staff(api.context, _owner(shop), shop, row.staff_id),
    ):
        with pytest.raises(ServiceError) as refused:
            call()
        assert (refused.value.reason, refused.value.status) == (Reason.UNKNOWN_STAFF, 404)


def test_another_shops_owner_and_a_settler_see_unknown_site(api: Api, world: ShopWorld) -> None:
    shop = world.shop["site_id"]
    row, _ = tillstaff.add_staff(api.context, _owner(shop), shop, "Dora", "cashier", 50)
    other = world.api.admin("POST", "/v1/admin/shops", {"name": "Anderer"}, expect=201).json()["site_id"]
    strangers = [_owner(other), _owner(shop, Permission.SETTLE_SHOPS)]
    for who in strangers:
        for call, args in (
            (tillstaff.add_staff, ("X", "cashier", 5)),
            (tillstaff.reset_pin, (row.staff_id,)),
            (tillstaff.set_daily_max, (row.staff_id, 1)),
            (tillstaff.remove_staff, (row.staff_id,)),
        ):
            with pytest.raises(ServiceError) as refused:
                call(api.context, who, shop, *args)
            assert (refused.value.reason, refused.value.status) == (Reason.UNKNOWN_SITE, 404)
    # the other shop's owner cannot reach this shop's member through their own shop either
    with pytest.raises(ServiceError) as refused:
        tillstaff.remove_staff(api.context, _owner(other), other, row.staff_id)
    assert refused.value.reason is Reason.UNKNOWN_STAFF
    check_in_site = world.earn_site["site_id"]
    with pytest.raises(ServiceError) as refused:
        tillstaff.add_staff(api.context, _owner(check_in_site), check_in_site, "X", "cashier", 5)
    assert refused.value.reason is Reason.UNKNOWN_SITE


@pytest.mark.parametrize(
    ("name", "role", "daily_max"),
    [("", "cashier", 5), ("x" * 41, "cashier", 5), ("A\u202eB", "cashier", 5), ("A", "owner", 5),
     ("A", "cashier", 0), ("A", "cashier", True), ("A", "cashier", "5")],
)  # fmt: skip
def test_bad_staff_fields_are_refused_with_a_code(
    api: Api, world: ShopWorld, name: str, role: str, daily_max: int
) -> None:
    shop = world.shop["site_id"]
    with pytest.raises(InputError) as refused:
        tillstaff.add_staff(api.context, _owner(shop), shop, name, role, daily_max)
    assert refused.value.status == 400
    assert tillstaff.list_staff(api.context, shop) == []


def _debited(world: ShopWorld, amount: int = 5) -> tuple[str, str]:
    holder = world.holder(tokens=30)
    rid, event = redeem(world.till, holder.card_id, amount, wall_ms=world.api.clock.now)
    assert world.send(world.till, [event]) == [[]]
    return rid, holder.card_id


def test_a_void_request_waits_for_the_till_and_is_done_when_its_void_arrives(
    api: Api, world: ShopWorld
) -> None:
    shop = world.shop["site_id"]
    rid, card = _debited(world)
    request = voidrequests.request_void(api.context, _owner(shop), shop, rid)
    assert request.status == "pending"
    assert voidrequests.request_void(api.context, _owner(shop), shop, rid) == request  # idempotent
    assert voidrequests.pending_voids(api.context, shop) == {rid: request.requested_ms}
    wall_ms = world.record(rid).wall_ms
    with api.context.storage.read() as tx:
        assert voidrequests.till_requests(tx, shop, api.clock.now) == [VoidOrder(rid, card, 5, wall_ms)]
    api.clock.now += MINUTE
    assert world.send(world.till, [void(world.till, card, rid, wall_ms=api.clock.now)]) == [[]]
    assert voidrequests.pending_voids(api.context, shop) == {}
    with api.context.storage.read() as tx:
        done = tx.get_void_request(rid)
    assert done is not None and done.status == "done"


def test_a_void_request_is_refused_unless_a_void_could_succeed(api: Api, world: ShopWorld) -> None:
    shop = world.shop["site_id"]
    rid, _ = _debited(world)
    other = world.api.admin("POST", "/v1/admin/shops", {"name": "Anderer"}, expect=201).json()["site_id"]
    for who, where, what, reason in (
        (_owner(other), shop, rid, Reason.UNKNOWN_SITE),
        (_owner(other), other, rid, Reason.UNKNOWN_REDEMPTION),
        (_owner(shop), shop, "r_" + "0" * 32, Reason.UNKNOWN_REDEMPTION),
    ):
        with pytest.raises(ServiceError) as refused:
            voidrequests.request_void(api.context, who, where, what)
        assert (refused.value.reason, refused.value.status) == (reason, 404)
    api.clock.now += 601_000
    with pytest.raises(ServiceError) as refused:
        voidrequests.request_void(api.context, _owner(shop), shop, rid)
    assert (refused.value.reason, refused.value.status) == (Reason.VOID_TOO_LATE, 409)
    voided, card2 = _debited(world)
    assert world.send(world.till, [void(world.till, card2, voided, wall_ms=api.clock.now)]) == [[]]
    with pytest.raises(ServiceError) as refused:
        voidrequests.request_void(api.context, _owner(shop), shop, voided)
    assert (refused.value.reason, refused.value.status) == (Reason.ALREADY_VOIDED, 409)


def test_a_cancelled_request_is_not_pending_and_an_expired_one_drops_out(api: Api, world: ShopWorld) -> None:
    shop = world.shop["site_id"]
    rid, _ = _debited(world)
    voidrequests.request_void(api.context, _owner(shop), shop, rid)
    voidrequests.cancel_void(api.context, _owner(shop), shop, rid)
    assert voidrequests.pending_voids(api.context, shop) == {}
    with pytest.raises(ServiceError) as refused:
        voidrequests.cancel_void(api.context, _owner(shop), shop, rid)
    assert (refused.value.reason, refused.value.status) == (Reason.NOT_PENDING, 404)
    voidrequests.request_void(api.context, _owner(shop), shop, rid)  # asked again after the cancel
    assert list(voidrequests.pending_voids(api.context, shop)) == [rid]
    api.clock.now += 601_000
    assert voidrequests.pending_voids(api.context, shop) == {}


def _heartbeat(api: Api, kiosk: FakeKiosk) -> tuple[dict[str, str], dict[str, Any]]:
    sent = Heartbeat(
        kiosk=kiosk.kiosk_id, sent_ms=api.clock.now, boot=str(uuid.uuid4()), mono_ms=1_000, synced=True,
        version="0.1.0", pending=0, reader="ok", last_seq=0,
    )  # fmt: skip
    wire = sign_heartbeat(sent, kiosk.key)
    response = api.http.post(f"/v1/kiosks/{kiosk.kiosk_id}/heartbeat", json=wire)
    assert response.status_code == 200, response.text
    return wire, response.json()


def test_a_shop_terminal_gets_its_staff_and_void_requests_signed_for_its_own_heartbeat(
    api: Api, world: ShopWorld, server_key: PublicKey
) -> None:
    shop = world.shop["site_id"]
    rid, card = _debited(world)
    row, pin = tillstaff.add_staff(api.context, _owner(shop), shop, "Aylin", "manager", 80)
    voidrequests.request_void(api.context, _owner(shop), shop, rid)
    wire, answer = _heartbeat(api, world.till)
    digest = hashlib.sha256(b64decode(wire["body"], field="body")).hexdigest()
    state = verify_till_state(answer["till"], server_key, kiosk_id=world.till.kiosk_id, request=digest)
    (member,) = state.staff
    assert (member.staff_id, member.role, member.daily_max, member.may_void) == (
        row.staff_id,
        "manager",
        80,
        True,
    )
    assert verify_pin(member.pin_hash, pin)
    assert b"Aylin" not in b64decode(answer["till"]["body"], field="body")
    assert state.voids == (VoidOrder(rid, card, 5, world.record(rid).wall_ms),)
    # Another till cannot take this answer as its own, nor the same till for another request.
    with pytest.raises(ProtocolError):
        verify_till_state(answer["till"], server_key, kiosk_id=world.terminal().kiosk_id, request=digest)
    with pytest.raises(ProtocolError):
        verify_till_state(answer["till"], server_key, kiosk_id=world.till.kiosk_id, request="0" * 64)
    with pytest.raises(ProtocolError):
        verify_till_state(
            answer["till"], PrivateKey.generate().public_key, kiosk_id=world.till.kiosk_id, request=digest
        )
    # A check-in kiosk gets no till state.
    assert "till" not in _heartbeat(api, world.earner)[1]
