"""Signed coordinator decisions over the admin API: each kind applied and logged, once; every refusal.

Decisions are built and signed exactly as a coordinator's laptop does
(:class:`protocol.Decision`, :func:`protocol.sign_decision`) with real keys;
the server runs on loopback with real SQLite.  Every refusal is checked to
change nothing: no log entry, no stored decision, no site, shift, balance or
redemption touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from server_helpers import HOUR, MINUTE, T0, Api, World, assert_error
from server_shop_helpers import ShopWorld, create_shop, redeem, void

from protocol import (
    Decision,
    MalformedError,
    PrivateKey,
    b64decode,
    b64encode,
    coordinator_id,
    decision_hash,
    ids,
    sign_decision,
)
from protocol.decisions import committed_decision
from protocol.logentry import parse_entry

WHOLE_DAY_DOUBLE = {
    "percent": 200,
    "days": [0, 1, 2, 3, 4, 5, 6],
    "dates": [],
    "from": "00:00",
    "to": "00:00",
}


@dataclass
class Coordinator:
    """A coordinator's laptop: their key, and how they sign and send decisions."""

    api: Api
    key: PrivateKey

    @property
    def id(self) -> str:
        return coordinator_id(self.key.public_key)

    def register(self) -> Coordinator:
        body = {"name": "Grace Hopper", "public_key": self.key.public_key.to_b64()}
        self.api.admin("POST", "/v1/admin/coordinators", body, expect=201)
        return self

    def wire(
        self, kind: str, data: dict[str, Any], *, at_ms: int | None = None, version: int = 2
    ) -> dict[str, Any]:
        """The signed decision: v2 by default (a manual shift's card as a commitment, its opening beside)."""
        at = self.api.clock.now if at_ms is None else at_ms
        if version == 1:
            return sign_decision(Decision(kind, self.id, at, data), self.key)
        decision, opening = committed_decision(kind, self.id, at, data)
        return sign_decision(decision, self.key, opening)

    def post(self, wire: dict[str, Any]) -> httpx.Response:
        return self.api.admin("POST", "/v1/admin/decisions", wire)

    def decide(self, kind: str, data: dict[str, Any], **kw: Any) -> dict[str, Any]:
        response = self.post(self.wire(kind, data, **kw))
        assert response.status_code == 200, response.text
        return dict(response.json())


@pytest.fixture
def boss(api: Api) -> Coordinator:
    return Coordinator(api, PrivateKey.generate()).register()


def state(api: Api) -> dict[str, Any]:
    """Everything a refused decision must leave as it was."""
    with api.context.storage.read() as tx:
        return {
            "log": tx.tlog_size(),
            "sites": [site.to_json() for site in tx.list_sites()],
            "shifts": {v: [s.to_json() for s in group] for v, group in tx.shifts_by_volunteer().items()},
            "balances": tx.balances(),
            "summed": tx.summed_balances(),
            "overdrafts": [r.to_json() for r in tx.unacknowledged_overdrafts()],
        }


def refused(api: Api, wire: dict[str, Any], status: int, code: str) -> None:
    """``wire`` is refused with ``code`` and changes nothing, and no decision is stored for it."""
    before = state(api)
    assert_error(api.admin("POST", "/v1/admin/decisions", wire), status, code)
    assert state(api) == before
    try:
        body = b64decode(wire.get("body"), field="body")
    except MalformedError:
        return  # not even bytes: nothing could have been stored under them
    with api.context.storage.read() as tx:
        assert tx.get_decision(decision_hash(body)) is None


def logged(api: Api, answer: dict[str, Any], wire: dict[str, str]) -> None:
    """The answer's log entry is the decision exactly as signed, received now."""
    with api.context.storage.read() as tx:
        entry = tx.tlog_entry(answer["log_index"])
    assert entry is not None
    parsed = parse_entry(entry)
    assert parsed["kind"] == "decision"
    assert (b64encode(parsed["body"]), b64encode(parsed["sig"])) == (wire["body"], wire["sig"])
    assert parsed["received_ms"] == api.clock.now
    assert answer["decision"] == decision_hash(parsed["body"])


