"""One sync round: send the pending events in batches, verify and apply each answer, then the extras.

How a round goes and what each answer means is in docs/kiosk.md ("A round");
:class:`terminal.sync.SyncClient` decides when a round runs and holds the lock.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from protocol import (
    MAX_BATCH_EVENTS,
    BalanceSheet,
    EventKind,
    ProtocolError,
    Reason,
    SignedEvent,
    encode_batch,
    verify_balances,
    verify_receipt,
)
from terminal.config import KioskConfig
from terminal.errors import ReceiptError
from terminal.outbox import LogCheckpoint, LogUpdate, Outbox
from terminal.redemptions import EventResult
from terminal.sync.result import (
    LOG_HANDED_OVER,
    SERVER_ERROR,
    SERVER_KEY_ROTATED,
    STOPPED,
    StopRound,
    SyncResult,
    error_of,
)
from terminal.sync.transport import Transport, kiosk_url
from terminal.sync.trust import TrustFollower
from terminal.sync.witnessing import Witnessing
from terminal.witness import MISSING, note_bytes

log = logging.getLogger("terminal.sync")


@dataclass
class _Tally:
    """What a round has done so far; kept when it stops early."""

    sent: int = 0
    acknowledged: int = 0
    witnessed: bool = False  # did a batch answer bring a checkpoint this round?


class Rounds:
    """Runs the kiosk's rounds: events over ``transport``, checked by ``keys`` and ``witnessing``.

    ``clock_sample`` makes the signed clock reading sent with each batch (``None`` to send none).
    """

    def __init__(
        self,
        config: KioskConfig,
        outbox: Outbox,
        transport: Transport,
        *,
        keys: TrustFollower,
        witnessing: Witnessing,
        clock_sample: Callable[[], dict[str, str] | None],
    ) -> None:
        self._kiosk_id = config.kiosk_id
        self._state_url = kiosk_url(config)
        self._events_url = f"{self._state_url}/events"
        self._outbox = outbox
        self._transport = transport
        self._keys = keys
        self._witnessing = witnessing
        self._clock_sample = clock_sample

    def run(self, stop: threading.Event | None = None, *, quick: bool = False) -> SyncResult:
        """One round; after following a server key rotation or a log hand-over, one more at once.

        ``quick``: a till's round, which sends events only (docs/kiosk.md, "One round at a time").
        """
        result = self._attempt(stop, quick=quick)
        if result.error not in (SERVER_KEY_ROTATED, LOG_HANDED_OVER):
            return result
        retry = self._attempt(stop, quick=quick)
        return SyncResult(
            result.sent + retry.sent,
            result.acknowledged + retry.acknowledged,
            retry.pending,
            retry.error,
            retry.message,
            trust_issued_ms=retry.trust_issued_ms,
            log_size=retry.log_size,
        )

    def _attempt(self, stop: threading.Event | None, *, quick: bool) -> SyncResult:
        tally = _Tally()
        try:
            self._halt_on_alarm()
            start = None if quick else self._resend_from()
            if not self._send_pending(stop, tally, start):
                return self._result(tally, STOPPED, "stop requested")
            if quick:  # a till's round: its events are what it is for; the background does the rest
                return self._result(tally, None, None, self._keys.current_issued_ms())
            if not tally.witnessed:
                self._witnessing.witness_latest()
            trust_issued = self._keys.refresh()
        except StopRound as halt:
            log.warning("sync stopped: %s: %s", halt.code, halt.message)
            return self._result(tally, halt.code, halt.message)
        return self._result(tally, None, None, trust_issued)

    def _send_pending(self, stop: threading.Event | None, tally: _Tally, start: int | None = None) -> bool:
        """Send batches until none is pending (True), or until ``stop`` is set between them (False).

        ``start``: resend from this ``seq`` (already synced events too); ``None``: from the first unsynced.
        """
        next_seq = start
        last_gap: int | None = None
        while True:
            if stop is not None and stop.is_set():
                log.info("sync round stopped between batches; the rest stays pending")
                return False
            batch = self._outbox.pending(limit=MAX_BATCH_EVENTS, from_seq=next_seq)
            if not batch:
                return True
            verified = self._outbox.log_checkpoint()  # the same snapshot names log_size and is extended
            data = encode_batch(batch, clock=self._clock_sample())
            size = verified.size if verified else 0
            status, body = self._transport.post_batch(self._events_url, data, log_size=size)
            if status == 200:
                newly, receipt_seq = self._apply(body, batch, verified)
                tally.witnessed = True
                tally.sent += len(batch)
                tally.acknowledged += newly
                if receipt_seq < batch[-1].event.seq:
                    raise StopRound(Reason.BAD_RECEIPT.value, f"receipt seq {receipt_seq} behind batch")
                next_seq, last_gap = receipt_seq + 1, None
                continue
            code, message, error = error_of(body)
            if status == 409 and code == Reason.SEQUENCE_GAP.value:
                next_seq = self._resume_at(error.get("expected_seq"), batch[0].event.seq, last_gap)
                last_gap = next_seq
                continue
            if status >= 500:
                raise StopRound(code or SERVER_ERROR, f"HTTP {status}: {message}")
            if status == 400 and code == Reason.BAD_FIELD.value and "index" not in error and verified:
                # Not about an event: the server refuses our log_size, which it does when its log
                # is smaller than the one we verified.  Its checkpoint shows whether it shrank.
                self._witnessing.witness_latest()
            raise StopRound(code or f"http_{status}", message)

    def _resend_from(self) -> int | None:
        """Where to resend from when the server lost events this kiosk counts as synced; else ``None``.

        Asked only when nothing is pending and the kiosk holds no verified checkpoint:
        on a first round, and after a coordinator cleared ``log_inconsistent`` (a server
        restored from an older backup).  Then no batch would go out to draw a
        ``sequence_gap`` answer, and without this the lost events would wait for the
        next tap (issue 20).  The server's kiosk state names its ``last_seq``.  A state
        that cannot be read changes nothing: the round goes on as before.
        """
        if self._outbox.log_checkpoint() is not None:
            return None
        status = self._outbox.status()
        if status.pending or status.synced_seq == 0:
            return None
        try:
            state = json.loads(self._transport.get(self._state_url, what="kiosk state"))
        except (StopRound, ValueError) as exc:
            log.info("could not read the server's kiosk state: %s", exc)
            return None
        held = state.get("last_seq") if isinstance(state, dict) else None
        if isinstance(held, bool) or not isinstance(held, int) or held >= status.synced_seq:
            return None
        log.warning("the server holds seq %d of %d synced here; resending the rest", held, status.synced_seq)
        return self._resume_at(max(held, 0) + 1, 0, None)

    def _result(
        self, tally: _Tally, error: str | None, message: str | None, trust: int | None = None
    ) -> SyncResult:
        verified = self._outbox.log_checkpoint()
        return SyncResult(
            tally.sent,
            tally.acknowledged,
            self._outbox.pending_count(),
            error,
            message,
            trust_issued_ms=trust,
            log_size=verified.size if verified else None,
        )

    def _halt_on_alarm(self) -> None:
        """Stop the round while an alarm is set; first retry reporting evidence the server has not taken."""
        alarm = self._outbox.alarm
        if alarm is None:
            return
        self._witnessing.report_evidence()
        raise StopRound(self._outbox.alarm_code or Reason.FORK_DETECTED.value, alarm)

    def _apply(self, body: Any, batch: list[SignedEvent], verified: LogCheckpoint | None) -> tuple[int, int]:
        """Verify the receipt, witness the log (checkpoint, consistency, inclusion), apply; then balances."""
        answer = body if isinstance(body, dict) else {}
        witness = self._witnessing.witness
        try:
            wire = answer.get("receipt")
            receipt = verify_receipt(wire, self._keys.server_key(), kiosk_id=self._kiosk_id)
            note = note_bytes(answer.get("checkpoint"))
            checkpoint = witness.verify_checkpoint(note)
            self._witnessing.check_extends(verified, note, checkpoint, answer.get("consistency", MISSING))
            witness.check_inclusion(batch, answer.get("entries"), checkpoint)
            update = LogUpdate(note=note, checkpoint=checkpoint, replaces=verified)
            sheet = self._balances(answer["balances"]) if "balances" in answer else None
            newly = self._outbox.apply_receipt(
                receipt,
                log_update=update,
                results=redemption_results(batch, answer),
                balances=sheet,
                seal_to=self._keys.server_key(),
            )
        except ProtocolError as exc:
            self._witnessing.follow_if_handed_over(answer.get("checkpoint"))
            self._keys.follow_if_rotated(exc)
            raise StopRound(exc.reason.value, exc.message) from exc
        except ReceiptError as exc:
            raise StopRound(exc.code, exc.message) from exc
        return newly, receipt.seq

    def _balances(self, wire: object) -> BalanceSheet | None:
        """The answer's balance sheet once verified; one that fails is logged and ignored (``None``)."""
        try:
            return verify_balances(wire, self._keys.server_key(), kiosk_id=self._kiosk_id)
        except ProtocolError as exc:
            log.warning("ignored the server's balance sheet: %s: %s", exc.reason.value, exc.message)
            return None

    def _resume_at(self, expected: object, first_sent: int, last_gap: int | None) -> int:
        """Where to resend from after ``sequence_gap``; stops when that cannot make progress."""
        if isinstance(expected, bool) or not isinstance(expected, int) or expected < 1:
            raise StopRound(Reason.SEQUENCE_GAP.value, "server sent no usable expected_seq")
        # One snapshot from disk (the kiosk may run in another process) gives both the head and the oldest.
        status = self._outbox.status()
        last_seq, oldest = status.last_seq, status.oldest_seq
        if expected > last_seq + 1:
            # The server holds events we do not: our outbox was lost or restored. A human must look.
            raise StopRound(Reason.SEQUENCE_GAP.value, f"server expects {expected}, we only have {last_seq}")
        if oldest is None or expected < oldest:
            raise StopRound(
                Reason.SEQUENCE_GAP.value, f"server expects {expected}, oldest retained is {oldest}"
            )
        if expected in (first_sent, last_gap):
            raise StopRound(Reason.SEQUENCE_GAP.value, f"server keeps expecting {expected}")
        log.info("server expects seq %d; resending from there", expected)
        return expected


