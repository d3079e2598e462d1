"""The worst-case loss of a stolen check-in kiosk key stays within the bound ``docs/economy.md`` states.

Hypothesis plays the thief: arbitrary signed check-ins and check-outs from one
kiosk (cards, clock times, monotonic readings, boots, receive times), flagged
as ingest flags them and paired by the pure rules (:mod:`protocol.economy`)
in an in-memory book, the auditor's.  Whatever it signs, the tokens paid
without review stay within ``cards × R × days``, where ``R`` is what one
card may be paid for one local day and ``days`` the local days that a paid
shift can start in (docs/economy.md, "The worst-case loss", check-in kiosks).
"""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import EventKind
from protocol.earning import local_day
from protocol.economy import Site, Tap, apply_taps, clock_in_range
from protocol.economy.clocks import CLOCK_MAX_AHEAD_MS
from protocol.economy.kiosklimits import ENROLMENT_TOLERANCE_MS
from protocol.reasons import Reason
from provisioning.audit.book import LedgerBook

HOUR = 3_600_000
DAY = 24 * HOUR
ENROLLED = 1_764_400_000_000  # 2025-11-29
KIOSK = "k_" + "1" * 32
CARDS = tuple(f"c_{i:032x}" for i in range(3))

# A shift the thief signs: card, start (in hours relative to its receipt), length, boots, clock sync.
# Whole hours make shifts that touch and fill days likely; a lone tap (length None) mis-pairs the rest.
_shift = st.tuples(
    st.integers(0, len(CARDS) - 1),
    st.integers(-25 * 24, 30),  # start, hours after the batch's receipt
    st.one_of(st.none(), st.integers(0, 14 * 60)),  # minutes worked; None: a lone check-in
    st.booleans(),  # check-out after a reboot (then only the wall clocks measure it)
    st.booleans(),  # synced
    st.integers(-90, 90),  # minutes the monotonic clock disagrees with the wall clock by
)
_batch = st.tuples(st.integers(0, 3 * DAY), st.lists(_shift, max_size=25))  # time since the last batch


def _taps(shifts: list[tuple[int, int, int | None, bool, bool, int]], received: int, seq: int) -> list[Tap]:
    """The taps of ``shifts`` as ingest makes them of a batch received at ``received``, from ``seq + 1``."""
    taps: list[Tap] = []

    def tap(kind: EventKind, card: int, wall: int, boot: str, mono: int, synced: bool) -> None:
        flag = None if clock_in_range(wall, received) else Reason.CLOCK_OUT_OF_RANGE.value
        taps.append(
            Tap(
                *(KIOSK, seq + len(taps) + 1, kind, CARDS[card], f"v_{card:032x}", wall, flag, None),
                *(boot, max(0, mono), synced, False),
                received_ms=received,
                enrolled_ms=ENROLLED,
            )
        )

    for card, start_h, minutes, reboot, synced, skew in shifts:
        start = received + start_h * HOUR
        tap(EventKind.CHECK_IN, card, start, "boot-0", start - ENROLLED, synced)
        if minutes is not None:
            end = start + minutes * 60_000
            mono = end - ENROLLED + skew * 60_000
            tap(EventKind.CHECK_OUT, card, end, "boot-1" if reboot else "boot-0", mono, synced)
    return taps


def _local_days(start_ms: int, end_ms: int) -> int:
    """How many local days ``[start_ms, end_ms]`` touches."""
    days, day_start = 0, local_day(start_ms)[0]
    while day_start <= end_ms:
        days += 1
        day_start = local_day(day_start)[1]
    return days


@settings(max_examples=150, deadline=None)
@given(
    batches=st.lists(_batch, min_size=1, max_size=12),
    tokens_per_hour=st.integers(1, 600),
    max_shift_hours=st.integers(1, 24),
    max_day_hours=st.integers(1, 24),
    backdate_days=st.integers(0, 20),
    first_after=st.integers(0, 60 * DAY),  # when the thief starts, after the kiosk's enrolment
)
def test_a_stolen_kiosk_key_is_paid_at_most_the_documented_bound(
    batches: list[tuple[int, list[tuple[int, int, int | None, bool, bool, int]]]],
    tokens_per_hour: int,
    max_shift_hours: int,
    max_day_hours: int,
    backdate_days: int,
    first_after: int,
) -> None:
    site = Site(
        "s_" + "2" * 32,
        "Repair café",
        tokens_per_hour,
        max_shift_hours,
        max_day_hours=max_day_hours,
        backdate_days=backdate_days,
    )
    book = LedgerBook({site.site_id: site})
    received = first_after + ENROLLED
    first_received = received
    seq = 0
    for delay, shifts in batches:
        received += delay
        taps = _taps(shifts, received, seq)
        seq += len(taps)
        apply_taps(book, site, taps, received)
    paid = sum(book.balances.values())

    # One card, one local day: at most max_day_hours paid (no bonuses, no daily cap here).
    per_card_day = max_day_hours * tokens_per_hour
    # A paid shift ends at most backdate_days before its receipt and at most 24 h (the clock check)
    # plus a shift (a rescued clock) after it, and starts at most a shift before it ends.
    max_shift = max_shift_hours * HOUR
    earliest = max(ENROLLED - ENROLMENT_TOLERANCE_MS, first_received - backdate_days * DAY - max_shift)
    latest = received + CLOCK_MAX_AHEAD_MS + max_shift
    bound = len(CARDS) * per_card_day * _local_days(earliest, latest)
    assert paid <= bound
    # What the bound rests on: each paid shift starts in that window, a card's day holds at most
    # max_day_hours, and no two paid shifts of a card overlap.
    for spans in book.paid_spans(CARDS, -(2**62), 2**62).values():
        minutes_by_day: dict[int, int] = {}
        for span in spans:
            assert earliest <= span.start_ms <= latest
            day = local_day(span.start_ms)[0]
            minutes_by_day[day] = minutes_by_day.get(day, 0) + span.minutes
        assert max(minutes_by_day.values()) <= max_day_hours * 60
        ordered = sorted(spans)
        assert all(a.end_ms <= b.start_ms for a, b in itertools.pairwise(ordered))
    # And the formula of the docs, in whole days, is never below the exact count.
    abused_days = -(-(received - first_received) // DAY)
    documented = (
        len(CARDS) * per_card_day * (abused_days + backdate_days + 2 + -(-(DAY + 2 * max_shift) // DAY))
    )
    assert bound <= documented
