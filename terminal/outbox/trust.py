"""The newest verified trust list and the pinned server key, which move together.

The server key is pinned at enrolment (``kiosk.toml``); once the kiosk follows a
planned rotation (:mod:`terminal.serverkey`) the new key lives here, and is pinned in
the same transaction as the trust list signed by it (:meth:`TrustMixin.pin_server_key`),
so the tap path never pairs a key with a list that the key did not sign.  Verifying is
the caller's job (:mod:`terminal.trust`); this only stores what was verified.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from protocol import PublicKey
from terminal.outbox.base import OutboxBase, immediate

log = logging.getLogger("terminal.outbox")


class TrustMixin(OutboxBase):
    """The trust list (written by sync, read by the tap path) and the server key (part of the Outbox)."""

    def save_trust_list(self, wire: dict[str, str], issued_ms: int) -> bool:
        """Keep ``wire`` (already verified by the caller) unless the stored list is newer.

        Returns ``False`` and changes nothing for a list older than the stored one, so a
        replayed list can never unblock a card.  An equal ``issued_ms`` is a no-op success.
        """
        with self._lock, immediate(self._conn):
            return self._put_trust_list(wire, issued_ms)

    def _put_trust_list(self, wire: dict[str, str], issued_ms: int, *, resigned: bool = False) -> bool:
        """Inside a transaction: keep ``wire`` unless the stored list is newer (:meth:`save_trust_list`).

        ``resigned``: the list of the same ``issued_ms`` replaces the stored one too, for a
        rotation, where it comes signed by the new key (the server never reuses an ``issued_ms``
        for another list, so this rolls nothing back).
        """
        row = self._conn.execute("SELECT issued_ms FROM trust_list").fetchone()
        if row is not None and row[0] > issued_ms:
            return False
        if row is None or row[0] < issued_ms or resigned:
            self._conn.execute(
                "INSERT OR REPLACE INTO trust_list (id, issued_ms, wire, received_ms) VALUES (1, ?, ?, ?)",
                (issued_ms, json.dumps(wire, sort_keys=True), self._now_ms()),
            )
        return True

    def trust_list_issued_ms(self) -> int | None:
        """``issued_ms`` of the stored trust list; one indexed read, so callers can cache the parse."""
        with self._lock:
            row = self._conn.execute("SELECT issued_ms FROM trust_list").fetchone()
            return None if row is None else int(row[0])

    def trust_list(self) -> tuple[int, dict[str, Any]] | None:
        """``(issued_ms, wire)`` of the stored trust list, or ``None`` before the first one."""
        with self._lock:
            row = self._conn.execute("SELECT issued_ms, wire FROM trust_list").fetchone()
            return None if row is None else (int(row[0]), json.loads(row[1]))

    def trust_version(self) -> tuple[int | None, str | None]:
        """``(issued_ms of the stored list, base64 of the pinned server key)``, in one statement.

        What a reader of the trust list caches its verified parse against: either changes when
        a rotation is followed, and one statement sees both from the same commit.
        """
        with self._lock:
            issued, key = self._conn.execute(
                "SELECT (SELECT issued_ms FROM trust_list), (SELECT public_key FROM server_key)"
            ).fetchone()
        return (None if issued is None else int(issued)), (None if key is None else str(key))

    def trust_list_and_key(self) -> tuple[tuple[int, dict[str, Any]] | None, PublicKey | None]:
        """The stored trust list (as :meth:`trust_list`) and the pinned server key, from one snapshot.

        One read transaction, so a list stored together with a new key (:meth:`pin_server_key`)
        is never paired with the key before it.
        """
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN")
            try:
                row = conn.execute("SELECT issued_ms, wire FROM trust_list").fetchone()
                key = conn.execute("SELECT public_key FROM server_key").fetchone()
            finally:
                conn.execute("COMMIT")
        stored = None if row is None else (int(row[0]), json.loads(row[1]))
        return stored, (None if key is None else PublicKey.from_b64(key[0], field="server_key"))

    # -- the server key (pinned at enrolment; moved on by a followed rotation, terminal.serverkey) -------

    def server_key(self) -> PublicKey | None:
        """The server key pinned by a followed rotation, or ``None``: the enrolled key still holds.

        Read from disk every time: the other process (screen or sync service) may have pinned
        a new key since.
        """
        with self._lock:
            row = self._conn.execute("SELECT public_key FROM server_key").fetchone()
        return None if row is None else PublicKey.from_b64(row[0], field="server_key")

    def server_key_pinned_ms(self) -> int | None:
        """When the current server key was pinned (our clock), or ``None`` for the enrolled key."""
        with self._lock:
            row = self._conn.execute("SELECT pinned_ms FROM server_key").fetchone()
        return None if row is None else int(row[0])

    def pin_server_key(
        self,
        key: PublicKey,
        *,
        replaces: PublicKey | None,
        trust_wire: dict[str, str],
        trust_issued_ms: int,
    ) -> bool:
        """Pin ``key`` and store the trust list it signed, in ONE transaction; ``False``: nothing changed.

        The caller has followed a transition chain to ``key`` and verified ``trust_wire``
        with it.  Both go in together so no reader (the tap path, maybe in another
        process) ever sees the new key with only the old key's list, which would
        verify as no list at all.  ``replaces`` is the pin the chain was followed from
        (:meth:`server_key`; ``None``: the enrolled key): if another process pinned a
        different key meanwhile, nothing is written.  If it already pinned ``key``, only
        the list is stored (as :meth:`save_trust_list` would).  A list older than the
        stored one refuses the whole pin: the server never hands out an older
        ``issued_ms``, so that list is a replay and the kiosk keeps its key.
        """
        encoded = key.to_b64()
        with self._lock, immediate(self._conn):
            conn = self._conn
            row = conn.execute("SELECT public_key FROM server_key").fetchone()
            stored = None if row is None else str(row[0])
            if stored == encoded:
                return self._put_trust_list(trust_wire, trust_issued_ms, resigned=True)
            if stored != (None if replaces is None else replaces.to_b64()):
                log.warning("another process pinned a different server key meanwhile; keeping that one")
                return False
            if not self._put_trust_list(trust_wire, trust_issued_ms, resigned=True):
                return False
            conn.execute(
                "INSERT OR REPLACE INTO server_key (id, public_key, previous, pinned_ms) VALUES (1, ?, ?, ?)",
                (encoded, stored, self._now_ms()),
            )
            return True

    def save_till_state(self, wire: dict[str, str], issued_ms: int) -> bool:
        """Keep a till state ``wire`` (verified by the caller) unless the stored one is newer."""
        with self._lock, immediate(self._conn):
            row = self._conn.execute("SELECT issued_ms FROM till_state").fetchone()
            if row is not None and row[0] > issued_ms:
                return False
            self._conn.execute(
                "INSERT OR REPLACE INTO till_state (id, issued_ms, wire, received_ms) VALUES (1, ?, ?, ?)",
                (issued_ms, json.dumps(wire, sort_keys=True), self._now_ms()),
            )
            return True

    def till_state(self) -> dict[str, Any] | None:
        """The stored till state's wire form, or ``None`` before the first one."""
        with self._lock:
            row = self._conn.execute("SELECT wire FROM till_state").fetchone()
        if row is None:
            return None
        wire = json.loads(row[0])
        return wire if isinstance(wire, dict) else None
