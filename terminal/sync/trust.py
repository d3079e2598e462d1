"""What a round trusts from the server: the trust list it refreshes, and a server key rotation it follows.

Both live here because following a rotation stores a new trust list too, and
counts as a refresh (docs/kiosk.md, "The trust list" and "Following a server key rotation").
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from protocol import ProtocolError, PublicKey
from protocol.serverkeys import follow_transitions
from terminal.config import KioskConfig
from terminal.outbox import Outbox
from terminal.serverkey import key_changed_symptom, key_prefix, pinned_server_key
from terminal.sync.result import SERVER_KEY_ROTATED, StopRound
from terminal.sync.transport import Transport, kiosk_url
from terminal.trust import TrustStore

log = logging.getLogger("terminal.sync")


class TrustFollower:
    """Keeps ``trust`` no older than ``refresh_s`` and follows the server to a key the pinned one vouches for.

    The server key from enrolment (``config.server_public_key``) stays pinned until a rotation
    is followed; ``now_ms`` is this client's clock for when the list was last fetched.
    """

    def __init__(
        self,
        config: KioskConfig,
        outbox: Outbox,
        transport: Transport,
        *,
        trust: TrustStore,
        refresh_s: float,
        now_ms: Callable[[], int],
    ) -> None:
        self.trust = trust
        self.refresh_s = refresh_s
        self._outbox = outbox
        self._transport = transport
        self._trust_url = f"{kiosk_url(config)}/trust"
        self._server_keys_url = f"{config.server_url}/v1/server-keys"
        self._enrolled_key = config.server_public_key
        self._now_ms = now_ms
        self._fetched_ms: int | None = None  # when this client last stored a list (its own clock)

    def server_key(self) -> PublicKey:
        """The key to verify with now: read from the outbox, where the other process may have moved it."""
        return pinned_server_key(self._outbox, self._enrolled_key)

    def current_issued_ms(self) -> int | None:
        """The stored list's ``issued_ms``, ``None`` without one."""
        current = self.trust.current()
        return current.issued_ms if current else None

    def refresh(self) -> int | None:
        """Fetch and store the trust list if ours is older than ``refresh_s``; its ``issued_ms``."""
        now = self._now_ms()
        fetched = self._fetched_ms
        if fetched is not None and 0 <= now - fetched < self.refresh_s * 1000:
            return self.current_issued_ms()
        body = self._fetch_list()
        try:
            stored = self.trust.store(body)
        except ProtocolError as exc:
            self.follow_if_rotated(exc)
            raise StopRound(exc.reason.value, exc.message) from exc
        self._fetched_ms = now
        return stored.issued_ms

    def _fetch_list(self) -> object:
        """The server's trust list for this kiosk as sent; ``None`` for a body that is not JSON.

        Unchecked: whoever stores it verifies it, and refuses ``None`` as ``bad_trust_list``.
        """
        raw = self._transport.get(self._trust_url, what="trust list")
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def follow_if_rotated(self, failure: ProtocolError) -> None:
        """After ``failure``: if the server moved to a key the pinned one vouches for, pin it and say so.

        Only a signature that did not check with the pinned key asks the server
        (:func:`terminal.serverkey.key_changed_symptom`).  Raises ``StopRound(server_key_rotated)``
        once the new key and the trust list it signed are stored (one transaction);
        returns (and the caller raises ``failure``) whenever that does not happen,
        so a chain that does not check, or no chain at all, changes nothing.
        """
        if not key_changed_symptom(failure):
            return
        replaces = self._outbox.server_key()  # None: the enrolled key
        pinned = self._enrolled_key if replaces is None else replaces
        what = f"{failure.reason.value} with the pinned server key {key_prefix(pinned)}…"
        new = self._transition_from(pinned, what)
        if new is None:
            return
        if new == pinned:
            log.info("%s, and no key transition follows from it", what)
            return
        try:
            self.trust.adopt(self._fetch_list(), new, replaces=replaces)
        except StopRound as stop:
            log.warning("%s; not following to %s…: no trust list: %s", what, key_prefix(new), stop.message)
            return
        except ProtocolError as exc:
            log.warning("%s; not following to %s…: its trust list: %s", what, key_prefix(new), exc)
            return
        if self.server_key() != new:  # another process pinned another key meanwhile; next round sees it
            return
        self._fetched_ms = self._now_ms()
        log.warning(
            "the server key changed: now pinning %s… (was %s…), with the trust list it signed",
            key_prefix(new),
            key_prefix(pinned),
        )
        raise StopRound(SERVER_KEY_ROTATED, f"now pinning server key {key_prefix(new)}…")

    def _transition_from(self, pinned: PublicKey, what: str) -> PublicKey | None:
        """Where the server's transitions lead from ``pinned``; ``None`` (logged) if they do not check."""
        try:
            answer = json.loads(self._transport.get(self._server_keys_url, what="server key transitions"))
            wires = answer.get("transitions") if isinstance(answer, dict) else None
            if not isinstance(wires, list):
                log.warning("%s; the server's key transitions are not a list", what)
                return None
            return follow_transitions(wires, pinned)
        except StopRound as stop:
            log.warning("%s; could not fetch the server's key transitions: %s", what, stop.message)
            return None
        except ValueError as exc:  # ProtocolError is one, and so is JSON that does not parse
            log.warning("%s; refused the server's key transitions: %s", what, exc)
            return None
