"""The kiosks' signed events as stored, and the equivocations (a second body for a stored seq)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, Final

from protocol.economy.undo import TapMark
from protocol.events import EventKind, parse_event
from server.models import HeldEvent, StoredEvent
from server.storage.base import Queries

EVENT_COLUMNS: Final = (
    *("kiosk_id", "seq", "body", "sig", "hash", "kind", "card_id", "wall_ms", "flags", "received_ms"),
    *("log_index", "corrected_ms"),
)  # the order of a row for insert_event_rows
_INSERT: Final = (
    f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
)


class EventsRead(Queries):
    """The stored events and equivocations a transaction can read."""

    def stored_events(self, kiosk_id: str, first_seq: int, last_seq: int) -> dict[int, HeldEvent]:
        """``seq -> stored copy`` for the stored events of ``kiosk_id`` in ``first_seq..last_seq``."""
        rows = self._conn.execute(
            "SELECT seq, body, flags, received_ms, log_index FROM events "
            "WHERE kiosk_id = ? AND seq BETWEEN ? AND ?",
            (kiosk_id, first_seq, last_seq),
        )
        return {row[0]: HeldEvent(bytes(row[1]), row[2], row[3], row[4]) for row in rows}

    def latest_tap_mark(self, kiosk_id: str, card_id: str, from_seq: int, before_seq: int) -> TapMark | None:
        """``card_id``'s latest stored check-in, check-out or undo at ``kiosk_id`` from ``from_seq`` on.

        Only events before ``before_seq`` count.

        What an undo's verdict reads (:func:`protocol.economy.undo.undo_verdict`): the range
        starts at the tap the undo names, so a valid undo reads a few rows.  A v2 event's clock
        and data come from its stored opening.
        """
        row = self._conn.execute(
            "SELECT e.seq, e.kind, e.body, o.sealed FROM events e "
            "LEFT JOIN openings o ON o.kiosk_id = e.kiosk_id AND o.seq = e.seq "
            "WHERE e.kiosk_id = ? AND e.seq >= ? AND e.seq < ? AND e.card_id = ? "
            "AND e.kind IN ('check_in', 'check_out', 'undo') ORDER BY e.seq DESC LIMIT 1",
            (kiosk_id, from_seq, before_seq, card_id),
        ).fetchone()
        if row is None:
            return None
        seq, kind, body, sealed = row
        if sealed is not None:
            opened = json.loads(sealed)
            boot, mono_ms, data = opened["clock"]["boot"], opened["clock"]["mono_ms"], opened["data"]
        else:
            event = parse_event(bytes(body)).require_opened()
            boot, mono_ms, data = event.clock.boot_id, event.clock.mono_ms, event.data
        return TapMark(seq, EventKind(kind), boot, mono_ms, data.get("seq") if kind == "undo" else None)

    def event_log_index(self, kiosk_id: str, seq: int) -> int | None:
        """Where the event ``(kiosk_id, seq)`` is in the transparency log; ``None`` if not stored."""
        row = self._conn.execute(
            "SELECT log_index FROM events WHERE kiosk_id = ? AND seq = ?", (kiosk_id, seq)
        ).fetchone()
        return None if row is None else row[0]

    def iter_events(self, kiosk_id: str) -> Iterator[StoredEvent]:
        """Every stored event of ``kiosk_id`` in ``seq`` order, streamed."""
        rows = self._conn.execute(
            "SELECT kiosk_id, seq, body, sig, hash FROM events WHERE kiosk_id = ? ORDER BY seq", (kiosk_id,)
        )
        for row in rows:
            yield StoredEvent(kiosk_id=row[0], seq=row[1], body=bytes(row[2]), sig=bytes(row[3]), hash=row[4])

    def count_events(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def count_equivocations(self, kiosk_id: str) -> int:
        row = self._conn.execute(
            "SELECT COUNT(*) FROM equivocations WHERE kiosk_id = ?", (kiosk_id,)
        ).fetchone()
        return int(row[0])


class EventsWrite(EventsRead):
    """An :class:`EventsRead` that also stores events and equivocations."""

    def insert_event_rows(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Store admitted events exactly as received, one row each (ingest's hot path).

        Each row is the values of :data:`EVENT_COLUMNS` in order, ``flags`` encoded as
        :func:`~server.storage.encode_flags` does.
        """
        self._conn.executemany(_INSERT, rows)

    def insert_equivocation(
        self,
        kiosk_id: str,
        seq: int,
        stored_body: bytes,
        offered_body: bytes,
        offered_sig: bytes,
        now_ms: int,
    ) -> None:
        self._conn.execute(
            "INSERT INTO equivocations (kiosk_id, seq, stored_body, offered_body, offered_sig, received_ms) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (kiosk_id, seq, stored_body, offered_body, offered_sig, now_ms),
        )
