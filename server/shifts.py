"""Shifts and tokens: how admitted taps become paid time, or items for a coordinator.

Per card and site, taps pair up in the order they arrive (one kiosk's events
arrive in ``seq`` order).  The rules, from ``docs/protocol.md``:

* ``check_in`` opens a shift; an already open shift for that card and site
  closes as ``missing_check_out`` and goes to review.
* ``check_out`` closes the open shift, or records a review item
  ``check_out_without_check_in`` (start = end = the check-out's time).
* A check-out earlier than its check-in is ``clock_inconsistent``; a shift
  longer than the site's maximum is ``shift_too_long``.  Both go to review.
* Only a shift whose both taps are clean is paid: ``tokens = minutes *
  tokens_per_hour // 60`` with ``minutes = (end_ms - start_ms) // 60000``.
  The ledger entry is written in the caller's transaction, with the shift.

How flagged events count (a choice the protocol leaves to the server):

* ``unknown_card``: the tap has no volunteer, so it neither opens nor closes
  anything.  Registering the card later does not pay for it retroactively.
* ``clock_out_of_range``, ``card_blocked`` and ``uncredentialed_card``: the
  tap still takes part in pairing, because it is real evidence that the card
  was presented; skipping it would mis-pair the taps around it.  The resulting
  shift goes to review with the tap's first flag as its reason and never pays
  (a flagged check-in's open shift is on the review list at once).
* ``denied`` taps are stored but affect no shift.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from protocol import EventKind, Reason
from server.models import LedgerEntry, Shift, ShiftStatus, Site
from server.storage import Tx

MS_PER_MINUTE: Final = 60_000
MS_PER_HOUR: Final = 3_600_000
LEDGER_KIND_SHIFT: Final = "shift"


def shift_minutes(start_ms: int, end_ms: int) -> int:
    """Whole minutes worked, rounded down; 0 for an inconsistent (negative) interval."""
    return max(0, end_ms - start_ms) // MS_PER_MINUTE


def shift_tokens(minutes: int, tokens_per_hour: int) -> int:
    """Tokens for ``minutes`` of work, rounded down once per shift (integers only)."""
    return minutes * tokens_per_hour // 60


@dataclass(frozen=True, slots=True)
class Tap:
    """An admitted check-in or check-out by a registered card.

    ``flag`` is the reason code of the event's first flag, if any: its shift goes to review.
    """

    kiosk_id: str
    seq: int
    kind: EventKind
    card_id: str
    volunteer_id: str
    wall_ms: int
    flag: str | None = None
    log_index: int | None = None  # the event's entry in the transparency log


class _Writes:
    """Shift changes of one batch, written with a few ``executemany`` calls at the end.

    A shift opened and closed in the same batch is inserted once, in its final state.
    """

    def __init__(self, tx: Tx) -> None:
        self.next_id = tx.next_shift_id()
        self.new: dict[int, Shift] = {}
        self.closed: dict[int, Shift] = {}
        self.entries: list[LedgerEntry] = []

    def add(self, shift: Shift) -> Shift:
        shift.shift_id = self.next_id
        self.next_id += 1
        self.new[shift.shift_id] = shift
        return shift

    def changed(self, shift: Shift) -> None:
        if shift.shift_id not in self.new:
            self.closed[shift.shift_id] = shift

    def flush(self, tx: Tx) -> None:
        # Close existing shifts first: the schema allows one open shift per card and site.
        tx.close_shifts(self.closed.values())
        tx.insert_shifts(self.new.values())
        tx.insert_ledger_entries(self.entries)


def apply_taps(tx: Tx, site: Site, taps: Iterable[Tap], now_ms: int) -> None:
    """Pair ``taps`` (in arrival order) with the open shifts at ``site``; write shifts and ledger entries."""
    taps = list(taps)
    open_shifts = tx.open_shifts(site.site_id, (tap.card_id for tap in taps))
    writes = _Writes(tx)
    for tap in taps:
        if tap.kind is EventKind.CHECK_IN:
            previous = open_shifts.pop(tap.card_id, None)
            if previous is not None:
                previous.status = ShiftStatus.REVIEW
                previous.reason = previous.reason or Reason.MISSING_CHECK_OUT.value
                writes.changed(previous)
            open_shifts[tap.card_id] = writes.add(_new_shift(site, tap, ShiftStatus.OPEN, tap.flag))
        elif tap.kind is EventKind.CHECK_OUT:
            shift = open_shifts.pop(tap.card_id, None)
            if shift is None:
                orphan = _new_shift(site, tap, ShiftStatus.REVIEW, Reason.CHECK_OUT_WITHOUT_CHECK_IN.value)
                orphan.in_kiosk, orphan.in_seq = None, None
                orphan.out_kiosk, orphan.out_seq, orphan.end_ms = tap.kiosk_id, tap.seq, tap.wall_ms
                writes.add(orphan)
            else:
                _close(site, shift, tap, now_ms, writes)
    writes.flush(tx)


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


def _close(site: Site, shift: Shift, tap: Tap, now_ms: int, writes: _Writes) -> None:
    shift.out_kiosk, shift.out_seq, shift.end_ms = tap.kiosk_id, tap.seq, tap.wall_ms
    shift.minutes = shift_minutes(shift.start_ms, tap.wall_ms)
    if shift.reason is None:
        if tap.flag is not None:
            shift.reason = tap.flag
        elif tap.wall_ms < shift.start_ms:
            shift.reason = Reason.CLOCK_INCONSISTENT.value
        elif tap.wall_ms - shift.start_ms > site.max_shift_hours * MS_PER_HOUR:
            shift.reason = Reason.SHIFT_TOO_LONG.value
    if shift.reason is None:
        shift.status = ShiftStatus.PAID
        shift.tokens = shift_tokens(shift.minutes, site.tokens_per_hour)
        writes.entries.append(
            LedgerEntry(
                shift.volunteer_id, shift.tokens, LEDGER_KIND_SHIFT, shift.shift_id, now_ms, tap.log_index
            )
        )
    else:
        shift.status = ShiftStatus.REVIEW
        shift.tokens = 0
    writes.changed(shift)
