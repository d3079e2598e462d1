"""The sync client: one round at a time, and the loop that repeats rounds with backoff.

It builds its parts once, each with what it needs and no more: the HTTP
:class:`~terminal.sync.transport.Transport`, the
:class:`~terminal.sync.trust.TrustFollower` (trust list, server key rotation),
:class:`~terminal.sync.witnessing.Witnessing` (the log), the
:class:`~terminal.sync.heartbeats.Heartbeats` and the
:class:`~terminal.sync.rounds.Rounds` that use them.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import requests

from protocol import PrivateKey
from protocol import clock as wall_clock
from terminal.clock import Clock
from terminal.config import KioskConfig
from terminal.errors import describe
from terminal.metricsfile import MetricsFile
from terminal.outbox import Outbox
from terminal.sync.heartbeats import HEARTBEAT_S, Heartbeats
from terminal.sync.result import INTERNAL_ERROR, STOPPED, SyncResult
from terminal.sync.rounds import Rounds
from terminal.sync.transport import Transport
from terminal.sync.trust import TrustFollower
from terminal.sync.witnessing import Witnessing
from terminal.trust import TrustStore
from terminal.witness import LogWitness

if TYPE_CHECKING:
    from hardware.sdnotify import Watchdog

log = logging.getLogger("terminal.sync")

ROUND_NOTE_S = 60.0  # an unchanged round outcome is written to the outbox at most this often
PAUSE_SLICE_S = 0.25  # how often a pause checks for stop, wake and "sync now"


class SyncClient:
    """Syncs ``outbox`` to the server named in ``config``; owns its HTTP session unless given one.

    ``rng`` draws the jitter; ``sleep(seconds, wake)`` (default: a wait that
    ``stop`` and the given ``wake`` cut short) is called with each pause, so
    tests can record the delays instead of waiting.  ``wake`` is ``None`` for a
    backoff pause after a failure, which only ``stop`` may cut short.

    Each request may take ``connect_timeout_s`` to connect and ``timeout_s``
    for the server to answer.  Heartbeats are signed with ``key`` (by default
    the kiosk's key, loaded when first needed); ``clock`` gives their evidence
    and ``reader_status`` what the card reader is doing (by default as the tap
    loop last noted it in the outbox, so a separate sync service reports it too).
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
        self._outbox = outbox
        self._rng = rng or random.Random()
        self._sleep = sleep
        self.interval_s = interval_s
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self._now_ms = now_ms or wall_clock.now_ms
        # requests' (connect, read) pair
        self._transport = transport = Transport(
            config.server_url, session=session, timeout=(connect_timeout_s, timeout_s)
        )
        self.witness = LogWitness(
            server_key=config.server_public_key, origin=config.log_origin, outbox=outbox
        )
        self.trust = TrustStore(outbox, server_key=config.server_public_key, kiosk_id=config.kiosk_id)
        # Each part takes the kiosk's config, the outbox and the transport, and names what else it uses.
        self._keys = TrustFollower(
            config, outbox, transport, trust=self.trust, refresh_s=trust_refresh_s, now_ms=self._now_ms
        )
        self._heartbeats = Heartbeats(
            config,
            outbox,
            transport,
            key=key,
            clock=clock,
            reader_status=reader_status or outbox.reader_status,
            interval_s=heartbeat_s,
            now_ms=self._now_ms,
        )
        self._witnessing = Witnessing(
            config,
            outbox,
            transport,
            witness=self.witness,
            keys=self._keys,
            signing_key=self._heartbeats.signing_key,
        )
        self._rounds = Rounds(
            config,
            outbox,
            transport,
            keys=self._keys,
            witnessing=self._witnessing,
            clock_sample=self._heartbeats.clock_sample,
        )
        # The last round's result in :meth:`run_forever`, for whoever watches this client from another
        # thread (one assignment: either the old or the new result, never a mix).  Screens read the
        # round noted in the outbox instead, which a separate sync process writes too.
        self.last_result: SyncResult | None = None
        self._round_noted: tuple[int, str | None] | None = None  # (when, error) last written to the outbox
        self._handled_request: int | None = None  # the "sync now" request the current round answers
        # One round at a time in this process (the background loop and a till's quick round).
        self._round_lock = threading.Lock()
        # node_exporter's textfile, rewritten after the loop's rounds (never the tap path); None: off.
        self._metrics = None if config.metrics_file is None else MetricsFile(config.metrics_file)
        self._kiosk_id, self._site_id = config.kiosk_id, config.site_id

    @property
    def reader_status(self) -> Callable[[], str]:
        """What the card reader is doing, for heartbeats; the kiosk's own process sets its reader's."""
        return self._heartbeats.reader_status

    @reader_status.setter
    def reader_status(self, status: Callable[[], str]) -> None:
        self._heartbeats.reader_status = status

    @property
    def heartbeat_s(self) -> float:
        """A heartbeat at most this often."""
        return self._heartbeats.interval_s

    @heartbeat_s.setter
    def heartbeat_s(self, seconds: float) -> None:
        self._heartbeats.interval_s = seconds

    @property
    def trust_refresh_s(self) -> float:
        """A round fetches the trust list when the stored one is older than this."""
        return self._keys.refresh_s

    @trust_refresh_s.setter
    def trust_refresh_s(self, seconds: float) -> None:
        self._keys.refresh_s = seconds

    def close(self) -> None:
        self._transport.close()

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
                result = self._rounds.run(stop)
                self._note_round(result)
                return result
            finally:
                self._transport.end_round()

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
            with self._transport.deadline(deadline):
                result = self._rounds.run(None, quick=True)
                self._note_round(result)
                return result
        finally:
            self._transport.end_round()
            self._round_lock.release()

    def report_evidence(self) -> int:
        """POST every piece of log evidence the server has not acknowledged; how many it took.

        Best effort: never raises.  The server may be the one that rewrote its log,
        but reporting costs nothing and tells its operators; the evidence stays on
        the kiosk either way (``kokreativ terminal evidence``).
        """
        return self._witnessing.report_evidence()

    # -- heartbeats -------------------------------------------------------------------------------------

    def heartbeat_if_due(self) -> int | None:
        """Send a heartbeat if none was tried for ``heartbeat_s``; the server's clock offset, or ``None``.

        Called after each round of :meth:`run_forever`, good or bad: a kiosk whose syncs fail
        is exactly the one whose health a coordinator wants to see.  A failed POST is logged and
        waits for the next due time, like a sent one.  Never raises.
        """
        return self._heartbeats.send_if_due()

    def send_heartbeat(self) -> int | None:
        """POST one signed heartbeat; store and return the clock offset the server measured (ms).

        ``None`` when it could not be sent or the answer had no offset (logged).  Never raises.
        """
        return self._heartbeats.send()

    def write_metrics(self) -> bool:
        """Bring ``metrics_file`` (kiosk.toml) up to date if set; whether it was written.  Never raises."""
        if self._metrics is None:
            return False
        return self._metrics.update(
            self._outbox,
            kiosk_id=self._kiosk_id,
            site_id=self._site_id,
            reader=self._heartbeats.reader_status,
            now_ms=self._now_ms(),
        )

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
            self.write_metrics()
            if result.ok:
                failures = 0
                self._pause(self.interval_s, stop, wake, watchdog)
            else:
                failures += 1
                self._pause(self.backoff_delay(failures), stop, None, watchdog)
        if watchdog is not None:
            watchdog.stopping()

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