def review_items(api: Api) -> list[dict[str, Any]]:
    return list(api.admin("GET", "/v1/admin/review", expect=200).json()["items"])


def shift_entries(api: Api, volunteer_id: str) -> list[tuple[int, int | None]]:
    """``(delta, log_index)`` of the volunteer's shift ledger entries, in order."""
    with api.context.storage.read() as tx:
        lines = tx.ledger_lines(volunteer_id, 0, None)
    return [(entry.delta, entry.log_index) for entry, *_ in lines if entry.kind == "shift"]


def send(api: Api, world: World, *taps: tuple[str, int]) -> None:
    events = [world.kiosk.event(kind, world.card_id, wall) for kind, wall in taps]
    response = api.send(world.kiosk.kiosk_id, events)
    assert response.status_code == 200, response.text


def site_rules(site_id: str, **rules: Any) -> dict[str, Any]:
    return {
        "site": site_id,
        "tokens_per_hour": 10,
        "max_shift_hours": 12,
        "daily_cap": 0,
        "bonuses": [],
        **rules,
    }


def review(kiosk: str, seq: int, action: str = "approve", start: int = 0, end: int = 0) -> dict[str, Any]:
    return {
        "shift": {"kiosk": kiosk, "seq": seq},
        "action": action,
        "start_ms": start,
        "end_ms": end,
        "reason": "forgot_check_out",
    }


# -- site rules and shop limits --------------------------------------------------------------------
def test_site_rules_apply_to_shifts_paid_after_them(api: Api, world: World, boss: Coordinator) -> None:
    site_id = world.site["site_id"]
    size = state(api)["log"]
    rules = site_rules(site_id, tokens_per_hour=60, daily_cap=90, bonuses=[WHOLE_DAY_DOUBLE])
    wire = boss.wire("site_rules", rules)
    answer = boss.post(wire).json()
    expected_site = {
        **world.site,
        "kind": "checkin",
        "tokens_per_hour": 60,
        "max_shift_hours": 12,
        "daily_cap": 90,
        "bonuses": [WHOLE_DAY_DOUBLE],
    }
    assert answer == {
        "decision": decision_hash(b64decode(wire["body"], field="body")),
        "kind": "site_rules",
        "log_index": size,
        "duplicate": False,
        "result": expected_site,
    }
    logged(api, answer, wire)
    assert api.admin("GET", "/v1/admin/sites", expect=200).json()["sites"] == [expected_site]
    # One hour at 200 % and 60 an hour is 120, capped at 90 for the day.
    send(api, world, ("check_in", T0 - HOUR), ("check_out", T0))
    [shift] = api.shifts(world.card_id)
    assert (shift["status"], shift["tokens"], shift["uncapped_tokens"]) == ("paid", 90, 120)
    assert api.balance(world.card_id) == 90


def test_the_same_decision_again_is_answered_and_applied_once(
    api: Api, world: World, boss: Coordinator
) -> None:
    wire = boss.wire("site_rules", site_rules(world.site["site_id"], tokens_per_hour=30))
    first = boss.post(wire).json()
    before = state(api)
    again = boss.post(wire)
    assert again.status_code == 200
    assert again.json() == {**first, "duplicate": True}
    assert state(api) == before
    # Still answered once the key is revoked and days have passed: it was applied back then.
    api.admin("POST", f"/v1/admin/coordinators/{boss.id}/revoke", expect=200)
    api.clock.now += 3 * 24 * HOUR
    assert boss.post(wire).json() == {**first, "duplicate": True}


