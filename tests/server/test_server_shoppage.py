"""The shop owner's page (server.shoppage) without a browser: lines, totals, tills, statement, access."""

from __future__ import annotations

import csv
import io

import pytest
from server_helpers import HOUR, MINUTE, T0, Api
from server_shop_helpers import ShopWorld, create_shop, redeem, void

from protocol import Reason
from protocol.heartbeat import Heartbeat, sign_heartbeat
from server import shoppage
from server.errors import ServiceError
from server.principals import Grant, Permission, Principal
from server.web.access import shop_page


def _seed(api: Api) -> tuple[ShopWorld, dict[str, str]]:
    """Today at one till: 7 paid then voided, 24 declined, 5 offline, 4 of Bob's, 3 offline held (cap 8)."""
    w = ShopWorld(api, max_amount=30, offline_daily_cap=8)
    ada, bob = w.holder(), w.holder()
    w.fund(ada, 30)
    w.fund(bob, 10)
    api.clock.now = T0 + HOUR
    voided, event = redeem(w.till, ada.card_id, 7, wall_ms=T0 + HOUR)
    declined, big = redeem(w.till, ada.card_id, 24, wall_ms=T0 + HOUR + 1)
    assert w.send(w.till, [event, big]) == [[], ["insufficient_balance"]]
    assert w.send(w.till, [void(w.till, ada.card_id, voided, wall_ms=T0 + HOUR + MINUTE)]) == [[]]
    api.clock.now = T0 + 3 * HOUR
    offline, event = redeem(w.till, ada.card_id, 5, online=False, wall_ms=T0 + 3 * HOUR)
    bobs, online = redeem(w.till, bob.card_id, 4, wall_ms=T0 + 3 * HOUR + 1)
    held, over = redeem(w.till, bob.card_id, 4, online=False, wall_ms=T0 + 3 * HOUR + 2)
    assert w.send(w.till, [event, online, over]) == [[], [], ["offline_over_daily_cap"]]
    api.clock.now = T0 + 3 * HOUR + 5 * MINUTE
    ids = {"voided": voided, "declined": declined, "offline": offline, "bobs": bobs, "held": held}
    return w, ids


def test_today_lists_every_redemption_newest_first_with_the_statements_totals(api: Api) -> None:
    w, ids = _seed(api)
    shop_id = w.shop["site_id"]
    page = shoppage.shop_page(api.context, frozenset({shop_id}), shop_id, pending_voids={ids["offline"]: T0})

    assert [(line["redemption_id"], line["status"]) for line in page.today] == [
        (ids["held"], "held"),
        (ids["bobs"], "debited"),
        (ids["offline"], "void_pending"),  # the owner asked; the till has not voided it yet
        (ids["declined"], "declined"),
        (ids["voided"], "voided"),
    ]
    # Within the 15-minute void window and debited: Bob's only (a pending one waits already).
    assert [line["redemption_id"] for line in page.today if line["voidable"]] == [ids["bobs"]]
    totals = {"count": 3, "redeemed": 16, "voided": 7, "to_settle": 9, "held": 4, "declined": 1}
    assert page.today_totals == totals
    assert page.month_totals == totals
    statement = api.admin("GET", f"/v1/admin/statements/shops/{shop_id}").json()
    assert {k: statement[k] for k in ("redeemed", "voided", "to_settle", "held")} == {
        k: totals[k] for k in ("redeemed", "voided", "to_settle", "held")
    }


