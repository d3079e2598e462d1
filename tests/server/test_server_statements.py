"""Statements: a volunteer's account and a shop's settlement, as JSON and CSV, admin and public."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from server_helpers import HOUR, MINUTE, T0, Api, FakeClock, assert_error, enrol_fake_kiosk
from server_shop_helpers import Holder, ShopWorld, create_shop, redeem, void

from protocol import EventKind, encode_batch
from server import cards, ingest, reads, shops, statements
from server.admin import create_site
from server.datadir import init_data_dir, open_data_dir


def _statement(api: Api, volunteer_id: str, query: str = "") -> dict[str, Any]:
    return api.admin("GET", f"/v1/admin/statements/volunteers/{volunteer_id}{query}", expect=200).json()


def _settlement(api: Api, site_id: str, query: str = "") -> dict[str, Any]:
    return api.admin("GET", f"/v1/admin/statements/shops/{site_id}{query}", expect=200).json()


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


class History:
    """Ada earns 30, buys 7 (voided), buys 5, earns 10; a declined try and Bob's purchase on the side."""

    def __init__(self, api: Api) -> None:
        self.w = w = ShopWorld(api, max_amount=30)
        self.ada, self.bob = w.holder(), w.holder()
        w.fund(self.ada, 30)  # server time T0
        api.clock.now = T0 + HOUR
        self.voided, event = redeem(w.till, self.ada.card_id, 7, wall_ms=T0 + HOUR)
        self.declined, big = redeem(w.till, self.ada.card_id, 24, wall_ms=T0 + HOUR + 1)
        assert w.send(w.till, [event, big]) == [[], ["insufficient_balance"]]
        api.clock.now = T0 + 2 * HOUR
        assert w.send(w.till, [void(w.till, self.ada.card_id, self.voided, wall_ms=T0 + HOUR + MINUTE)]) == [
            []
        ]
        api.clock.now = T0 + 3 * HOUR
        self.kept, event = redeem(w.till, self.ada.card_id, 5, online=False, wall_ms=T0 + 3 * HOUR)
        w.fund(self.bob, 4)
        _, bobs = redeem(w.till, self.bob.card_id, 4, wall_ms=T0 + 3 * HOUR + 1)
        assert w.send(w.till, [event, bobs]) == [[], []]
        api.clock.now = T0 + 4 * HOUR
        w.fund(self.ada, 10)
        with api.context.storage.read() as tx:
            self.log_index = {seq: tx.event_log_index(w.till.kiosk_id, seq) for seq in (1, 3, 4)}
            self.shift_ids = [s.shift_id for s in tx.shifts_for_card(self.ada.card_id)]
        self.rows = {rid: w.record(rid).row_id for rid in (self.voided, self.kept)}


def test_volunteer_statement_lists_every_entry_with_its_running_balance(api: Api) -> None:
    h = History(api)
    body = _statement(api, h.ada.volunteer_id)
    shop, site = h.w.shop["site_id"], h.w.earn_site["site_id"]
    head = {k: v for k, v in body.items() if k != "entries"}
    assert head == {
        "volunteer_id": h.ada.volunteer_id,
        "name": "Grace Hopper",
        "from_ms": 0,
        "to_ms": None,
        "opening_balance": 0,
        "earned": 40,
        "redeemed": 12,
        "voided": 7,
        "closing_balance": 35,
    }
    rows = [
        (e["at_ms"], e["kind"], e["delta"], e["balance"], e["site_id"], e["ref"]) for e in body["entries"]
    ]
    assert rows == [
        (T0, "shift", 30, 30, site, h.shift_ids[0]),
        (T0 + HOUR, "redeem", -7, 23, shop, h.rows[h.voided]),
        (T0 + 2 * HOUR, "void", 7, 30, shop, h.rows[h.voided]),
        (T0 + 3 * HOUR, "redeem", -5, 25, shop, h.rows[h.kept]),
        (T0 + 4 * HOUR, "shift", 10, 35, site, h.shift_ids[1]),
    ]
    assert {e["card_id"] for e in body["entries"]} == {h.ada.card_id}
    assert [e["log_index"] for e in body["entries"][1:4]] == [h.log_index[1], h.log_index[3], h.log_index[4]]
    assert body["closing_balance"] == h.w.balance(h.ada)