def test_shop_limits_change_the_limits_and_keep_the_presets(api: Api, boss: Coordinator) -> None:
    shop = create_shop(api, presets=[{"amount": 2, "label": "Kaffee"}])
    limits = {"max_amount": 40, "offline_allowance": 5, "offline_daily_cap": 100, "void_window_s": 300}
    answer = boss.decide("shop_limits", {"site": shop["site_id"], **limits})
    assert answer["result"]["shop"] == {**limits, "presets": [{"amount": 2, "label": "Kaffee"}]}
    sites = api.admin("GET", "/v1/admin/sites", expect=200).json()["sites"]
    assert [s["shop"] for s in sites if s["site_id"] == shop["site_id"]] == [answer["result"]["shop"]]


def test_rules_for_the_wrong_kind_of_site_or_none_are_refused(
    api: Api, world: World, boss: Coordinator
) -> None:
    shop = create_shop(api)
    limits = {"max_amount": 40, "offline_allowance": 5, "offline_daily_cap": 100, "void_window_s": 300}
    refused(api, boss.wire("shop_limits", {"site": world.site["site_id"], **limits}), 409, "not_a_shop")
    refused(api, boss.wire("site_rules", site_rules(shop["site_id"])), 409, "not_a_shop")
    nowhere = ids.new_id(ids.SITE)
    refused(api, boss.wire("shop_limits", {"site": nowhere, **limits}), 404, "unknown_site")
    refused(api, boss.wire("site_rules", site_rules(nowhere)), 404, "unknown_site")


# -- review ----------------------------------------------------------------------------------------
def test_approving_a_missing_check_out_needs_the_end_and_pays_it(
    api: Api, world: World, boss: Coordinator
) -> None:
    k = world.kiosk
    send(api, world, ("check_in", T0 - 3 * HOUR), ("check_in", T0 - HOUR))
    [item] = review_items(api)
    assert (item["item"], item["reason"], item["ref"]) == (
        "shift",
        "missing_check_out",
        {"kiosk": k.kiosk_id, "seq": 1},
    )
    refused(api, boss.wire("review", review(k.kiosk_id, 1)), 400, "bad_field")
    wire = boss.wire("review", review(k.kiosk_id, 1, end=T0 - 2 * HOUR))
    answer = boss.post(wire).json()
    logged(api, answer, wire)
    shift = answer["result"]
    assert (shift["status"], shift["minutes"], shift["tokens"], shift["decision"]) == (
        "paid",
        60,
        10,
        answer["decision"],
    )
    assert (shift["start_ms"], shift["end_ms"], shift["reason"]) == (
        T0 - 3 * HOUR,
        T0 - 2 * HOUR,
        "missing_check_out",
    )
    assert api.balance(world.card_id) == 10
    assert shift_entries(api, world.volunteer_id) == [(10, answer["log_index"])]
    assert review_items(api) == []


def test_approving_a_check_out_without_check_in_needs_the_start(
    api: Api, world: World, boss: Coordinator
) -> None:
    k = world.kiosk
    send(api, world, ("check_out", T0 - HOUR))
    [item] = review_items(api)
    assert (item["reason"], item["ref"]) == ("check_out_without_check_in", {"kiosk": k.kiosk_id, "seq": 1})
    refused(api, boss.wire("review", review(k.kiosk_id, 1)), 400, "bad_field")
    answer = boss.decide("review", review(k.kiosk_id, 1, start=T0 - 3 * HOUR))
    assert (answer["result"]["start_ms"], answer["result"]["tokens"]) == (T0 - 3 * HOUR, 20)
    assert api.balance(world.card_id) == 20


def test_approving_may_correct_a_recorded_time(api: Api, world: World, boss: Coordinator) -> None:
    send(api, world, ("check_in", T0 - 20 * HOUR), ("check_out", T0))
    assert [i["reason"] for i in review_items(api)] == ["shift_too_long"]
    answer = boss.decide("review", review(world.kiosk.kiosk_id, 1, start=T0 - 5 * HOUR))
    assert (answer["result"]["minutes"], answer["result"]["tokens"]) == (300, 50)
    assert api.balance(world.card_id) == 50


