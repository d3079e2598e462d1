"""The ledger as the economy rules see it, kept in memory for a replay: an ``EconomyBook``.

The replay applies :mod:`protocol.economy`, the server's very rules, through
this book instead of a scratch database, because a database's inserts and
checks cost more than the rules themselves (an audit replays hundreds of
thousands of taps).  It keeps only what a later rule can still read;
``docs/protocol.md`` ("Auditing the ledger") says what, and
``tests/provisioning/test_provisioning_audit_replay.py`` holds it and the
server's storage to the same shifts, redemptions and balances.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from protocol import ids
from protocol.earning import local_day_number
from protocol.economy.models import (
    Card,
    CardKind,
    LedgerEntry,
    PaidSpan,
    PriorHours,
    Redemption,
    RedemptionStatus,
    Shift,
    ShiftStatus,
    Site,
    TillStaff,
)
from protocol.economy.shifts import LEDGER_KIND_SHIFT
from protocol.economy.undo import LEDGER_KIND_UNDO

_MS_PER_HOUR = 3_600_000
# Redemptions debited when they arrived (voided later or not): what a daily maximum sums.
_ON_ARRIVAL = (RedemptionStatus.DEBITED, RedemptionStatus.VOIDED)


@dataclass(slots=True)
class CardState:
    """A registered card as the log tells it: owner, registration and first block (``None``: not blocked).

    It has what :class:`protocol.economy.book.CardFacts` asks of a card.
    """

    volunteer_id: str
    registered_ms: int = 0
    blocked_ms: int | None = None


def _first_tap(shift: Shift) -> tuple[str | None, int | None]:
    """How a ``review`` decision names ``shift``: its check-in, or for an orphan its check-out."""
    if shift.in_kiosk is not None:
        return shift.in_kiosk, shift.in_seq
    return shift.out_kiosk, shift.out_seq


class LedgerBook:
    """What the economy rules read and write, in memory (``docs/protocol.md``, "Auditing the ledger").

    ``sites`` and ``cards`` are the replay's, kept up to date by it from the log's facts.
    The counts are of shifts by their status now: ``paid``, ``review`` (status ``review``)
    and ``rejected``; ``shifts`` counts every shift made.
    """

    def __init__(
        self,
        sites: dict[str, Site] | None = None,
        cards: Mapping[str, CardState] | None = None,
        staff: Mapping[str, Mapping[str, TillStaff]] | None = None,
    ) -> None:
        self.sites: dict[str, Site] = {} if sites is None else sites
        self.cards: Mapping[str, CardState] = {} if cards is None else cards
        self.staff: Mapping[str, Mapping[str, TillStaff]] = {} if staff is None else staff
        self._staff_days: dict[tuple[str, int], int] = {}  # (staff, local day) -> debited on arrival
        self.balances: dict[str, int] = {}
        # How the replay moved the totals: in all, and by the log entry that caused it (a v2 entry says
        # the same in its ``issued``/``redeemed``).  Shift lines are issued, the others redeemed (negated).
        self.issued = 0
        self.redeemed = 0
        self.moves: dict[int, list[int]] = {}  # log index -> [issued, redeemed]
        self.shifts = 0
        self.paid = 0
        self.review = 0
        self.rejected = 0
        self._open: dict[tuple[str, str], Shift] = {}  # (site, card) -> its open shift
        self._open_by_tap: dict[tuple[str | None, int | None], Shift] | None = None  # built when asked
        self._in_review: dict[tuple[str | None, int | None], Shift] = {}  # status review, by first tap
        # (site, card) -> its newest shift from taps, as stored (an undone check-out reopens it)
        self._latest: dict[tuple[str, str], Shift] = {}
        self._paid_days: dict[tuple[str, str, int], int] = {}  # (site, volunteer, local day) -> tokens
        # card -> its paid shifts, by the hour their start falls in (the kiosk limits read them)
        self._paid_spans: dict[str, dict[int, list[PaidSpan]]] = {}
        self._next_id = 1
        self._redemptions: dict[str, Redemption] = {}
        # The offline bound's sums (protocol.economy.redemptions.offline_hold), kept as redemptions change:
        # per (till, card) those of its latest receive time only (no later batch asks for an earlier one),
        # per (till, local day) what was debited on arrival.
        self._pending: dict[tuple[str, str], tuple[int, int]] = {}
        self._offline_days: dict[tuple[str, int], int] = {}
        self.prior_hours: list[PriorHours] = []  # engagement from before the ledger (hours only)

    # -- sites and cards ---------------------------------------------------------------------------
    def get_site(self, site_id: str) -> Site | None:
        return self.sites.get(site_id)

    def update_site(self, site: Site) -> None:
        self.sites[site.site_id] = site

    def get_card(self, card_id: str) -> Card | None:
        state = self.cards.get(card_id)
        if state is None:
            return None
        kind = CardKind.UID if ids.is_id(card_id, ids.UID_CARD) else CardKind.CREDENTIAL
        return Card(card_id, state.volunteer_id, kind, state.registered_ms, blocked_ms=state.blocked_ms)

    # -- shifts ------------------------------------------------------------------------------------
    def open_shifts(self, site_id: str, card_ids: Iterable[str]) -> dict[str, Shift]:
        found = {}
        for card_id in card_ids:
            shift = self._open.get((site_id, card_id))
            if shift is not None:
                found[card_id] = shift
        return found

    def shift_by_tap(self, kiosk_id: str, seq: int) -> Shift | None:
        """A copy of the shift whose first tap is ``(kiosk_id, seq)``, if it is open or in review.

        A copy, because a decision may change it and then be refused, and a refusal must change
        nothing (the server rolls back its transaction).

        Storage finds paid and rejected shifts too; those are not on the review list, so a
        decision naming one is refused either way (``unknown_shift`` here, ``not_in_review`` there).
        """
        key = (kiosk_id, seq)
        shift = self._in_review.get(key)
        if shift is None:
            if self._open_by_tap is None:  # decisions come in runs; taps between them rebuild it
                self._open_by_tap = {_first_tap(held): held for held in self._open.values()}
            shift = self._open_by_tap.get(key)
        return None if shift is None else dataclasses.replace(shift)

    def next_shift_id(self) -> int:
        return self._next_id

    def _keep(self, shift: Shift) -> None:
        """Hold ``shift`` as a later rule may read it, and count it.

        Open shifts by card and site (a tap may close them), shifts in review by first tap (a
        ``review`` decision names them so), paid ones only as tokens per local day (the daily cap),
        and each card's newest shift from taps at each site (an undo may take its check-out back).
        """
        if shift.source == "taps":
            key = (shift.site_id, shift.card_id)
            newest = self._latest.get(key)
            if newest is None or newest.shift_id <= shift.shift_id:
                self._latest[key] = shift
        status = shift.status
        if status is ShiftStatus.OPEN:
            self._open[(shift.site_id, shift.card_id)] = shift
            self._open_by_tap = None
        elif status is ShiftStatus.REVIEW:
            self._in_review[_first_tap(shift)] = shift
            self.review += 1
        elif status is ShiftStatus.PAID:
            self.paid += 1
            if shift.end_ms is not None:
                hours = self._paid_spans.setdefault(shift.card_id, {})
                span = PaidSpan(shift.start_ms, shift.end_ms, shift.minutes)
                hours.setdefault(shift.start_ms // _MS_PER_HOUR, []).append(span)
            if shift.tokens:
                day = (shift.site_id, shift.volunteer_id, local_day_number(shift.start_ms))
                self._paid_days[day] = self._paid_days.get(day, 0) + shift.tokens
        else:
            self.rejected += 1

    def _release(self, shift: Shift) -> None:
        """Let go of the stored version of ``shift`` (matched by ID), which is about to change."""
        key = (shift.site_id, shift.card_id)
        held = self._open.get(key)
        if held is not None and held.shift_id == shift.shift_id:
            del self._open[key]
            self._open_by_tap = None
            return
        tap = _first_tap(shift)
        held = self._in_review.get(tap)
        if held is not None and held.shift_id == shift.shift_id:
            del self._in_review[tap]
            self.review -= 1
            return
        held = self._latest.get(key)
        if held is not None and held.shift_id == shift.shift_id and held.status is ShiftStatus.PAID:
            self._unpay(held)  # a paid shift changes only when an undo takes its check-out back

    def _unpay(self, shift: Shift) -> None:
        """Stop counting paid ``shift`` in the daily cap's and the kiosk limits' sums."""
        self.paid -= 1
        if shift.end_ms is not None:
            hours = self._paid_spans.get(shift.card_id, {})
            spans = hours.get(shift.start_ms // _MS_PER_HOUR, [])
            span = PaidSpan(shift.start_ms, shift.end_ms, shift.minutes)
            if span in spans:
                spans.remove(span)
        if shift.tokens:
            day = (shift.site_id, shift.volunteer_id, local_day_number(shift.start_ms))
            self._paid_days[day] -= shift.tokens

    def insert_shifts(self, shifts: Iterable[Shift]) -> None:
        for shift in shifts:
            self._next_id = max(self._next_id, shift.shift_id + 1)
            self.shifts += 1
            self._keep(shift)

    def close_shifts(self, shifts: Iterable[Shift]) -> None:
        for shift in shifts:
            self._release(shift)
            self._keep(shift)

    def latest_shift(self, site_id: str, card_id: str) -> Shift | None:
        """A copy of the card's newest shift from taps at the site, as storage answers it."""
        held = self._latest.get((site_id, card_id))
        return None if held is None else dataclasses.replace(held)

    def tokens_paid_on_day(self, site_id: str, volunteer_id: str, day_start_ms: int, day_end_ms: int) -> int:
        """The daily cap's "paid so far"; ``[day_start_ms, day_end_ms)`` is one local day, as in storage."""
        return self._paid_days.get((site_id, volunteer_id, local_day_number(day_start_ms)), 0)

    def paid_spans(self, card_ids: Iterable[str], from_ms: int, to_ms: int) -> dict[str, list[PaidSpan]]:
        """``card_id -> its paid shifts`` that start in ``[from_ms, to_ms)``, as storage answers it.

        Looked up by the hour of each start, so a window of a few weeks costs a few hundred lookups
        whatever the card's history; an absurd window (a clock of 1970) walks the card's hours instead.
        """
        found: dict[str, list[PaidSpan]] = {}
        first, last = from_ms // _MS_PER_HOUR, (to_ms - 1) // _MS_PER_HOUR
        for card_id in card_ids:
            hours = self._paid_spans.get(card_id)
            if not hours:
                continue
            keys: Iterable[int] = (
                range(first, last + 1)
                if last - first <= len(hours)
                else [h for h in hours if first <= h <= last]
            )
            spans = [
                span for hour in keys for span in hours.get(hour, ()) if from_ms <= span.start_ms < to_ms
            ]
            if spans:
                found[card_id] = spans
        return found

    # -- balances ----------------------------------------------------------------------------------
    def insert_ledger_entries(self, entries: Iterable[LedgerEntry]) -> None:
        balances = self.balances
        for volunteer_id, delta, kind, _ref, _created, log_index in entries:
            balances[volunteer_id] = balances.get(volunteer_id, 0) + delta
            issued = kind == LEDGER_KIND_SHIFT or kind == LEDGER_KIND_UNDO  # an undo takes issued tokens back
            if issued:
                self.issued += delta
            else:
                self.redeemed -= delta
            if log_index is not None:
                moved = self.moves.setdefault(log_index, [0, 0])
                moved[0 if issued else 1] += delta if issued else -delta

    def balance(self, volunteer_id: str) -> int:
        return self.balances.get(volunteer_id, 0)

    # -- redemptions -------------------------------------------------------------------------------
    @property
    def redemptions(self) -> int:
        """How many redemption IDs the book holds (declined, debited or voided)."""
        return len(self._redemptions)

    def get_redemption(self, redemption_id: str) -> Redemption | None:
        return self._redemptions.get(redemption_id)

    def insert_redemption(self, redemption: Redemption) -> int:
        row_id = len(self._redemptions) + 1
        self._redemptions[redemption.redemption_id] = dataclasses.replace(redemption, row_id=row_id)
        self._count(redemption, 1)
        return row_id

    def update_redemption(self, redemption: Redemption) -> None:
        held = self._redemptions.get(redemption.redemption_id)
        if held is not None:  # storage updates by ID and keeps the row: nothing to update otherwise
            self._count(held, -1)
            self._redemptions[redemption.redemption_id] = dataclasses.replace(redemption, row_id=held.row_id)
            self._count(redemption, 1)

    def _count(self, r: Redemption, sign: int) -> None:
        """Add (``sign`` 1) or take away (-1) ``r``'s part in the sums, as storage's queries count it."""
        if r.staff_id is not None and r.held is None and r.status in _ON_ARRIVAL:
            day = (r.staff_id, local_day_number(r.received_ms))
            self._staff_days[day] = self._staff_days.get(day, 0) + sign * r.amount
        if r.online:
            return
        if r.status in (RedemptionStatus.DEBITED, RedemptionStatus.HELD):
            key = (r.kiosk_id, r.card_id)
            at, total = self._pending.get(key, (r.received_ms, 0))
            if at == r.received_ms:
                self._pending[key] = (at, total + sign * r.amount)
            elif at < r.received_ms and sign > 0:
                self._pending[key] = (r.received_ms, r.amount)
        if r.held is None and r.status in (RedemptionStatus.DEBITED, RedemptionStatus.VOIDED):
            day = (r.kiosk_id, local_day_number(r.received_ms))
            self._offline_days[day] = self._offline_days.get(day, 0) + sign * r.amount

    def offline_pending(self, kiosk_id: str, card_id: str, received_ms: int) -> int:
        at, total = self._pending.get((kiosk_id, card_id), (received_ms, 0))
        return total if at == received_ms else 0

    def offline_paid(self, kiosk_id: str, day_start_ms: int, day_end_ms: int) -> int:
        """``[day_start_ms, day_end_ms)`` is one local day, as in storage."""
        return self._offline_days.get((kiosk_id, local_day_number(day_start_ms)), 0)

    def till_staff(self, site_id: str) -> Mapping[str, TillStaff] | None:
        return self.staff.get(site_id)

    def staff_paid(self, staff_id: str, day_start_ms: int, day_end_ms: int) -> int:
        """``[day_start_ms, day_end_ms)`` is one local day, as in storage."""
        return self._staff_days.get((staff_id, local_day_number(day_start_ms)), 0)

    def acknowledge_overdraft(self, redemption_id: str, decision_hash: str) -> None:
        held = self._redemptions.get(redemption_id)
        if held is not None:
            self._redemptions[redemption_id] = dataclasses.replace(held, acknowledged=decision_hash)

    # -- prior engagement --------------------------------------------------------------------------
    def insert_prior_hours(self, prior: PriorHours) -> None:
        self.prior_hours.append(prior)
