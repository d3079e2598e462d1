"""What opens the log's commitments (``openings``), and the format the log is written in."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, Final

from server.models import LogOpening
from server.schema import LOG_FORMAT_SETTING
from server.storage.base import Queries
from server.storage.rows import encode_flags

_NAMES: Final = (
    *("log_index", "kind", "card_id", "salt", "volunteer_id", "kiosk_id", "seq"),
    *("sealed", "received_ms", "flags", "issued", "redeemed"),
)
OPENING_COLUMNS: Final = _NAMES  # the order of a row for insert_opening_rows
_COLUMNS: Final = ", ".join(_NAMES)
# An ``event_sealed`` opening's v1 body and signature are the stored event's: joined, not copied.
_SELECT: Final = (
    "SELECT " + ", ".join(f"o.{name}" for name in _NAMES) + ", e.body, e.sig FROM openings o "
    "LEFT JOIN events e ON o.kind = 'event_sealed' AND e.kiosk_id = o.kiosk_id AND e.seq = o.seq "
)


def _opening(row: Sequence[Any]) -> LogOpening:
    values = dict(zip(_NAMES, row[: len(_NAMES)], strict=True))
    sealed, flags = values.pop("sealed"), values.pop("flags")
    body, sig = row[len(_NAMES) :]
    return LogOpening(
        **values,
        sealed=None if sealed is None else json.loads(sealed),
        flags=None if flags is None else tuple(json.loads(flags)),
        body=None if body is None else bytes(body),
        sig=None if sig is None else bytes(sig),
    )


def sealed_json(sealed: dict[str, Any]) -> str:
    """How an opening's ``sealed`` fields are stored: their canonical JSON."""
    return json.dumps(sealed, sort_keys=True, separators=(",", ":"))


def _row(o: LogOpening) -> tuple[Any, ...]:
    sealed = None if o.sealed is None else sealed_json(o.sealed)
    flags = None if o.flags is None else encode_flags(o.flags)
    return (
        *(o.log_index, o.kind, o.card_id, o.salt, o.volunteer_id, o.kiosk_id, o.seq),
        *(sealed, o.received_ms, flags, o.issued, o.redeemed),
    )


class OpeningsRead(Queries):
    """The openings and the log format a transaction can read."""

    def log_format(self) -> int:
        """The entry version the log is written in: ``2`` names no card, ``1`` is a log from before."""
        row = self._conn.execute("SELECT value FROM settings WHERE key = ?", (LOG_FORMAT_SETTING,)).fetchone()
        return 1 if row is None else int(row[0])

    def openings_after(self, after: int, limit: int) -> list[LogOpening]:
        """Up to ``limit`` openings of entries with an index above ``after``, by index."""
        rows = self._conn.execute(
            _SELECT + "WHERE o.log_index > ? ORDER BY o.log_index LIMIT ?", (after, limit)
        )
        return [_opening(row) for row in rows]

    def openings_of_volunteer(self, volunteer_id: str) -> list[LogOpening]:
        """The openings of the entries about ``volunteer_id``'s cards (and their registrations), by index."""
        rows = self._conn.execute(
            _SELECT + "WHERE o.card_id IN (SELECT card_id FROM cards WHERE volunteer_id = ?) "
            "ORDER BY o.log_index",
            (volunteer_id,),
        )
        return [_opening(row) for row in rows]

    def range_movers(self, first: int, last: int) -> int:
        """How many volunteers' balances the ledger entries of log entries ``first..last`` moved."""
        row = self._conn.execute(
            "SELECT COUNT(DISTINCT volunteer_id) FROM ledger_entries "
            "WHERE log_index >= ? AND log_index <= ? AND delta != 0",
            (first, last),
        ).fetchone()
        return int(row[0])

    def range_moves(self, first: int, last: int) -> tuple[int, int]:
        """``(issued, redeemed)``: how the ledger entries of log entries ``first..last`` moved the totals."""
        row = self._conn.execute(
            "SELECT COALESCE(SUM(CASE WHEN kind IN ('shift', 'undo') THEN delta ELSE 0 END), 0), "
            "COALESCE(SUM(CASE WHEN kind IN ('shift', 'undo') THEN 0 ELSE -delta END), 0) "
            "FROM ledger_entries WHERE log_index >= ? AND log_index <= ?",
            (first, last),
        ).fetchone()
        return int(row[0]), int(row[1])

    def ledger_moves(self, first_index: int) -> dict[int, tuple[int, int]]:
        """``log_index -> (issued, redeemed)``: how the ledger entries of each log entry from ``first_index``
        moved the economy's totals (shift pay is issued; a redemption's debit is redeemed, a void's
        credit takes it back).  Entries that moved nothing are absent."""
        rows = self._conn.execute(
            "SELECT log_index, SUM(CASE WHEN kind IN ('shift', 'undo') THEN delta ELSE 0 END), "
            "SUM(CASE WHEN kind IN ('shift', 'undo') THEN 0 ELSE -delta END) "
            "FROM ledger_entries WHERE log_index >= ? GROUP BY log_index",
            (first_index,),
        )
        return {int(row[0]): (int(row[1]), int(row[2])) for row in rows}


class OpeningsWrite(OpeningsRead):
    """An :class:`OpeningsRead` that also stores openings and sets the log format."""

    def insert_openings(self, openings: Iterable[LogOpening]) -> None:
        self._conn.executemany(
            f"INSERT INTO openings ({_COLUMNS}) VALUES ({', '.join('?' * len(_NAMES))})",
            (_row(o) for o in openings),
        )

    def insert_opening_rows(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """:meth:`insert_openings` of rows made ready already: ingest's hot path.

        Each row is the values of :data:`OPENING_COLUMNS` in order, ``sealed`` and
        ``flags`` encoded as :func:`sealed_json` and :func:`~server.storage.encode_flags` do.
        """
        self._conn.executemany(
            f"INSERT INTO openings ({_COLUMNS}) VALUES ({', '.join('?' * len(_NAMES))})", rows
        )

    def set_log_format(self, version: int) -> None:
        """Write entries of ``version`` from now on (a new origin's hand-over sets ``2``)."""
        self._conn.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (LOG_FORMAT_SETTING, str(version)),
        )
