"""A stolen check-in kiosk key does bounded damage: the server holds implausible shifts for review.

Each test signs events with an enrolled kiosk's real key and sends them to the
real loopback server, as a thief with the key would (``docs/economy.md``,
"The worst-case loss", for check-in kiosks).
"""

from __future__ import annotations

from server_helpers import HOUR, MINUTE, T0, Api, FakeKiosk

from protocol import Decision, EventKind, PrivateKey, SignedEvent, coordinator_id, sign_decision

DAY = 24 * HOUR


def _review_reasons(api: Api) -> list[str]:
    items = api.admin("GET", "/v1/admin/review", expect=200).json()["items"]
    return [item["reason"] for item in items]


def test_a_year_of_back_dated_shifts_is_held_not_paid(api: Api) -> None:
    site = api.create_site(tokens_per_hour=10)
    kiosk = api.enrol_kiosk(site["site_id"], enrolled_ms=T0)
    card = api.create_card()["card_id"]
    api.clock.now = T0 + HOUR  # the thief syncs an hour after the kiosk was enrolled
    sent = 0
    events = []
    for day in range(365, 0, -1):
        start = T0 - day * DAY
        events.append(kiosk.event(EventKind.CHECK_IN, card, start))
        events.append(kiosk.event(EventKind.CHECK_OUT, card, start + 11 * HOUR))
    for first in range(0, len(events), 500):
        response = api.send(kiosk.kiosk_id, events[first : first + 500])
        assert response.status_code == 200, response.text
        sent += len(response.json()["results"])
    assert sent == 730
    assert api.balance(card) == 0
    reasons = _review_reasons(api)
    assert len(reasons) == 365
    assert set(reasons) <= {"before_enrolment", "backdated"}


def _pairs(api: Api, card: str) -> list[tuple[str, str | None, int]]:
    return [(s["status"], s["reason"], s["tokens"]) for s in api.shifts(card)]


def _shift(kiosk: FakeKiosk, card: str, start: int, hours: float) -> list[SignedEvent]:
    end = start + int(hours * HOUR)
    return [kiosk.event(EventKind.CHECK_IN, card, start), kiosk.event(EventKind.CHECK_OUT, card, end)]


def test_a_shift_dated_before_its_kiosk_was_enrolled_is_held(api: Api) -> None:
    site = api.create_site(tokens_per_hour=10)
    kiosk = api.enrol_kiosk(site["site_id"], enrolled_ms=T0)
    card = api.create_card()["card_id"]
    api.clock.now = T0 + 4 * HOUR
    batch = [
        *_shift(kiosk, card, T0 - 2 * HOUR, 1),
        *_shift(kiosk, card, T0 - 4 * MINUTE, 1),  # a clock a few minutes behind still pays
    ]
    assert api.send(kiosk.kiosk_id, batch).status_code == 200
    assert _pairs(api, card) == [("review", "before_enrolment", 0), ("paid", None, 10)]


def test_back_dating_beyond_the_window_is_held_and_a_late_sync_within_it_pays(api: Api) -> None:
    site = api.create_site(tokens_per_hour=10)
    kiosk = api.enrol_kiosk(site["site_id"], enrolled_ms=T0 - 60 * DAY)
    card = api.create_card()["card_id"]
    # The kiosk was offline: shifts ending 15 days and 13 days before the sync.
    batch = [*_shift(kiosk, card, T0 - 15 * DAY - HOUR, 1), *_shift(kiosk, card, T0 - 13 * DAY - HOUR, 1)]
    assert api.send(kiosk.kiosk_id, batch).status_code == 200
    assert _pairs(api, card) == [("review", "backdated", 0), ("paid", None, 10)]


def test_overlapping_shifts_of_a_card_are_held_at_one_kiosk_and_across_sites(api: Api) -> None:
    site, other_site = api.create_site(tokens_per_hour=10), api.create_site(tokens_per_hour=10)
    kiosk = api.enrol_kiosk(site["site_id"])
    other = api.enrol_kiosk(other_site["site_id"])
    card = api.create_card()["card_id"]
    start = T0 - 10 * HOUR
    assert api.send(kiosk.kiosk_id, _shift(kiosk, card, start, 2)).status_code == 200
    # The same card at the same time elsewhere, then overlapping its own shift at the same kiosk.
    assert api.send(other.kiosk_id, _shift(other, card, start + HOUR, 2)).status_code == 200
    batch = [*_shift(kiosk, card, start + 90 * MINUTE, 1), *_shift(kiosk, card, start + 2 * HOUR, 1)]
    assert api.send(kiosk.kiosk_id, batch).status_code == 200
    assert _pairs(api, card) == [
        ("paid", None, 20),
        ("review", "shift_overlap", 0),
        ("review", "shift_overlap", 0),
        ("paid", None, 10),  # touching the first shift's end is not overlapping it
    ]


