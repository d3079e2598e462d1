"""What a shop's till learns from the server beside its heartbeat: its staff and the voids asked of it.

The server answers a shop terminal's signed heartbeat (:mod:`protocol.heartbeat`)
with a *till state* it signs with its own key (``{"body", "sig"}``,
:mod:`protocol.sealed`): the shop's active till staff (ID, role, daily
maximum, the argon2id hash of their PIN; never a name), whether the shop has
ever had staff (then the server's staff rules hold, even with nobody left) and
the voids the shop's owner asked for on the shop page (redemption ID, card,
amount, time).  The
body names the kiosk and ``request``, the SHA-256 of the heartbeat's bytes it
answers, so a till takes only an answer to its own fresh request: nobody can
replay an old roster (with a removed member's PIN) to it, or another till's.
None of it is logged: the staff changes the rules read are (``till_staff``
entries), and a void is a signed event of the till's own.

Example::

    state = TillState(kiosk="k_…", request=sha256(heartbeat_body).hexdigest(), issued_ms=now,
                      staff=(StaffCredential("e_…", "cashier", 80, "$argon2id$…"),), voids=())
    wire = sign_till_state(state, server_key)                                  # the server
    state = verify_till_state(wire, server_public_key, kiosk_id="k_…", request=digest)   # the till
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from protocol import ids
from protocol.encoding import MAX_SAFE_INT, canonical_json, parse_canonical_json
from protocol.errors import MalformedError, ProtocolError
from protocol.events import MAX_AMOUNT
from protocol.keys import PrivateKey, PublicKey
from protocol.reasons import Reason
from protocol.sealed import open_sealed, seal

TILL_STATE_TYPE: Final = "kokreativ.till"
TILL_STATE_VERSION: Final = 1
MAX_TILL_STATE_BYTES: Final = 64 * 1024
MAX_STAFF: Final = 100
MAX_VOIDS: Final = 200
ROLES: Final = frozenset({"cashier", "manager"})
_HEX64 = re.compile(r"[0-9a-f]{64}")
_FIELDS: Final = frozenset({"type", "v", "kiosk", "request", "issued_ms", "staffed", "staff", "voids"})
_STAFF_FIELDS: Final = frozenset({"id", "role", "daily_max", "pin_hash"})
_VOID_FIELDS: Final = frozenset({"id", "card", "amount", "wall_ms"})


@dataclass(frozen=True, slots=True)
class StaffCredential:
    """A till staff member as the till needs them: who, what they may do, and how to check their PIN."""

    staff_id: str
    role: str  # cashier (redeem only) or manager (redeem and void)
    daily_max: int
    pin_hash: str

    @property
    def may_void(self) -> bool:
        return self.role == "manager"

    def to_json(self) -> dict[str, Any]:
        return {
            "daily_max": self.daily_max,
            "id": self.staff_id,
            "pin_hash": self.pin_hash,
            "role": self.role,
        }


@dataclass(frozen=True, slots=True)
class VoidOrder:
    """A void the shop's owner asked for: the redemption and what its ``void`` event must name."""

    redemption_id: str
    card: str
    amount: int
    wall_ms: int

    def to_json(self) -> dict[str, Any]:
        return {"amount": self.amount, "card": self.card, "id": self.redemption_id, "wall_ms": self.wall_ms}


@dataclass(frozen=True, slots=True)
class TillState:
    """The server's signed answer to one heartbeat of a shop terminal."""

    kiosk: str
    request: str  # hex SHA-256 of the heartbeat body this answers
    issued_ms: int
    staff: tuple[StaffCredential, ...] = ()
    voids: tuple[VoidOrder, ...] = ()
    staffed: bool = False  # the shop has had till staff: the server's staff rules hold (even with none left)

    @property
    def pin_required(self) -> bool:
        """Whether the till must ask a PIN before a sale: the shop has (had) staff."""
        return self.staffed or bool(self.staff)

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "issued_ms": self.issued_ms,
                "kiosk": self.kiosk,
                "request": self.request,
                "staff": [s.to_json() for s in self.staff],
                "staffed": self.staffed,
                "type": TILL_STATE_TYPE,
                "v": TILL_STATE_VERSION,
                "voids": [v.to_json() for v in self.voids],
            }
        )

    def member(self, staff_id: str) -> StaffCredential | None:
        return next((s for s in self.staff if s.staff_id == staff_id), None)


