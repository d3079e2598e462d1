"""The transparency log: its entries, the tree's stored hashes, signed checkpoints and kiosks' evidence."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from server.storage.base import Queries


class LogRead(Queries):
    """The log entries, hashes, checkpoints and evidence a transaction can read."""

    def tlog_size(self) -> int:
        """How many entries the log holds (indexes are dense from 0)."""
        return int(self._conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM tlog_entries").fetchone()[0])

    def tlog_hash(self, level: int, index: int) -> bytes | None:
        row = self._conn.execute(
            "SELECT hash FROM tlog_hashes WHERE level = ? AND idx = ?", (level, index)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def tlog_hash_range(self, level: int, start: int, end: int) -> list[bytes]:
        """The stored hashes of ``level`` with indexes in ``[start, end)``, in order."""
        rows = self._conn.execute(
            "SELECT hash FROM tlog_hashes WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx",
            (level, start, end),
        )
        return [bytes(row[0]) for row in rows]

    def tlog_entry(self, index: int) -> bytes | None:
        row = self._conn.execute("SELECT entry FROM tlog_entries WHERE idx = ?", (index,)).fetchone()
        return None if row is None else bytes(row[0])

    def tlog_entry_range(self, start: int, end: int) -> list[bytes]:
        """The entries with indexes in ``[start, end)``, in order."""
        rows = self._conn.execute(
            "SELECT entry FROM tlog_entries WHERE idx >= ? AND idx < ? ORDER BY idx", (start, end)
        )
        return [bytes(row[0]) for row in rows]

    def latest_checkpoint(self) -> tuple[int, bytes] | None:
        """``(size, note)`` of the largest checkpoint signed so far."""
        row = self._conn.execute(
            "SELECT size, note FROM tlog_checkpoints ORDER BY size DESC LIMIT 1"
        ).fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def checkpoint(self, size: int) -> bytes | None:
        row = self._conn.execute("SELECT note FROM tlog_checkpoints WHERE size = ?", (size,)).fetchone()
        return None if row is None else bytes(row[0])

    def has_checkpoint_between(self, low: int, high: int) -> bool:
        """Whether a checkpoint was signed for a size in ``low..high`` (inclusive)."""
        row = self._conn.execute(
            "SELECT 1 FROM tlog_checkpoints WHERE size BETWEEN ? AND ? LIMIT 1", (low, high)
        ).fetchone()
        return row is not None

    def list_log_evidence(self, kiosk_id: str) -> list[tuple[str, bytes, int]]:
        """``(kind, body, received_ms)`` of every report from ``kiosk_id``, oldest first."""
        rows = self._conn.execute(
            "SELECT kind, body, received_ms FROM log_evidence WHERE kiosk_id = ? ORDER BY evidence_id",
            (kiosk_id,),
        )
        return [(row[0], bytes(row[1]), row[2]) for row in rows]

    def log_evidence_held(self, kiosk_id: str) -> tuple[int, int]:
        """``(count, highest number)`` of the reports held from ``kiosk_id`` (``0`` for none or unsigned)."""
        row = self._conn.execute(
            "SELECT COUNT(*), COALESCE(MAX(number), 0) FROM log_evidence WHERE kiosk_id = ?", (kiosk_id,)
        ).fetchone()
        return int(row[0]), int(row[1])


class LogWrite(LogRead):
    """A :class:`LogRead` that also appends to the log and keeps checkpoints and evidence."""

    def append_tlog(
        self, first_index: int, entries: Sequence[bytes], hashes: Iterable[tuple[int, int, bytes]]
    ) -> None:
        """Store ``entries`` from ``first_index`` on, and the ``(level, index, hash)`` rows they complete."""
        self._conn.executemany(
            "INSERT INTO tlog_entries (idx, entry) VALUES (?, ?)",
            zip(range(first_index, first_index + len(entries)), entries, strict=True),
        )
        self._conn.executemany("INSERT INTO tlog_hashes (level, idx, hash) VALUES (?, ?, ?)", hashes)

    def insert_checkpoint(self, size: int, note: bytes, created_ms: int) -> None:
        """Keep a signed checkpoint; the first one signed for a size stays."""
        self._conn.execute(
            "INSERT OR IGNORE INTO tlog_checkpoints (size, note, created_ms) VALUES (?, ?, ?)",
            (size, note, created_ms),
        )

    def insert_log_evidence(
        self, kiosk_id: str, number: int, kind: str, body: bytes, sig: bytes, received_ms: int
    ) -> None:
        """Keep a kiosk's signed report ``number``: the exact bytes it signed and its signature."""
        self._conn.execute(
            "INSERT INTO log_evidence (kiosk_id, number, kind, body, sig, received_ms) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (kiosk_id, number, kind, body, sig, received_ms),
        )
