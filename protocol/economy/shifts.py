"""Shifts and tokens: how admitted taps become paid time, or items for a coordinator.

Per card and site, taps pair up in the order they arrive; a shift is measured
by the monotonic clock where it can be, and only a shift whose both taps are
clean is paid, under the site's current earning rules (:mod:`protocol.earning`).
Flagged taps still take part in pairing, because they are evidence that the
card was presented, but their shift goes to review.  A shift that would pay
is held for review too when a kiosk's key could have signed it but no
volunteer could have worked it (:mod:`.kiosklimits`).  An ``undo`` the
kiosk's history allowed (:mod:`.undo`) takes its tap back here, in arrival
order with the taps.  ``docs/protocol.md``
("Shifts and tokens") has every rule, the clock rules included.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, NamedTuple

from protocol.earning import EarningRules, local_day
from protocol.economy.book import ShiftBook
from protocol.economy.clocks import CLOCK_MIN_MS
from protocol.economy.kiosklimits import KioskLimits
from protocol.economy.models import LedgerEntry, Shift, ShiftStatus, Site, TapClock
from protocol.economy.undo import LEDGER_KIND_UNDO
from protocol.events import EventKind
from protocol.reasons import Reason

MS_PER_MINUTE: Final = 60_000
MS_PER_HOUR: Final = 3_600_000
UNSYNCED_TOLERANCE_MS: Final = 2 * MS_PER_MINUTE  # unsynced wall and mono lengths may differ this much
LEDGER_KIND_SHIFT: Final = "shift"
_OUT_OF_RANGE: Final = Reason.CLOCK_OUT_OF_RANGE.value  # read once: a StrEnum's .value is a descriptor call


def shift_minutes(start_ms: int, end_ms: int) -> int:
    """Whole minutes worked, rounded down; 0 for an inconsistent (negative) interval."""
    return max(0, end_ms - start_ms) // MS_PER_MINUTE


def shift_tokens(minutes: int, tokens_per_hour: int) -> int:
    """Tokens for ``minutes`` of work without bonuses or cap, rounded down once per shift (integers only)."""
    return minutes * tokens_per_hour // 60


def in_review(shift: Shift, site: Site, now_ms: int) -> bool:
    """Whether ``shift`` is on the review list: in review, or open and flagged or overdue.

    The same condition as the server's review list (``Tx.review_shifts``), for one shift.
    """
    if shift.status is ShiftStatus.REVIEW:
        return True
    return shift.status is ShiftStatus.OPEN and (
        shift.reason is not None or shift.start_ms < now_ms - site.max_shift_hours * MS_PER_HOUR
    )


class Payroll:
    """Pays shifts at one site under its rules as they are now, keeping its daily cap across them.

    Make one per transaction and site (one ingest batch, one decision).  For a
    site with a daily cap it asks ``book.tokens_paid_on_day`` once per volunteer
    and local day, then adds what it pays itself, so shifts paid earlier in the
    same batch (not yet written) count too.  Sites without a cap never ask.
    """

    def __init__(self, book: ShiftBook, site: Site) -> None:
        self._book = book
        self._site_id = site.site_id
        self.rules = EarningRules.of_site(site)
        self._paid: dict[tuple[str, int], int] = {}

    def pay(self, shift: Shift, end_ms: int) -> int:
        """Close ``shift`` as paid at ``end_ms``: its minutes, uncapped and paid tokens; return the tokens."""
        shift.end_ms = end_ms
        shift.minutes = shift_minutes(shift.start_ms, end_ms)
        worth = self.rules.tokens(shift.start_ms, end_ms)
        tokens = worth
        if self.rules.daily_cap:
            day = local_day(shift.start_ms)
            key = (shift.volunteer_id, day[0])
            paid = self._paid.get(key)
            if paid is None:
                paid = self._book.tokens_paid_on_day(self._site_id, shift.volunteer_id, *day)
            tokens = self.rules.capped(worth, paid)
            self._paid[key] = paid + tokens
        shift.status = ShiftStatus.PAID
        shift.tokens = tokens
        shift.uncapped_tokens = worth
        return tokens

    def unpay(self, shift: Shift) -> None:
        """Take paid ``shift`` (its check-out undone) out of its day's "paid so far" (the daily cap)."""
        if not self.rules.daily_cap or not shift.tokens:
            return
        day = local_day(shift.start_ms)
        key = (shift.volunteer_id, day[0])
        paid = self._paid.get(key)
        if paid is None:
            paid = self._book.tokens_paid_on_day(self._site_id, shift.volunteer_id, *day)
        self._paid[key] = paid - shift.tokens


