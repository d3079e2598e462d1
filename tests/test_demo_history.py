"""The demo's past (``kokreativ.demo.history``): which months it fills, and who works in them.

The served demo's test (``tests/test_demo_serve.py``) checks what the public
page makes of it; these check the calendar without a server, across a year's end.
"""

from __future__ import annotations

import datetime as dt

from kokreativ.demo.history import MONTHS, SITES, active, months_before, start_ms
from kokreativ.demo.script import OPENS, StoryDay
from server.totals import MIN_PUBLIC_COUNT


def test_the_past_is_the_six_months_before_the_storys_month_across_a_years_end() -> None:
    story = StoryDay(dt.date(2027, 1, 1))  # a demo run on 3 January: the story's month just began
    assert months_before(story) == [dt.date(2026, month, 1) for month in range(7, 13)]
    assert start_ms(story) < story.ms(OPENS)
    assert len(months_before(StoryDay(dt.date(2026, 12, 31)))) == MONTHS


def test_one_site_has_too_few_volunteers_in_every_month_and_the_others_enough() -> None:
    for month in range(MONTHS):
        counts = [active(site, month) for site in SITES]
        assert sum(0 < n < MIN_PUBLIC_COUNT for n in counts) == 1  # the garden: always suppressed
        assert sum(n >= MIN_PUBLIC_COUNT for n in counts) >= 2  # so not everything hides with it
