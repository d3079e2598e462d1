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

    def checkpoint_created_ms(self, size: int) -> int | None:
        """When the checkpoint of ``size`` entries was signed (server time), or ``None``."""
        row = self._conn.execute("SELECT created_ms FROM tlog_checkpoints WHERE size = ?", (size,)).fetchone()
        return None if row is None else int(row[0])

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

    # -- an archived origin and its hand-over (server.handover) --------------------------------------
    def handover(self) -> tuple[str, int, bytes, str, int, int, bytes, bytes] | None:
        """The newest hand-over (or ``None``).

        ``(old_origin, old_size, old_root, new_origin, new_size, at_ms, body, sig)``.
        """
        row = self._conn.execute(
            "SELECT old_origin, old_size, old_root, new_origin, new_size, at_ms, body, sig "
            "FROM log_handovers ORDER BY at_ms DESC, rowid DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return (
            str(row[0]),
            int(row[1]),
            bytes(row[2]),
            str(row[3]),
            int(row[4]),
            int(row[5]),
            bytes(row[6]),
            bytes(row[7]),
        )

    def archived_size(self, origin: str) -> int | None:
        """The final size of the archived log ``origin``; ``None`` if no log of that origin was archived."""
        row = self._conn.execute(
            "SELECT old_size FROM log_handovers WHERE old_origin = ?", (origin,)
        ).fetchone()
        return None if row is None else int(row[0])

    def archived_hash(self, origin: str, level: int, index: int) -> bytes | None:
        row = self._conn.execute(
            "SELECT hash FROM tlog_archive_hashes WHERE origin = ? AND level = ? AND idx = ?",
            (origin, level, index),
        ).fetchone()
        return None if row is None else bytes(row[0])

    def archived_hash_range(self, origin: str, level: int, start: int, end: int) -> list[bytes]:
        rows = self._conn.execute(
            "SELECT hash FROM tlog_archive_hashes WHERE origin = ? AND level = ? AND idx >= ? AND idx < ? "
            "ORDER BY idx",
            (origin, level, start, end),
        )
        return [bytes(row[0]) for row in rows]

    def archived_entry_range(self, origin: str, start: int, end: int) -> list[bytes]:
        rows = self._conn.execute(
            "SELECT entry FROM tlog_archive_entries WHERE origin = ? AND idx >= ? AND idx < ? ORDER BY idx",
            (origin, start, end),
        )
        return [bytes(row[0]) for row in rows]

    def archived_checkpoint(self, origin: str, size: int) -> bytes | None:
        row = self._conn.execute(
            "SELECT note FROM tlog_archive_checkpoints WHERE origin = ? AND size = ?", (origin, size)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def archived_checkpoint_between(self, origin: str, low: int, high: int) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM tlog_archive_checkpoints WHERE origin = ? AND size BETWEEN ? AND ? LIMIT 1",
            (origin, low, high),
        ).fetchone()
        return row is not None


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

    def archive_log(self, origin: str) -> int:
        """Move the log's entries, hashes and checkpoints under ``origin`` into the archive; its old size.

        Every ``log_index`` stored beside the ledger pointed into that log: each is
        shifted by minus its size, so it stays unique and in order, and a negative
        index reads "entry ``log_index + old size`` of the archived origin".
        """
        conn = self._conn
        size = self.tlog_size()
        conn.execute(
            "INSERT INTO tlog_archive_entries (origin, idx, entry) SELECT ?, idx, entry FROM tlog_entries",
            (origin,),
        )
        conn.execute(
            "INSERT INTO tlog_archive_hashes (origin, level, idx, hash) "
            "SELECT ?, level, idx, hash FROM tlog_hashes",
            (origin,),
        )
        conn.execute(
            "INSERT INTO tlog_archive_checkpoints (origin, size, note, created_ms) "
            "SELECT ?, size, note, created_ms FROM tlog_checkpoints",
            (origin,),
        )
        for table in ("tlog_entries", "tlog_hashes", "tlog_checkpoints"):
            conn.execute(f"DELETE FROM {table}")
        for table in (
            "events",
            "ledger_entries",
            "decisions",
            "clock_refs",
            "server_key_transitions",
            "openings",
        ):
            conn.execute(
                f"UPDATE {table} SET log_index = log_index - ? WHERE log_index >= 0",
                (size,),
            )
        return size

    def set_transition_log_index(self, new_key: bytes, log_index: int) -> None:
        """Point a server key transition at its restated entry in the new log."""
        self._conn.execute(
            "UPDATE server_key_transitions SET log_index = ? WHERE new_key = ?", (log_index, new_key)
        )

    def insert_handover(
        self,
        old_origin: str,
        old_size: int,
        old_root: bytes,
        new_origin: str,
        new_size: int,
        at_ms: int,
        body: bytes,
        sig: bytes,
    ) -> None:
        """Keep the signed hand-over document from ``old_origin`` to ``new_origin``."""
        self._conn.execute(
            "INSERT INTO log_handovers "
            "(old_origin, old_size, old_root, new_origin, new_size, at_ms, body, sig) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (old_origin, old_size, old_root, new_origin, new_size, at_ms, body, sig),
        )

    def put_opening(
        self,
        log_index: int,
        kind: str,
        card_id: str,
        salt: str,
        *,
        volunteer_id: str | None = None,
        kiosk_id: str | None = None,
        seq: int | None = None,
    ) -> None:
        """Keep what opens the commitment of log entry ``log_index`` (never logged, never public)."""
        self._conn.execute(
            "INSERT INTO openings (log_index, kind, card_id, salt, volunteer_id, kiosk_id, seq) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (log_index, kind, card_id, salt, volunteer_id, kiosk_id, seq),
        )
