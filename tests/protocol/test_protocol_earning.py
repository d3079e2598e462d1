"""Earning rules: bonuses by stretches equal the minute-by-minute rule, worked examples, days, the JSON form.

The reference below is ``docs/economy.md``'s "Rounding rule" read literally: one
weight per minute, each from the local wall-clock time of the minute's first
instant.  Hypothesis holds :func:`protocol.earning.weight_sum` equal to it,
around the daylight-saving changes too.  The server pays with these functions
(``tests/server/test_server_rules.py``) and a kiosk estimates with them.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import MalformedError, Reason
from protocol.earning import (
    MAX_BONUSES,
    MAX_DAILY_CAP,
    MAX_SHIFT_HOURS,
    MAX_TOKENS_PER_HOUR,
    ZONE,
    EarningRules,
    capped,
    check_bonuses,
    local_day,
    local_day_number,
    parse_bonuses,
    weight_sum,
)

MINUTE = 60_000
HOUR = 3_600_000
DAY = 86_400_000
EVERY_DAY = [0, 1, 2, 3, 4, 5, 6]


def local_ms(text: str) -> int:
    """The instant of a Europe/Berlin wall-clock time ``YYYY-MM-DD HH:MM`` (the first, if it repeats)."""
    return int(datetime.datetime.fromisoformat(text).replace(tzinfo=ZONE).timestamp() * 1000)


def bonus(percent: int, start: str, end: str, days: list[int] | None = None, dates: list[str] | None = None):
    return {"percent": percent, "days": days or [], "dates": dates or [], "from": start, "to": end}


NIGHT = bonus(125, "22:00", "06:00", EVERY_DAY)
CHRISTMAS = bonus(200, "00:00", "00:00", dates=["2025-12-25"])


# -- the reference ---------------------------------------------------------------------------------
def reference_weight_sum(start_ms: int, end_ms: int, bonuses: list[dict[str, Any]]) -> int:
    """Σ weights, one minute at a time, straight from the rule's wording."""

    def clock(text: str) -> datetime.time:
        return datetime.time(int(text[:2]), int(text[3:]))

    def listed(day: datetime.date, b: dict[str, Any]) -> bool:
        return day.weekday() in b["days"] or day.isoformat() in b["dates"]

    total = 0
    for i in range(max(0, end_ms - start_ms) // MINUTE):
        instant = start_ms + i * MINUTE
        local = datetime.datetime.fromtimestamp(instant // 1000, tz=ZONE) + datetime.timedelta(
            milliseconds=instant % 1000
        )
        day, now = local.date(), local.time()
        yesterday = day - datetime.timedelta(days=1)
        weight = 100
        for b in bonuses:
            start, end = clock(b["from"]), clock(b["to"])
            if start == end:
                holds = listed(day, b)
            elif start < end:
                holds = listed(day, b) and start <= now < end
            else:
                holds = (listed(day, b) and now >= start) or (listed(yesterday, b) and now < end)
            if holds:
                weight = max(weight, b["percent"])
        total += weight
    return total


# -- equivalence -----------------------------------------------------------------------------------
DST_DAYS = ["2026-03-29", "2026-10-25"]
_anchors = st.sampled_from(
    [local_ms(f"{day} 00:00") for day in [*DST_DAYS, "2025-11-29", "2025-12-24", "2026-06-30", "2026-12-31"]]
)
_clock = st.one_of(
    st.sampled_from(["00:00", "01:59", "02:00", "02:30", "03:00", "06:00", "22:00", "23:59"]),
    st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59)),
)
_dates = st.lists(
    st.sampled_from(["2025-12-25", "2026-03-28", "2026-03-29", "2026-03-30", "2026-10-24", "2026-10-25"]),
    unique=True,
    max_size=3,
).map(sorted)
_bonus = st.builds(
    bonus,
    st.integers(100, 1000),
    _clock,
    _clock,
    st.lists(st.integers(0, 6), unique=True, max_size=4).map(sorted),
    _dates,
).filter(lambda b: bool(b["days"] or b["dates"]))


