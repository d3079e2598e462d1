"""The kiosk as a witness of the server's transparency log: what it verified, and evidence against it.

:mod:`terminal.witness` decides; this stores.  The last checkpoint the kiosk
verified is stored in the same transaction as the receipt it came with
(:meth:`~terminal.outbox.Outbox.apply_receipt`), so the two never disagree after a
crash.  A checkpoint that does not extend it sets the alarm ``log_inconsistent``
and is kept, with the proof, in ``log_evidence``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from protocol import Reason
from protocol.checkpoint import Checkpoint
from terminal.outbox.base import OutboxBase, immediate

log = logging.getLogger("terminal.outbox")


@dataclass(frozen=True, slots=True)
class LogCheckpoint:
    """The last transparency-log checkpoint this kiosk verified: ``note`` is the signed text.

    ``verified_ms`` is when the kiosk first verified this tree head (the kiosk's clock).
    """

    origin: str
    size: int
    root: bytes
    note: bytes
    verified_ms: int


@dataclass(frozen=True, slots=True)
class LogUpdate:
    """A checkpoint just verified (signature, and consistency with ``replaces``), ready to store.

    ``replaces`` is the stored checkpoint it was checked against (``None``: there
    was none); if another process stored a different one meanwhile, the update
    is skipped rather than trusted unchecked.
    """

    note: bytes
    checkpoint: Checkpoint
    replaces: LogCheckpoint | None


@dataclass(frozen=True, slots=True)
class FollowedHandover:
    """A log hand-over this kiosk followed: ``old_origin`` ended at ``old_size``/``old_root``."""

    old_origin: str
    new_origin: str
    old_size: int
    old_root: bytes


@dataclass(frozen=True, slots=True)
class LogEvidence:
    """A checkpoint that did not extend the verified one: what a coordinator and the server are shown."""

    id: int
    kind: str
    old_checkpoint: str
    new_checkpoint: str
    consistency: list[str]
    detail: str
    detected_ms: int
    reported_ms: int | None

    def to_json(self) -> dict[str, Any]:
        """The evidence as JSON: what ``kokreativ terminal evidence`` exports (the server gets it signed)."""
        return {
            "kind": self.kind,
            "old_checkpoint": self.old_checkpoint,
            "new_checkpoint": self.new_checkpoint,
            "consistency": list(self.consistency),
            "detail": self.detail,
        }


class CheckpointsMixin(OutboxBase):
    """The verified log checkpoint and the log evidence (part of :class:`~terminal.outbox.Outbox`)."""

    def log_checkpoint(self) -> LogCheckpoint | None:
        """The last checkpoint this kiosk verified, or ``None`` before the first."""
        with self._lock:
            row = self._conn.execute(
                "SELECT origin, size, root, note, verified_ms FROM log_checkpoint"
            ).fetchone()
        if row is None:
            return None
        origin, size, root, note, verified_ms = row
        return LogCheckpoint(str(origin), int(size), bytes(root), str(note).encode(), int(verified_ms))

    def log_origin(self) -> str | None:
        """The log origin pinned on first use (for configs without ``log_origin``), or ``None``."""
        with self._lock:
            origin: str | None = self._conn.execute("SELECT log_origin FROM kiosk_state").fetchone()[0]
            return origin

    def log_handovers(self) -> list[FollowedHandover]:
        """The log hand-overs this kiosk followed, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT old_origin, new_origin, old_size, old_root FROM log_handover ORDER BY id"
            ).fetchall()
        return [FollowedHandover(str(a), str(b), int(size), bytes(root)) for a, b, size, root in rows]

    def follow_log_handover(self, followed: FollowedHandover, document: str, update: LogUpdate) -> bool:
        """Pin ``followed.new_origin`` and its first checkpoint ``update``, in one transaction.

        The caller verified the hand-over with the pinned server key and that the
        stored checkpoint is consistent with the old log's final one.  Skipped
        (``False``) if another process stored another checkpoint meanwhile.
        """
        with self._lock, immediate(self._conn):
            conn = self._conn
            row = conn.execute("SELECT size, root FROM log_checkpoint").fetchone()
            stored = None if row is None else (int(row[0]), bytes(row[1]))
            expected = update.replaces
            if stored != (None if expected is None else (expected.size, expected.root)):
                return False
            conn.execute(
                "INSERT OR REPLACE INTO log_handover (old_origin, new_origin, old_size, old_root, document, "
                "followed_ms) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    followed.old_origin,
                    followed.new_origin,
                    followed.old_size,
                    followed.old_root,
                    document,
                    self._now_ms(),
                ),
            )
            conn.execute("DELETE FROM log_checkpoint")
            conn.execute(
                "UPDATE kiosk_state SET log_origin = ? WHERE id = 1 AND log_origin = ?",
                (followed.new_origin, followed.old_origin),
            )
            self._put_log_checkpoint(
                LogUpdate(note=update.note, checkpoint=update.checkpoint, replaces=None), self._now_ms()
            )
        return True

    def save_log_checkpoint(self, update: LogUpdate) -> bool:
        """Store a verified checkpoint without a receipt (a sync with nothing to send); False if skipped."""
        with self._lock, immediate(self._conn):
            return self._put_log_checkpoint(update, self._now_ms())

    def _put_log_checkpoint(self, update: LogUpdate, now_ms: int) -> bool:
        """Inside a transaction: replace the stored checkpoint if it is still ``update.replaces``."""
        conn = self._conn
        row = conn.execute("SELECT size, root FROM log_checkpoint").fetchone()
        stored = None if row is None else (int(row[0]), bytes(row[1]))
        expected = update.replaces
        if stored != (None if expected is None else (expected.size, expected.root)):
            # Another process verified and stored a checkpoint meanwhile; ours was not checked against it.
            log.warning("the stored log checkpoint changed during the sync round; keeping the stored one")
            return False
        if expected is not None and expected.note == update.note:
            return True  # the same tree head again: keep when it was first verified
        cp = update.checkpoint
        conn.execute(
            "INSERT OR REPLACE INTO log_checkpoint (id, origin, size, root, note, verified_ms) "
            "VALUES (1, ?, ?, ?, ?, ?)",
            (cp.origin, cp.size, cp.root_hash, update.note.decode(), now_ms),
        )
        # Trust on first use: the first origin that verified with the server key stays pinned.
        conn.execute("UPDATE kiosk_state SET log_origin = COALESCE(log_origin, ?) WHERE id = 1", (cp.origin,))
        return True

    def record_log_inconsistency(
        self, *, old_note: bytes, new_note: bytes, consistency: list[str], detail: str
    ) -> LogEvidence:
        """Set the ``log_inconsistent`` alarm and keep the evidence, in one transaction; sync halts."""
        now = self._now_ms()
        with self._lock, immediate(self._conn):
            conn = self._conn
            cursor = conn.execute(
                "INSERT INTO log_evidence (kind, old_checkpoint, new_checkpoint, consistency, detail, "
                "detected_ms) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    Reason.LOG_INCONSISTENT.value,
                    old_note.decode("utf-8", "replace"),
                    new_note.decode("utf-8", "replace"),
                    json.dumps(consistency),
                    detail,
                    now,
                ),
            )
            conn.execute(
                "UPDATE kiosk_state SET alarm = ?, alarm_code = ? WHERE id = 1",
                (detail, Reason.LOG_INCONSISTENT.value),
            )
            evidence_id = cursor.lastrowid
        assert evidence_id is not None
        return LogEvidence(
            evidence_id,
            Reason.LOG_INCONSISTENT.value,
            old_note.decode("utf-8", "replace"),
            new_note.decode("utf-8", "replace"),
            list(consistency),
            detail,
            now,
            None,
        )

    def evidence(self, *, unreported: bool = False) -> list[LogEvidence]:
        """Stored log evidence, oldest first (only what the server has not acknowledged, if asked)."""
        query = (
            "SELECT id, kind, old_checkpoint, new_checkpoint, consistency, detail, detected_ms, reported_ms "
            "FROM log_evidence"
        )
        if unreported:
            query += " WHERE reported_ms IS NULL"
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY id").fetchall()
        return [
            LogEvidence(
                int(i), str(kind), str(old), str(new), list(json.loads(proof)), str(detail), int(at), reported
            )
            for i, kind, old, new, proof, detail, at, reported in rows
        ]

    def mark_evidence_reported(self, evidence_id: int) -> None:
        """The server acknowledged evidence ``evidence_id`` (``202``)."""
        with self._lock, immediate(self._conn):
            self._conn.execute(
                "UPDATE log_evidence SET reported_ms = ? WHERE id = ? AND reported_ms IS NULL",
                (self._now_ms(), evidence_id),
            )
