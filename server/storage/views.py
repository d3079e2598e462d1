"""What the coordinators' console reads to summarise: taps by time, open shifts, daily moves, paid hours.

Read-only, and in aggregate where it can be: the overview and the reports
(:mod:`server.overview`, :mod:`server.reports`) filter by the caller's sites
themselves, so every method here returns the site of each row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final, NamedTuple

from server.storage.base import Queries, chunks

# Events are found by when they arrived (indexed, m022); one stamped this much before it arrived
# still counts.  A kiosk's clock can run ahead of the server's: such an event is flagged anyway.
_CLOCK_SLACK_MS: Final = 3_600_000


class TapRow(NamedTuple):
    """One stored event that names a card, with the site of its kiosk and its time as the ledger counts it."""

    kiosk_id: str
    site_id: str
    seq: int
    kind: str
    card_id: str
    time_ms: int


class MoveRow(NamedTuple):
    """A ledger entry's move: when, at which site or shop (``None``: none), its kind and delta."""

    created_ms: int
    site_id: str | None
    kind: str
    delta: int


class BookedRow(NamedTuple):
    """Ledger entries of one volunteer, kind and site booked in one UTC hour (the public totals' input).

    ``minutes`` is the paid shifts' length (0 for redemptions and voids).
    """

    kind: str
    site_id: str | None
    volunteer_id: str
    hour: int
    entries: int
    delta: int
    minutes: int


class PaidRow(NamedTuple):
    """Paid shifts at one site that start in one period: how many, by how many volunteers, minutes, tokens.

    ``period`` is the index ``i`` of the period ``[bounds[i], bounds[i + 1])`` asked for.
    """

    period: int
    site_id: str
    shifts: int
    volunteers: int
    minutes: int
    tokens: int


class ViewsRead(Queries):
    """The console's summary queries."""

    def taps_between(self, from_ms: int, to_ms: int) -> list[TapRow]:
        """Stored events with a card whose time lies in ``[from_ms, to_ms)``, in time order.

        The time is the one the ledger counts: the corrected one where the server
        corrected an unsynced clock, else the kiosk's wall clock.  Only events that
        arrived after ``from_ms`` (less an hour's slack) are read, by the index on arrival.
        """
        rows = self._conn.execute(
            "SELECT e.kiosk_id, k.site_id, e.seq, e.kind, e.card_id, "
            "COALESCE(e.corrected_ms, e.wall_ms) AS t "
            "FROM events e JOIN kiosks k ON k.kiosk_id = e.kiosk_id "
            "WHERE e.received_ms >= ? AND COALESCE(e.corrected_ms, e.wall_ms) >= ? "
            "AND COALESCE(e.corrected_ms, e.wall_ms) < ? AND e.card_id <> '' "
            "ORDER BY t, e.kiosk_id, e.seq",
            (from_ms - _CLOCK_SLACK_MS, from_ms, to_ms),
        )
        return [TapRow(*row) for row in rows]

    def open_shifts_by_site(self) -> dict[str, int]:
        """``site_id -> number of open shifts`` (checked in, not yet out)."""
        rows = self._conn.execute(
            "SELECT site_id, COUNT(*) FROM shifts WHERE status = 'open' GROUP BY site_id"
        )
        return {row[0]: int(row[1]) for row in rows}

    def moves_between(self, from_ms: int, to_ms: int) -> list[MoveRow]:
        """The ledger entries made in ``[from_ms, to_ms)``, with the site of their shift or redemption."""
        rows = self._conn.execute(
            "SELECT e.created_ms, COALESCE(s.site_id, r.site_id), e.kind, e.delta FROM ledger_entries e "
            "LEFT JOIN shifts s ON e.kind IN ('shift', 'undo') AND s.shift_id = e.ref "
            "LEFT JOIN redemptions r ON e.kind IN ('redeem', 'void') AND r.rowid = e.ref "
            "WHERE e.created_ms >= ? AND e.created_ms < ? ORDER BY e.created_ms, e.entry_id",
            (from_ms, to_ms),
        )
        return [MoveRow(*row) for row in rows]

    def booked_moves(self, before_ms: int) -> list[BookedRow]:
        """Ledger entries booked before ``before_ms`` (server time), summed by kind, site, volunteer, hour.

        Booking time, not the shift's own time: the ledger only appends, so what
        was booked before a moment never changes, however late a kiosk syncs.
        """
        rows = self._conn.execute(
            "SELECT e.kind, COALESCE(s.site_id, r.site_id), e.volunteer_id, e.created_ms / 3600000 AS hour, "
            "COUNT(*), SUM(e.delta), COALESCE(SUM(s.minutes), 0) FROM ledger_entries e "
            "LEFT JOIN shifts s ON e.kind IN ('shift', 'undo') AND s.shift_id = e.ref "
            "LEFT JOIN redemptions r ON e.kind IN ('redeem', 'void') AND r.rowid = e.ref "
            "WHERE e.created_ms < ? GROUP BY e.kind, 2, e.volunteer_id, hour",
            (before_ms,),
        )
        return [BookedRow(*row) for row in rows]

    def paid_hours_by_period(self, bounds: Sequence[int]) -> list[PaidRow]:
        """Paid shifts by the period of ``bounds`` they start in and by site, summed in the database.

        ``bounds`` are ascending instants (ms), ``[bounds[i], bounds[i + 1])`` period ``i``: a
        year's local months are 13 of them.  One row per period and site with any, read
        by the index on ``(status, start_ms)`` (m029): a few dozen rows, however many shifts.
        """
        cases = " ".join(f"WHEN start_ms < ? THEN {i}" for i in range(len(bounds) - 1))
        rows = self._conn.execute(
            f"SELECT CASE {cases} END, site_id, COUNT(*), COUNT(DISTINCT volunteer_id), "
            "COALESCE(SUM(minutes), 0), COALESCE(SUM(tokens), 0) FROM shifts "
            "WHERE status = 'paid' AND start_ms >= ? AND start_ms < ? GROUP BY 1, 2",
            (*bounds[1:], bounds[0], bounds[-1]),
        )
        return [PaidRow(*row) for row in rows]

    def equivocation_counts(self) -> dict[str, int]:
        """``kiosk_id -> equivocations on record`` for each kiosk that has any."""
        rows = self._conn.execute("SELECT kiosk_id, COUNT(*) FROM equivocations GROUP BY kiosk_id")
        return {row[0]: int(row[1]) for row in rows}

    def card_home_sites(self, card_ids: Iterable[str]) -> dict[str, str | None]:
        """``card_id -> home site of its volunteer`` for the registered ones among ``card_ids``."""
        found: dict[str, str | None] = {}
        for chunk in chunks(sorted(set(card_ids))):
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                "SELECT c.card_id, v.home_site_id FROM cards c "
                "JOIN volunteers v ON v.volunteer_id = c.volunteer_id "
                f"WHERE c.card_id IN ({marks})",
                tuple(chunk),
            )
            found.update({row[0]: row[1] for row in rows})
        return found