def sign_till_state(state: TillState, key: PrivateKey) -> dict[str, str]:
    """The wire form ``{"body": b64, "sig": b64}``, signed by the server."""
    return seal(state.to_bytes(), key)


def _bad(message: str) -> MalformedError:
    return MalformedError(Reason.BAD_FIELD, message)


def _exact(obj: object, fields: frozenset[str], what: str) -> dict[str, Any]:
    if not isinstance(obj, dict) or set(obj) != fields:
        raise _bad(f"{what} has exactly {sorted(fields)}")
    return obj


def _int(value: object, name: str, low: int, high: int = MAX_SAFE_INT) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(f"{name} is an integer from {low} to {high}")
    return value


def _staff(item: object) -> StaffCredential:
    obj = _exact(item, _STAFF_FIELDS, "a staff member")
    if obj["role"] not in ROLES:
        raise _bad("role is cashier or manager")
    pin_hash = obj["pin_hash"]
    if not isinstance(pin_hash, str) or not pin_hash.startswith("$argon2id$") or len(pin_hash) > 200:
        raise _bad("pin_hash is an argon2id hash")
    return StaffCredential(
        ids.require_id(obj["id"], ids.STAFF, field="staff.id"),
        obj["role"],
        _int(obj["daily_max"], "daily_max", 1, MAX_AMOUNT),
        pin_hash,
    )


def _void(item: object) -> VoidOrder:
    obj = _exact(item, _VOID_FIELDS, "a void")
    return VoidOrder(
        ids.require_id(obj["id"], ids.REDEMPTION, field="voids.id"),
        ids.require_id(obj["card"], ids.CARD, ids.UID_CARD, field="voids.card"),
        _int(obj["amount"], "amount", 1, MAX_AMOUNT),
        _int(obj["wall_ms"], "wall_ms", 0),
    )


def parse_till_state(body: bytes) -> TillState:
    """Parse a till state's canonical bytes strictly (no signature check)."""
    obj = _exact(parse_canonical_json(body, max_bytes=MAX_TILL_STATE_BYTES), _FIELDS, "a till state")
    if obj["type"] != TILL_STATE_TYPE or obj["v"] != TILL_STATE_VERSION:
        raise MalformedError(Reason.UNKNOWN_TYPE, "not a v1 kokreativ.till")
    request = obj["request"]
    if not isinstance(request, str) or _HEX64.fullmatch(request) is None:
        raise _bad("request is 64 hex digits")
    staff, voids, staffed = obj["staff"], obj["voids"], obj["staffed"]
    if not isinstance(staffed, bool):
        raise _bad("staffed is true or false")
    if not isinstance(staff, list) or len(staff) > MAX_STAFF:
        raise _bad(f"staff is a list of at most {MAX_STAFF}")
    if not isinstance(voids, list) or len(voids) > MAX_VOIDS:
        raise _bad(f"voids is a list of at most {MAX_VOIDS}")
    return TillState(
        ids.require_id(obj["kiosk"], ids.KIOSK, field="kiosk"),
        request,
        _int(obj["issued_ms"], "issued_ms", 0),
        tuple(_staff(item) for item in staff),
        tuple(_void(item) for item in voids),
        staffed,
    )


def verify_till_state(wire: object, server_key: PublicKey, *, kiosk_id: str, request: str) -> TillState:
    """The till state in ``wire`` if the server signed it for ``kiosk_id`` in answer to ``request``.

    Raises :class:`~protocol.errors.ProtocolError`: ``bad_signature``, a malformed
    body, or ``bad_field`` for an answer to another kiosk or another request.
    """
    body = open_sealed(wire, server_key, what="till state", field="till")
    state = parse_till_state(body)
    if state.kiosk != kiosk_id or state.request != request:
        raise _bad("the till state answers another kiosk's or another request")
    return state


__all__ = [
    "ProtocolError",
    "StaffCredential",
    "TillState",
    "VoidOrder",
    "parse_till_state",
    "sign_till_state",
    "verify_till_state",
]