def test_approving_times_that_cannot_be_is_refused(api: Api, world: World, boss: Coordinator) -> None:
    k = world.kiosk
    send(api, world, ("check_in", T0 - HOUR), ("check_out", T0 - 2 * HOUR))
    assert [i["reason"] for i in review_items(api)] == ["clock_inconsistent"]
    refused(api, boss.wire("review", review(k.kiosk_id, 1)), 400, "bad_field")  # ends before it starts
    week = 7 * 24 * HOUR
    refused(api, boss.wire("review", review(k.kiosk_id, 1, start=T0 - week - HOUR, end=T0)), 400, "bad_field")
    future = T0 + 25 * HOUR
    refused(api, boss.wire("review", review(k.kiosk_id, 1, start=T0, end=future)), 400, "bad_field")
    answer = boss.decide("review", review(k.kiosk_id, 1, start=T0 - 3 * HOUR))
    assert answer["result"]["tokens"] == 10


def test_rejecting_closes_the_shift_and_pays_nothing(api: Api, world: World, boss: Coordinator) -> None:
    send(api, world, ("check_out", T0 - HOUR))
    answer = boss.decide("review", review(world.kiosk.kiosk_id, 1, "reject", start=T0 - 3 * HOUR))
    shift = answer["result"]
    assert (shift["status"], shift["tokens"], shift["decision"]) == ("rejected", 0, answer["decision"])
    assert shift["start_ms"] == T0 - HOUR  # a rejection corrects nothing
    assert api.balance(world.card_id) == 0
    assert shift_entries(api, world.volunteer_id) == []
    assert review_items(api) == []
    refused(api, boss.wire("review", review(world.kiosk.kiosk_id, 1, "reject")), 409, "not_in_review")


def test_an_overdue_open_shift_can_be_approved_and_a_fresh_one_cannot(
    api: Api, world: World, boss: Coordinator
) -> None:
    k = world.kiosk
    send(api, world, ("check_in", T0))
    refused(api, boss.wire("review", review(k.kiosk_id, 1, end=T0 + HOUR)), 409, "not_in_review")
    api.clock.now += 13 * HOUR  # past the site's 12 h: on the review list, still open
    [item] = review_items(api)
    assert (item["status"], item["reason"]) == ("open", "missing_check_out")
    answer = boss.decide("review", review(k.kiosk_id, 1, end=T0 + 4 * HOUR))
    assert (answer["result"]["status"], answer["result"]["tokens"]) == ("paid", 40)
    assert api.shifts(world.card_id)[0]["status"] == "paid"
    # The card can check in again: no open shift is left behind.
    send(api, world, ("check_in", T0 + 13 * HOUR))
    assert [s["status"] for s in api.shifts(world.card_id)] == ["paid", "open"]


def test_only_shifts_on_the_review_list_named_by_their_first_tap_are_decided(
    api: Api, world: World, boss: Coordinator
) -> None:
    k = world.kiosk
    send(api, world, ("check_in", T0 - 2 * HOUR), ("check_out", T0 - HOUR))
    refused(api, boss.wire("review", review(k.kiosk_id, 1, end=T0)), 409, "not_in_review")  # paid
    refused(api, boss.wire("review", review(k.kiosk_id, 2, end=T0)), 404, "unknown_shift")  # its check-out
    refused(api, boss.wire("review", review(k.kiosk_id, 99, end=T0)), 404, "unknown_shift")
    refused(api, boss.wire("review", review(ids.new_id(ids.KIOSK), 1, end=T0)), 404, "unknown_shift")


