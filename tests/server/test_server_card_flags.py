"""Ingest re-checks what kiosks decided offline: blocked and uncredentialed cards are flagged, not refused."""

from __future__ import annotations

from server_helpers import HOUR, MINUTE, T0, Api, World

from protocol import EventKind, uid_pseudonym

UID = bytes.fromhex("04aabbccddeeff")


def _flags(response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    return [r["flags"] for r in response.json()["results"]]


def _shifts(api: Api, card_id: str) -> list[tuple]:
    return [(s["status"], s["reason"], s["minutes"], s["tokens"]) for s in api.shifts(card_id)]


def _review(api: Api) -> list[tuple]:
    items = api.admin("GET", "/v1/admin/review", expect=200).json()["items"]
    return [(i["card_id"], i["status"], i["reason"]) for i in items]


def test_blocked_card_is_flagged_from_the_block_on(api: Api, world: World) -> None:
    k, card = world.kiosk, world.card_id
    api.clock.now = T0 + 2 * HOUR
    api.block(card, reason="lost")  # blocked_ms = T0 + 2 h
    api.clock.now = T0 + 5 * HOUR
    batch = [
        k.event(EventKind.CHECK_IN, card, T0),  # before the block: the kiosk was right to accept
        k.event(EventKind.CHECK_OUT, card, T0 + 2 * HOUR - 1),
        k.event(EventKind.CHECK_IN, card, T0 + 2 * HOUR),  # at the block: the kiosk had an old list
        k.event(EventKind.CHECK_OUT, card, T0 + 3 * HOUR),
    ]
    assert _flags(api.send(k.kiosk_id, batch)) == [[], [], ["card_blocked"], ["card_blocked"]]
    assert _shifts(api, card) == [("paid", None, 119, 19), ("review", "card_blocked", 60, 0)]
    assert api.balance(card) == 19
    assert _review(api) == [(card, "review", "card_blocked")]


def test_blocked_check_in_is_on_the_review_list_at_once(api: Api, world: World) -> None:
    k, card = world.kiosk, world.card_id
    api.block(card)
    assert _flags(api.send(k.kiosk_id, [k.event(EventKind.CHECK_IN, card, T0 + MINUTE)])) == [
        ["card_blocked"]
    ]
    assert _review(api) == [(card, "open", "card_blocked")]
    api.clock.now = T0 + HOUR
    assert _flags(api.send(k.kiosk_id, [k.event(EventKind.CHECK_OUT, card, T0 + HOUR)])) == [["card_blocked"]]
    assert _shifts(api, card) == [("review", "card_blocked", 59, 0)]
    assert _review(api) == [(card, "review", "card_blocked")]
    assert api.balance(card) == 0


def test_shift_open_before_a_block_closes_in_review(api: Api, world: World) -> None:
    k, card = world.kiosk, world.card_id
    assert _flags(api.send(k.kiosk_id, [k.event(EventKind.CHECK_IN, card, T0)])) == [[]]
    api.clock.now = T0 + HOUR
    api.block(card)
    assert _flags(api.send(k.kiosk_id, [k.event(EventKind.CHECK_OUT, card, T0 + 2 * HOUR)])) == [
        ["card_blocked"]
    ]
    assert _shifts(api, card) == [("review", "card_blocked", 120, 0)]


def test_clock_flag_comes_first(api: Api, world: World) -> None:
    k, card = world.kiosk, world.card_id
    api.block(card)
    batch = [
        k.event(EventKind.CHECK_IN, card, T0 + 48 * HOUR),
        k.event(EventKind.CHECK_OUT, card, T0 + 49 * HOUR),
    ]
    assert _flags(api.send(k.kiosk_id, batch)) == [["clock_out_of_range", "card_blocked"]] * 2
    assert _shifts(api, card) == [("review", "clock_out_of_range", 60, 0)]


def test_uncredentialed_card_where_the_site_does_not_allow_it(api: Api, world: World) -> None:
    k = world.kiosk
    pilot = api.create_card(volunteer_id=world.volunteer_id, uid=UID.hex())["card_id"]
    batch = [k.event(EventKind.CHECK_IN, pilot, T0), k.event(EventKind.CHECK_OUT, pilot, T0 + HOUR)]
    assert _flags(api.send(k.kiosk_id, batch)) == [["uncredentialed_card"]] * 2
    assert _shifts(api, pilot) == [("review", "uncredentialed_card", 60, 0)]
    assert _review(api) == [(pilot, "review", "uncredentialed_card")]
    assert api.balance(pilot) == 0


def test_uncredentialed_card_where_the_site_allows_it(api: Api) -> None:
    site = api.create_site(tokens_per_hour=10, allow_uncredentialed=True)
    k = api.enrol_kiosk(site["site_id"])
    pilot = api.create_card("Pilot", uid=UID.hex())["card_id"]
    batch = [k.event(EventKind.CHECK_IN, pilot, T0), k.event(EventKind.CHECK_OUT, pilot, T0 + HOUR)]
    assert _flags(api.send(k.kiosk_id, batch)) == [[], []]
    assert api.balance(pilot) == 10
    # The site turns pilots off; taps synced afterwards are flagged, whatever the kiosk still believed.
    api.admin(
        "POST", f"/v1/admin/sites/{site['site_id']}/policy", {"allow_uncredentialed": False}, expect=200
    )
    batch = [
        k.event(EventKind.CHECK_IN, pilot, T0 + 2 * HOUR),
        k.event(EventKind.CHECK_OUT, pilot, T0 + 3 * HOUR),
    ]
    assert _flags(api.send(k.kiosk_id, batch)) == [["uncredentialed_card"]] * 2
    assert api.balance(pilot) == 10


def test_blocked_uid_card_has_both_flags(api: Api, world: World) -> None:
    k = world.kiosk
    pilot = api.create_card(volunteer_id=world.volunteer_id, uid=UID.hex())["card_id"]
    api.block(pilot)
    flags = _flags(api.send(k.kiosk_id, [k.event(EventKind.CHECK_IN, pilot, T0)]))
    assert flags == [["card_blocked", "uncredentialed_card"]]
    assert _review(api) == [(pilot, "open", "card_blocked")]


def test_denied_attempts_with_unregistered_or_blocked_cards_are_stored(api: Api, world: World) -> None:
    k = world.kiosk
    api.block(world.card_id)
    unregistered_pseudonym = uid_pseudonym(UID, api.context.uid_pseudonym_key)
    forged_id = "c_" + "ab" * 16
    batch = [
        k.event(EventKind.DENIED, unregistered_pseudonym, T0, data={"reason": "unknown_card"}),
        k.event(EventKind.DENIED, forged_id, T0, data={"reason": "credential_expired"}),
        k.event(EventKind.DENIED, world.card_id, T0, data={"reason": "card_blocked"}),
        k.event(EventKind.CHECK_IN, unregistered_pseudonym, T0),  # a kiosk with a stale policy
    ]
    assert _flags(api.send(k.kiosk_id, batch)) == [
        ["unknown_card"],
        ["unknown_card"],
        [],
        ["unknown_card", "uncredentialed_card"],
    ]
    assert api.shifts(world.card_id) == [] and _review(api) == []
    assert api.kiosk_state(k.kiosk_id)["last_seq"] == 4
    # The flags are stored: a replay answers with them.
    replay = api.send(k.kiosk_id, batch).json()["results"]
    assert [(r["status"], r["flags"]) for r in replay][3] == (
        "duplicate",
        ["unknown_card", "uncredentialed_card"],
    )
    assert api.admin("GET", "/v1/admin/verify", expect=200).json()["ok"] is True