_REDEMPTION_KINDS = (EventKind.REDEEM, EventKind.VOID)


def redemption_results(batch: list[SignedEvent], answer: dict[str, Any]) -> list[EventResult]:
    """The results of the batch's redeem and void events, with the flags of their proven entries.

    Call only after :meth:`LogWitness.check_inclusion` accepted ``answer["entries"]``: each
    event of the batch has exactly one entry there.  An entry v1 logs its flags; an entry v2
    does not (they are the kiosk's own, given beside the entry, and the auditor's), so the
    kiosk takes them from the item, as the server answered them.
    """
    wanted = {signed.event.seq for signed in batch if signed.event.kind in _REDEMPTION_KINDS}
    if not wanted:
        return []
    entries = {item["seq"]: item for item in answer["entries"] if item["seq"] in wanted}
    stated = answer.get("results")
    statuses = {
        item.get("seq"): item
        for item in (stated if isinstance(stated, list) else [])
        if isinstance(item, dict)
    }
    results = []
    for seq in sorted(wanted):
        flags = tuple(entries[seq]["flags"])
        item = statuses.get(seq, {})
        status = item.get("status")
        if "flags" in item and item["flags"] != list(flags):
            log.warning("event %d: the result's flags differ from the logged ones; keeping the logged", seq)
        results.append(EventResult(seq, status if isinstance(status, str) else "accepted", flags))
    return results