def test_approval_pays_under_the_current_rules_and_daily_cap(
    api: Api, world: World, boss: Coordinator
) -> None:
    k = world.kiosk
    # Both shifts start on 2025-11-29 (local); the first pays 10 under the first rules.
    send(api, world, ("check_in", T0 - 3 * HOUR), ("check_out", T0 - 2 * HOUR), ("check_out", T0 - HOUR))
    assert api.balance(world.card_id) == 10
    boss.decide("site_rules", site_rules(world.site["site_id"], tokens_per_hour=30, daily_cap=25))
    answer = boss.decide("review", review(k.kiosk_id, 3, start=T0 - 2 * HOUR))
    assert (answer["result"]["tokens"], answer["result"]["uncapped_tokens"]) == (15, 30)
    assert api.balance(world.card_id) == 25


# -- shifts by hand --------------------------------------------------------------------------------
def manual(card: str, site: str, start: int, end: int) -> dict[str, Any]:
    return {"card": card, "site": site, "start_ms": start, "end_ms": end, "reason": "kiosk_broken"}


def test_a_manual_shift_is_paid_under_the_sites_rules(api: Api, world: World, boss: Coordinator) -> None:
    wire = boss.wire("manual_shift", manual(world.card_id, world.site["site_id"], T0 - 2 * HOUR, T0))
    answer = boss.post(wire).json()
    logged(api, answer, wire)
    shift = answer["result"]
    assert {k: shift[k] for k in ("source", "kiosk_id", "in_kiosk", "out_kiosk", "status", "tokens")} == {
        "source": "manual",
        "kiosk_id": None,
        "in_kiosk": None,
        "out_kiosk": None,
        "status": "paid",
        "tokens": 20,
    }
    assert (shift["decision"], shift["reason"], shift["minutes"]) == (answer["decision"], "kiosk_broken", 120)
    assert api.shifts(world.card_id) == [shift]
    assert shift_entries(api, world.volunteer_id) == [(20, answer["log_index"])]
    assert api.balance(world.card_id) == 20
    assert review_items(api) == []


def test_a_manual_shift_needs_a_card_a_check_in_site_and_real_times(
    api: Api, world: World, boss: Coordinator
) -> None:
    site, card = world.site["site_id"], world.card_id
    shop = create_shop(api)
    refused(
        api, boss.wire("manual_shift", manual(ids.new_id(ids.CARD), site, T0 - HOUR, T0)), 404, "unknown_card"
    )
    refused(
        api, boss.wire("manual_shift", manual(card, ids.new_id(ids.SITE), T0 - HOUR, T0)), 404, "unknown_site"
    )
    refused(api, boss.wire("manual_shift", manual(card, shop["site_id"], T0 - HOUR, T0)), 409, "not_a_shop")
    refused(api, boss.wire("manual_shift", manual(card, site, T0, T0)), 400, "bad_field")
    refused(api, boss.wire("manual_shift", manual(card, site, T0, T0 - MINUTE)), 400, "bad_field")
    refused(
        api, boss.wire("manual_shift", manual(card, site, T0 + 25 * HOUR, T0 + 26 * HOUR)), 400, "bad_field"
    )
    refused(api, boss.wire("manual_shift", manual(card, site, T0 - 8 * 24 * HOUR, T0)), 400, "bad_field")


# -- overdrafts ------------------------------------------------------------------------------------
def test_acknowledging_an_overdraft_takes_it_off_the_review_list_and_keeps_the_balance(
    api: Api, boss: Coordinator
) -> None:
    w = ShopWorld(api)
    ada = w.holder(tokens=5)
    rid, event = redeem(w.till, ada.card_id, 10, online=False)
    assert w.send(w.till, [event]) == [["overdraft"]]
    [item] = review_items(api)
    assert item == {
        "item": "overdraft",
        "reason": "overdraft",
        "redemption_id": rid,
        "card_id": ada.card_id,
        "volunteer_id": ada.volunteer_id,
        "amount": 10,
        "site_id": w.shop["site_id"],
        "wall_ms": T0,
        "balance": -5,
    }
    wire = boss.wire("acknowledge", {"redemption": rid, "reason": "confirmed_by_site"})
    answer = boss.post(wire).json()
    logged(api, answer, wire)
    assert (answer["result"]["redemption_id"], answer["result"]["acknowledged"]) == (rid, answer["decision"])
    assert review_items(api) == []
    assert w.balance(ada) == -5
    again = boss.wire("acknowledge", {"redemption": rid, "reason": "confirmed_by_site"})
    refused(api, again, 409, "not_in_review")