def test_a_tills_row_shows_its_heartbeat_backlog_and_offline_use_of_today(api: Api) -> None:
    w, _ids = _seed(api)
    beat = Heartbeat(
        kiosk=w.till.kiosk_id,
        sent_ms=api.clock.now,
        boot=w.till.boot,
        mono_ms=5_000,
        synced=True,
        version="1.2.3",
        pending=3,
        reader="ok",
        last_seq=w.till.seq,
    )
    answer = api.http.post(f"/v1/kiosks/{w.till.kiosk_id}/heartbeat", json=sign_heartbeat(beat, w.till.key))
    assert answer.status_code == 200, answer.text
    shop_id = w.shop["site_id"]
    [till] = shoppage.shop_page(api.context, None, shop_id).tills
    assert till["last_heartbeat_ms"] == api.clock.now and not till["silent"]
    assert till["backlog"] == 3
    # 5 offline tokens were paid on arrival today; the 4 beyond the cap of 8 are held, not used.
    assert (till["offline_used"], till["offline_daily_cap"]) == (5, 8)
    assert (till["held_count"], till["held_tokens"]) == (1, 4)
    # A new local day starts with nothing in use (the server's day of receipt, not the till's clock).
    api.clock.now = T0 + 24 * HOUR
    [tomorrow] = shoppage.shop_page(api.context, None, shop_id).tills
    assert (tomorrow["offline_used"], tomorrow["held_count"]) == (0, 0)


def test_the_statement_is_the_settlements_csv_for_the_month_and_a_pdf(api: Api) -> None:
    w, ids = _seed(api)
    shop_id = w.shop["site_id"]
    found = shoppage.statement(api.context, frozenset({shop_id}), shop_id, "2025-11")
    rows = list(csv.DictReader(io.StringIO(found.csv)))
    # Declined attempts moved nothing and are not settled; held ones are listed, owed nothing yet.
    assert sorted(r["redemption_id"] for r in rows) == sorted(
        ids[k] for k in ("voided", "offline", "bobs", "held")
    )
    assert found.document["to_settle"] == 9
    assert shoppage.statement(api.context, None, shop_id, "2025-10").document["count"] == 0


def test_another_shop_a_check_in_site_and_an_unknown_id_are_the_same_not_found(api: Api) -> None:
    mine = create_shop(api, "Mein Laden")["site_id"]
    theirs = create_shop(api, "Anderer Laden")["site_id"]
    site = api.create_site()["site_id"]
    answers = []
    for shop_id in (theirs, site, "s_nope"):
        with pytest.raises(ServiceError) as refused:
            shoppage.shop_page(api.context, frozenset({mine}), shop_id)
        answers.append((refused.value.reason, refused.value.message, refused.value.status))
    # An economy-wide caller may not open a check-in site as a shop either.
    with pytest.raises(ServiceError) as refused:
        shoppage.statement(api.context, None, site, None)
    answers.append((refused.value.reason, refused.value.message, refused.value.status))
    assert set(answers) == {(Reason.UNKNOWN_SITE, "no such shop", 404)}


def _person(*grants: Grant) -> Principal:
    return Principal.of_grants("Lou", grants, person_id="p_1")


def test_either_duty_opens_the_shops_page_and_others_get_404_or_403(api: Api) -> None:
    mine = create_shop(api, "Mein Laden")["site_id"]
    theirs = create_shop(api, "Anderer Laden")["site_id"]
    access = shop_page()
    settles = _person(Grant(frozenset({Permission.SETTLE_SHOPS}), frozenset({mine})))
    runs = _person(Grant(frozenset({Permission.RUN_SHOP}), frozenset({mine})))
    for owner in (settles, runs):
        assert access.admit(api.context, owner, {"shop_id": mine}) is owner
        for other in (theirs, "s_unknown"):
            with pytest.raises(ServiceError) as refused:
                access.admit(api.context, owner, {"shop_id": other})
            assert (refused.value.reason, refused.value.message) == (Reason.UNKNOWN_SITE, "no such shop")
        assert shoppage.shop_sites(owner) == frozenset({mine})
    coordinator = _person(Grant(frozenset({Permission.REVIEW, Permission.DECIDE}), frozenset({mine})))
    with pytest.raises(ServiceError) as refused:
        access.admit(api.context, coordinator, {"shop_id": mine})
    assert (refused.value.reason, refused.value.status) == (Reason.FORBIDDEN, 403)
