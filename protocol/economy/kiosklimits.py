"""Check-in kiosk limits: shifts a kiosk's key can sign but no volunteer can work are held, not paid.

A kiosk signs its events offline, so whoever holds its key can sign any
check-in and check-out.  The pairing rules (:mod:`.shifts`) already hold a
shift that is too long or badly clocked; these rules bound what a stolen key
gets paid in total.  A shift that would pay is held for review instead when
(the first that applies names it):

1. ``before_enrolment``: it starts before its check-in's kiosk, or ends before
   its check-out's kiosk, was enrolled (give or take :data:`ENROLMENT_TOLERANCE_MS`);
2. ``backdated``: it ends more than the site's ``backdate_days`` before the
   server received its check-out;
3. ``shift_overlap``: it overlaps a paid shift of the same card, at any kiosk or site;
4. ``day_too_long``: with the card's paid shifts that start in the same local
   day, it makes more than the site's ``max_day_hours``.

Only paid shifts count against 3 and 4, and a paid shift stays paid, so what
was decided never changes later; the one exception is a check-out undone at
the kiosk within seconds (:mod:`.undo`), whose shift stops counting.
``docs/economy.md`` ("The worst-case loss") turns these rules into the bound a stolen key can cost.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Final

from protocol.earning import MAX_SHIFT_HOURS, local_day
from protocol.economy.book import ShiftBook
from protocol.economy.models import PaidSpan, Shift, Site
from protocol.reasons import Reason

MS_PER_MINUTE: Final = 60_000
MS_PER_HOUR: Final = 3_600_000
MS_PER_DAY: Final = 24 * MS_PER_HOUR
ENROLMENT_TOLERANCE_MS: Final = 5 * MS_PER_MINUTE  # a synced kiosk clock a little behind the server's
MAX_PAID_SHIFT_MS: Final = MAX_SHIFT_HOURS * MS_PER_HOUR  # the longest shift anything pays (a decision)


class _CardSpans:
    """One card's paid shifts, sorted by start, for range questions by start time."""

    __slots__ = ("spans", "starts")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.spans: list[PaidSpan] = []

    def add(self, span: PaidSpan) -> None:
        at = bisect.bisect_right(self.starts, span.start_ms)
        self.starts.insert(at, span.start_ms)
        self.spans.insert(at, span)

    def starting(self, from_ms: int, to_ms: int) -> list[PaidSpan]:
        """The spans that start in ``[from_ms, to_ms)``."""
        low = bisect.bisect_left(self.starts, from_ms)
        high = bisect.bisect_left(self.starts, to_ms)
        return self.spans[low:high]


class KioskLimits:
    """The limits' view of one batch: the book's paid shifts of its cards, plus those it pays itself.

    Make one per :func:`~protocol.economy.shifts.apply_taps` call with every
    time the batch's taps and open shifts carry; it asks ``book.paid_spans``
    once, on the first shift it checks, for a window that holds every paid
    shift those times can meet.
    """

    def __init__(self, book: ShiftBook, card_ids: Iterable[str], times: Iterable[int]) -> None:
        self._book = book
        self._card_ids = frozenset(card_ids)
        times = list(times)
        # A shift paid from these taps starts and ends within MAX_PAID_SHIFT_MS of their times; what it may
        # overlap starts up to MAX_PAID_SHIFT_MS before it, and its local day is within a day of its start.
        self._from_ms = min(times, default=0) - 2 * MAX_PAID_SHIFT_MS - 2 * MS_PER_DAY
        self._to_ms = max(times, default=0) + MAX_PAID_SHIFT_MS + 2 * MS_PER_DAY
        self._cards: dict[str, _CardSpans] | None = None

    def _spans(self, card_id: str) -> _CardSpans:
        if self._cards is None:
            self._cards = {card: _CardSpans() for card in self._card_ids}
            found = self._book.paid_spans(sorted(self._card_ids), self._from_ms, self._to_ms)
            for card, spans in found.items():
                for span in spans:
                    self._cards[card].add(span)
        return self._cards.setdefault(card_id, _CardSpans())

    def hold_reason(self, site: Site, shift: Shift, *, out_enrolled_ms: int, received_ms: int) -> str | None:
        """Why ``shift`` (closed, measured, not yet paid) is held, or ``None`` if it may pay.

        ``out_enrolled_ms`` is when its check-out's kiosk was enrolled, ``received_ms``
        when the server received the check-out (both from the log, so an auditor agrees).
        """
        start, end = shift.start_ms, shift.end_ms
        assert end is not None, "only a closed shift is checked"
        in_enrolled_ms = 0 if shift.in_clock is None else shift.in_clock.enrolled_ms
        if start < in_enrolled_ms - ENROLMENT_TOLERANCE_MS or end < out_enrolled_ms - ENROLMENT_TOLERANCE_MS:
            return Reason.BEFORE_ENROLMENT.value
        if end < received_ms - site.backdate_days * MS_PER_DAY:
            return Reason.BACKDATED.value
        spans = self._spans(shift.card_id)
        for other in spans.starting(start - MAX_PAID_SHIFT_MS, end):
            if other.start_ms < end and other.end_ms > start:
                return Reason.SHIFT_OVERLAP.value
        day_start, day_end = local_day(start)
        worked = sum(other.minutes for other in spans.starting(day_start, day_end))
        if worked + shift.minutes > site.max_day_hours * 60:
            return Reason.DAY_TOO_LONG.value
        return None

    def unpaid(self, shift: Shift) -> None:
        """Stop counting ``shift``, paid and now set aside (its check-out undone)."""
        assert shift.end_ms is not None
        spans = self._spans(shift.card_id)
        span = PaidSpan(shift.start_ms, shift.end_ms, shift.minutes)
        if span in spans.spans:
            at = spans.spans.index(span)
            del spans.spans[at]
            del spans.starts[at]

    def paid(self, shift: Shift) -> None:
        """Count ``shift``, just paid, against the shifts checked after it."""
        assert shift.end_ms is not None
        self._spans(shift.card_id).add(PaidSpan(shift.start_ms, shift.end_ms, shift.minutes))
