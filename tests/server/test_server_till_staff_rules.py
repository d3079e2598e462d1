"""The server enforces a shop's till staff rules, and an auditor replaying the log holds the same.

A shop with staff: a redemption that names no active member is flagged
``staff_unknown``, one beyond the member's daily maximum (the server's day of
receipt) ``staff_over_daily_cap``; neither is debited (declined online, held for
review offline), and the event is never refused.  Everything is sent to the real loopback server, and
the log is audited from its exported tiles (``docs/economy.md``, "Till staff").
"""

from __future__ import annotations

from pathlib import Path

from server_helpers import HOUR, MINUTE, Api
from server_shop_helpers import ShopWorld, redeem

from protocol import EventKind, ids, parse_event
from protocol.note import NoteVerifier
from server import tillstaff
from server.datadir import InitResult
from server.principals import Permission, Principal
from tests.audit_helpers import audit_data_folder


def _owner(shop_id: str) -> Principal:
    return Principal("owner", frozenset({Permission.RUN_SHOP}), frozenset({shop_id}))


def _staffed(api: Api, daily_max: int = 20) -> tuple[ShopWorld, str]:
    w = ShopWorld(api, max_amount=50, offline_allowance=50, offline_daily_cap=500)
    shop = w.shop["site_id"]
    row, _ = tillstaff.add_staff(api.context, _owner(shop), shop, "Aylin", "cashier", daily_max)
    return w, row.staff_id


def _sale(
    w: ShopWorld, card: str, amount: int, staff: str | None, *, online: bool = True
) -> tuple[str, list[str]]:
    rid = ids.new_id(ids.REDEMPTION)
    data: dict[str, object] = {"amount": amount, "id": rid, "online": online}
    if staff is not None:
        data["staff"] = staff
    event = w.till.event(EventKind.REDEEM, card, w.api.clock.now - MINUTE, data=data)
    (flags,) = w.send(w.till, [event])
    return rid, flags


def test_a_shop_without_staff_pays_as_before_and_ignores_a_staff_field(api: Api) -> None:
    w = ShopWorld(api)
    holder = w.holder(tokens=30)
    assert _sale(w, holder.card_id, 5, None)[1] == []
    assert _sale(w, holder.card_id, 5, ids.new_id(ids.STAFF))[1] == []
    assert w.balance(holder) == 20


def test_staff_rules_hold_what_they_do_not_cover_and_the_audit_agrees(
    api: Api, data_dir: tuple[Path, InitResult], tmp_path: Path
) -> None:
    w, staff = _staffed(api, daily_max=20)
    holder = w.holder(tokens=100)
    shop = w.shop["site_id"]
    # No staff named, or a stranger: declined online (the till still waits), held offline.
    unnamed, flags = _sale(w, holder.card_id, 5, None)
    assert flags == ["staff_unknown"] and w.record(unnamed).status.value == "declined"
    stranger, flags = _sale(w, holder.card_id, 5, ids.new_id(ids.STAFF), online=False)
    assert flags == ["staff_unknown"] and w.record(stranger).status.value == "held"
    # The member's own: debited up to the daily maximum, online and offline alike.
    assert _sale(w, holder.card_id, 15, staff)[1] == []
    assert _sale(w, holder.card_id, 5, staff, online=False)[1] == []
    assert w.record(_sale(w, holder.card_id, 1, staff)[0]).staff_id == staff
    assert w.balance(holder) == 80
    over, flags = _sale(w, holder.card_id, 1, staff, online=False)
    assert flags == ["staff_over_daily_cap"] and w.record(over).held == "staff_over_daily_cap"
    # The server's next day (not the till's clock) opens a new allowance.
    api.clock.now += 24 * HOUR
    assert _sale(w, holder.card_id, 20, staff)[1] == []
    # A raised maximum counts from the next redemption; a removed member's sales are held.
    tillstaff.set_daily_max(api.context, _owner(shop), shop, staff, 30)
    assert _sale(w, holder.card_id, 10, staff)[1] == []
    tillstaff.remove_staff(api.context, _owner(shop), shop, staff)
    assert _sale(w, holder.card_id, 1, staff)[1] == ["staff_unknown"]
    assert w.balance(holder) == 50
    w.assert_books_agree()
    folder, init = data_dir
    report = audit_data_folder(folder, [NoteVerifier.parse(init.log_verifier_key)], tmp_path)
    assert report.ok, "\n".join(report.lines())


def test_the_staff_field_is_signed_in_the_event_and_parsed_by_the_fast_path(api: Api) -> None:
    w, staff = _staffed(api)
    rid, event = redeem(w.till, w.holder().card_id, 1)
    assert parse_event(event.body).sealed  # a v2 event: the staff field is inside the commitment
    data = {"amount": 1, "id": rid, "online": True, "staff": staff}
    plain = w.till.event(EventKind.REDEEM, w.holder().card_id, api.clock.now, data=data, version=1)
    assert parse_event(plain.body).data == data