def test_more_hours_in_a_day_than_the_site_allows_are_held(api: Api) -> None:
    site = api.create_site(tokens_per_hour=10, max_shift_hours=11)
    kiosk = api.enrol_kiosk(site["site_id"], enrolled_ms=T0 - 3 * DAY)
    card = api.create_card()["card_id"]
    day = T0 - 2 * DAY  # 2025-11-27 05:06 UTC, so all three start that local day
    batch = [
        *_shift(kiosk, card, day, 6),
        *_shift(kiosk, card, day + 6 * HOUR, 6),  # 12 h: the default plausible day
        *_shift(kiosk, card, day + 12 * HOUR, 1),
        *_shift(kiosk, card, day + DAY, 11),  # the next day starts afresh
    ]
    assert api.send(kiosk.kiosk_id, batch).status_code == 200
    assert _pairs(api, card) == [
        ("paid", None, 60),
        ("paid", None, 60),
        ("review", "day_too_long", 0),
        ("paid", None, 110),
    ]


def test_held_shifts_are_on_the_review_list_and_approval_pays_rejection_does_not(api: Api) -> None:
    boss = PrivateKey.generate()
    api.admin(
        "POST", "/v1/admin/coordinators", {"name": "G", "public_key": boss.public_key.to_b64()}, expect=201
    )
    site = api.create_site(tokens_per_hour=10)
    kiosk = api.enrol_kiosk(site["site_id"], enrolled_ms=T0 - 30 * DAY)
    card = api.create_card()["card_id"]
    batch = [*_shift(kiosk, card, T0 - 20 * DAY, 2), *_shift(kiosk, card, T0 - 19 * DAY, 3)]
    assert api.send(kiosk.kiosk_id, batch).status_code == 200
    items = api.admin("GET", "/v1/admin/review", expect=200).json()["items"]
    assert [(i["reason"], i["in_seq"]) for i in items] == [("backdated", 1), ("backdated", 3)]

    def decide(seq: int, action: str) -> None:
        data = {"shift": {"kiosk": kiosk.kiosk_id, "seq": seq}, "action": action, "start_ms": 0, "end_ms": 0}
        decision = Decision("review", coordinator_id(boss.public_key), api.clock.now, data | {"reason": "x"})
        api.admin("POST", "/v1/admin/decisions", sign_decision(decision, boss), expect=200)

    decide(1, "approve")
    decide(3, "reject")
    assert _pairs(api, card) == [("paid", "backdated", 20), ("rejected", "backdated", 0)]
    assert api.balance(card) == 20
    assert api.admin("GET", "/v1/admin/review", expect=200).json()["items"] == []


def test_a_kiosk_limits_decision_sets_the_sites_limits(api: Api) -> None:
    boss = PrivateKey.generate()
    api.admin(
        "POST", "/v1/admin/coordinators", {"name": "G", "public_key": boss.public_key.to_b64()}, expect=201
    )
    site = api.create_site(tokens_per_hour=10)
    assert (site["max_day_hours"], site["backdate_days"]) == (12, 14)
    data = {"site": site["site_id"], "max_day_hours": 4, "backdate_days": 30}
    decision = Decision("kiosk_limits", coordinator_id(boss.public_key), api.clock.now, data)
    answer = api.admin("POST", "/v1/admin/decisions", sign_decision(decision, boss), expect=200).json()
    assert (answer["result"]["max_day_hours"], answer["result"]["backdate_days"]) == (4, 30)
    kiosk = api.enrol_kiosk(site["site_id"], enrolled_ms=T0 - 60 * DAY)
    card = api.create_card()["card_id"]
    batch = [*_shift(kiosk, card, T0 - 20 * DAY, 3), *_shift(kiosk, card, T0 - 20 * DAY + 3 * HOUR, 2)]
    assert api.send(kiosk.kiosk_id, batch).status_code == 200
    assert _pairs(api, card) == [("paid", None, 30), ("review", "day_too_long", 0)]
