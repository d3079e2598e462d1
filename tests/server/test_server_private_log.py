"""A log that names no card (issue 17): v2 events with openings, entry v2, openings for the auditor.

A fresh data folder writes entry v2 from its first entry: events and manual
shifts name commitments, card registrations and blocks name commitments, and
each event or decision entry says how it moved the economy's totals.  The
openings are kept off the log, in ``openings``, and only a principal with
``audit_log`` reads them (``GET /v1/audit/openings``).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from server_helpers import HOUR, T0, Api, World, assert_error
from server_shop_helpers import ShopWorld, redeem, void

from protocol import (
    Decision,
    EventKind,
    PrivateKey,
    Reason,
    coordinator_id,
    ids,
    parse_decision,
    parse_event,
    sign_decision,
)
from protocol.commitments import Opening
from protocol.decisions import committed_decision
from protocol.logentry import parse_entry, public_day
from server import tlog
from server.app import create_app
from server.errors import ServiceError
from server.http.access import Permission, Principal, Require, declared_routes, require
from server.http.access import economy as whole_economy
from server.tlog import MIN_PUBLIC_COUNT

UID = "04A1B2C3D4E5F6"


# -- helpers ----------------------------------------------------------------------------------------------
def entries(api: Api) -> list[bytes]:
    with api.context.storage.read() as tx:
        return tx.tlog_entry_range(0, tx.tlog_size())


def openings_table(api: Api) -> list[dict[str, Any]]:
    with api.context.storage.read() as tx:
        return [opening.to_json() for opening in tx.openings_after(-1, 10_000)]


def unchanged(api: Api) -> dict[str, Any]:
    """What a refused batch or decision must leave as it was."""
    with api.context.storage.read() as tx:
        size = tx.tlog_size()
    return {"snapshot": api.snapshot(), "size": size, "openings": openings_table(api)}


def audit_get(api: Api, query: str = "", token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {api.admin_token if token is None else token}"}
    return api.http.get(f"/v1/audit/openings{query}", headers=headers)


@dataclass
class Boss:
    """A coordinator's laptop: signs decisions, v2 unless told otherwise."""

    api: Api
    key: PrivateKey = field(default_factory=PrivateKey.generate)

    @property
    def id(self) -> str:
        return coordinator_id(self.key.public_key)

    def register(self) -> Boss:
        body = {"name": "Grace Hopper", "public_key": self.key.public_key.to_b64()}
        self.api.admin("POST", "/v1/admin/coordinators", body, expect=201)
        return self

    def wire(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        decision, opening = committed_decision(kind, self.id, self.api.clock.now, data)
        return sign_decision(decision, self.key, opening)

    def post(self, wire: dict[str, Any]) -> httpx.Response:
        return self.api.admin("POST", "/v1/admin/decisions", wire)


def manual(card: str, site: str, start: int = T0 - 2 * HOUR, end: int = T0) -> dict[str, Any]:
    return {"card": card, "site": site, "start_ms": start, "end_ms": end, "reason": "kiosk_broken"}


@dataclass
class Economy:
    """A small but complete economy on a fresh data folder, and every ID that must stay off the log."""

    api: Api
    shops: ShopWorld
    boss: Boss
    secrets: set[str]


@pytest.fixture
def economy(api: Api) -> Economy:
    """Shifts paid by taps, by hand and by review; redemptions, a void, a denial, a block; UID cards too."""
    shops = ShopWorld(api)
    boss = Boss(api).register()
    ada = shops.holder(120)  # a check-in and a check-out that pays 120
    grace = shops.holder()
    uid_card = api.create_card(volunteer_id=grace.volunteer_id, uid=UID)
    stranger = ids.new_id(ids.CARD)
    earner, till = shops.earner, shops.till
    # A UID card at a site that wants credentials: its shift goes to review, and a decision pays it.
    flags = shops.send(
        earner,
        [
            earner.event(EventKind.CHECK_IN, uid_card["card_id"], T0 - 5 * HOUR),
            earner.event(EventKind.CHECK_OUT, uid_card["card_id"], T0 - 4 * HOUR),
            earner.event(EventKind.DENIED, stranger, T0 - 4 * HOUR),
        ],
    )
    assert flags[0] == ["uncredentialed_card"]
    review = {"shift": {"kiosk": earner.kiosk_id, "seq": 3}, "action": "approve", "start_ms": 0, "end_ms": 0}
    assert boss.post(boss.wire("review", review | {"reason": "known_volunteer"})).status_code == 200
    by_hand = manual(ada.card_id, shops.earn_site["site_id"], T0 - 7 * HOUR, T0 - 5 * HOUR)
    assert boss.post(boss.wire("manual_shift", by_hand)).status_code == 200
    rid, first = redeem(till, ada.card_id, 30)
    taken_back = void(till, ada.card_id, rid)
    _, second = redeem(till, ada.card_id, 20)
    assert shops.send(till, [first, taken_back, second]) == [[], [], []]
    api.block(uid_card["card_id"], reason="lost")
    card_ids = {ada.card_id, grace.card_id, uid_card["card_id"], stranger}
    volunteer_ids = {ada.volunteer_id, grace.volunteer_id}
    hexes = {value.split("_", 1)[1] for value in card_ids | volunteer_ids}
    return Economy(api, shops, boss, card_ids | volunteer_ids | hexes | {UID, UID.lower()})


# -- ingest of v2 events ----------------------------------------------------------------------------------
def test_a_v2_event_without_its_opening_is_refused_and_nothing_is_stored(api: Api, world: World) -> None:
    kiosk = world.kiosk
    good = kiosk.event(EventKind.CHECK_IN, world.card_id, T0)
    bare = kiosk.event(EventKind.CHECK_OUT, world.card_id, T0 + HOUR)
    wire = [good.to_wire(), {k: v for k, v in bare.to_wire().items() if k != "opening"}]
    before = unchanged(api)
    response = api.post_raw(f"/v1/kiosks/{kiosk.kiosk_id}/events", json.dumps({"events": wire}).encode())
    assert assert_error(response, 400, Reason.OPENING_MISSING)["index"] == 1
    assert unchanged(api) == before
    api.assert_serving()


@pytest.mark.parametrize("wrong", ["other_card", "other_salt", "other_kind", "card_only"])
def test_a_v2_event_with_a_wrong_opening_refuses_the_whole_batch(api: Api, world: World, wrong: str) -> None:
    kiosk = world.kiosk
    good = kiosk.event(EventKind.CHECK_IN, world.card_id, T0)
    bad = kiosk.event(EventKind.CHECK_OUT, world.card_id, T0 + HOUR)
    assert bad.opening is not None
    sealed = bad.opening.sealed
    assert sealed is not None
    if wrong == "other_card":  # a kiosk (or a thief) claiming the tap was another card's
        opening = Opening(ids.new_id(ids.CARD), bad.opening.salt, sealed)
    elif wrong == "other_kind":  # or that it was a check-in, or at another time
        opening = Opening(bad.opening.card, bad.opening.salt, {**sealed, "kind": "check_in"})
    elif wrong == "card_only":  # a card alone opens no event
        opening = Opening(bad.opening.card, bad.opening.salt)
    else:
        opening = Opening(bad.opening.card, "0" * 32, sealed)
    wire = [good.to_wire(), {**bad.to_wire(), "opening": opening.to_json()}]
    before = unchanged(api)
    response = api.post_raw(f"/v1/kiosks/{kiosk.kiosk_id}/events", json.dumps({"events": wire}).encode())
    code = Reason.BAD_FIELD if wrong == "card_only" else Reason.OPENING_MISMATCH
    assert assert_error(response, 400, code)["index"] == 1
    assert unchanged(api) == before
    api.assert_serving()


def test_a_v1_event_with_an_opening_is_refused(api: Api, world: World) -> None:
    kiosk = world.kiosk
    event = kiosk.event(EventKind.CHECK_IN, world.card_id, T0, version=1)
    wire = [{**event.to_wire(), "opening": Opening.fresh(world.card_id).to_json()}]
    before = unchanged(api)
    response = api.post_raw(f"/v1/kiosks/{kiosk.kiosk_id}/events", json.dumps({"events": wire}).encode())
    assert assert_error(response, 400, Reason.BAD_FIELD)["index"] == 0
    assert unchanged(api) == before


def test_a_good_v2_batch_is_applied_to_the_opened_card_and_its_openings_kept(api: Api, world: World) -> None:
    kiosk = world.kiosk
    batch = [
        kiosk.event(EventKind.CHECK_IN, world.card_id, T0),
        kiosk.event(EventKind.CHECK_OUT, world.card_id, T0 + 2 * HOUR),
    ]
    response = api.send(kiosk.kiosk_id, batch)
    assert response.status_code == 200, response.text
    assert [r["flags"] for r in response.json()["results"]] == [[], []]
    assert api.balance(world.card_id) == 20
    with api.context.storage.read() as tx:
        indexes = [tx.event_log_index(kiosk.kiosk_id, seq) for seq in (1, 2)]
    assert openings_table(api)[-2:] == [
        {
            "index": index,
            "kind": "event",
            "card": world.card_id,
            "salt": event.opening.salt if event.opening else None,
            "sealed": event.event.sealed_fields(),
            "kiosk": kiosk.kiosk_id,
            "seq": event.event.seq,
            "received_ms": T0,
            "flags": [],
            "issued": issued,
            "redeemed": 0,
        }
        for index, event, issued in zip(indexes, batch, (0, 20), strict=True)
    ]
    logged = [parse_entry(entry) for entry in entries(api)[indexes[0] :]]
    # The entry shows the sealed bytes and the UTC day: no flags, no amounts, no time of day.
    assert [set(e) for e in logged] == [{"body", "kind", "received_ms", "sig", "type", "v"}] * 2
    assert [(e["v"], e["kind"], e["received_ms"]) for e in logged] == [(2, "event", public_day(T0))] * 2
    assert [e["body"] for e in logged] == [event.body for event in batch]


def test_a_resent_v2_batch_is_answered_with_what_was_logged(api: Api, world: World) -> None:
    kiosk = world.kiosk
    batch = [
        kiosk.event(EventKind.CHECK_IN, world.card_id, T0),
        kiosk.event(EventKind.CHECK_OUT, world.card_id, T0 + 2 * HOUR),
    ]
    first = api.http.post(f"/v1/kiosks/{kiosk.kiosk_id}/events?log_size=1", content=_batch(batch))
    again = api.http.post(f"/v1/kiosks/{kiosk.kiosk_id}/events?log_size=1", content=_batch(batch))
    assert first.status_code == again.status_code == 200, again.text
    logged = [(item["v"], item["received_ms"], item["flags"]) for item in again.json()["entries"]]
    assert logged == [(item["v"], item["received_ms"], item["flags"]) for item in first.json()["entries"]]
    assert logged == [(2, public_day(T0), [])] * 2
    assert [r["status"] for r in again.json()["results"]] == ["duplicate", "duplicate"]
    assert len(openings_table(api)) == 3  # the card's registration and the two events, once


def _batch(events: list[Any]) -> bytes:
    return json.dumps({"events": [event.to_wire() for event in events]}).encode()


def test_v1_events_still_work_on_a_fresh_log(api: Api, world: World) -> None:
    kiosk = world.kiosk
    kiosk.version = 1
    batch = [
        kiosk.event(EventKind.CHECK_IN, world.card_id, T0),
        kiosk.event(EventKind.CHECK_OUT, world.card_id, T0 + HOUR),
    ]
    response = api.send(kiosk.kiosk_id, batch)
    assert response.status_code == 200, response.text
    assert api.balance(world.card_id) == 10
    # A v1 event names its card: the log seals it (event_sealed), the auditor gets its bytes.
    kept = openings_table(api)
    assert [o["kind"] for o in kept] == ["card", "event_sealed", "event_sealed"]
    assert [base64.b64decode(o["body"]) for o in kept[1:]] == [event.body for event in batch]
    assert [(o["issued"], o["sealed"]["kind"]) for o in kept[1:]] == [(0, "check_in"), (10, "check_out")]
    logged = [parse_entry(entry) for entry in entries(api)[-2:]]
    assert [set(e) - {"kind", "type", "v"} for e in logged] == [
        {"kiosk", "seq", "hash", "prev", "ref", "received_ms"}
    ] * 2


# -- the log names no card ----------------------------------------------------------------------------------
def _texts(data: bytes) -> list[str]:
    """An entry's bytes, and the signed bytes it carries (an event's or a decision's body) decoded."""
    texts = [data.decode("ascii")]
    entry = parse_entry(data)
    if entry["kind"] in ("event", "decision", "clock_ref"):
        texts.append(entry["body"].decode("utf-8"))
    return texts


def test_no_v2_entry_names_a_card_a_volunteer_or_a_uid(economy: Economy) -> None:
    logged = entries(economy.api)
    assert {parse_entry(data)["v"] for data in logged} == {2}
    kinds = {parse_entry(data)["kind"] for data in logged}
    assert {"card", "card_blocked", "event", "decision"} <= kinds
    texts = [text for data in logged for text in _texts(data)]
    for secret in economy.secrets:
        assert not [text for text in texts if secret in text], secret
    # The same bytes as a stranger reads them: the tiles.
    size = len(logged)
    tile = economy.api.http.get(f"/tile/entries/000.p/{size}" if size < 256 else "/tile/entries/000")
    assert tile.status_code == 200
    for secret in economy.secrets:
        assert secret.encode() not in tile.content


def test_every_entrys_totals_are_in_its_opening_and_sum_to_the_ledger(economy: Economy) -> None:
    with economy.api.context.storage.read() as tx:
        moves = tx.ledger_moves(0)
        balances = tx.balances()
    kept = openings_table(economy.api)
    totals = {o["index"]: (o["issued"], o["redeemed"]) for o in kept if "issued" in o}
    assert {index: pair for index, pair in totals.items() if pair != (0, 0)} == moves
    assert set(moves) <= set(totals)  # every token movement has its opening
    issued = sum(pair[0] for pair in totals.values())
    redeemed = sum(pair[1] for pair in totals.values())
    # 120 by taps, 60 by the review, 120 by hand; 30 redeemed and voided, 20 redeemed.
    assert (issued, redeemed) == (300, 20)
    assert issued - redeemed == sum(balances.values())
    assert sorted(pair for pair in totals.values() if pair[1]) == [(0, -30), (0, 20), (0, 30)]
    # Every decision has an opening for its totals, with a card only when it names one.
    decisions = [o for o in kept if o["kind"] == "decision"]
    assert [("card" in o, o["issued"]) for o in decisions] == [(False, 60), (True, 120)]


def test_no_public_entry_v2_holds_a_flag_an_amount_a_kind_or_a_time_of_day(economy: Economy) -> None:
    """A stranger reading the log learns of an event its kiosk's chain place and the UTC day it came."""
    texts: list[str] = []
    for data in entries(economy.api):
        entry = parse_entry(data)
        assert "flags" not in entry and "issued" not in entry and "redeemed" not in entry
        if entry["kind"] in ("event", "event_sealed"):
            assert entry["received_ms"] == public_day(entry["received_ms"])
        if entry["kind"] == "event":
            body = json.loads(entry["body"])
            assert set(body) == {"kiosk", "prev", "ref", "seq", "type", "v"}
            texts.append(entry["body"].decode())
        if entry["kind"] in ("event", "event_sealed"):
            texts.append(data.decode())
    for word in (
        "check_in",
        "check_out",
        "redeem",
        "void",
        "denied",
        "amount",
        "wall_ms",
        "mono_ms",
        "flags",
    ):
        assert not [text for text in texts if word in text], word


def test_totals_entries_cover_each_day_and_sum_to_the_ledger(economy: Economy) -> None:
    """At the first append of a new UTC day a ``totals`` entry closes the entries since the last one,
    once they moved tokens for at least five volunteers (the small-count rule); until then it stays open."""
    api, shops = economy.api, economy.shops
    day = 86_400_000
    first_day = entries(api)
    assert not [e for e in first_day if parse_entry(e)["kind"] == "totals"]
    with api.context.storage.read() as tx:
        movers = tx.range_movers(0, len(first_day) - 1)
    assert 0 < movers < MIN_PUBLIC_COUNT  # the fixture's first day: a figure about too few people

    def totals() -> list[tuple[int, dict[str, Any]]]:
        logged = [parse_entry(e) for e in entries(api)]
        return [(index, e) for index, e in enumerate(logged) if e["kind"] == "totals"]

    api.clock.now = T0 + day
    shops.holder()  # the first append of day 2: day 1 would close, but it is about too few people
    assert totals() == []
    for _ in range(MIN_PUBLIC_COUNT):
        shops.fund(shops.holder(), 60)  # an hour each at the earning site: now enough people
    api.clock.now = T0 + 2 * day
    shops.holder()  # any append on a new day closes the days before
    found = totals()
    assert len(found) == 1
    index, closed = found[0]
    assert (closed["first"], closed["last"]) == (0, index - 2)  # up to the entry before that append
    assert closed["at_ms"] == public_day(closed["at_ms"])  # the day it closes on, not a time
    with api.context.storage.read() as tx:
        issued, redeemed = tx.ledger_sums()
    assert (closed["issued"], closed["redeemed"]) == (issued, redeemed) == (300 + MIN_PUBLIC_COUNT * 60, 20)
    kept = {o["index"]: o for o in openings_table(api)}
    in_range = [kept[i] for i in range(closed["first"], closed["last"] + 1) if i in kept]
    assert sum(o.get("issued", 0) for o in in_range) == closed["issued"]
    assert sum(o.get("redeemed", 0) for o in in_range) == closed["redeemed"]


# -- decision v2 ---------------------------------------------------------------------------------------------
def test_a_v2_manual_shift_is_paid_logged_with_its_totals_and_its_opening_kept(
    api: Api, world: World
) -> None:
    boss = Boss(api).register()
    wire = boss.wire("manual_shift", manual(world.card_id, world.site["site_id"]))
    assert "card" not in parse_decision(base64.b64decode(wire["body"])).data
    answer = boss.post(wire)
    assert answer.status_code == 200, answer.text
    index = answer.json()["log_index"]
    assert api.balance(world.card_id) == 20
    entry = parse_entry(entries(api)[index])
    assert (entry["v"], entry["kind"]) == (2, "decision") and "issued" not in entry
    assert openings_table(api)[-1] == {
        "index": index,
        "kind": "decision",
        **wire["opening"],
        "issued": 20,
        "redeemed": 0,
    }


def test_a_manual_shift_without_a_good_opening_is_refused(api: Api, world: World) -> None:
    boss = Boss(api).register()
    site = world.site["site_id"]
    wire = boss.wire("manual_shift", manual(world.card_id, site))
    bare = {k: v for k, v in wire.items() if k != "opening"}
    other = {**wire, "opening": {**wire["opening"], "card": ids.new_id(ids.CARD)}}
    v1 = sign_decision(
        Decision("manual_shift", boss.id, api.clock.now, manual(world.card_id, site)), boss.key
    )
    site_rules = boss.wire(
        "site_rules",
        {"site": site, "tokens_per_hour": 5, "max_shift_hours": 8, "daily_cap": 0, "bonuses": []},
    )
    stray = {**site_rules, "opening": wire["opening"]}
    before = unchanged(api)
    for request, code in (
        (bare, Reason.OPENING_MISSING),
        (other, Reason.OPENING_MISMATCH),
        (v1, Reason.OPENING_MISSING),  # it would put the card ID in a log that names none
        (stray, Reason.BAD_FIELD),
    ):
        assert_error(boss.post(request), 400, code)
        assert unchanged(api) == before
    assert api.balance(world.card_id) == 0


# -- openings for the auditor --------------------------------------------------------------------------------
def test_openings_need_the_audit_log_permission(api: Api, context: Any) -> None:
    assert_error(api.http.get("/v1/audit/openings"), 401, Reason.UNAUTHORIZED)
    assert_error(audit_get(api, token="not-the-token"), 401, Reason.UNAUTHORIZED)
    [route] = [r for r in declared_routes(create_app(context).routes) if r.path == "/v1/audit/openings"]
    assert route.audience == "audit"
    assert route.access == (require(Permission.AUDIT_LOG, scope=whole_economy),)
    access = route.access[0]
    assert isinstance(access, Require)
    everything_else = Principal("reports only", frozenset(Permission) - {Permission.AUDIT_LOG})
    with pytest.raises(ServiceError) as caught:
        access.admit(context, everything_else, {})
    assert (caught.value.status, caught.value.reason) == (403, Reason.FORBIDDEN)
    auditor = Principal("audit office", frozenset({Permission.AUDIT_LOG}))
    assert access.admit(context, auditor, {}) is auditor


def test_openings_open_every_commitment_of_the_log_in_pages(economy: Economy) -> None:
    api = economy.api
    whole = audit_get(api)
    assert whole.status_code == 200, whole.text
    answer = whole.json()
    logged = entries(api)
    assert answer["size"] == len(logged) and answer["next"] is None
    items = answer["openings"]
    by_index = {item["index"]: item for item in items}
    committed = 0
    for index, data in enumerate(logged):
        entry = parse_entry(data)
        ref = _ref_of(entry)
        if entry["kind"] == "decision":  # every decision has an item, for its totals
            committed += 1
            assert set(by_index[index]) >= {"issued", "redeemed"}
            assert ("card" in by_index[index]) == (ref is not None)
        if ref is None:
            assert entry["kind"] == "decision" or index not in by_index
            continue
        committed += entry["kind"] != "decision"
        item = by_index[index]
        assert item["kind"] == entry["kind"]
        if entry["kind"] == "card":
            assert tlog.registration_ref(item["card"], item["volunteer"], item["salt"]) == ref
        else:  # an event's opening seals kind, clock and data with the card; a block's the card alone
            assert Opening(
                item["card"], item["salt"], item.get("sealed") if entry["kind"] == "event" else None
            ).opens(ref)
        if entry["kind"] == "event":
            event = parse_event(entry["body"])
            assert (item["kiosk"], item["seq"]) == (event.kiosk, event.seq)
    assert committed == len(items) > 10
    pages: list[dict[str, Any]] = []
    after: int | None = None
    while True:
        query = "?limit=3" + ("" if after is None else f"&after={after}")
        page = audit_get(api, query).json()
        pages.extend(page["openings"])
        after = page["next"]
        if after is None:
            break
        assert len(page["openings"]) == 3
    assert pages == items
    last = items[-1]["index"]
    assert audit_get(api, f"?after={last}").json()["openings"] == []
    for bad in ("?after=-1", "?after=x", "?limit=0", "?limit=1001", "?limit=01", "?from=0"):
        assert_error(audit_get(api, bad), 400, Reason.BAD_FIELD)


def _ref_of(entry: dict[str, Any]) -> str | None:
    """The commitment an entry names, if any: a card entry's, an event's or a manual shift's."""
    if entry["kind"] in ("card", "card_blocked"):
        return str(entry["ref"])
    if entry["kind"] == "event":
        return parse_event(entry["body"]).ref
    if entry["kind"] == "decision":
        return parse_decision(entry["body"]).ref
    return None


def test_a_card_registration_commits_to_its_card_and_volunteer(api: Api) -> None:
    card = api.create_card("Ada Lovelace")
    [item] = audit_get(api).json()["openings"]
    assert item["card"] == card["card_id"]
    assert item["volunteer"] == card["volunteer_id"]
    entry = parse_entry(entries(api)[item["index"]])
    assert entry == {
        "type": "kokreativ.entry",
        "v": 2,
        "kind": "card",
        "ref": tlog.registration_ref(card["card_id"], card["volunteer_id"], item["salt"]),
        "at_ms": T0,
    }


# -- a log from before: format 1 -----------------------------------------------------------------------------
def test_a_log_in_format_1_keeps_writing_entry_v1(api: Api) -> None:
    """A data folder whose log held v1 entries at m012 writes v1 as before (until its hand-over)."""
    with api.context.storage.write() as tx:
        tx.set_log_format(1)
    site = api.create_site(tokens_per_hour=10)
    kiosk = api.enrol_kiosk(site["site_id"])
    card = api.create_card("Ada Lovelace")
    boss = Boss(api).register()
    old = kiosk.event(EventKind.CHECK_IN, card["card_id"], T0 - 4 * HOUR, version=1)
    new = kiosk.event(EventKind.CHECK_OUT, card["card_id"], T0 - 3 * HOUR)
    assert api.send(kiosk.kiosk_id, [old, new]).status_code == 200
    v1 = Decision("manual_shift", boss.id, api.clock.now, manual(card["card_id"], site["site_id"]))
    assert boss.post(sign_decision(v1, boss.key)).status_code == 200
    api.block(card["card_id"])
    logged = [parse_entry(data) for data in entries(api)]
    assert {entry["v"] for entry in logged} == {1}
    assert [e["card_id"] for e in logged if e["kind"] in ("card", "card_blocked")] == [card["card_id"]] * 2
    assert not [e for e in logged if "issued" in e]
    assert api.balance(card["card_id"]) == 30
    # The v2 event's opening is kept all the same: the auditor needs it to open that event.
    assert [(o["kind"], o["card"]) for o in openings_table(api)] == [("event", card["card_id"])]


def test_the_openings_as_lines_are_the_routes_items(economy: Economy) -> None:
    """``server export-log --auditor`` hands the same openings over as ``openings.jsonl``."""
    from server.openings import openings_jsonl

    lines = openings_jsonl(economy.api.context).decode().splitlines()
    assert [json.loads(line) for line in lines] == audit_get(economy.api).json()["openings"]