class Tap(NamedTuple):
    """An admitted check-in or check-out by a registered card.

    A named tuple, not a frozen dataclass: ingest makes one per tap, and a frozen
    dataclass of 16 fields costs several times as much to make.

    ``flag`` is the reason code of the event's first flag, if any: its shift goes to review.
    ``received_ms`` is when the server received the event and ``enrolled_ms`` when its
    kiosk was enrolled, both as the log has them (:mod:`.kiosklimits` reads them).
    """

    kiosk_id: str
    seq: int
    kind: EventKind
    card_id: str
    volunteer_id: str
    wall_ms: int
    flag: str | None = None
    log_index: int | None = None  # the event's entry in the transparency log
    boot: str = ""  # the event's clock evidence; "" (unknown) never matches another tap's boot
    mono_ms: int = 0
    # Whether ``wall_ms`` can be trusted: the kiosk's clock was synced, or a clock reference
    # corrected it (protocol.clockref.event_time; ``wall_ms`` is then the corrected time).
    synced: bool = True
    other_flags: bool = False  # whether the event has flags besides ``flag``
    received_ms: int = 0
    enrolled_ms: int = 0
    # An ``undo`` (kind): the ``seq`` of its kiosk's tap it takes back, and that tap's kind.
    target: int | None = None
    undoes: EventKind | None = None

    def clock(self) -> TapClock:
        """What a shift opened by this tap keeps of it (:attr:`protocol.economy.models.Shift.in_clock`)."""
        return TapClock(
            self.wall_ms, self.boot, self.mono_ms, self.synced, self.flag, self.other_flags, self.enrolled_ms
        )


class _Writes:
    """Shift changes of one batch, written with a few ``executemany`` calls at the end.

    A shift opened and closed in the same batch is inserted once, in its final state.
    """

    def __init__(self, book: ShiftBook, site: Site, limits: KioskLimits) -> None:
        self.payroll = Payroll(book, site)
        self.limits = limits
        self.next_id = book.next_shift_id()
        self.new: dict[int, Shift] = {}
        self.closed: dict[int, Shift] = {}
        self.entries: list[LedgerEntry] = []
        self.latest: dict[str, Shift] = {}  # card -> its newest shift of this batch (an undo reads it)

    def add(self, shift: Shift) -> Shift:
        shift.shift_id = self.next_id
        self.next_id += 1
        self.new[shift.shift_id] = shift
        self.latest[shift.card_id] = shift
        return shift

    def changed(self, shift: Shift) -> None:
        if shift.shift_id not in self.new:
            self.closed[shift.shift_id] = shift
        newest = self.latest.get(shift.card_id)
        if newest is None or newest.shift_id <= shift.shift_id:
            self.latest[shift.card_id] = shift

    def flush(self, book: ShiftBook) -> None:
        # Close existing shifts first: the schema allows one open shift per card and site.
        book.close_shifts(self.closed.values())
        book.insert_shifts(self.new.values())
        book.insert_ledger_entries(self.entries)


