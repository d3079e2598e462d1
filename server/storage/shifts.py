"""Shifts, the ledger entries they and other facts cause, and the balances those entries sum to.

Statements read here too: a statement is ledger entries joined to what caused them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from protocol.economy.models import PaidSpan
from server.models import LedgerEntry, Shift, ShiftStatus
from server.storage.base import Queries, chunks
from server.storage.rows import (
    SHIFT_COLUMNS,
    SHIFT_COLUMNS_S,
    SHIFT_NAMES,
    decode_flags,
    shift_from_row,
    shift_to_row,
    tap_clock,
)

_MS_PER_HOUR: Final = 3_600_000


class ShiftsRead(Queries):
    """The shifts, ledger entries and balances a transaction can read."""

    def shift_by_tap(self, kiosk_id: str, seq: int) -> Shift | None:
        """The shift whose first tap is ``(kiosk_id, seq)``: its check-in, or an orphan check-out."""
        # A check-out undone at the kiosk leaves its shift set aside (reason ``undone``) beside the copy
        # that opened again with the same check-in: the live one is meant.
        row = self._conn.execute(
            f"SELECT {SHIFT_COLUMNS} FROM shifts "
            "WHERE in_kiosk = ? AND in_seq = ? AND (reason IS NULL OR reason <> 'undone')",
            (kiosk_id, seq),
        ).fetchone()
        if row is None:
            row = self._conn.execute(
                f"SELECT {SHIFT_COLUMNS} FROM shifts "
                "WHERE in_kiosk IS NULL AND out_kiosk = ? AND out_seq = ?",
                (kiosk_id, seq),
            ).fetchone()
        return None if row is None else shift_from_row(row)

    def tokens_paid_on_day(self, site_id: str, volunteer_id: str, day_start_ms: int, day_end_ms: int) -> int:
        """Tokens paid to ``volunteer_id`` at ``site_id`` for shifts started in the given day.

        The daily cap's "paid so far": ``[day_start_ms, day_end_ms)`` is one local day
        (:func:`server.rules.local_day`), and a shift counts by its ``start_ms``.
        """
        row = self._conn.execute(
            "SELECT COALESCE(SUM(tokens), 0) FROM shifts WHERE volunteer_id = ? AND site_id = ? "
            "AND status = 'paid' AND start_ms >= ? AND start_ms < ?",
            (volunteer_id, site_id, day_start_ms, day_end_ms),
        ).fetchone()
        return int(row[0])

    def open_shifts(self, site_id: str, card_ids: Iterable[str]) -> dict[str, Shift]:
        """``card_id -> open shift`` at ``site_id`` for those of ``card_ids`` that have one."""
        wanted = sorted(set(card_ids))
        found: dict[str, Shift] = {}
        for chunk in chunks(wanted):
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT {SHIFT_COLUMNS_S}, e.body, o.sealed, e.flags, e.corrected_ms, k.enrolled_ms "
                "FROM shifts s LEFT JOIN events e ON e.kiosk_id = s.in_kiosk AND e.seq = s.in_seq "
                "LEFT JOIN openings o ON o.kiosk_id = s.in_kiosk AND o.seq = s.in_seq "
                "LEFT JOIN kiosks k ON k.kiosk_id = s.in_kiosk "
                f"WHERE s.status = 'open' AND s.site_id = ? AND s.card_id IN ({marks})",
                (site_id, *chunk),
            )
            for row in rows:
                shift = shift_from_row(row[: len(SHIFT_NAMES)])
                body, sealed, flags, corrected_ms, enrolled_ms = row[len(SHIFT_NAMES) :]
                if body is not None:
                    shift.in_clock = tap_clock(
                        bytes(body), sealed, decode_flags(flags), corrected_ms, enrolled_ms
                    )
                found[shift.card_id] = shift
        return found

    def latest_shift(self, site_id: str, card_id: str) -> Shift | None:
        """The card's newest shift at ``site_id`` made from taps, with its ``in_clock`` (an undo reads it)."""
        row = self._conn.execute(
            f"SELECT {SHIFT_COLUMNS_S}, e.body, o.sealed, e.flags, e.corrected_ms, k.enrolled_ms "
            "FROM shifts s LEFT JOIN events e ON e.kiosk_id = s.in_kiosk AND e.seq = s.in_seq "
            "LEFT JOIN openings o ON o.kiosk_id = s.in_kiosk AND o.seq = s.in_seq "
            "LEFT JOIN kiosks k ON k.kiosk_id = s.in_kiosk "
            "WHERE s.card_id = ? AND s.site_id = ? AND s.source = 'taps' ORDER BY s.shift_id DESC LIMIT 1",
            (card_id, site_id),
        ).fetchone()
        if row is None:
            return None
        shift = shift_from_row(row[: len(SHIFT_NAMES)])
        body, sealed, flags, corrected_ms, enrolled_ms = row[len(SHIFT_NAMES) :]
        if body is not None:
            shift.in_clock = tap_clock(bytes(body), sealed, decode_flags(flags), corrected_ms, enrolled_ms)
        return shift

    def paid_spans(self, card_ids: Iterable[str], from_ms: int, to_ms: int) -> dict[str, list[PaidSpan]]:
        """``card_id -> its paid shifts`` (at any site) that start in ``[from_ms, to_ms)``.

        What the check-in kiosk limits count a new shift against (:mod:`protocol.economy.kiosklimits`).
        """
        found: dict[str, list[PaidSpan]] = {}
        for chunk in chunks(sorted(set(card_ids))):
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                "SELECT card_id, start_ms, end_ms, minutes FROM shifts WHERE status = 'paid' "
                f"AND card_id IN ({marks}) AND start_ms >= ? AND start_ms < ?",
                (*chunk, from_ms, to_ms),
            )
            for card_id, start_ms, end_ms, minutes in rows:
                found.setdefault(card_id, []).append(PaidSpan(start_ms, end_ms, minutes))
        return found

    def next_shift_id(self) -> int:
        """The ID for the next new shift.  Safe to extend in a write transaction: there is one writer."""
        return int(self._conn.execute("SELECT COALESCE(MAX(shift_id), 0) + 1 FROM shifts").fetchone()[0])

    def shifts_for_card(self, card_id: str) -> list[Shift]:
        rows = self._conn.execute(
            f"SELECT {SHIFT_COLUMNS} FROM shifts WHERE card_id = ? ORDER BY shift_id", (card_id,)
        )
        return [shift_from_row(row) for row in rows]

    def shifts_by_volunteer(self) -> dict[str, list[Shift]]:
        result: dict[str, list[Shift]] = {}
        for row in self._conn.execute(f"SELECT {SHIFT_COLUMNS} FROM shifts ORDER BY shift_id"):
            shift = shift_from_row(row)
            result.setdefault(shift.volunteer_id, []).append(shift)
        return result

    def review_shifts(self, now_ms: int) -> list[Shift]:
        """Shifts in review, and open shifts that are flagged or older than their site's maximum.

        An overdue open shift is reported with reason ``missing_check_out``; it stays open in
        storage, so a late check-out can still close it (and send it to review as too long).
        """
        rows = self._conn.execute(
            f"SELECT {SHIFT_COLUMNS_S} "
            "FROM shifts s JOIN sites t ON t.site_id = s.site_id "
            "WHERE s.status = 'review' OR (s.status = 'open' AND "
            "(s.reason IS NOT NULL OR s.start_ms < ? - t.max_shift_hours * ?)) ORDER BY s.shift_id",
            (now_ms, _MS_PER_HOUR),
        )
        shifts = [shift_from_row(row) for row in rows]
        for shift in shifts:
            if shift.status is ShiftStatus.OPEN and shift.reason is None:
                shift.reason = "missing_check_out"
        return shifts

    def balances(self) -> dict[str, int]:
        """Every stored balance, by volunteer (volunteers without entries have no row)."""
        rows = self._conn.execute("SELECT volunteer_id, balance FROM balances")
        return {row[0]: int(row[1]) for row in rows}

    def summed_balances(self) -> dict[str, int]:
        """Balances recomputed as the sum of each volunteer's ledger entries (to check :meth:`balances`)."""
        rows = self._conn.execute("SELECT volunteer_id, SUM(delta) FROM ledger_entries GROUP BY volunteer_id")
        return {row[0]: int(row[1]) for row in rows}

    def card_balances(self, card_ids: Iterable[str]) -> dict[str, int]:
        """``card_id -> its volunteer's balance`` for those of ``card_ids`` that are registered."""
        wanted = sorted(set(card_ids))
        found: dict[str, int] = {}
        for chunk in chunks(wanted):
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                "SELECT c.card_id, COALESCE(b.balance, 0) FROM cards c "
                "LEFT JOIN balances b ON b.volunteer_id = c.volunteer_id "
                f"WHERE c.card_id IN ({marks})",
                tuple(chunk),
            )
            found.update((row[0], int(row[1])) for row in rows)
        return found

    def balance(self, volunteer_id: str) -> int:
        row = self._conn.execute(
            "SELECT balance FROM balances WHERE volunteer_id = ?", (volunteer_id,)
        ).fetchone()
        return 0 if row is None else int(row[0])

    def all_balances(self) -> dict[str, int]:
        """Every volunteer's balance, 0 for those without ledger entries."""
        rows = self._conn.execute(
            "SELECT v.volunteer_id, COALESCE(b.balance, 0) FROM volunteers v "
            "LEFT JOIN balances b ON b.volunteer_id = v.volunteer_id ORDER BY v.volunteer_id"
        )
        return {row[0]: int(row[1]) for row in rows}

    def balance_before(self, volunteer_id: str, before_ms: int) -> int:
        """The sum of ``volunteer_id``'s ledger entries created before ``before_ms``."""
        row = self._conn.execute(
            "SELECT COALESCE(SUM(delta), 0) FROM ledger_entries WHERE volunteer_id = ? AND created_ms < ?",
            (volunteer_id, before_ms),
        ).fetchone()
        return int(row[0])

    def ledger_lines(
        self, volunteer_id: str, from_ms: int, to_ms: int | None
    ) -> list[tuple[LedgerEntry, str | None, str | None]]:
        """``(entry, site_id, card_id)`` of ``volunteer_id``'s entries created in ``[from_ms, to_ms)``.

        In ``(created_ms, entry_id)`` order; the site and card are the shift's or the
        redemption's the entry is for (``None`` for any other kind).
        """
        rows = self._conn.execute(
            "SELECT e.volunteer_id, e.delta, e.kind, e.ref, e.created_ms, e.log_index, "
            "COALESCE(s.site_id, r.site_id), COALESCE(s.card_id, r.card_id) FROM ledger_entries e "
            "LEFT JOIN shifts s ON e.kind IN ('shift', 'undo') AND s.shift_id = e.ref "
            "LEFT JOIN redemptions r ON e.kind IN ('redeem', 'void') AND r.rowid = e.ref "
            "WHERE e.volunteer_id = ? AND e.created_ms >= ? "
            "AND (CAST(? AS INTEGER) IS NULL OR e.created_ms < ?) "
            "ORDER BY e.created_ms, e.entry_id",
            (volunteer_id, from_ms, to_ms, to_ms),
        )
        return [(LedgerEntry(*row[:6]), row[6], row[7]) for row in rows]

    def ledger_sums(self) -> tuple[int, int]:
        """``(issued, redeemed)``: tokens paid for shifts, and tokens redeemed net of voids (the totals).

        ``issued - redeemed`` is the sum of all balances: what is in circulation.
        """
        return self.ledger_sums_after(0)[1:]

    def ledger_sums_after(self, entry_id: int) -> tuple[int, int, int]:
        """``(last, issued, redeemed)``: :meth:`ledger_sums` of the entries numbered above ``entry_id`` only.

        ``last`` is the highest entry number in the ledger (0 when it is empty).  Entries
        are numbered ``max + 1`` by serialised writers and never change or go, so the sums
        up to ``last`` plus those after it are the sums of the whole ledger: a reader
        that remembers them reads only what was booked since (:func:`server.tlog.published_sums`).
        One primary-key range, and the maximum from the key's index.
        """
        row = self._conn.execute(
            "SELECT (SELECT COALESCE(MAX(entry_id), 0) FROM ledger_entries), "
            "COALESCE(SUM(CASE WHEN kind IN ('shift', 'undo') THEN delta END), 0), "
            "COALESCE(-SUM(CASE WHEN kind NOT IN ('shift', 'undo') THEN delta END), 0) "
            "FROM ledger_entries WHERE entry_id > ?",
            (entry_id,),
        ).fetchone()
        return int(row[0]), int(row[1]), int(row[2])

    def paid_shift_hours(self) -> list[tuple[str, str, int, int, int]]:
        """``(site_id, volunteer_id, hour, shifts, minutes)`` of paid shifts, by the UTC hour they start in.

        Hours, not rows: local months (Europe/Berlin is a whole number of hours
        off UTC) are unions of them, and a log of a million shifts needs far fewer.
        """
        rows = self._conn.execute(
            "SELECT site_id, volunteer_id, start_ms / ? AS hour, COUNT(*), SUM(minutes) FROM shifts "
            "WHERE status = 'paid' GROUP BY site_id, volunteer_id, hour",
            (_MS_PER_HOUR,),
        )
        return [(row[0], row[1], int(row[2]), int(row[3]), int(row[4])) for row in rows]


