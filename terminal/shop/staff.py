"""The till's staff: who may redeem (and void) here, checked by PIN, and a session until idle.

The staff list is the server-signed till state the sync side stored beside the
last heartbeat (:mod:`protocol.tillstate`); it is verified again whenever it is
read, with the server key pinned now, so a list changed on the SD card counts
as none: with no list, a till whose shop has staff asks for a PIN nobody has
and redeems nothing (fail closed), and a shop without staff works as before.

A PIN opens a *staff session* for its member until ``idle_timeout_s`` pass
without a redemption (each one :meth:`touch`-es it); five wrong PINs lock the
pad for five minutes, as the coordinator PIN does.  A ``cashier`` redeems only,
a ``manager`` may also open the void menu (``docs/kiosk.md``, "Till staff").

The PIN check costs an argon2id hash per member (16 MiB): call :meth:`unlock`
from a worker thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Final

from protocol import ProtocolError, PublicKey
from protocol import clock as wall_clock
from protocol.sealed import open_sealed
from protocol.tillstate import StaffCredential, TillState, VoidOrder, parse_till_state
from terminal.outbox import OutboxReader
from terminal.pin import verify_pin
from terminal.serverkey import pinned_server_key

IDLE_TIMEOUT_S: Final = 120.0
MAX_WRONG_PINS: Final = 5
LOCKOUT_S: Final = 300.0


class TillStaff:
    """The till's staff list and its one staff session.  Thread-safe."""

    def __init__(
        self,
        outbox: OutboxReader,
        *,
        server_key: PublicKey,
        kiosk_id: str,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        now_ms: Callable[[], int] = wall_clock.now_ms,
    ) -> None:
        self._outbox = outbox
        self._server_key = server_key
        self._kiosk_id = kiosk_id
        self.idle_timeout_s = idle_timeout_s
        self._now_ms = now_ms
        self._lock = threading.Lock()
        self._cached: tuple[str, TillState | None] | None = None  # (stored body, its verified parse)
        self._member: StaffCredential | None = None
        self._last_ms = 0
        self._wrong = 0
        self._locked_until_ms = 0

    def state(self) -> TillState | None:
        """The stored till state, verified; ``None`` before the first or if it does not verify."""
        wire = self._outbox.till_state()
        if wire is None:
            return None
        body = str(wire.get("body"))
        cached = self._cached
        if cached is not None and cached[0] == body:
            return cached[1]
        try:
            key = pinned_server_key(self._outbox, self._server_key)
            state: TillState | None = parse_till_state(
                open_sealed(wire, key, what="till state", field="till")
            )
        except ProtocolError:
            state = None
        if state is not None and state.kiosk != self._kiosk_id:
            state = None
        self._cached = (body, state)
        return state

    def required(self) -> bool:
        """Whether a PIN is needed to redeem: the shop has (had) staff, or its list does not verify.

        A shop whose every member was removed still needs one: the server declines or holds
        every sale that names nobody there, so the till says so rather than sell in vain.
        """
        wire = self._outbox.till_state()
        if wire is None:
            return False
        state = self.state()
        return state is None or state.pin_required

    def void_orders(self) -> tuple[VoidOrder, ...]:
        """The voids the shop's owner asked for, as of the last heartbeat."""
        state = self.state()
        return () if state is None else state.voids

    def locked_for_s(self) -> int:
        """Seconds the PIN pad stays locked after too many wrong PINs (0: open)."""
        return max(0, -(-(self._locked_until_ms - self._now_ms()) // 1000))

    def unlock(self, pin: str) -> StaffCredential | None:
        """Start a session for the member whose PIN this is; ``None`` for a wrong PIN or a locked pad."""
        state = self.state()
        with self._lock:
            now = self._now_ms()
            if now < self._locked_until_ms:
                return None
            member = None
            if state is not None:
                member = next((m for m in state.staff if verify_pin(m.pin_hash, pin)), None)
            if member is None:
                self._wrong += 1
                if self._wrong >= MAX_WRONG_PINS:
                    self._wrong = 0
                    self._locked_until_ms = now + int(LOCKOUT_S * 1000)
                return None
            self._wrong = 0
            self._member, self._last_ms = member, now
            return member

    def current(self) -> StaffCredential | None:
        """The member of the open session, if it is not idle and the member is still on the list."""
        with self._lock:
            member = self._member
            if member is None or self._now_ms() - self._last_ms > self.idle_timeout_s * 1000:
                self._member = None
                return None
        state = self.state()
        listed = None if state is None else state.member(member.staff_id)
        if listed is None:  # removed since, or the list no longer verifies
            self.lock()
        return listed

    def touch(self) -> None:
        """Note activity in the session (a redemption), so it stays open."""
        with self._lock:
            if self._member is not None:
                self._last_ms = self._now_ms()

    def lock(self) -> None:
        """End the session (the "Abmelden" button, or idle)."""
        with self._lock:
            self._member = None
