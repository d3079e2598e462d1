"""The kiosk's state at a glance, and the small notes the screen and the sync service leave each other.

The screen (the kiosk process) and the sync service may be two processes on one
outbox: how the last sync round ended, a coordinator's "sync now", the reader's
status and the server's clock offset travel between them through ``kiosk_state``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from terminal.outbox.base import immediate
from terminal.outbox.checkpoints import LogCheckpoint
from terminal.outbox.events import EventsMixin
from terminal.outbox.receipts import ReceiptsMixin
from terminal.outbox.trust import TrustMixin


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    """A snapshot for status screens and ``kokreativ terminal status``."""

    last_seq: int
    head: str
    synced_seq: int
    pending: int
    open_shifts: int
    oldest_seq: int | None
    last_sync_ms: int | None
    last_receipt: dict[str, Any] | None
    alarm: str | None
    trust_issued_ms: int | None = None
    alarm_code: str | None = None
    log: LogCheckpoint | None = None
    log_origin: str | None = None
    evidence: int = 0
    sync_round_ms: int | None = None  # when the sync side last recorded a round (its clock)
    sync_round_error: str | None = None  # that round's reason code; None: it went well
    clock_offset_ms: int | None = None  # the server's clock minus ours at the last answered heartbeat
    heartbeat_ms: int | None = None  # when that heartbeat was answered (our clock)
    server_key: str | None = None  # base64 of the server key pinned by a rotation; None: the enrolled one
    server_key_pinned_ms: int | None = None  # when that key was pinned (our clock)


class StatusMixin(ReceiptsMixin, TrustMixin, EventsMixin):
    """Notes shared with the screen, and :meth:`status`, which reads across every part of the Outbox."""

    _reader_status: str | None  # the last status written by record_reader_status

    # -- sync rounds, shared with the screen -----------------------------------------------------------

    def record_sync_round(self, error: str | None, now_ms: int | None = None) -> None:
        """Note how a sync round ended, for the screen's online/offline line (another process, maybe)."""
        with self._lock, immediate(self._conn):
            self._conn.execute(
                "UPDATE kiosk_state SET sync_round_ms = ?, sync_round_error = ?",
                (self._now_ms() if now_ms is None else now_ms, error),
            )

    def request_sync(self) -> int:
        """Ask the sync side for a round now ("sync now" on the screen); returns the request's time."""
        now = self._now_ms()
        with self._lock, immediate(self._conn):
            self._conn.execute("UPDATE kiosk_state SET sync_requested_ms = ?", (now,))
        return now

    def sync_requested_ms(self) -> int | None:
        """When a round was last asked for, or ``None``; one read of one row."""
        with self._lock:
            value = self._conn.execute("SELECT sync_requested_ms FROM kiosk_state").fetchone()[0]
        return None if value is None else int(value)

    def record_reader_status(self, status: str) -> None:
        """Note the reader's status (``ok``, ``missing``, ``error``) for heartbeats; writes on change only."""
        with self._lock:
            if status == self._reader_status:
                return
            with immediate(self._conn):
                self._conn.execute("UPDATE kiosk_state SET reader_status = ?", (status,))
            self._reader_status = status

    def reader_status(self) -> str:
        """The reader's status as the tap loop last noted it (any process), or ``unknown``."""
        with self._lock:
            row = self._conn.execute("SELECT reader_status FROM kiosk_state").fetchone()
        return str(row[0]) if row is not None and row[0] else "unknown"

    def record_clock_offset(self, offset_ms: int, now_ms: int | None = None) -> None:
        """Keep the clock offset the server measured at a heartbeat (``server − kiosk``, in ms)."""
        with self._lock, immediate(self._conn):
            self._conn.execute(
                "UPDATE kiosk_state SET clock_offset_ms = ?, heartbeat_ms = ?",
                (offset_ms, self._now_ms() if now_ms is None else now_ms),
            )

    def status(self) -> OutboxStatus:
        """A snapshot of every part, for status screens, ``kokreativ terminal status`` and sync's resends."""
        with self._lock:
            (last_seq, head, synced, last_sync, last_receipt, alarm, log_origin, round_ms, round_error) = (
                self._conn.execute(
                    "SELECT last_seq, head, synced_seq, last_sync_ms, last_receipt, alarm, log_origin, "
                    "sync_round_ms, sync_round_error FROM kiosk_state"
                ).fetchone()
            )
            offset_ms, heartbeat_ms = self._conn.execute(
                "SELECT clock_offset_ms, heartbeat_ms FROM kiosk_state"
            ).fetchone()
            pinned = self._conn.execute("SELECT public_key, pinned_ms FROM server_key").fetchone()
            return OutboxStatus(
                last_seq=last_seq,
                head=head,
                synced_seq=synced,
                pending=last_seq - synced,
                open_shifts=self._conn.execute("SELECT COUNT(*) FROM open_shifts").fetchone()[0],
                oldest_seq=self.oldest_seq(),
                last_sync_ms=last_sync,
                last_receipt=json.loads(last_receipt) if last_receipt else None,
                alarm=alarm,
                trust_issued_ms=self.trust_list_issued_ms(),
                alarm_code=self.alarm_code,
                log=self.log_checkpoint(),
                log_origin=log_origin,
                evidence=self._conn.execute("SELECT COUNT(*) FROM log_evidence").fetchone()[0],
                sync_round_ms=round_ms,
                sync_round_error=round_error,
                clock_offset_ms=offset_ms,
                heartbeat_ms=heartbeat_ms,
                server_key=pinned[0] if pinned else None,
                server_key_pinned_ms=pinned[1] if pinned else None,
            )