def test_a_period_starts_from_the_balance_before_it(api: Api) -> None:
    h = History(api)
    body = _statement(api, h.ada.volunteer_id, f"?from_ms={T0 + HOUR}&to_ms={T0 + 3 * HOUR}")
    assert (body["from_ms"], body["to_ms"]) == (T0 + HOUR, T0 + 3 * HOUR)
    assert (body["opening_balance"], body["earned"], body["redeemed"], body["voided"]) == (30, 0, 7, 7)
    assert body["closing_balance"] == 30
    assert [(e["kind"], e["balance"]) for e in body["entries"]] == [("redeem", 23), ("void", 30)]
    # Periods chain: each one opens where the one before it closed.
    later = _statement(api, h.ada.volunteer_id, f"?from_ms={T0 + 3 * HOUR}")
    assert later["opening_balance"] == body["closing_balance"] and later["closing_balance"] == 35
    empty = _statement(api, h.ada.volunteer_id, f"?from_ms={T0 + HOUR}&to_ms={T0 + HOUR}")
    assert (empty["entries"], empty["opening_balance"], empty["closing_balance"]) == ([], 30, 30)


def test_volunteer_statement_as_csv(api: Api) -> None:
    h = History(api)
    response = api.admin(
        "GET", f"/v1/admin/statements/volunteers/{h.ada.volunteer_id}?format=csv", expect=200
    )
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.text.splitlines()[0] == "at_ms,kind,delta,balance,site_id,card_id,ref,log_index"
    rows = _csv(response.text)
    entries = _statement(api, h.ada.volunteer_id)["entries"]
    assert rows == [{k: str(v) for k, v in e.items()} for e in entries]


def test_shop_settlement_counts_what_moved_in_the_period(api: Api) -> None:
    h = History(api)
    body = _settlement(api, h.w.shop["site_id"])
    head = {k: v for k, v in body.items() if k != "redemptions"}
    assert head == {
        "site_id": h.w.shop["site_id"],
        "name": "Laden",
        "from_ms": 0,
        "to_ms": None,
        "count": 3,
        "redeemed": 16,
        "voided": 7,
        "to_settle": 9,
        "held": 0,
    }
    lines = [
        (r["redemption_id"], r["amount"], r["status"], r["online"], r["overdraft"])
        for r in body["redemptions"]
    ]
    assert lines[:2] == [(h.voided, 7, "voided", True, False), (h.kept, 5, "debited", False, False)]
    assert (lines[2][1], lines[2][2]) == (4, "debited")
    assert h.declined not in {r["redemption_id"] for r in body["redemptions"]}
    assert {r["kiosk_id"] for r in body["redemptions"]} == {h.w.till.kiosk_id}
    assert [r["wall_ms"] for r in body["redemptions"]] == [T0 + HOUR, T0 + 3 * HOUR, T0 + 3 * HOUR + 1]
    # The period is by the terminal's time, not the server's.
    part = _settlement(api, h.w.shop["site_id"], f"?from_ms={T0 + 3 * HOUR}&to_ms={T0 + 3 * HOUR + 1}")
    assert [r["redemption_id"] for r in part["redemptions"]] == [h.kept]
    assert (part["count"], part["redeemed"], part["voided"], part["to_settle"]) == (1, 5, 0, 5)
    # Another shop's settlement has none of these.
    other = create_shop(api, "Anderer Laden")
    assert _settlement(api, other["site_id"])["redemptions"] == []


def test_shop_settlement_as_csv(api: Api) -> None:
    h = History(api)
    response = api.admin("GET", f"/v1/admin/statements/shops/{h.w.shop['site_id']}?format=csv", expect=200)
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    header = "redemption_id,wall_ms,kiosk_id,amount,online,status,overdraft"  # no card (issue 19)
    assert response.text.splitlines()[0] == header
    rows = _csv(response.text)
    assert [(r["redemption_id"], r["amount"], r["online"], r["status"]) for r in rows[:2]] == [
        (h.voided, "7", "true", "voided"),
        (h.kept, "5", "false", "debited"),
    ]
    assert len(rows) == 3