def apply_taps(book: ShiftBook, site: Site, taps: Iterable[Tap], now_ms: int) -> dict[tuple[str, int], str]:
    """Pair ``taps`` (in arrival order) with the open shifts at ``site``; write shifts and ledger entries.

    Asks ``tokens_paid_on_day`` of the book only for a site with a daily cap.
    Returns ``(kiosk, seq) -> undo_superseded`` for each undo among ``taps`` that
    found its shift moved on and so changed nothing (:mod:`.undo`).
    """
    refused: dict[tuple[str, int], str] = {}
    taps = list(taps)
    open_shifts = book.open_shifts(site.site_id, (tap.card_id for tap in taps))
    times = [tap.wall_ms for tap in taps] + [shift.start_ms for shift in open_shifts.values()]
    writes = _Writes(book, site, KioskLimits(book, (tap.card_id for tap in taps), times))
    for tap in taps:
        if tap.kind is EventKind.CHECK_IN:
            previous = open_shifts.pop(tap.card_id, None)
            if previous is not None:
                previous.status = ShiftStatus.REVIEW
                previous.reason = previous.reason or Reason.MISSING_CHECK_OUT.value
                writes.changed(previous)
            opened = _new_shift(site, tap, ShiftStatus.OPEN, tap.flag)
            opened.in_clock = tap.clock()
            open_shifts[tap.card_id] = writes.add(opened)
        elif tap.kind is EventKind.CHECK_OUT:
            shift = open_shifts.pop(tap.card_id, None)
            if shift is None:
                orphan = _new_shift(site, tap, ShiftStatus.REVIEW, Reason.CHECK_OUT_WITHOUT_CHECK_IN.value)
                orphan.in_kiosk, orphan.in_seq = None, None
                orphan.out_kiosk, orphan.out_seq, orphan.end_ms = tap.kiosk_id, tap.seq, tap.wall_ms
                writes.add(orphan)
            else:
                _close(site, shift, tap, now_ms, writes)
        elif tap.kind is EventKind.UNDO and not _undo(book, site, tap, open_shifts, now_ms, writes):
            refused[(tap.kiosk_id, tap.seq)] = Reason.UNDO_SUPERSEDED.value
    writes.flush(book)
    return refused


def _set_aside(shift: Shift) -> None:
    """``shift`` as its undone tap leaves it: no tokens, not on the review list, kept as a record."""
    shift.status = ShiftStatus.REJECTED
    shift.reason = Reason.UNDONE.value
    shift.tokens = 0


def _undo(
    book: ShiftBook, site: Site, tap: Tap, open_shifts: dict[str, Shift], now_ms: int, writes: _Writes
) -> bool:
    """Take back the check-in or check-out ``tap.target`` of ``tap``'s kiosk; ``False`` if it moved on.

    A check-in's shift must still be the card's open shift; a check-out's shift must be the
    card's newest shift at the site, closed by it, undecided, with no shift open since.
    """
    card = tap.card_id
    target = (tap.kiosk_id, tap.target)
    if tap.undoes is EventKind.CHECK_IN:
        shift = open_shifts.get(card)
        if shift is None or (shift.in_kiosk, shift.in_seq) != target:
            return False
        del open_shifts[card]
        _set_aside(shift)
        writes.changed(shift)
        return True
    if card in open_shifts:
        return False
    shift = writes.latest.get(card) or book.latest_shift(site.site_id, card)
    if (
        shift is None
        or (shift.out_kiosk, shift.out_seq) != target
        or shift.status not in (ShiftStatus.PAID, ShiftStatus.REVIEW)
        or shift.decision is not None
    ):
        return False
    if shift.in_kiosk is not None:  # not an orphan check-out: its shift opens again, as it was
        if shift.status is ShiftStatus.PAID:
            writes.payroll.unpay(shift)
            writes.limits.unpaid(shift)
            if shift.tokens:
                writes.entries.append(
                    LedgerEntry(
                        shift.volunteer_id,
                        -shift.tokens,
                        LEDGER_KIND_UNDO,
                        shift.shift_id,
                        now_ms,
                        tap.log_index,
                    )
                )
        got = shift.in_clock
        reopened = Shift(
            shift_id=0,
            card_id=card,
            volunteer_id=shift.volunteer_id,
            site_id=shift.site_id,
            kiosk_id=shift.kiosk_id,
            in_kiosk=shift.in_kiosk,
            in_seq=shift.in_seq,
            out_kiosk=None,
            out_seq=None,
            start_ms=shift.start_ms if got is None else got.wall_ms,
            end_ms=None,
            minutes=0,
            tokens=0,
            status=ShiftStatus.OPEN,
            reason=None if got is None else got.flag,
        )
        reopened.in_clock = got
        _set_aside(shift)
        writes.changed(shift)
        open_shifts[card] = writes.add(reopened)
        return True
    _set_aside(shift)
    writes.changed(shift)
    return True


