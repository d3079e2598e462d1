"""The demo's story clock: the ledger server lives through the demo's day, forwards only."""

from __future__ import annotations

import datetime as dt

import pytest

from kokreativ.demo.ledger import StoryClock
from kokreativ.demo.script import OPENS, REVIEW, StoryDay, wind_to
from protocol import clock as wall_clock
from terminal.clock import SimulatedClock


def test_the_story_clock_stands_still_until_moved_and_never_goes_back() -> None:
    clock = StoryClock(1_000_000)
    assert clock.now_ms() == clock.now_ms() == 1_000_000
    clock.advance(60)
    clock.move_to(1_060_000)  # staying put is moving forward by nothing
    assert clock.now_ms() == 1_060_000
    with pytest.raises(ValueError, match="cannot go back"):
        clock.move_to(1_059_999)
    assert clock.now_ms() == 1_060_000


def test_a_live_story_clock_follows_the_real_one_from_a_past_story() -> None:
    day = StoryDay.before(dt.datetime.now(dt.UTC).date())
    clock = StoryClock(day.next_day().ms(REVIEW))  # the latest the demo's story gets
    before = wall_clock.now_ms()
    clock.go_live()
    assert clock.now_ms() >= before  # the story's next morning is past: going live moves forward
    with pytest.raises(ValueError, match="cannot go back"):
        clock.move_to(day.ms(OPENS))


def test_the_story_day_is_two_days_before_the_run() -> None:
    day = StoryDay.before(dt.date(2026, 3, 1))
    assert day.date == dt.date(2026, 2, 27)
    assert day.next_day().date == dt.date(2026, 2, 28)
    # The story's clock reads in the site's zone: 07:30 in Berlin is 06:30 UTC in winter.
    assert day.ms("07:30") == int(dt.datetime(2026, 2, 27, 6, 30, tzinfo=dt.UTC).timestamp() * 1000)
    assert StoryDay(dt.date(2026, 7, 1)).ms("07:30") == int(
        dt.datetime(2026, 7, 1, 5, 30, tzinfo=dt.UTC).timestamp() * 1000
    )


def test_a_kiosk_clock_winds_forward_with_its_monotonic_reading_and_never_back() -> None:
    clock = SimulatedClock(start_wall_ms=10_000, start_mono_ms=1_000)
    wind_to(clock, 70_000)
    assert (clock.wall_ms, clock.mono_ms) == (70_000, 61_000)
    with pytest.raises(ValueError):
        wind_to(clock, 69_999)
