"""What opens the log's commitments (``openings``), and the format the log is written in."""

from __future__ import annotations

from collections.abc import Iterable

from server.models import LogOpening
from server.schema import LOG_FORMAT_SETTING
from server.storage.base import Queries

_COLUMNS = "log_index, kind, card_id, salt, volunteer_id, kiosk_id, seq"


class OpeningsRead(Queries):
    """The openings and the log format a transaction can read."""

    def log_format(self) -> int:
        """The entry version the log is written in: ``2`` names no card, ``1`` is a log from before."""
        row = self._conn.execute("SELECT value FROM settings WHERE key = ?", (LOG_FORMAT_SETTING,)).fetchone()
        return 1 if row is None else int(row[0])

    def openings_after(self, after: int, limit: int) -> list[LogOpening]:
        """Up to ``limit`` openings of entries with an index above ``after``, by index."""
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM openings WHERE log_index > ? ORDER BY log_index LIMIT ?", (after, limit)
        )
        return [LogOpening(*row) for row in rows]

    def ledger_moves(self, first_index: int) -> dict[int, tuple[int, int]]:
        """``log_index -> (issued, redeemed)``: how the ledger entries of each log entry from ``first_index``
        moved the economy's totals (shift pay is issued; a redemption's debit is redeemed, a void's
        credit takes it back).  Entries that moved nothing are absent."""
        rows = self._conn.execute(
            "SELECT log_index, SUM(CASE WHEN kind = 'shift' THEN delta ELSE 0 END), "
            "SUM(CASE WHEN kind = 'shift' THEN 0 ELSE -delta END) "
            "FROM ledger_entries WHERE log_index >= ? GROUP BY log_index",
            (first_index,),
        )
        return {int(row[0]): (int(row[1]), int(row[2])) for row in rows}


class OpeningsWrite(OpeningsRead):
    """An :class:`OpeningsRead` that also stores openings and sets the log format."""

    def insert_openings(self, openings: Iterable[LogOpening]) -> None:
        self._conn.executemany(
            f"INSERT INTO openings ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            ((o.log_index, o.kind, o.card_id, o.salt, o.volunteer_id, o.kiosk_id, o.seq) for o in openings),
        )

    def set_log_format(self, version: int) -> None:
        """Write entries of ``version`` from now on (a new origin's hand-over sets ``2``)."""
        self._conn.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (LOG_FORMAT_SETTING, str(version)),
        )
