"""Receipts and alarms: the only way events become synced, and what halts sync.

Events never leave because they were *sent*; they are marked synced only by a
verified receipt whose ``head`` equals the hash of our own event ``seq``.  Synced
rows are kept for a retention window (newest ``retain_synced`` rows, and anything
younger than ``retain_days``) so a server restored from backup that answers
``sequence_gap`` with an earlier ``expected_seq`` can be re-fed; a v2 event's opening
is kept for that only sealed to the server's key.  A validly signed
receipt that contradicts our chain sets a persistent alarm (``fork_detected``) and
changes nothing else.  What came with a receipt (the verified log checkpoint, the
server's results for redeem and void events, the balance sheet) is stored in its
transaction: a redemption is never "synced" while its effect is missing from the
confirmed balance.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from protocol import BalanceSheet, PublicKey, Reason, Receipt
from protocol.decisions import MAX_VOID_WINDOW_S
from terminal import redemptions
from terminal.errors import ReceiptError
from terminal.outbox.balances import BalancesMixin
from terminal.outbox.base import immediate
from terminal.outbox.checkpoints import CheckpointsMixin, LogUpdate
from terminal.redemptions import EventResult


class ReceiptsMixin(BalancesMixin, CheckpointsMixin):
    """Applying receipts, and the alarm (part of :class:`~terminal.outbox.Outbox`).

    A receipt stores balances and a log checkpoint with it, so this part builds on those two.
    """

    _retain_synced: int  # keep at least this many of the newest synced events
    _retain_ms: int  # and every synced event younger than this

    @property
    def alarm(self) -> str | None:
        """The alarm's message, or ``None``; while set, sync halts (see :attr:`alarm_code`)."""
        with self._lock:
            alarm: str | None = self._conn.execute("SELECT alarm FROM kiosk_state").fetchone()[0]
            return alarm

    @property
    def alarm_code(self) -> str | None:
        """``fork_detected`` or ``log_inconsistent`` while an alarm is set, else ``None``."""
        with self._lock:
            alarm, code = self._conn.execute("SELECT alarm, alarm_code FROM kiosk_state").fetchone()
        if alarm is None:
            return None
        return str(code) if code else Reason.FORK_DETECTED.value  # set before alarm_code existed

    def clear_alarm(self) -> str | None:
        """Lift the alarm after a coordinator has looked into it; returns the old alarm's message.

        Evidence stays.  After ``log_inconsistent`` the last verified checkpoint is
        forgotten too (it is kept in the evidence): the coordinator accepts the
        server's current log as the kiosk's new starting point, else the next sync
        would find the same inconsistency again.
        """
        with self._lock:
            conn = self._conn
            with immediate(conn):
                previous, code = conn.execute("SELECT alarm, alarm_code FROM kiosk_state").fetchone()
                if previous is not None and code == Reason.LOG_INCONSISTENT.value:
                    conn.execute("DELETE FROM log_checkpoint")
                conn.execute("UPDATE kiosk_state SET alarm = NULL, alarm_code = NULL WHERE id = 1")
            return str(previous) if previous is not None else None

    def apply_receipt(
        self,
        receipt: Receipt,
        *,
        log_update: LogUpdate | None = None,
        results: Sequence[EventResult] = (),
        balances: BalanceSheet | None = None,
        seal_to: PublicKey | None = None,
    ) -> int:
        """Mark events ``1..receipt.seq`` synced if our event ``seq`` hashes to ``receipt.head``.

        The receipt's signature must already be verified (``protocol.verify_receipt``),
        and ``log_update``, the checkpoint that came with it, checked by the witness; it is
        stored in the same transaction, and so are ``results`` (the server's results for
        redeem and void events the receipt covers; others are ignored) and ``balances``
        (the answer's verified balance sheet).  Returns how many events became synced.  A
        receipt naming an event we never wrote, or a different hash, sets the alarm
        and raises ``fork_detected``; nothing is marked, removed or stored.

        The openings of the events it covers are dropped; with ``seal_to`` (the server key
        the receipt verified with) each is kept sealed to that key instead, so the events
        can re-feed a server restored from an older backup while they are retained.
        """
        received_ms = self._now_ms()
        results = [r for r in results if r.seq <= receipt.seq]
        sealed = [] if seal_to is None else self._sealed_openings(receipt.seq, seal_to)
        with self._lock:
            if receipt.seq == 0:
                if log_update is not None:
                    self.save_log_checkpoint(log_update)
                if balances is not None:
                    self.save_balances(balances)
                return 0
            row = self._conn.execute("SELECT hash FROM events WHERE seq = ?", (receipt.seq,)).fetchone()
            if receipt.seq > self._stored_last_seq() or (row is not None and row[0] != receipt.head):
                message = f"server receipt for seq {receipt.seq} has head {receipt.head}, ours differs"
                self._conn.execute(
                    "UPDATE kiosk_state SET alarm = ?, alarm_code = ? WHERE id = 1",
                    (message, Reason.FORK_DETECTED.value),
                )
                raise ReceiptError(Reason.FORK_DETECTED, message)
            if row is None:
                raise ReceiptError(
                    Reason.BAD_RECEIPT, f"event {receipt.seq} was pruned; cannot check receipt"
                )
            return self._mark_synced(receipt, received_ms, log_update, results, balances, sealed)

    def _sealed_openings(self, up_to_seq: int, server_key: PublicKey) -> list[tuple[bytes, int]]:
        """``(sealed opening, seq)`` of each event up to ``up_to_seq`` whose opening is still in the clear.

        Sealing costs an X25519 operation per event, so it runs before the lock and the
        write transaction: a tap never waits for it.  An opening never changes once written.
        """
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, opening FROM events WHERE seq <= ? AND opening IS NOT NULL", (up_to_seq,)
            ).fetchall()
        sealer = server_key.sealer()  # one key agreement for the whole receipt
        # The stored text is the opening's canonical JSON (written by :meth:`append`): sealed as it is.
        return [(sealer.seal(text.encode()), seq) for seq, text in rows]

    def _mark_synced(
        self,
        receipt: Receipt,
        received_ms: int,
        log_update: LogUpdate | None,
        results: Sequence[EventResult],
        balances: BalanceSheet | None,
        sealed: Sequence[tuple[bytes, int]] = (),
    ) -> int:
        conn = self._conn
        receipt_json = json.dumps(
            {"seq": receipt.seq, "head": receipt.head, "issued_ms": receipt.issued_ms, "kiosk": receipt.kiosk}
        )
        with immediate(conn):
            marked = conn.execute(
                "UPDATE events SET synced_receipt = ? WHERE seq <= ? AND synced_receipt IS NULL",
                (receipt.seq, receipt.seq),
            ).rowcount
            conn.execute(
                "UPDATE kiosk_state SET synced_seq = MAX(synced_seq, ?), last_sync_ms = ?, last_receipt = ? "
                "WHERE id = 1",
                (receipt.seq, received_ms, receipt_json),
            )
            # The server holds what the receipt covers: forget which card each event was about, but for
            # the opening sealed to the server's key, which only the server can read (a re-feed needs it).
            conn.executemany(
                "UPDATE events SET sealed_opening = ? WHERE seq = ? AND opening IS NOT NULL", sealed
            )
            conn.execute(
                "UPDATE events SET opening = NULL, card_id = '' "
                "WHERE seq <= ? AND (opening IS NOT NULL OR card_id != '')",
                (receipt.seq,),
            )
            # A redemption keeps its card while a void may still need it: older than the longest void
            # window by the receipt's (the server's) clock, the till forgets whose purchase it was.
            redemptions.forget_cards(
                conn, synced_seq=receipt.seq, before_ms=receipt.issued_ms - MAX_VOID_WINDOW_S * 1000
            )
            conn.execute(
                "INSERT INTO receipts (seq, head, issued_ms, received_ms) VALUES (?,?,?,?)",
                (receipt.seq, receipt.head, receipt.issued_ms, received_ms),
            )
            # Prune synced events outside BOTH retention limits; never unsynced ones.
            conn.execute(
                "DELETE FROM events WHERE synced_receipt IS NOT NULL AND seq <= ? AND wall_ms < ?",
                (self._synced_seq() - self._retain_synced, received_ms - self._retain_ms),
            )
            redemptions.put_results(conn, results)
            if balances is not None:
                self._put_balances(balances)
            redemptions.prune(conn)
            if log_update is not None:
                self._put_log_checkpoint(log_update, received_ms)
        return int(marked)