def _new_shift(site: Site, tap: Tap, status: ShiftStatus, reason: str | None) -> Shift:
    return Shift(
        shift_id=0,
        card_id=tap.card_id,
        volunteer_id=tap.volunteer_id,
        site_id=site.site_id,
        kiosk_id=tap.kiosk_id,
        in_kiosk=tap.kiosk_id,
        in_seq=tap.seq,
        out_kiosk=None,
        out_seq=None,
        start_ms=tap.wall_ms,
        end_ms=None,
        minutes=0,
        tokens=0,
        status=status,
        reason=reason,
    )


class _Measure(NamedTuple):
    """A closing shift's times, its length to pay and why it goes to review (``None``: it pays)."""

    start_ms: int
    end_ms: int
    length_ms: int
    reason: str | None


def _measure(site: Site, shift: Shift, tap: Tap) -> _Measure:
    """Times, length and review reason of ``shift`` closed by ``tap`` (the clock rules of the docs)."""
    start, end = shift.start_ms, tap.wall_ms
    flagged = shift.reason or tap.flag  # an open shift's reason is its check-in's flag
    max_ms = site.max_shift_hours * MS_PER_HOUR
    got = shift.in_clock
    reason: str | None = None
    if got is None or not got.boot or got.boot != tap.boot or shift.in_kiosk != tap.kiosk_id:
        # Across boots (or kiosks) only the wall clocks can say how long it was.
        reason = flagged
        if reason is None and got is not None and not (got.synced and tap.synced):
            reason = Reason.CLOCK_UNSYNCED.value
        elif reason is None and end < start:
            reason = Reason.CLOCK_INCONSISTENT.value
        elif reason is None and end - start > max_ms:
            reason = Reason.SHIFT_TOO_LONG.value
        return _Measure(start, end, max(0, end - start), reason)
    length = tap.mono_ms - got.mono_ms
    if length < 0:  # the monotonic clock never goes back within a boot: the evidence is wrong
        return _Measure(start, end, 0, flagged or Reason.CLOCK_INCONSISTENT.value)
    if not got.synced and tap.synced:
        start = end - length  # a stale clock at check-in, synced by check-out: trust the later one
    else:
        end = start + length
    out_of_range = _OUT_OF_RANGE
    rescue = (  # one tap's clock is absurd, the other's synced and sane: mono measures it
        (got.flag == out_of_range and not got.other_flags and tap.flag is None and tap.synced)
        or (tap.flag == out_of_range and not tap.other_flags and got.flag is None and got.synced)
    )
    if flagged is not None and not (rescue and start >= CLOCK_MIN_MS):
        return _Measure(start, end, length, flagged)
    if length > max_ms:
        reason = Reason.SHIFT_TOO_LONG.value
    elif (
        not got.synced
        and not tap.synced
        and abs((tap.wall_ms - got.wall_ms) - length) > UNSYNCED_TOLERANCE_MS
    ):
        reason = Reason.CLOCK_UNSYNCED.value
    if reason is not None and flagged is not None:
        reason = flagged  # a rescue that fails a rule leaves the tap's own flag
    return _Measure(start, end, length, reason)


def _close(site: Site, shift: Shift, tap: Tap, now_ms: int, writes: _Writes) -> None:
    measured = _measure(site, shift, tap)
    shift.out_kiosk, shift.out_seq = tap.kiosk_id, tap.seq
    shift.start_ms, shift.end_ms = measured.start_ms, measured.end_ms
    shift.minutes = measured.length_ms // MS_PER_MINUTE
    shift.reason = measured.reason
    if shift.reason is None:
        shift.reason = writes.limits.hold_reason(
            site, shift, out_enrolled_ms=tap.enrolled_ms, received_ms=tap.received_ms
        )
    if shift.reason is None:
        writes.payroll.pay(shift, shift.end_ms)
        writes.limits.paid(shift)
        writes.entries.append(
            LedgerEntry(
                shift.volunteer_id, shift.tokens, LEDGER_KIND_SHIFT, shift.shift_id, now_ms, tap.log_index
            )
        )
    else:
        shift.status = ShiftStatus.REVIEW
        shift.tokens = 0
    writes.changed(shift)