def test_only_an_open_overdraft_can_be_acknowledged(api: Api, boss: Coordinator) -> None:
    w = ShopWorld(api)
    ada = w.holder(tokens=10)
    rid, event = redeem(w.till, ada.card_id, 5)
    assert w.send(w.till, [event]) == [[]]
    data = {"redemption": rid, "reason": "confirmed_by_site"}
    refused(api, boss.wire("acknowledge", data), 409, "not_in_review")
    unknown = {"redemption": ids.new_id(ids.REDEMPTION), "reason": "confirmed_by_site"}
    refused(api, boss.wire("acknowledge", unknown), 404, "unknown_redemption")


# -- held redemptions ------------------------------------------------------------------------------
def _settlement(api: Api, site_id: str) -> dict[str, Any]:
    return dict(api.admin("GET", f"/v1/admin/statements/shops/{site_id}", expect=200).json())


def test_a_held_redemption_is_listed_then_approved_debited_and_owed(api: Api, boss: Coordinator) -> None:
    w = ShopWorld(api)
    ada = w.holder(tokens=5)
    rid, event = redeem(w.till, ada.card_id, 20, online=False)  # 20 is over the allowance of 10
    assert w.send(w.till, [event]) == [["offline_over_allowance"]]
    assert w.balance(ada) == 5
    [item] = review_items(api)
    assert (item["item"], item["reason"], item["redemption_id"], item["amount"], item["balance"]) == (
        "held",
        "offline_over_allowance",
        rid,
        20,
        5,
    )
    shop = w.shop["site_id"]
    held = _settlement(api, shop)
    assert (held["redeemed"], held["to_settle"], held["held"]) == (0, 0, 20)
    wire = boss.wire(
        "redemption_review", {"redemption": rid, "action": "approve", "reason": "confirmed_by_shop"}
    )
    answer = boss.post(wire).json()
    logged(api, answer, wire)
    result = answer["result"]
    assert (result["status"], result["held"], result["reviewed"]) == (
        "debited",
        "offline_over_allowance",
        answer["decision"],
    )
    assert result["acknowledged"] == answer["decision"]  # the overdraft it made was seen by the same decision
    assert w.balance(ada) == -15
    assert review_items(api) == []
    owed = _settlement(api, shop)
    assert (owed["redeemed"], owed["to_settle"], owed["held"]) == (20, 20, 0)
    refused(
        api,
        boss.wire("redemption_review", {"redemption": rid, "action": "reject", "reason": "x"}),
        409,
        "not_in_review",
    )
    w.assert_books_agree()


def test_a_rejected_held_redemption_is_never_debited_nor_owed(api: Api, boss: Coordinator) -> None:
    w = ShopWorld(api)
    ada = w.holder(tokens=50)
    rid, event = redeem(w.till, ada.card_id, 20, online=False)
    assert w.send(w.till, [event]) == [["offline_over_allowance"]]
    wire = boss.wire("redemption_review", {"redemption": rid, "action": "reject", "reason": "not_confirmed"})
    assert boss.post(wire).json()["result"]["status"] == "rejected"
    assert w.balance(ada) == 50
    assert review_items(api) == []
    body = _settlement(api, w.shop["site_id"])
    assert (body["redeemed"], body["to_settle"], body["held"]) == (0, 0, 0)
    assert [line["status"] for line in body["redemptions"]] == ["rejected"]
    # Nothing was debited, so the shop has nothing to void.
    (flags,) = w.send(w.till, [void(w.till, ada.card_id, rid)])
    assert flags == ["unknown_redemption"]
    unknown = {"redemption": ids.new_id(ids.REDEMPTION), "action": "approve", "reason": "x"}
    refused(api, boss.wire("redemption_review", unknown), 404, "unknown_redemption")


