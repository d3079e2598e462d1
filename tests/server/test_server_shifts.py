"""Shifts and tokens: pairing per card and site, integer rounding, and the review list."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from server_helpers import HOUR, MINUTE, T0, Api, FakeClock, World, enrol_fake_kiosk

from protocol import EventKind, encode_batch
from server import admin, cards, ingest, reads
from server.datadir import init_data_dir, open_data_dir
from server.shifts import shift_minutes, shift_tokens


def _pairs(shifts: list[dict]) -> list[tuple]:
    return [(s["status"], s["reason"], s["minutes"], s["tokens"]) for s in shifts]


def test_check_in_and_out_pays_whole_minutes_rounded_down(api: Api) -> None:
    site = api.create_site(tokens_per_hour=7)
    kiosk = api.enrol_kiosk(site["site_id"])
    card = api.create_card()["card_id"]
    # 1 h 29 min 59.999 s -> 89 minutes -> 89 * 7 // 60 = 10 tokens (10.38 rounded down)
    batch = [
        kiosk.event(EventKind.CHECK_IN, card, T0),
        kiosk.event(EventKind.CHECK_OUT, card, T0 + 89 * MINUTE + 59_999),
    ]
    assert api.send(kiosk.kiosk_id, batch).status_code == 200
    shifts = api.shifts(card)
    assert _pairs(shifts) == [("paid", None, 89, 10)]
    assert (shifts[0]["start_ms"], shifts[0]["end_ms"]) == (T0, T0 + 89 * MINUTE + 59_999)
    assert api.balance(card) == 10
    assert isinstance(api.balance(card), int)


def test_pairs_across_batches_and_kiosks_of_a_site(api: Api, world: World) -> None:
    other = api.enrol_kiosk(world.site["site_id"])
    assert (
        api.send(world.kiosk.kiosk_id, [world.kiosk.event("check_in", world.card_id, T0)]).status_code == 200
    )
    assert _pairs(api.shifts(world.card_id)) == [("open", None, 0, 0)]
    assert (
        api.send(other.kiosk_id, [other.event("check_out", world.card_id, T0 + 3 * HOUR)]).status_code == 200
    )
    assert _pairs(api.shifts(world.card_id)) == [("paid", None, 180, 30)]
    assert api.balance(world.card_id) == 30


def test_second_check_in_sends_open_shift_to_review(api: Api, world: World) -> None:
    k = world.kiosk
    batch = [
        k.event("check_in", world.card_id, T0),
        k.event("check_in", world.card_id, T0 + HOUR),
        k.event("check_out", world.card_id, T0 + 2 * HOUR),
    ]
    assert api.send(k.kiosk_id, batch).status_code == 200
    assert _pairs(api.shifts(world.card_id)) == [
        ("review", "missing_check_out", 0, 0),
        ("paid", None, 60, 10),
    ]
    assert api.balance(world.card_id) == 10
    items = api.admin("GET", "/v1/admin/review", expect=200).json()["items"]
    assert [(i["reason"], i["end_ms"]) for i in items] == [("missing_check_out", None)]


def test_check_out_without_check_in_goes_to_review(api: Api, world: World) -> None:
    k = world.kiosk
    assert api.send(k.kiosk_id, [k.event("check_out", world.card_id, T0)]).status_code == 200
    items = api.admin("GET", "/v1/admin/review", expect=200).json()["items"]
    assert [(i["status"], i["reason"], i["tokens"]) for i in items] == [
        ("review", "check_out_without_check_in", 0)
    ]
    assert api.balance(world.card_id) == 0


def test_check_out_before_check_in_is_clock_inconsistent(api: Api, world: World) -> None:
    k = world.kiosk
    batch = [k.event("check_in", world.card_id, T0), k.event("check_out", world.card_id, T0 - MINUTE)]
    assert api.send(k.kiosk_id, batch).status_code == 200
    assert _pairs(api.shifts(world.card_id)) == [("review", "clock_inconsistent", 0, 0)]
    assert api.balance(world.card_id) == 0


def test_shift_longer_than_site_maximum_goes_to_review(api: Api, world: World) -> None:
    k = world.kiosk
    batch = [
        k.event("check_in", world.card_id, T0 - 13 * HOUR),
        k.event("check_out", world.card_id, T0),
        k.event("check_in", world.card_id, T0),
        k.event("check_out", world.card_id, T0 + 12 * HOUR),  # exactly the maximum still pays
    ]
    assert api.send(k.kiosk_id, batch).status_code == 200
    assert _pairs(api.shifts(world.card_id)) == [
        ("review", "shift_too_long", 780, 0),
        ("paid", None, 720, 120),
    ]
    assert api.balance(world.card_id) == 120


def test_site_maximum_is_configurable(api: Api) -> None:
    site = api.create_site(tokens_per_hour=60, max_shift_hours=2)
    k = api.enrol_kiosk(site["site_id"])
    assert k.enrolment["max_shift_hours"] == 2
    card = api.create_card()["card_id"]
    batch = [k.event("check_in", card, T0), k.event("check_out", card, T0 + 2 * HOUR + MINUTE)]
    assert api.send(k.kiosk_id, batch).status_code == 200
    assert _pairs(api.shifts(card)) == [("review", "shift_too_long", 121, 0)]


def test_open_check_in_older_than_maximum_appears_on_review(api: Api, world: World) -> None:
    k = world.kiosk
    assert api.send(k.kiosk_id, [k.event("check_in", world.card_id, T0)]).status_code == 200
    api.clock.now = T0 + 12 * HOUR
    assert api.admin("GET", "/v1/admin/review", expect=200).json()["items"] == []
    api.clock.now = T0 + 12 * HOUR + 1
    items = api.admin("GET", "/v1/admin/review", expect=200).json()["items"]
    assert [(i["status"], i["reason"], i["card_id"]) for i in items] == [
        ("open", "missing_check_out", world.card_id)
    ]


def test_bad_clock_on_check_out_sends_shift_to_review(api: Api, world: World) -> None:
    k = world.kiosk
    batch = [k.event("check_in", world.card_id, T0), k.event("check_out", world.card_id, T0 + 48 * HOUR)]
    response = api.send(k.kiosk_id, batch)
    assert [r["flags"] for r in response.json()["results"]] == [[], ["clock_out_of_range"]]
    assert _pairs(api.shifts(world.card_id)) == [("review", "clock_out_of_range", 2880, 0)]
    assert api.balance(world.card_id) == 0


def test_replacement_card_keeps_the_balance(api: Api, world: World) -> None:
    k = world.kiosk
    api.send(
        k.kiosk_id, [k.event("check_in", world.card_id, T0), k.event("check_out", world.card_id, T0 + HOUR)]
    )
    spare = api.create_card(volunteer_id=world.volunteer_id)
    assert spare["volunteer_id"] == world.volunteer_id
    assert api.balance(spare["card_id"]) == 10
    api.send(
        k.kiosk_id,
        [k.event("check_in", spare["card_id"], T0), k.event("check_out", spare["card_id"], T0 + HOUR)],
    )
    assert api.balance(world.card_id) == api.balance(spare["card_id"]) == 20
    report = api.admin("GET", "/v1/admin/report", expect=200).json()["volunteers"]
    assert [
        (v["name"], sorted(v["cards"]), v["balance"], v["minutes"], len(v["shifts"])) for v in report
    ] == [("Ada Lovelace", sorted([world.card_id, spare["card_id"]]), 20, 120, 2)]


@given(
    duration_ms=st.integers(min_value=0, max_value=100 * HOUR),
    rate=st.integers(min_value=0, max_value=1_000_000),
)
def test_token_rounding_property(duration_ms: int, rate: int) -> None:
    minutes = shift_minutes(T0, T0 + duration_ms)
    tokens = shift_tokens(minutes, rate)
    assert isinstance(tokens, int) and tokens >= 0
    assert minutes == duration_ms // MINUTE
    assert tokens == minutes * rate // 60
    # Nobody is paid for time not worked, and rounding loses less than one token.
    assert tokens * 60 <= minutes * rate < (tokens + 1) * 60


@settings(max_examples=15, deadline=None)
@given(
    durations=st.lists(st.integers(min_value=0, max_value=12 * HOUR), min_size=1, max_size=6),
    rate=st.integers(min_value=0, max_value=500),
)
def test_balance_is_the_sum_of_rounded_shifts(durations: list[int], rate: int) -> None:
    """Through the services (no HTTP, for speed): the balance is the sum of per-shift floors."""
    with tempfile.TemporaryDirectory() as tmp:
        init_data_dir(Path(tmp) / "data")
        clock = FakeClock(T0 - HOUR)
        with open_data_dir(Path(tmp) / "data", now_ms=clock) as ctx:
            site = admin.create_site(ctx, {"name": "S", "tokens_per_hour": rate})
            kiosk = enrol_fake_kiosk(ctx, site["site_id"])
            card = cards.create_card(ctx, {"name": "V", "site_id": site["site_id"]})["card_id"]
            clock.now = T0 + 7 * 24 * HOUR  # synced a week later, within the back-dating window
            events, start = [], T0
            for duration in durations:  # one shift a day, so no day is longer than the site allows
                events += [
                    kiosk.event("check_in", card, start),
                    kiosk.event("check_out", card, start + duration),
                ]
                start += 24 * HOUR
            ingest.ingest_batch(ctx, kiosk.kiosk_id, encode_batch(events))
            balance = reads.card_balance(ctx, card)["balance"]
    assert balance == sum(d // MINUTE * rate // 60 for d in durations)
    assert balance >= 0
