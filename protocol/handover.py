"""A log hand-over: the server's signed word that one log origin ended and another carries on.

An append-only log cannot drop what it published, so a log that named cards
(entry v1) is not rewritten: it is archived, and a new origin starts whose
entry 0 is a ``handover`` entry naming the old log's last checkpoint
(``docs/protocol.md``, "Log hand-over").  This document, sealed with the server
key like a receipt (:mod:`protocol.sealed`), is what a kiosk that pinned the
old origin checks before it pins the new one::

    {"body": "<b64 canonical JSON>", "sig": "<b64>"}

    body: {"at_ms": 1764400000000, "new_origin": "kokreativ.local/ledger/2", "new_size": 12,
           "old_origin": "kokreativ.local/ledger", "old_root": "<64 hex>", "old_size": 4711,
           "type": "kokreativ.log_handover", "v": 1}

``old_size`` and ``old_root`` are the old log's final tree head, ``new_size``
the size of the new log once the hand-over entry and the restated public state
were appended.  A kiosk checks that the checkpoint it verified last is
consistent with the old final one (a proof from the archived origin) and
that the old origin is the one it pinned; anything else fails closed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from protocol.encoding import canonical_json, parse_canonical_json
from protocol.errors import MalformedError, ProtocolError, VerificationError
from protocol.keys import PrivateKey, PublicKey
from protocol.reasons import Reason
from protocol.sealed import open_sealed, seal

HANDOVER_TYPE: Final = "kokreativ.log_handover"
HANDOVER_VERSION: Final = 1
MAX_HANDOVER_BYTES: Final = 2048
_FIELDS: Final = frozenset(
    {"at_ms", "new_origin", "new_size", "old_origin", "old_root", "old_size", "type", "v"}
)
_HEX64: Final = re.compile(r"[0-9a-f]{64}")
MAX_ORIGIN_CHARS: Final = 256


@dataclass(frozen=True, slots=True)
class Handover:
    """The log ``old_origin`` ended at ``old_size`` entries with root ``old_root``; ``new_origin`` goes on."""

    old_origin: str
    old_size: int
    old_root: bytes
    new_origin: str
    new_size: int
    at_ms: int

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "at_ms": self.at_ms,
                "new_origin": self.new_origin,
                "new_size": self.new_size,
                "old_origin": self.old_origin,
                "old_root": self.old_root.hex(),
                "old_size": self.old_size,
                "type": HANDOVER_TYPE,
                "v": HANDOVER_VERSION,
            }
        )


def sign_handover(handover: Handover, key: PrivateKey) -> dict[str, str]:
    """The wire form ``{"body", "sig"}`` of ``handover`` signed by the server key ``key``."""
    return seal(handover.to_bytes(), key)


def _count(obj: dict[str, Any], name: str) -> int:
    value = obj[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedError(Reason.BAD_FIELD, f"{name} must be an integer >= 0")
    return value


def _origin(obj: dict[str, Any], name: str) -> str:
    value = obj[name]
    if not isinstance(value, str) or not value or len(value) > MAX_ORIGIN_CHARS or value != value.strip():
        raise MalformedError(Reason.BAD_FIELD, f"{name} must be a log origin")
    return value


def parse_handover(body: bytes) -> Handover:
    """The hand-over in ``body`` (already verified bytes), strictly: exactly the v1 fields."""
    obj: dict[str, Any] = parse_canonical_json(body, max_bytes=MAX_HANDOVER_BYTES)
    version = obj.get("v")
    if obj.get("type") != HANDOVER_TYPE or isinstance(version, bool) or version != HANDOVER_VERSION:
        raise MalformedError(Reason.UNKNOWN_TYPE, f"not a v1 {HANDOVER_TYPE}")
    if set(obj) != _FIELDS:
        raise MalformedError(Reason.UNKNOWN_FIELD, "hand-over fields differ from v1")
    root = obj["old_root"]
    if not isinstance(root, str) or _HEX64.fullmatch(root) is None:
        raise MalformedError(Reason.BAD_FIELD, "old_root is not 64 lowercase hex digits")
    old_origin, new_origin = _origin(obj, "old_origin"), _origin(obj, "new_origin")
    if old_origin == new_origin:
        raise MalformedError(Reason.BAD_FIELD, "a hand-over goes to another origin")
    return Handover(
        old_origin=old_origin,
        old_size=_count(obj, "old_size"),
        old_root=bytes.fromhex(root),
        new_origin=new_origin,
        new_size=_count(obj, "new_size"),
        at_ms=_count(obj, "at_ms"),
    )


def verify_handover(wire: object, server_key: PublicKey) -> Handover:
    """The hand-over in ``wire`` once ``server_key`` signed it; ``bad_handover`` otherwise (fails closed)."""
    try:
        return parse_handover(open_sealed(wire, server_key, what="hand-over", field="handover"))
    except ProtocolError as exc:
        raise VerificationError(Reason.BAD_HANDOVER, exc.message) from exc