def test_a_card_holder_sees_the_statement_without_name_or_volunteer(api: Api) -> None:
    h = History(api)
    secret = api.admin("POST", f"/v1/admin/volunteers/{h.ada.volunteer_id}/access", expect=200).json()
    opened = api.http.post("/v1/me/session", json={"secret": secret["access_secret"]})
    # The holder's session (issue 17: personal routes need the person or a scoped permission).
    holder = {"Cookie": opened.headers["set-cookie"].split(";")[0]}
    assert_error(api.http.get(f"/v1/cards/{h.ada.card_id}/statement"), 401, "unauthorized")
    response = api.http.get(f"/v1/cards/{h.ada.card_id}/statement", headers=holder)
    assert response.status_code == 200, response.text
    body = response.json()
    admin = _statement(api, h.ada.volunteer_id)
    assert body == {
        "card_id": h.ada.card_id,
        **{k: v for k, v in admin.items() if k not in ("volunteer_id", "name")},
    }
    assert h.ada.volunteer_id not in response.text and "Grace" not in response.text
    part = api.http.get(
        f"/v1/cards/{h.ada.card_id}/statement",
        params={"from_ms": T0 + 4 * HOUR, "format": "csv"},
        headers=holder,
    )
    assert part.headers["content-type"] == "text/csv; charset=utf-8"
    assert [row["delta"] for row in _csv(part.text)] == ["10"]
    assert_error(api.http.get(f"/v1/cards/c_{'0' * 32}/statement", headers=holder), 404, "unknown_card")
    assert_error(
        api.http.get(f"/v1/cards/{h.ada.card_id}/statement?from_ms=x", headers=holder), 400, "bad_field"
    )


@pytest.mark.parametrize(
    "query",
    [
        *("?from_ms=abc", "?from_ms=-1", "?to_ms=1.5", "?from_ms=10&to_ms=9", "?to_ms=", "?from_ms=01"),
        *("?to_ms=1e3", "?from_ms=9007199254740992", "?format=xml", "?format="),
    ],
)
def test_bad_periods_and_formats_are_bad_field(api: Api, query: str) -> None:
    w = ShopWorld(api)
    ada = w.holder(tokens=1)
    for path in (
        f"/v1/admin/statements/volunteers/{ada.volunteer_id}",
        f"/v1/admin/statements/shops/{w.shop['site_id']}",
    ):
        assert_error(api.admin("GET", path + query), 400, "bad_field")


def test_unknown_subjects_and_missing_token(api: Api) -> None:
    site = api.create_site()
    assert_error(api.admin("GET", f"/v1/admin/statements/volunteers/v_{'0' * 32}"), 404, "unknown_volunteer")
    assert_error(api.admin("GET", f"/v1/admin/statements/shops/s_{'0' * 32}"), 404, "unknown_site")
    assert_error(api.admin("GET", f"/v1/admin/statements/shops/{site['site_id']}"), 409, "not_a_shop")
    shop = create_shop(api)
    assert_error(api.http.get(f"/v1/admin/statements/shops/{shop['site_id']}"), 401, "unauthorized")
    card = api.create_card()
    assert_error(api.http.get(f"/v1/admin/statements/volunteers/{card['volunteer_id']}"), 401, "unauthorized")


def test_a_volunteer_without_entries_has_an_empty_statement(api: Api) -> None:
    card = api.create_card("Nobody Yet")
    body = _statement(api, card["volunteer_id"])
    assert (body["name"], body["opening_balance"], body["closing_balance"], body["entries"]) == (
        "Nobody Yet",
        0,
        0,
        [],
    )
    assert api.admin("GET", f"/v1/admin/statements/volunteers/{card['volunteer_id']}?format=csv").text == (
        "at_ms,kind,delta,balance,site_id,card_id,ref,log_index\r\n"
    )