@settings(max_examples=400, deadline=None)
@given(
    anchor=_anchors,
    offset=st.integers(-30 * HOUR, 30 * HOUR),
    length=st.one_of(st.integers(0, 40 * HOUR), st.integers(0, 3 * MINUTE)),
    bonuses=st.lists(_bonus, min_size=1, max_size=4),
)
def test_stretches_weigh_exactly_what_minutes_weigh(
    anchor: int, offset: int, length: int, bonuses: list[dict[str, Any]]
) -> None:
    start = anchor + offset
    assert weight_sum(start, start + length, parse_bonuses(bonuses)) == reference_weight_sum(
        start, start + length, bonuses
    )


# The instants the clocks change: 2026-03-29 02:00 CET -> 03:00 CEST, 2026-10-25 03:00 CEST -> 02:00 CET.
CHANGES = [local_ms("2026-03-29 01:00") + HOUR, local_ms("2026-10-25 02:00") + HOUR]


@settings(max_examples=300, deadline=None)
@given(
    change=st.sampled_from(CHANGES),
    before=st.integers(0, 20 * HOUR),
    after=st.integers(1, 20 * HOUR),
    bonuses=st.lists(_bonus, min_size=1, max_size=4),
)
def test_shifts_across_a_clock_change_weigh_what_their_minutes_weigh(
    change: int, before: int, after: int, bonuses: list[dict[str, Any]]
) -> None:
    start, end = change - before, change + after
    assert weight_sum(start, end, parse_bonuses(bonuses)) == reference_weight_sum(start, end, bonuses)


@settings(max_examples=200)
@given(
    start=st.integers(0, 2**42),
    length=st.integers(-HOUR, 200 * HOUR),
    rate=st.integers(0, 1_000_000),
)
def test_without_bonuses_it_is_the_rule_from_before_bonuses(start: int, length: int, rate: int) -> None:
    minutes = max(0, length) // MINUTE
    assert EarningRules(rate).tokens(start, start + length) == minutes * rate // 60
    assert weight_sum(start, start + length, ()) == minutes * 100


@settings(max_examples=100, deadline=None)
@given(anchor=_anchors, offset=st.integers(-30 * HOUR, 30 * HOUR), length=st.integers(0, 30 * HOUR))
def test_a_bonus_of_100_percent_changes_nothing(anchor: int, offset: int, length: int) -> None:
    start = anchor + offset
    plain = EarningRules(37).tokens(start, start + length)
    assert (
        EarningRules(37, bonuses=parse_bonuses([bonus(100, "00:00", "00:00", EVERY_DAY)])).tokens(
            start, start + length
        )
        == plain
    )


# -- worked examples -------------------------------------------------------------------------------
def test_night_bonus_pays_125_percent_from_22_to_6() -> None:
    rules = EarningRules(10, bonuses=parse_bonuses([NIGHT]))
    # Friday 20:00 to Saturday 02:00: 2 h at 100 %, 4 h at 125 %.
    start = local_ms("2025-11-28 20:00")
    assert weight_sum(start, start + 6 * HOUR, rules.bonuses) == 120 * 100 + 240 * 125
    assert rules.tokens(start, start + 6 * HOUR) == 70  # 42000 * 10 // 6000; 60 without the bonus
    # 05:30 to 06:30: half an hour of each.
    dawn = local_ms("2025-11-29 05:30")
    assert rules.tokens(dawn, dawn + HOUR) == (30 * 125 + 30 * 100) * 10 // 6000 == 11


def test_a_night_runs_into_the_day_after_the_listed_one() -> None:
    fridays = EarningRules(60, bonuses=parse_bonuses([bonus(125, "22:00", "06:00", [4])]))
    saturday_night = local_ms("2025-11-29 00:00")  # the end of Friday's night
    sunday_night = local_ms("2025-11-30 00:00")  # the end of Saturday's: not listed
    assert fridays.tokens(saturday_night, saturday_night + HOUR) == 75
    assert fridays.tokens(sunday_night, sunday_night + HOUR) == 60