class ShiftsWrite(ShiftsRead):
    """A :class:`ShiftsRead` that also stores shifts and appends ledger entries."""

    def insert_shifts(self, shifts: Iterable[Shift]) -> None:
        """Store new shifts with the IDs they carry (see :meth:`next_shift_id`)."""
        marks = ", ".join("?" * len(SHIFT_NAMES))
        self._conn.executemany(
            f"INSERT INTO shifts ({SHIFT_COLUMNS}) VALUES ({marks})",
            (shift_to_row(shift) for shift in shifts),
        )

    def close_shifts(self, shifts: Iterable[Shift]) -> None:
        """Write the fields of existing shifts that pairing or a review decision may change."""
        self._conn.executemany(
            "UPDATE shifts SET start_ms = ?, out_kiosk = ?, out_seq = ?, end_ms = ?, minutes = ?, "
            "tokens = ?, status = ?, reason = ?, decision = ?, uncapped_tokens = ? WHERE shift_id = ?",
            (
                (
                    *(s.start_ms, s.out_kiosk, s.out_seq, s.end_ms, s.minutes, s.tokens, s.status.value),
                    *(s.reason, s.decision, s.uncapped_tokens, s.shift_id),
                )
                for s in shifts
            ),
        )

    def insert_ledger_entries(self, entries: Iterable[LedgerEntry]) -> None:
        """Append ledger entries and move each volunteer's stored balance by their deltas.

        Both in this transaction, so the ``balances`` row always equals the sum of the
        volunteer's entries (:meth:`summed_balances` recomputes it for checks).
        """
        entries = list(entries)
        self._conn.executemany(
            "INSERT INTO ledger_entries (volunteer_id, delta, kind, ref, created_ms, log_index) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            entries,
        )
        self._conn.executemany(
            "INSERT INTO balances (volunteer_id, balance) VALUES (?, ?) "
            "ON CONFLICT (volunteer_id) DO UPDATE SET balance = balances.balance + excluded.balance",
            ((entry.volunteer_id, entry.delta) for entry in entries),
        )