# -- who may decide, and when ----------------------------------------------------------------------
def test_a_key_the_server_does_not_know_is_refused(api: Api, world: World) -> None:
    stranger = Coordinator(api, PrivateKey.generate())
    refused(api, stranger.wire("site_rules", site_rules(world.site["site_id"])), 403, "unknown_coordinator")


def test_a_revoked_key_is_refused(api: Api, world: World, boss: Coordinator) -> None:
    api.admin("POST", f"/v1/admin/coordinators/{boss.id}/revoke", expect=200)
    refused(api, boss.wire("site_rules", site_rules(world.site["site_id"])), 403, "coordinator_revoked")


def test_a_signature_by_another_key_or_over_other_bytes_is_refused(
    api: Api, world: World, boss: Coordinator
) -> None:
    forger = Coordinator(api, PrivateKey.generate()).register()
    decision = Decision("site_rules", boss.id, T0, site_rules(world.site["site_id"], tokens_per_hour=999))
    refused(api, sign_decision(decision, forger.key), 400, "bad_signature")
    honest = boss.wire("site_rules", site_rules(world.site["site_id"], tokens_per_hour=5))
    body = b64decode(honest["body"], field="body").replace(b'"tokens_per_hour":5', b'"tokens_per_hour":9')
    refused(api, {"body": b64encode(body), "sig": honest["sig"]}, 400, "bad_signature")


def test_a_decision_more_than_a_day_from_the_servers_clock_is_stale(
    api: Api, world: World, boss: Coordinator
) -> None:
    data = site_rules(world.site["site_id"])
    day = 24 * HOUR
    refused(api, boss.wire("site_rules", data, at_ms=T0 - day - 1), 400, "decision_stale")
    refused(api, boss.wire("site_rules", data, at_ms=T0 + day + 1), 400, "decision_stale")
    assert boss.decide("site_rules", data, at_ms=T0 - day)["duplicate"] is False
    assert boss.decide("site_rules", data, at_ms=T0 + day)["duplicate"] is False


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (
            lambda wire: {**wire, "body": b64encode(b64decode(wire["body"], field="b") + b" ")},
            "not_canonical",
        ),
        (lambda wire: {**wire, "sig": b64encode(b"\x00" * 63)}, "bad_field"),
        (lambda wire: {"body": wire["body"]}, "bad_field"),
        (lambda wire: {**wire, "body": "***"}, "bad_encoding"),
        (lambda wire: {**wire, "note": "x"}, "malformed_request"),
    ],
)
def test_a_malformed_request_is_refused_with_its_reason(
    api: Api, world: World, boss: Coordinator, make: Any, code: str
) -> None:
    refused(api, make(boss.wire("site_rules", site_rules(world.site["site_id"]))), 400, code)


def test_an_unknown_kind_is_refused(api: Api, boss: Coordinator) -> None:
    body = (
        f'{{"at_ms":{T0},"coordinator":"{boss.id}","data":{{}},"kind":"pay_everyone",'
        f'"nonce":"{"0" * 32}","type":"kokreativ.decision","v":1}}'
    ).encode()
    refused(api, {"body": b64encode(body), "sig": b64encode(boss.key.sign(body))}, 400, "unknown_kind")


def test_decisions_need_the_admin_token_as_well(api: Api, world: World, boss: Coordinator) -> None:
    wire = boss.wire("site_rules", site_rules(world.site["site_id"], tokens_per_hour=99))
    before = state(api)
    assert_error(api.http.post("/v1/admin/decisions", json=wire), 401, "unauthorized")
    assert state(api) == before