def test_holiday_pays_double_and_bonuses_never_stack() -> None:
    holiday = EarningRules(10, bonuses=parse_bonuses([CHRISTMAS]))
    eve = local_ms("2025-12-24 23:00")
    assert holiday.tokens(eve, eve + 2 * HOUR) == (60 * 100 + 60 * 200) * 10 // 6000 == 30
    both = EarningRules(10, bonuses=parse_bonuses([NIGHT, CHRISTMAS]))
    late = local_ms("2025-12-25 23:00")
    # 23:00-24:00 is Christmas (200 beats 125), 00:00-01:00 the night: 250 % never happens.
    assert weight_sum(late, late + 2 * HOUR, both.bonuses) == 60 * 200 + 60 * 125
    assert both.tokens(late, late + 2 * HOUR) == 32  # 32.5 rounded down, once per shift


def test_a_night_across_the_clock_changes_pays_the_hours_really_worked() -> None:
    rules = EarningRules(10, bonuses=parse_bonuses([NIGHT]))
    spring, autumn = local_ms("2026-03-28 22:00"), local_ms("2026-10-24 22:00")
    spring_end, autumn_end = local_ms("2026-03-29 06:00"), local_ms("2026-10-25 06:00")
    assert (spring_end - spring, autumn_end - autumn) == (7 * HOUR, 9 * HOUR)
    assert rules.tokens(spring, spring_end) == 420 * 125 * 10 // 6000 == 87
    assert rules.tokens(autumn, autumn_end) == 540 * 125 * 10 // 6000 == 112


def test_minutes_round_down_before_weighing() -> None:
    rules = EarningRules(60, bonuses=parse_bonuses([NIGHT]))
    start = local_ms("2025-11-28 21:59") + 30_000  # 21:59:30: the first minute starts before 22:00
    assert weight_sum(start, start + 2 * MINUTE - 1, rules.bonuses) == 100
    assert weight_sum(start, start + 2 * MINUTE, rules.bonuses) == 100 + 125
    assert rules.tokens(start, start + 59_999) == 0


def test_a_week_with_sixteen_overlapping_bonuses_weighs_what_its_minutes_weigh() -> None:
    raw = [bonus(100 + 10 * i, f"{i:02d}:00", f"{i + 1:02d}:30", EVERY_DAY) for i in range(16)]
    start = local_ms("2026-10-20 00:00")  # the week of the autumn clock change
    assert weight_sum(start, start + 7 * DAY, parse_bonuses(raw)) == reference_weight_sum(
        start, start + 7 * DAY, raw
    )


# -- days and the daily cap ------------------------------------------------------------------------
def test_local_days_are_23_24_and_25_hours_long() -> None:
    for day, hours in [("2026-03-29", 23), ("2026-06-30", 24), ("2026-10-25", 25)]:
        start, end = local_day(local_ms(f"{day} 12:00"))
        assert (start, end - start) == (local_ms(f"{day} 00:00"), hours * HOUR)
        assert local_day_number(start) == local_day_number(end - 1) == local_day_number(end) - 1


def test_the_daily_cap_pays_what_is_left_and_never_less_than_nothing() -> None:
    assert capped(30, 0, 1_000) == 30  # 0: no cap
    assert capped(30, 50, 0) == 30
    assert capped(30, 50, 40) == 10
    assert capped(30, 50, 50) == 0
    assert capped(30, 50, 70) == 0  # paid more than the cap (a lowered cap): still 0, never negative


