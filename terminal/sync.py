"""Background sync: send the outbox to the ledger server and apply its signed receipts.

The tap path never waits for this; sync runs in its own thread (or as
``kokreativ terminal sync``) and only reads the outbox and applies receipts.
Nothing counts as synced until a receipt signed by the pinned server key covers
it and the server's transparency log, witnessed on the way, extends the one this
kiosk verified before; any doubt ends the round and the events stay pending.
How a round goes, each answer's outcome, witnessing, balance sheets, following a
server key rotation, the till's quick rounds and the backoff are in
docs/kiosk.md ("Sync").
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import requests

from protocol import (
    MAX_BATCH_EVENTS,
    BalanceSheet,
    EventKind,
    PrivateKey,
    ProtocolError,
    PublicKey,
    Reason,
    SignedEvent,
    encode_batch,
    verify_balances,
    verify_receipt,
)
from protocol import clock as wall_clock
from protocol.checkpoint import Checkpoint
from protocol.heartbeat import READER_STATES, Heartbeat, sign_heartbeat
from protocol.serverkeys import follow_transitions
from protocol.version import SOFTWARE_VERSION as __version__
from terminal.clock import Clock, SystemClock
from terminal.config import KioskConfig
from terminal.errors import LogInconsistentError, ReceiptError, describe
from terminal.keystore import load_key
from terminal.outbox import LogCheckpoint, LogUpdate, Outbox
from terminal.redemptions import EventResult
from terminal.serverkey import key_changed_symptom, key_prefix, pinned_server_key
from terminal.trust import TrustStore
from terminal.witness import MISSING, LogWitness, note_bytes

if TYPE_CHECKING:
    from hardware.sdnotify import Watchdog

log = logging.getLogger(__name__)

# Sync problems with no answer from the server (or no code in its answer) are reason codes too.
NETWORK_ERROR = Reason.NETWORK_ERROR.value
SERVER_ERROR = Reason.SERVER_ERROR.value
STOPPED = "stopped"  # the round ended early because ``stop`` was set; nothing is lost
TIMEOUT = "timeout"  # a till's round reached its deadline between batches; the rest stays pending
INTERNAL_ERROR = Reason.INTERNAL_ERROR.value
# The round followed a planned rotation of the server key and pinned the new key (docs/kiosk.md);
# what the server sent under the old pin was not applied, so the round is run again with the new key.
SERVER_KEY_ROTATED = Reason.SERVER_KEY_ROTATED.value
ROUND_NOTE_S = 60.0  # an unchanged round outcome is written to the outbox at most this often
PAUSE_SLICE_S = 0.25  # how often a pause checks for stop, wake and "sync now"
HEARTBEAT_S = 60.0  # a heartbeat at most this often (docs/protocol.md, "Kiosk health")


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What one round did; ``error`` is a reason code (or a local code) when it stopped early."""

    sent: int
    acknowledged: int
    pending: int
    error: str | None = None
    message: str | None = None
    trust_issued_ms: int | None = None
    log_size: int | None = None  # the size of the last log checkpoint the kiosk verified

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class _Stop(Exception):
    """Ends a round early with a result code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class SyncClient:
    """Syncs ``outbox`` to the server named in ``config``; owns its HTTP session unless given one.

    ``rng`` draws the jitter; ``sleep(seconds, wake)`` (default: a wait that
    ``stop`` and the given ``wake`` cut short) is called with each pause, so
    tests can record the delays instead of waiting.  ``wake`` is ``None`` for a
    backoff pause after a failure, which only ``stop`` may cut short.

    Each request may take ``connect_timeout_s`` to connect and ``timeout_s``
    for the server to answer.
    """

    def __init__(
        self,
        config: KioskConfig,
        outbox: Outbox,
        *,
        session: requests.Session | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float, threading.Event | None], None] | None = None,
        timeout_s: float = 30.0,
        connect_timeout_s: float = 5.0,
        interval_s: float = 5.0,
        backoff_base_s: float = 1.0,
        backoff_cap_s: float = 300.0,
        trust_refresh_s: float = 60.0,
        now_ms: Callable[[], int] | None = None,
        key: PrivateKey | None = None,
        clock: Clock | None = None,
        reader_status: Callable[[], str] | None = None,
        heartbeat_s: float = HEARTBEAT_S,
    ) -> None:
        self._config = config
        self._outbox = outbox
        self._own_session = session is None
        self._session = session or requests.Session()
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._timeout = (connect_timeout_s, timeout_s)  # requests' (connect, read) pair
        self.interval_s = interval_s
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self._url = f"{config.server_url}/v1/kiosks/{config.kiosk_id}/events"
        self._trust_url = f"{config.server_url}/v1/kiosks/{config.kiosk_id}/trust"
        self._evidence_url = f"{config.server_url}/v1/kiosks/{config.kiosk_id}/evidence"
        self._server_keys_url = f"{config.server_url}/v1/server-keys"
        self.witness = LogWitness(
            server_key=config.server_public_key, origin=config.log_origin, outbox=outbox
        )
        self.trust = TrustStore(outbox, server_key=config.server_public_key, kiosk_id=config.kiosk_id)
        self.trust_refresh_s = trust_refresh_s
        self._now_ms = now_ms or wall_clock.now_ms
        self._trust_fetched_ms: int | None = None  # when this client last stored a list (its own clock)
        # The last round's result in :meth:`run_forever`, for whoever watches this client from another
        # thread (one assignment: either the old or the new result, never a mix).  Screens read the
        # round noted in the outbox instead, which a separate sync process writes too.
        self.last_result: SyncResult | None = None
        self._round_noted: tuple[int, str | None] | None = None  # (when, error) last written to the outbox
        self._handled_request: int | None = None  # the "sync now" request the current round answers
        # One round at a time in this process (the background loop and a till's quick round); the
        # deadline is set only for a till's round, which holds the lock while it runs.
        self._round_lock = threading.Lock()
        self._deadline: float | None = None
        # Heartbeats (docs/protocol.md, "Kiosk health"): signed with the kiosk's key, loaded when first
        # needed; the clock gives the evidence (synced, boot, monotonic time) and ``reader_status`` what
        # the card reader is doing (by default as the tap loop last noted it in the outbox).
        self._heartbeat_url = f"{config.server_url}/v1/kiosks/{config.kiosk_id}/heartbeat"
        self._key = key
        self._clock = clock
        # Default: what the tap loop noted in the outbox, so a separate sync service reports it too.
        self.reader_status: Callable[[], str] = reader_status or outbox.reader_status
        self.heartbeat_s = heartbeat_s
        self._heartbeat_tried_ms: int | None = None  # when this client last tried one (its own clock)

    def close(self) -> None:
        if self._own_session:
            self._session.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one round -------------------------------------------------------------------------------------

    def sync_once(self, stop: threading.Event | None = None) -> SyncResult:
        """Send everything pending; never raises for network or server trouble.

        With ``stop`` set (before or during the round) the round ends before the
        next batch with error ``stopped``; unacknowledged events stay pending.
        Waits for a round in flight (a till's) to end first.
        """
        with self._round_lock:
            try:
                result = self._round(stop)
                self._note_round(result)
                return result
            finally:
                self._end_round()

    def sync_for_till(self, timeout_s: float) -> SyncResult | None:
        """One quick round for a shop terminal's till; ``None`` if another round held the lock too long.

        Everything (waiting for the lock, connecting, each read) is bounded by
        ``timeout_s`` from now; a read that trickles in slowly may still overrun by
        one read timeout.  The round sends pending events and applies the answers,
        with their results and balances, exactly as :meth:`sync_once` does, but
        neither refreshes the trust list nor witnesses the log without events: the
        background rounds do that.  Never raises for network or server trouble.
        """
        deadline = time.monotonic() + timeout_s
        if not self._round_lock.acquire(timeout=max(0.0, timeout_s)):
            return None
        try:
            self._deadline = deadline
            result = self._round(None, quick=True)
            self._note_round(result)
            return result
        finally:
            self._deadline = None
            self._end_round()
            self._round_lock.release()

    def _end_round(self) -> None:
        if self._own_session:
            # Drop pooled connections between rounds: a kiosk syncs every few seconds at most, and an
            # idle keep-alive socket would otherwise outlive a client that nobody closes.
            self._session.close()

    def _timeouts(self) -> tuple[float, float]:
        """requests' ``(connect, read)`` timeouts: the configured ones, cut to a till's deadline."""
        if self._deadline is None:
            return self._timeout
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise _Stop(TIMEOUT, "the till's deadline passed")
        return min(self._timeout[0], remaining), min(self._timeout[1], remaining)

    def _round(self, stop: threading.Event | None = None, *, quick: bool = False) -> SyncResult:
        """One round; after following a server key rotation, one more at once with the new key."""
        result = self._attempt(stop, quick=quick)
        if result.error != SERVER_KEY_ROTATED:
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

    def _attempt(self, stop: threading.Event | None = None, *, quick: bool = False) -> SyncResult:
        sent = acknowledged = 0
        try:
            self._halt_on_alarm()
            next_seq: int | None = None  # None: from the first unsynced event
            last_gap: int | None = None
            witnessed = False  # did a batch answer bring a checkpoint this round?
            while True:
                if stop is not None and stop.is_set():
                    log.info("sync round stopped between batches; the rest stays pending")
                    return self._result(sent, acknowledged, STOPPED, "stop requested")
                batch = self._outbox.pending(limit=MAX_BATCH_EVENTS, from_seq=next_seq)
                if not batch:
                    break
                verified = self._outbox.log_checkpoint()  # the same snapshot names log_size and is extended
                data = encode_batch(batch, clock=self._clock_sample())
                status, body = self._post(data, log_size=verified.size if verified else 0)
                if status == 200:
                    newly, receipt_seq = self._apply(body, batch, verified)
                    witnessed = True
                    sent += len(batch)
                    acknowledged += newly
                    if receipt_seq < batch[-1].event.seq:
                        raise _Stop(Reason.BAD_RECEIPT.value, f"receipt seq {receipt_seq} behind batch")
                    next_seq, last_gap = receipt_seq + 1, None
                    continue
                code, message, error = _error_of(body)
                if status == 409 and code == Reason.SEQUENCE_GAP.value:
                    next_seq = self._resume_at(error.get("expected_seq"), batch[0].event.seq, last_gap)
                    last_gap = next_seq
                    continue
                if status >= 500:
                    raise _Stop(code or SERVER_ERROR, f"HTTP {status}: {message}")
                if status == 400 and code == Reason.BAD_FIELD.value and "index" not in error and verified:
                    # Not about an event: the server refuses our log_size, which it does when its log
                    # is smaller than the one we verified.  Its checkpoint shows whether it shrank.
                    self._witness_latest()
                raise _Stop(code or f"http_{status}", message)
            if quick:  # a till's round: its events are what it is for; the background does the rest
                current = self.trust.current()
                return self._result(sent, acknowledged, None, None, current.issued_ms if current else None)
            if not witnessed:
                self._witness_latest()
            trust_issued = self._refresh_trust()
        except _Stop as halt:
            log.warning("sync stopped: %s: %s", halt.code, halt.message)
            return self._result(sent, acknowledged, halt.code, halt.message)
        return self._result(sent, acknowledged, None, None, trust_issued)

    def _result(
        self, sent: int, acknowledged: int, error: str | None, message: str | None, trust: int | None = None
    ) -> SyncResult:
        verified = self._outbox.log_checkpoint()
        return SyncResult(
            sent,
            acknowledged,
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
        self.report_evidence()
        raise _Stop(self._outbox.alarm_code or Reason.FORK_DETECTED.value, alarm)

    def _fetch_trust_list(self) -> object:
        """The server's trust list for this kiosk as sent; ``None`` for a body that is not JSON.

        Unchecked: whoever stores it verifies it, and refuses ``None`` as ``bad_trust_list``.
        """
        raw = self._get(self._trust_url, what="trust list")
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def _refresh_trust(self) -> int | None:
        """Fetch and store the trust list if ours is older than ``trust_refresh_s``; its ``issued_ms``."""
        now = self._now_ms()
        fetched = self._trust_fetched_ms
        if fetched is not None and 0 <= now - fetched < self.trust_refresh_s * 1000:
            current = self.trust.current()
            return current.issued_ms if current else None
        body = self._fetch_trust_list()
        try:
            stored = self.trust.store(body)
        except ProtocolError as exc:
            self._follow_if_rotated(exc)
            raise _Stop(exc.reason.value, exc.message) from exc
        self._trust_fetched_ms = now
        return stored.issued_ms

    def _post(self, data: bytes, *, log_size: int) -> tuple[int, Any]:
        try:
            response = self._session.post(
                self._url,
                params={"log_size": str(log_size)},
                data=data,
                headers={"Content-Type": "application/json"},
                timeout=self._timeouts(),
            )
        except requests.RequestException as exc:
            raise _Stop(NETWORK_ERROR, f"{type(exc).__name__} talking to {self._config.server_url}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        return response.status_code, body

    def _apply(self, body: Any, batch: list[SignedEvent], verified: LogCheckpoint | None) -> tuple[int, int]:
        """Verify the receipt, witness the log (checkpoint, consistency, inclusion), apply; then balances."""
        answer = body if isinstance(body, dict) else {}
        try:
            wire = answer.get("receipt")
            receipt = verify_receipt(wire, self._server_key(), kiosk_id=self._config.kiosk_id)
            note = note_bytes(answer.get("checkpoint"))
            checkpoint = self.witness.verify_checkpoint(note)
            self._check_extends(verified, note, checkpoint, answer.get("consistency", MISSING))
            self.witness.check_inclusion(batch, answer.get("entries"), checkpoint)
            update = LogUpdate(note=note, checkpoint=checkpoint, replaces=verified)
            sheet = self._balances(answer["balances"]) if "balances" in answer else None
            newly = self._outbox.apply_receipt(
                receipt, log_update=update, results=redemption_results(batch, answer), balances=sheet
            )
        except ProtocolError as exc:
            self._follow_if_rotated(exc)
            raise _Stop(exc.reason.value, exc.message) from exc
        except ReceiptError as exc:
            raise _Stop(exc.code, exc.message) from exc
        return newly, receipt.seq

    def _balances(self, wire: object) -> BalanceSheet | None:
        """The answer's balance sheet once verified; one that fails is logged and ignored (``None``)."""
        try:
            return verify_balances(wire, self._server_key(), kiosk_id=self._config.kiosk_id)
        except ProtocolError as exc:
            log.warning("ignored the server's balance sheet: %s: %s", exc.reason.value, exc.message)
            return None

    # -- the server key ---------------------------------------------------------------------------------

    def _server_key(self) -> PublicKey:
        """The key to verify with now: read from the outbox, where the other process may have moved it."""
        return pinned_server_key(self._outbox, self._config.server_public_key)

    def _follow_if_rotated(self, failure: ProtocolError) -> None:
        """After ``failure``: if the server moved to a key the pinned one vouches for, pin it and say so.

        Only a signature that did not check with the pinned key asks the server
        (:func:`terminal.serverkey.key_changed_symptom`).  Raises ``_Stop(server_key_rotated)``
        once the new key and the trust list it signed are stored (one transaction);
        returns (and the caller raises ``failure``) whenever that does not happen,
        so a chain that does not check, or no chain at all, changes nothing.
        """
        if not key_changed_symptom(failure):
            return
        replaces = self._outbox.server_key()  # None: the enrolled key
        pinned = self._config.server_public_key if replaces is None else replaces
        what = f"{failure.reason.value} with the pinned server key {key_prefix(pinned)}…"
        try:
            answer = json.loads(self._get(self._server_keys_url, what="server key transitions"))
            wires = answer.get("transitions") if isinstance(answer, dict) else None
            if not isinstance(wires, list):
                log.warning("%s; the server's key transitions are not a list", what)
                return
            new = follow_transitions(wires, pinned)
        except _Stop as stop:
            log.warning("%s; could not fetch the server's key transitions: %s", what, stop.message)
            return
        except ValueError as exc:  # ProtocolError is one, and so is JSON that does not parse
            log.warning("%s; refused the server's key transitions: %s", what, exc)
            return
        if new == pinned:
            log.info("%s, and no key transition follows from it", what)
            return
        try:
            self.trust.adopt(self._fetch_trust_list(), new, replaces=replaces)
        except _Stop as stop:
            log.warning("%s; not following to %s…: no trust list: %s", what, key_prefix(new), stop.message)
            return
        except ProtocolError as exc:
            log.warning("%s; not following to %s…: its trust list: %s", what, key_prefix(new), exc)
            return
        if self._server_key() != new:  # another process pinned another key meanwhile; next round sees it
            return
        self._trust_fetched_ms = self._now_ms()
        log.warning(
            "the server key changed: now pinning %s… (was %s…), with the trust list it signed",
            key_prefix(new),
            key_prefix(pinned),
        )
        raise _Stop(SERVER_KEY_ROTATED, f"now pinning server key {key_prefix(new)}…")

    # -- the kiosk as a witness ------------------------------------------------------------------------

    def _check_extends(
        self, verified: LogCheckpoint | None, note: bytes, checkpoint: Checkpoint, proof: object
    ) -> None:
        """Rule 2; on failure set the alarm, keep and report the evidence, and stop the round."""
        try:
            self.witness.check_consistency(verified, checkpoint, proof)
        except LogInconsistentError as exc:
            assert verified is not None  # nothing to be inconsistent with otherwise
            log.error("the server's log is inconsistent with the one this kiosk verified: %s", exc.message)
            self._outbox.record_log_inconsistency(
                old_note=verified.note, new_note=note, consistency=exc.consistency, detail=exc.message
            )
            self.report_evidence()
            raise _Stop(exc.code, exc.message) from exc

    def _witness_latest(self) -> None:
        """With nothing sent this round: fetch the latest checkpoint and check that it extends ours."""
        verified = self._outbox.log_checkpoint()
        note = self._get(f"{self._config.server_url}/checkpoint", what="checkpoint")
        try:
            checkpoint = self.witness.verify_checkpoint(note)
        except ProtocolError as exc:
            self._follow_if_rotated(exc)
            raise _Stop(exc.reason.value, exc.message) from exc
        proof: object = []
        if verified is not None and checkpoint.size > verified.size:
            url = f"{self._config.server_url}/v1/log/consistency?from={verified.size}&to={checkpoint.size}"
            raw = self._get(url, what="consistency proof")
            try:
                answer = json.loads(raw)
            except ValueError:
                answer = None
            proof = answer.get("hashes", MISSING) if isinstance(answer, dict) else MISSING
        self._check_extends(verified, note, checkpoint, proof)
        if verified is not None and verified.note == note:
            return  # an idle log: no write every few seconds to the SD card for nothing new
        self._outbox.save_log_checkpoint(LogUpdate(note=note, checkpoint=checkpoint, replaces=verified))

    def _get(self, url: str, *, what: str) -> bytes:
        """``GET url``; a network error or any answer but ``200`` ends the round (it is no evidence)."""
        try:
            response = self._session.get(url, timeout=self._timeouts())
        except requests.RequestException as exc:
            raise _Stop(NETWORK_ERROR, f"{type(exc).__name__} fetching the {what}") from exc
        if response.status_code != 200:
            try:
                body = response.json()
            except ValueError:
                body = None
            code, message, _ = _error_of(body)
            fallback = SERVER_ERROR if response.status_code >= 500 else f"http_{response.status_code}"
            raise _Stop(code or fallback, f"{what}: {message}")
        return response.content

    def report_evidence(self) -> int:
        """POST every piece of log evidence the server has not acknowledged; how many it took.

        Best effort: never raises.  The server may be the one that rewrote its log,
        but reporting costs nothing and tells its operators; the evidence stays on
        the kiosk either way (``kokreativ terminal evidence``).
        """
        reported = 0
        try:
            for evidence in self._outbox.evidence(unreported=True):
                response = self._session.post(
                    self._evidence_url, json=evidence.to_json(), timeout=self._timeouts()
                )
                if response.status_code != 202:
                    log.warning("the server did not take the log evidence (HTTP %d)", response.status_code)
                    break
                self._outbox.mark_evidence_reported(evidence.id)
                reported += 1
        except Exception as exc:  # best effort: the alarm and the stored evidence are what matter
            log.warning("could not report the log evidence: %s", describe(exc))
        return reported

    def _resume_at(self, expected: object, first_sent: int, last_gap: int | None) -> int:
        """Where to resend from after ``sequence_gap``; stops when that cannot make progress."""
        if isinstance(expected, bool) or not isinstance(expected, int) or expected < 1:
            raise _Stop(Reason.SEQUENCE_GAP.value, "server sent no usable expected_seq")
        # One snapshot from disk (the kiosk may run in another process) gives both the head and the oldest.
        status = self._outbox.status()
        last_seq, oldest = status.last_seq, status.oldest_seq
        if expected > last_seq + 1:
            # The server holds events we do not: our outbox was lost or restored. A human must look.
            raise _Stop(Reason.SEQUENCE_GAP.value, f"server expects {expected}, we only have {last_seq}")
        if oldest is None or expected < oldest:
            raise _Stop(Reason.SEQUENCE_GAP.value, f"server expects {expected}, oldest retained is {oldest}")
        if expected in (first_sent, last_gap):
            raise _Stop(Reason.SEQUENCE_GAP.value, f"server keeps expecting {expected}")
        log.info("server expects seq %d; resending from there", expected)
        return expected

    # -- the loop --------------------------------------------------------------------------------------

    def backoff_delay(self, failures: int) -> float:
        """Full-jitter backoff after ``failures`` consecutive failed rounds (``failures`` >= 1)."""
        ceiling = min(self.backoff_cap_s, self.backoff_base_s * 2 ** min(failures - 1, 62))
        return self._rng.uniform(0, ceiling)

    def run_forever(
        self, stop: threading.Event, wake: threading.Event | None = None, watchdog: Watchdog | None = None
    ) -> None:
        """Sync until ``stop`` is set; after a good round a set ``wake`` cuts the pause short.

        After a failed round the backoff runs its course however often ``wake``
        is set (``stop`` still ends it): taps must not defeat the backoff.  A
        coordinator's "sync now" (:meth:`Outbox.request_sync`, possibly from the
        screen in another process) cuts any pause short, the backoff included:
        it is one person pressing a button, typically after fixing the network.
        Each round's outcome (this loop's or a ``--once`` round's) is noted in
        the outbox for the screen's status line, when it changes and otherwise
        at most every ``ROUND_NOTE_S``, to spare the SD card.

        ``watchdog``: only where this loop is the service (``kokreativ terminal
        sync`` under systemd), never in the kiosk's sync thread.  READY once the
        loop starts, a ping after every round and in every pause slice; a round
        itself does not ping, so the unit's ``WatchdogSec`` must exceed the
        longest round (a few requests, each bounded by the connect and read
        timeouts).
        """
        failures = 0
        if watchdog is not None:
            watchdog.ready()
        while not stop.is_set():
            if watchdog is not None:
                watchdog.ping()
            if wake is not None:
                wake.clear()  # taps from now on trigger another round
            self._handled_request = self._last_request()
            try:
                result = self.sync_once(stop)
            except Exception as exc:  # an outbox fault must not kill the thread; the tap loop goes on
                if stop.is_set():  # e.g. the outbox was closed under a round that outlived shutdown
                    log.debug("sync round ended by shutdown", exc_info=True)
                    break
                log.warning("sync round failed: %s", describe(exc))
                log.debug("sync round failure", exc_info=True)
                result = SyncResult(0, 0, -1, INTERNAL_ERROR)
                self._note_round(result)
            self.last_result = result
            if stop.is_set():
                break
            self.heartbeat_if_due()
            if result.ok:
                failures = 0
                self._pause(self.interval_s, stop, wake, watchdog)
            else:
                failures += 1
                self._pause(self.backoff_delay(failures), stop, None, watchdog)
        if watchdog is not None:
            watchdog.stopping()

    # -- heartbeats -------------------------------------------------------------------------------------

    def heartbeat_if_due(self) -> int | None:
        """Send a heartbeat if none was tried for ``heartbeat_s``; the server's clock offset, or ``None``.

        Called after each round of :meth:`run_forever`, good or bad: a kiosk whose syncs fail
        is exactly the one whose health a coordinator wants to see.  A failed POST is logged and
        waits for the next due time, like a sent one.  Never raises.
        """
        now = self._now_ms()
        last = self._heartbeat_tried_ms
        if last is not None and 0 <= now - last < self.heartbeat_s * 1000:
            return None
        self._heartbeat_tried_ms = now
        return self.send_heartbeat()

    def send_heartbeat(self) -> int | None:
        """POST one signed heartbeat; store and return the clock offset the server measured (ms).

        ``None`` when it could not be sent or the answer had no offset (logged).  Never raises.
        """
        try:
            wire = sign_heartbeat(self._heartbeat(), self._heartbeat_key())
            # Not the round's session: a till's round may use that one meanwhile (requests' sessions
            # are not thread-safe), unless the caller handed one in (tests, on loopback).
            post = requests.post if self._own_session else self._session.post
            response = post(self._heartbeat_url, json=wire, timeout=self._timeout)
            body = response.json() if response.status_code == 200 else None
            offset = body.get("offset_ms") if isinstance(body, dict) else None
            if isinstance(offset, bool) or not isinstance(offset, int):
                log.info("heartbeat not taken (HTTP %d)", response.status_code)
                return None
            self._outbox.record_clock_offset(offset, self._now_ms())
        except Exception as exc:  # best effort: the next one is a minute away
            log.info("could not send a heartbeat: %s", describe(exc))
            return None
        return offset

    def _clock_sample(self) -> dict[str, str] | None:
        """A heartbeat signed now, for a batch's ``clock``: it lets the server correct an unsynced clock.

        Made right before each POST, so the server's receive time is its reading
        give or take the request's transit (``protocol.clockref``).  ``None`` if it
        cannot be made (say, a busy outbox): the batch goes without, because the
        events matter more than their correction.
        """
        try:
            return sign_heartbeat(self._heartbeat(), self._heartbeat_key())
        except Exception as exc:
            log.warning("batch sent without a clock sample: %s", describe(exc))
            return None

    def _heartbeat(self) -> Heartbeat:
        if self._clock is None:
            self._clock = SystemClock()
        evidence = self._clock.now()
        last_seq, pending = self._outbox.backlog()  # from disk: the kiosk records taps in another process
        reader = self.reader_status()
        return Heartbeat(
            kiosk=self._config.kiosk_id,
            sent_ms=evidence.wall_ms,
            boot=evidence.boot_id,
            mono_ms=evidence.mono_ms,
            synced=evidence.synced,
            version=__version__,
            pending=pending,
            reader=reader if reader in READER_STATES else "unknown",
            last_seq=last_seq,
        )

    def _heartbeat_key(self) -> PrivateKey:
        if self._key is None:
            self._key = load_key(self._config.key_path)
        return self._key

    def _note_round(self, result: SyncResult) -> None:
        if result.error == STOPPED:
            return  # cut short by shutdown: says nothing about the server
        now = self._now_ms()
        last = self._round_noted
        if last is not None and last[1] == result.error and now - last[0] < ROUND_NOTE_S * 1000:
            return
        try:
            self._outbox.record_sync_round(result.error, now)
        except Exception as exc:  # only the status line suffers (the round's own failure is logged)
            log.debug("could not note the sync round: %s", describe(exc))
            return
        self._round_noted = (now, result.error)

    def _last_request(self) -> int | None:
        try:
            return self._outbox.sync_requested_ms()
        except Exception:  # a busy or closing outbox: no request seen this time
            return None

    def _requested(self) -> bool:
        """Whether someone asked for a round since this one started ("sync now")."""
        requested = self._last_request()
        return requested is not None and requested != self._handled_request

    def _pause(
        self,
        delay: float,
        stop: threading.Event,
        wake: threading.Event | None,
        watchdog: Watchdog | None = None,
    ) -> None:
        if self._sleep is not None:
            self._sleep(delay, wake)
            return
        # Several things may end a pause and they cannot be waited on together; short slices keep
        # stop, wake and "sync now" responsive, and ping the watchdog (its period may be shorter).
        slice_s = PAUSE_SLICE_S if watchdog is None else watchdog.loop_timeout(PAUSE_SLICE_S)
        remaining = delay
        while remaining > 0 and not stop.is_set():
            if watchdog is not None:
                watchdog.ping()
            step = min(remaining, slice_s)
            if wake is not None and wake.wait(step):
                return
            if wake is None and stop.wait(step):
                return
            if self._requested():
                return
            remaining -= step


_REDEMPTION_KINDS = (EventKind.REDEEM, EventKind.VOID)


def redemption_results(batch: list[SignedEvent], answer: dict[str, Any]) -> list[EventResult]:
    """The results of the batch's redeem and void events, with the flags the inclusion proofs verified.

    Call only after :meth:`LogWitness.check_inclusion` accepted ``answer["entries"]``: each
    event of the batch has exactly one entry there, whose flags are in the signed log.
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


def _error_of(body: Any) -> tuple[str | None, str, dict[str, Any]]:
    """``(code, message, error object)`` from the protocol's error body, tolerating junk."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, "no error body", {}
    code = error.get("code")
    return (code if isinstance(code, str) else None), str(error.get("message", ""))[:200], error
