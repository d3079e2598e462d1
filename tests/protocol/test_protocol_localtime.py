"""Times for people and for JSON (protocol.localtime), across the clock changes.

The EU rule is written out here on its own (summer time from the last Sunday
of March, 01:00 UTC, to the last Sunday of October, 01:00 UTC), so the test
does not just repeat what zoneinfo says.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from protocol.localtime import ZONE_NAME, iso, iso_or_none, local, shown, shown_clock

UTC = dt.UTC
YEARS = st.integers(min_value=1997, max_value=2099)  # the rule as it stands since 1996


def _last_sunday_1am_utc(year: int, month: int) -> int:
    """The change in ``month`` (3 or 10) of ``year``, in ms since the epoch."""
    last = dt.date(year, month, 31)
    last -= dt.timedelta(days=(last.weekday() - 6) % 7)
    return int(dt.datetime(last.year, last.month, last.day, 1, tzinfo=UTC).timestamp()) * 1000


def _summer(ms: int) -> bool:
    year = dt.datetime.fromtimestamp(ms // 1000, UTC).year
    return _last_sunday_1am_utc(year, 3) <= ms < _last_sunday_1am_utc(year, 10)


INSTANTS = st.integers(
    min_value=_last_sunday_1am_utc(1997, 3) - 80 * 86_400_000, max_value=_last_sunday_1am_utc(2099, 10)
)


@st.composite
def near_a_change(draw: st.DrawFn) -> int:
    """An instant up to three hours either side of a clock change, to the millisecond."""
    change = _last_sunday_1am_utc(draw(YEARS), draw(st.sampled_from([3, 10])))
    return change + draw(st.integers(min_value=-3 * 3_600_000, max_value=3 * 3_600_000))


ANY = st.one_of(INSTANTS, near_a_change())


@given(ANY)
def test_iso_is_the_same_instant_with_the_offset_the_rule_gives(ms):
    text = iso(ms)
    parsed = dt.datetime.fromisoformat(text)
    assert parsed.timestamp() == ms // 1000  # the same second: any ISO parser gets the instant back
    assert text.endswith("+02:00" if _summer(ms) else "+01:00")
    assert iso_or_none(ms) == text


@given(ANY)
def test_shown_names_the_zone_and_agrees_with_the_iso(ms):
    text = shown(ms)
    assert text.endswith(f" ({ZONE_NAME})") and ZONE_NAME == "Europe/Berlin"
    day, clock = iso(ms)[:10], iso(ms)[11:16]
    year, month, date = day.split("-")
    assert text == f"{date}.{month}.{year} {clock} ({ZONE_NAME})"
    assert shown_clock(ms) == clock


@given(YEARS, st.integers(min_value=0, max_value=999))
def test_the_millisecond_before_a_change_is_still_the_old_offset(year, extra):
    for month in (3, 10):
        change = _last_sunday_1am_utc(year, month)
        before, after = local(change - 1 - extra), local(change + extra)
        assert before.utcoffset() != after.utcoffset()
        assert after.utcoffset() == dt.timedelta(hours=2 if month == 3 else 1)


@given(YEARS, st.integers(min_value=0, max_value=3_599_999))
def test_the_doubled_autumn_hour_shows_the_same_clock_but_different_offsets(year, into):
    """02:00–03:00 happens twice in October: the text is the same, the ISO is not ambiguous."""
    change = _last_sunday_1am_utc(year, 10)
    first, second = change - 3_600_000 + into, change + into
    assert shown(first) == shown(second)
    assert iso(first) != iso(second)
    assert (iso(first)[-6:], iso(second)[-6:]) == ("+02:00", "+01:00")


@given(YEARS, st.integers(min_value=0, max_value=3_599_999))
def test_the_skipped_spring_hour_is_never_shown(year, into):
    """02:00–03:00 does not exist on the last Sunday of March: the clock jumps from 01:59 to 03:00."""
    change = _last_sunday_1am_utc(year, 3)
    assert not shown_clock(change + into).startswith("02:")
    assert shown_clock(change - 60_000) == "01:59" and shown_clock(change) == "03:00"


def test_none_stays_none_and_an_example():
    assert iso_or_none(None) is None
    ms = int(dt.datetime(2026, 12, 7, 13, 5, tzinfo=UTC).timestamp()) * 1000
    assert (iso(ms), shown(ms)) == ("2026-12-07T14:05:00+01:00", "07.12.2026 14:05 (Europe/Berlin)")
    summer = int(dt.datetime(2026, 7, 7, 12, 5, tzinfo=UTC).timestamp()) * 1000
    assert iso(summer) == "2026-07-07T14:05:00+02:00"
