"""The chain of signed events: the tap path's appends, and what the sync side reads to send.

:meth:`EventsMixin.append` writes the event, the open-shift change and the new chain
head in ONE ``BEGIN IMMEDIATE … COMMIT``; after a crash either all of it is there or
none of it.  A shop terminal's ``redeem`` and ``void`` events go in with their
redemption row (:meth:`~EventsMixin.append_redeem`, :meth:`~EventsMixin.append_void`)
in the same transaction; plain ``append`` refuses them, so a check-in kiosk can never
store one.  The chain head and open shifts are kept in memory once loaded, so a tap
costs one write transaction and one indexed read (has the trust list changed? another
process, the sync service, may have stored a newer one).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import NamedTuple

from protocol import EventKind, Reason, SignedEvent, canonical_json, parse_event
from protocol.commitments import SealedOpening, parse_opening
from terminal import redemptions
from terminal.errors import OutboxError
from terminal.outbox.base import OutboxBase, immediate


class OpenShift(NamedTuple):
    """A check-in this kiosk recorded and has not yet closed."""

    card_id: str
    in_seq: int
    in_wall_ms: int


class EventsMixin(OutboxBase):
    """The events table, the chain head and the open shifts (part of :class:`~terminal.outbox.Outbox`)."""

    _last_seq: int
    _head: str
    _open: dict[str, OpenShift]

    def _load_chain(self, conn: sqlite3.Connection) -> None:
        """Load the chain head and the open shifts into memory (on opening; no other I/O on taps)."""
        self._last_seq, self._head = conn.execute("SELECT last_seq, head FROM kiosk_state").fetchone()
        self._open = {
            row[0]: OpenShift(*row)
            for row in conn.execute("SELECT card_id, in_seq, in_wall_ms FROM open_shifts")
        }

    # -- the tap path ---------------------------------------------------------------------------------

    def head(self) -> tuple[int, str]:
        """``(last_seq, hash of that event)``; ``(0, GENESIS_PREV)`` when empty. No I/O."""
        with self._lock:
            return self._last_seq, self._head

    def open_shift(self, card_id: str) -> OpenShift | None:
        """The open shift of ``card_id`` at this kiosk, if any. No I/O."""
        with self._lock:
            return self._open.get(card_id)

    def append(
        self,
        signed: SignedEvent,
        *,
        open_shift: OpenShift | None = None,
        close_shift_card: str | None = None,
    ) -> None:
        """Store ``signed`` as the next event, and open or close a shift, in one transaction.

        The event must extend the chain (``seq`` = last + 1, ``prev`` = head);
        anything else raises :class:`OutboxError` and writes nothing.  When this
        returns, the event is on disk.  On any error the transaction is rolled
        back and the in-memory state is untouched.  ``redeem`` and ``void``
        events are refused (``bad_field``): they go in with their redemption row,
        through :meth:`append_redeem` and :meth:`append_void`.
        """
        if signed.event.kind in (EventKind.REDEEM, EventKind.VOID):
            raise OutboxError(
                Reason.BAD_FIELD, f"a {signed.event.kind} event goes in with its redemption row"
            )

        def shifts(conn: sqlite3.Connection) -> None:
            if open_shift is not None:
                conn.execute(
                    "INSERT OR REPLACE INTO open_shifts (card_id, in_seq, in_wall_ms) VALUES (?,?,?)",
                    open_shift,
                )
            if close_shift_card is not None:
                conn.execute("DELETE FROM open_shifts WHERE card_id = ?", (close_shift_card,))

        with self._lock:
            self._append(signed, shifts)
            if close_shift_card is not None:
                self._open.pop(close_shift_card, None)
            if open_shift is not None:
                self._open[open_shift.card_id] = open_shift

    def append_redeem(self, signed: SignedEvent, *, day: str) -> None:
        """Store a signed ``redeem`` event and its redemption row in one transaction.

        The first redeem of an ID creates the row (``day``: the local date, for the
        daily cap); a second one, with ``"online": false``, is the offline fallback of
        an online attempt and must name the same card and amount.  Raises
        :class:`OutboxError` (``bad_field``, ``redemption_mismatch``, ``chain_broken``)
        and writes nothing otherwise.  When this returns, the event is on disk.
        """
        event = signed.event
        if event.kind is not EventKind.REDEEM:
            raise OutboxError(Reason.BAD_FIELD, f"append_redeem takes a redeem event, not {event.kind}")

        def row(conn: sqlite3.Connection) -> None:
            try:
                redemptions.add_redeem(
                    conn,
                    redemption_id=event.data["id"],
                    card_id=event.card,
                    amount=event.data["amount"],
                    seq=event.seq,
                    online=event.data["online"],
                    created_ms=event.clock.wall_ms,
                    day=day,
                )
            except ValueError as exc:
                raise OutboxError(Reason.REDEMPTION_MISMATCH, str(exc)) from exc

        with self._lock:
            self._append(signed, row)

    def append_void(self, signed: SignedEvent, *, offline_limit: bool = False) -> None:
        """Store a signed ``void`` event and mark its redemption voided, in one transaction.

        The redemption must be one of this terminal's, for the event's card, and not
        voided before (else :class:`OutboxError` ``unknown_redemption``).  With
        ``offline_limit`` the void is the till's own: the offline limits refused the
        redemption, and the void returns a debit whose online answer was lost.
        """
        event = signed.event
        if event.kind is not EventKind.VOID:
            raise OutboxError(Reason.BAD_FIELD, f"append_void takes a void event, not {event.kind}")

        def row(conn: sqlite3.Connection) -> None:
            try:
                redemptions.add_void(
                    conn,
                    redemption_id=event.data["id"],
                    card_id=event.card,
                    seq=event.seq,
                    offline_limit=offline_limit,
                )
            except ValueError as exc:
                raise OutboxError(Reason.UNKNOWN_REDEMPTION, str(exc)) from exc

        with self._lock:
            self._append(signed, row)

    def _append(self, signed: SignedEvent, write: Callable[[sqlite3.Connection], None]) -> None:
        """Insert ``signed`` as the next event plus ``write``'s rows, in one transaction; lock held."""
        event = signed.event
        if event.seq != self._last_seq + 1 or event.prev != self._head:
            raise OutboxError(Reason.CHAIN_BROKEN, f"event {event.seq} does not extend {self._last_seq}")
        digest = signed.hash
        conn = self._conn
        with immediate(conn):
            conn.execute(
                "INSERT INTO events (seq, body, sig, hash, card_id, kind, wall_ms, opening) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    event.seq,
                    signed.body,
                    signed.signature,
                    digest,
                    event.card,
                    event.kind,
                    event.clock.wall_ms,
                    None if signed.opening is None else canonical_json(signed.opening.to_json()).decode(),
                ),
            )
            write(conn)
            # The WHERE guard makes a second writer on the same file fail instead of forking the chain.
            cursor = conn.execute(
                "UPDATE kiosk_state SET last_seq = ?, head = ? WHERE id = 1 AND last_seq = ?",
                (event.seq, digest, self._last_seq),
            )
            if cursor.rowcount != 1:
                raise OutboxError(Reason.CHAIN_BROKEN, "another writer changed the outbox")
        # Only now, with the commit on disk, does memory move on.
        self._last_seq, self._head = event.seq, digest

    # -- the sync side --------------------------------------------------------------------------------

    def events_from(self, seq: int, limit: int) -> list[SignedEvent]:
        """Up to ``limit`` stored events with ``seq`` >= ``seq``, synced or not, in order.

        An event no receipt covers yet comes with its opening (a v2 event, opened: its
        ``card`` is set), so :meth:`~protocol.SignedEvent.to_wire` sends it; a synced one
        has only its opening sealed to the server's key left (the clear one was dropped
        with the receipt), which goes along for a server that lost the event.
        """
        with self._lock:
            rows = self._conn.execute(
                "SELECT body, sig, opening, sealed_opening FROM events WHERE seq >= ? ORDER BY seq LIMIT ?",
                (seq, limit),
            ).fetchall()
        return [_stored_event(*row) for row in rows]

    def pending(self, limit: int = 500, from_seq: int | None = None) -> list[SignedEvent]:
        """Events not yet covered by a receipt (or, with ``from_seq``, all retained from there)."""
        with self._lock:
            start = self._synced_seq() + 1 if from_seq is None else from_seq
            return self.events_from(start, limit)

    def pending_count(self) -> int:
        with self._lock:
            return self._stored_last_seq() - self._synced_seq()

    def backlog(self) -> tuple[int, int]:
        """``(last_seq, pending)`` in one read: what a heartbeat reports, cheap enough for every batch."""
        with self._lock:
            last_seq, synced = self._conn.execute("SELECT last_seq, synced_seq FROM kiosk_state").fetchone()
        return int(last_seq), int(last_seq) - int(synced)

    def oldest_seq(self) -> int | None:
        """The lowest ``seq`` still stored (older synced events were pruned); ``None`` if empty."""
        with self._lock:
            row = self._conn.execute("SELECT MIN(seq) FROM events").fetchone()
        return None if row[0] is None else int(row[0])


def _stored_event(body: bytes, sig: bytes, opening_json: str | None, sealed: bytes | None) -> SignedEvent:
    """A stored row as a :class:`SignedEvent`, with its opening (or the sealed one) if still kept."""
    event = parse_event(body)
    if opening_json is None:
        sealed_opening = None if sealed is None else SealedOpening(bytes(sealed))
        return SignedEvent(body=body, signature=sig, event=event, sealed_opening=sealed_opening)
    opening = parse_opening(json.loads(opening_json))
    return SignedEvent(body=body, signature=sig, event=event.opened(opening), opening=opening)
