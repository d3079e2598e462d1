"""Heartbeats and clock samples: the kiosk's signed word on its health and its clock.

docs/protocol.md ("Kiosk health"): a heartbeat at most every ``interval_s``,
after each round of the loop; the same signed reading goes with each batch as
its clock sample, so the server can correct an unsynced clock.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

from protocol import PrivateKey, ProtocolError
from protocol.encoding import b64decode
from protocol.heartbeat import READER_STATES, Heartbeat, sign_heartbeat
from protocol.tillstate import verify_till_state
from protocol.version import SOFTWARE_VERSION as __version__
from terminal.clock import Clock, SystemClock
from terminal.config import KioskConfig
from terminal.errors import describe
from terminal.keystore import load_key
from terminal.outbox import Outbox
from terminal.serverkey import pinned_server_key
from terminal.sync.transport import Transport, kiosk_url

log = logging.getLogger("terminal.sync")

HEARTBEAT_S = 60.0  # a heartbeat at most this often (docs/protocol.md, "Kiosk health")


class Heartbeats:
    """Signs the kiosk's heartbeats with ``key`` (by default its own, loaded when first needed).

    ``clock`` gives the evidence (synced, boot, monotonic time; a :class:`SystemClock`
    by default) and ``reader_status`` what the card reader is doing.
    """

    def __init__(
        self,
        config: KioskConfig,
        outbox: Outbox,
        transport: Transport,
        *,
        key: PrivateKey | None,
        clock: Clock | None,
        reader_status: Callable[[], str],
        interval_s: float,
        now_ms: Callable[[], int],
    ) -> None:
        self.reader_status = reader_status
        self.interval_s = interval_s
        self._kiosk_id = config.kiosk_id
        self._url = f"{kiosk_url(config)}/heartbeat"
        self._outbox = outbox
        self._transport = transport
        self._key = key
        self._key_path = config.key_path
        self._clock = clock
        self._now_ms = now_ms
        self._tried_ms: int | None = None  # when this client last tried one (its own clock)
        self._server_key = config.server_public_key

    def send_if_due(self) -> int | None:
        """Send a heartbeat if none was tried for ``interval_s``; the server's clock offset, or ``None``.

        Never raises; a failed POST waits for the next due time, like a sent one.
        """
        now = self._now_ms()
        last = self._tried_ms
        if last is not None and 0 <= now - last < self.interval_s * 1000:
            return None
        self._tried_ms = now
        return self.send()

    def send(self) -> int | None:
        """POST one signed heartbeat; store and return the clock offset the server measured (ms).

        ``None`` when it could not be sent or the answer had no offset (logged).  Never raises.
        """
        try:
            wire = sign_heartbeat(self._heartbeat(), self.signing_key())
            response = self._transport.post_json_aside(self._url, wire)
            body = response.json() if response.status_code == 200 else None
            offset = body.get("offset_ms") if isinstance(body, dict) else None
            if isinstance(offset, bool) or not isinstance(offset, int):
                log.info("heartbeat not taken (HTTP %d)", response.status_code)
                return None
            self._outbox.record_clock_offset(offset, self._now_ms())
            if isinstance(body, dict) and "till" in body:
                self._keep_till_state(body["till"], wire)
        except Exception as exc:  # best effort: the next one is a minute away
            log.info("could not send a heartbeat: %s", describe(exc))
            return None
        return offset

    def _keep_till_state(self, till: object, heartbeat: dict[str, str]) -> None:
        """Store a shop terminal's till state if the server signed it for this very heartbeat.

        Bound to the heartbeat's hash, so an old roster (with a removed member's PIN)
        cannot be replayed to the till; one that does not verify is dropped (logged).
        """
        request = hashlib.sha256(b64decode(heartbeat["body"], field="body")).hexdigest()
        try:
            key = pinned_server_key(self._outbox, self._server_key)
            state = verify_till_state(till, key, kiosk_id=self._kiosk_id, request=request)
        except ProtocolError as exc:
            log.warning("dropped a till state that does not verify: %s", describe(exc))
            return
        assert isinstance(till, dict)
        self._outbox.save_till_state(till, state.issued_ms)

    def clock_sample(self) -> dict[str, str] | None:
        """A heartbeat signed now, for a batch's ``clock``: it lets the server correct an unsynced clock.

        Made right before each POST, so the server's receive time is its reading
        give or take the request's transit (``protocol.clockref``).  ``None`` if it
        cannot be made (say, a busy outbox): the batch goes without, because the
        events matter more than their correction.
        """
        try:
            return sign_heartbeat(self._heartbeat(), self.signing_key())
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
            kiosk=self._kiosk_id,
            sent_ms=evidence.wall_ms,
            boot=evidence.boot_id,
            mono_ms=evidence.mono_ms,
            synced=evidence.synced,
            version=__version__,
            pending=pending,
            reader=reader if reader in READER_STATES else "unknown",
            last_seq=last_seq,
        )

    def signing_key(self) -> PrivateKey:
        """The kiosk's own key, loaded when first needed (it signs heartbeats and evidence reports)."""
        if self._key is None:
            self._key = load_key(self._key_path)
        return self._key