@pytest.mark.parametrize("text", ["2026-03-29 01:59", "2026-10-25 02:30"])
def test_local_ms_helper_reads_berlin_time(text: str) -> None:
    # The tests' own helper: the wall clock it names is what zoneinfo shows for the instant.
    instant = local_ms(text)
    assert datetime.datetime.fromtimestamp(instant // 1000, tz=ZONE).strftime("%Y-%m-%d %H:%M") == text


# -- the JSON form (a trust list's ``earning``) ----------------------------------------------------
def rules_json(**overrides: Any) -> dict[str, Any]:
    return {"bonuses": [NIGHT], "daily_cap": 0, "max_shift_hours": 12, "tokens_per_hour": 10, **overrides}


@settings(max_examples=200)
@given(
    rate=st.integers(0, MAX_TOKENS_PER_HOUR),
    cap=st.integers(0, MAX_DAILY_CAP),
    longest=st.integers(1, MAX_SHIFT_HOURS),
    bonuses=st.lists(_bonus, max_size=MAX_BONUSES),
)
def test_rules_round_trip_through_json_with_bonuses_exactly_as_decided(
    rate: int, cap: int, longest: int, bonuses: list[dict[str, Any]]
) -> None:
    obj = rules_json(bonuses=bonuses, daily_cap=cap, max_shift_hours=longest, tokens_per_hour=rate)
    rules = EarningRules.from_json(obj)
    assert rules == EarningRules(rate, cap, parse_bonuses(bonuses), max_shift_hours=longest)
    assert rules.to_json() == obj  # the bonuses come back as the site_rules decision carried them
    assert EarningRules.from_json(rules.to_json()) == rules


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ([], Reason.BAD_FIELD),
        ({}, Reason.BAD_FIELD),
        ({k: v for k, v in rules_json().items() if k != "daily_cap"}, Reason.BAD_FIELD),
        (rules_json(extra=1), Reason.BAD_FIELD),
        (rules_json(tokens_per_hour=-1), Reason.BAD_FIELD),
        (rules_json(tokens_per_hour=MAX_TOKENS_PER_HOUR + 1), Reason.BAD_FIELD),
        (rules_json(tokens_per_hour="10"), Reason.BAD_FIELD),
        (rules_json(tokens_per_hour=True), Reason.BAD_FIELD),
        (rules_json(tokens_per_hour=10.0), Reason.BAD_FIELD),
        (rules_json(max_shift_hours=0), Reason.BAD_FIELD),
        (rules_json(max_shift_hours=MAX_SHIFT_HOURS + 1), Reason.BAD_FIELD),
        (rules_json(daily_cap=-1), Reason.BAD_FIELD),
        (rules_json(daily_cap=MAX_DAILY_CAP + 1), Reason.BAD_FIELD),
        (rules_json(bonuses={}), Reason.BAD_FIELD),
        (rules_json(bonuses=[NIGHT] * (MAX_BONUSES + 1)), Reason.BAD_FIELD),
        (rules_json(bonuses=[{**NIGHT, "percent": 99}]), Reason.BAD_FIELD),
        (rules_json(bonuses=[{**NIGHT, "from": "24:00"}]), Reason.BAD_FIELD),
        (rules_json(bonuses=[{**NIGHT, "days": [], "dates": []}]), Reason.BAD_FIELD),
        (rules_json(bonuses=[{**NIGHT, "dates": ["2026-02-30"]}]), Reason.BAD_FIELD),
        (rules_json(bonuses=[{**NIGHT, "name": "night"}]), Reason.BAD_FIELD),
        (rules_json(bonuses=[{**NIGHT, "days": [2, 1]}]), Reason.NOT_CANONICAL),
        (rules_json(bonuses=[{**NIGHT, "dates": ["2026-12-25", "2026-01-01"]}]), Reason.NOT_CANONICAL),
    ],
)
def test_rules_that_are_not_exactly_right_are_refused(obj: object, reason: Reason) -> None:
    with pytest.raises(MalformedError) as info:
        EarningRules.from_json(obj)
    assert info.value.reason is reason


def test_check_bonuses_names_the_field_it_checks() -> None:
    assert check_bonuses([NIGHT, CHRISTMAS], "x") == [NIGHT, CHRISTMAS]
    with pytest.raises(MalformedError, match=r"^bad_field: earning\.bonuses "):
        check_bonuses("night", "earning.bonuses")


def test_max_shift_hours_changes_nothing_a_shift_is_worth() -> None:
    start = local_ms("2025-11-28 20:00")
    short, long = EarningRules(10, max_shift_hours=1), EarningRules(10, max_shift_hours=168)
    assert short.tokens(start, start + 6 * HOUR) == long.tokens(start, start + 6 * HOUR) == 60