# -- the invariant, for any history and any period -----------------------------------------------------
_STEP = st.one_of(
    st.tuples(st.just("earn"), st.integers(min_value=0, max_value=90)),
    st.tuples(st.just("redeem"), st.integers(min_value=1, max_value=40)),
    st.tuples(st.just("offline"), st.integers(min_value=1, max_value=40)),
    st.tuples(st.just("void"), st.integers(min_value=0, max_value=10)),
)


@settings(max_examples=15, deadline=None)
@given(
    steps=st.lists(_STEP, min_size=1, max_size=10),
    cuts=st.lists(st.integers(min_value=0, max_value=12), min_size=2, max_size=2),
)
def test_closing_is_opening_plus_earned_minus_redeemed_plus_voided(
    steps: list[tuple[str, int]], cuts: list[int]
) -> None:
    """Through the services (no HTTP, for speed): every period of any history keeps the invariant."""
    clock = FakeClock(T0)
    with tempfile.TemporaryDirectory() as tmp:
        init_data_dir(Path(tmp) / "data")
        with open_data_dir(Path(tmp) / "data", now_ms=clock) as ctx:
            site = create_site(ctx, {"name": "S", "tokens_per_hour": 60})
            shop = shops.create_shop(ctx, {"name": "L", "max_amount": 40, "void_window_s": 7 * 24 * 3600})
            earner, till = enrol_fake_kiosk(ctx, site["site_id"]), enrol_fake_kiosk(ctx, shop["site_id"])
            card = cards.create_card(ctx, {"name": "V", "site_id": site["site_id"]})
            holder = Holder(card["card_id"], card["volunteer_id"])
            debited: list[str] = []
            for step, value in steps:
                clock.now += HOUR
                if step == "earn":
                    batch = [
                        earner.event(EventKind.CHECK_IN, holder.card_id, clock.now - value * MINUTE),
                        earner.event(EventKind.CHECK_OUT, holder.card_id, clock.now),
                    ]
                    ingest.ingest_batch(ctx, earner.kiosk_id, encode_batch(batch))
                elif step == "void":
                    rid = debited[value % len(debited)] if debited else "r_" + "0" * 32
                    event = void(till, holder.card_id, rid, wall_ms=clock.now)
                    ingest.ingest_batch(ctx, till.kiosk_id, encode_batch([event]))
                else:
                    rid, event = redeem(
                        till, holder.card_id, value, online=step == "redeem", wall_ms=clock.now
                    )
                    answer = ingest.ingest_batch(ctx, till.kiosk_id, encode_batch([event]))
                    if answer["results"][0]["flags"] in ([], ["overdraft"]):
                        debited.append(rid)
            low, high = sorted(T0 + cut * HOUR for cut in cuts)
            whole = statements.volunteer_statement(ctx, holder.volunteer_id, {}).content
            parts = [
                statements.volunteer_statement(ctx, holder.volunteer_id, period).content
                for period in (
                    {"to_ms": str(low)},
                    {"from_ms": str(low), "to_ms": str(high)},
                    {"from_ms": str(high)},
                )
            ]
            public = reads.card_statement(ctx, holder.card_id, {}).content
            balance = reads.card_balance(ctx, holder.card_id)["balance"]
            with ctx.storage.read() as tx:
                assert tx.balances() == tx.summed_balances()
    bodies = [body for body in (whole, *parts, public) if isinstance(body, dict)]
    assert len(bodies) == 5
    full, before, during, after, card_view = bodies
    for body in (full, before, during, after):
        assert body["closing_balance"] == (
            body["opening_balance"] + body["earned"] - body["redeemed"] + body["voided"]
        )
        running = body["opening_balance"]
        for entry in body["entries"]:
            running += entry["delta"]
            assert entry["balance"] == running
        assert running == body["closing_balance"]
    assert full["closing_balance"] == balance
    # Adjacent periods chain, and together they hold every entry once.
    assert (during["opening_balance"], after["opening_balance"]) == (
        before["closing_balance"],
        during["closing_balance"],
    )
    assert before["entries"] + during["entries"] + after["entries"] == full["entries"]
    assert card_view["entries"] == full["entries"]
