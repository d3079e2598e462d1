"""Server key transitions: how a planned change of the server key reaches every kiosk.

Kiosks pin the server's public key at enrolment and check every receipt,
balance sheet, trust list and checkpoint against it.  A *transition* names the
old key and the new one and is signed by **both**: the old key's signature is
what a kiosk that pinned it can check, and the new key's proves that whoever
made the transition holds the new private key (nobody can point kiosks at a
key they cannot use).  Transitions chain: each one's ``old`` is the previous
one's ``new``.  A kiosk that missed several follows the chain from the key it
pinned (:func:`follow_transitions`).

Wire form (``GET /v1/server-keys`` lists them, oldest first, and the log holds
each as a ``server_key`` entry)::

    {"body": "<b64 canonical JSON>", "sig_old": "<b64>", "sig_new": "<b64>"}

    body: {"at_ms": 1764400000000, "new": "<b64 key>", "old": "<b64 key>",
           "type": "kokreativ.server_key", "v": 1}

A transition is for *planned* rotation (new hardware, key hygiene).  It cannot
help when the old key has leaked: whoever holds it could sign a transition to
a key of their own.  ``docs/operations.md`` says what to do then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from protocol.encoding import b64decode, b64encode, canonical_json, parse_canonical_json
from protocol.errors import MalformedError, VerificationError
from protocol.keys import SIGNATURE_BYTES, PrivateKey, PublicKey
from protocol.reasons import Reason

TRANSITION_TYPE: Final = "kokreativ.server_key"
TRANSITION_VERSION: Final = 1
MAX_TRANSITION_BYTES: Final = 1024
MAX_TRANSITIONS: Final = 64  # a programme that rotates yearly will not get near this
_FIELDS: Final = frozenset({"at_ms", "new", "old", "type", "v"})
_WIRE_FIELDS: Final = frozenset({"body", "sig_old", "sig_new"})


@dataclass(frozen=True, slots=True)
class KeyTransition:
    """From ``at_ms`` (server time) on, the server signs with ``new`` instead of ``old``."""

    old: PublicKey
    new: PublicKey
    at_ms: int

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "at_ms": self.at_ms,
                "new": self.new.to_b64(),
                "old": self.old.to_b64(),
                "type": TRANSITION_TYPE,
                "v": TRANSITION_VERSION,
            }
        )


@dataclass(frozen=True, slots=True)
class SignedTransition:
    """A verified transition with its exact bytes and both signatures (what the log keeps)."""

    transition: KeyTransition
    body: bytes
    sig_old: bytes
    sig_new: bytes

    def to_wire(self) -> dict[str, str]:
        return {
            "body": b64encode(self.body),
            "sig_old": b64encode(self.sig_old),
            "sig_new": b64encode(self.sig_new),
        }


def sign_transition(old_key: PrivateKey, new_key: PrivateKey, *, at_ms: int) -> SignedTransition:
    """The transition from ``old_key`` to ``new_key``, signed by both."""
    if old_key.public_key == new_key.public_key:
        raise ValueError("the new server key must differ from the old one")
    transition = KeyTransition(old_key.public_key, new_key.public_key, at_ms)
    body = transition.to_bytes()
    return SignedTransition(transition, body, old_key.sign(body), new_key.sign(body))


def parse_transition(body: bytes) -> KeyTransition:
    """Parse canonical transition bytes strictly, without checking any signature."""
    obj: dict[str, Any] = parse_canonical_json(body, max_bytes=MAX_TRANSITION_BYTES)
    if obj.get("type") != TRANSITION_TYPE:
        raise MalformedError(Reason.UNKNOWN_TYPE, "not a kokreativ.server_key transition")
    if obj.get("v") != TRANSITION_VERSION or isinstance(obj.get("v"), bool):
        raise MalformedError(Reason.UNKNOWN_VERSION, f"transition version {obj.get('v')!r} is not supported")
    if set(obj) != _FIELDS:
        raise MalformedError(Reason.BAD_FIELD, f"a transition has exactly {sorted(_FIELDS)}")
    at_ms = obj["at_ms"]
    if isinstance(at_ms, bool) or not isinstance(at_ms, int) or at_ms < 0:
        raise MalformedError(Reason.BAD_FIELD, "at_ms must be an integer >= 0")
    old = PublicKey.from_b64(obj["old"], field="old")
    new = PublicKey.from_b64(obj["new"], field="new")
    if old == new:
        raise MalformedError(Reason.BAD_FIELD, "a transition must change the key")
    return KeyTransition(old, new, at_ms)


def open_transition(wire: object, old: PublicKey) -> SignedTransition:
    """The transition in ``wire`` from the key ``old``, once both of its signatures check.

    Raises :class:`MalformedError` (``bad_field``, ``bad_encoding`` …), or
    :class:`VerificationError`: ``bad_signature`` when a signature does not check,
    ``server_key_mismatch`` when the transition starts from another key than ``old``.
    """
    if not isinstance(wire, dict) or set(wire) != _WIRE_FIELDS:
        raise MalformedError(Reason.BAD_FIELD, f"a transition is {sorted(_WIRE_FIELDS)}")
    body = b64decode(wire["body"], field="transition.body")
    sig_old = b64decode(wire["sig_old"], field="transition.sig_old", length=SIGNATURE_BYTES)
    sig_new = b64decode(wire["sig_new"], field="transition.sig_new", length=SIGNATURE_BYTES)
    return verify_transition(body, sig_old, sig_new, old)


def verify_transition(body: bytes, sig_old: bytes, sig_new: bytes, old: PublicKey) -> SignedTransition:
    """The transition ``body`` from ``old``, once ``sig_old`` and ``sig_new`` check (raises as above)."""
    transition = parse_transition(body)
    if transition.old != old:
        raise VerificationError(Reason.SERVER_KEY_MISMATCH, "the transition starts from another server key")
    old.verify(body, sig_old)
    transition.new.verify(body, sig_new)
    return SignedTransition(transition, body, sig_old, sig_new)


def follow_transitions(wires: Sequence[object], pinned: PublicKey) -> PublicKey:
    """The newest server key reachable from ``pinned`` through ``wires`` (oldest first).

    Transitions from keys before ``pinned`` are skipped; from ``pinned`` on, each
    must start where the last ended and carry both signatures, or the chain is
    refused (:class:`MalformedError` or :class:`VerificationError`): verification
    fails closed, and the kiosk keeps the key it had.  Returns ``pinned`` when
    nothing follows it.
    """
    if len(wires) > MAX_TRANSITIONS:
        raise MalformedError(Reason.BAD_FIELD, f"at most {MAX_TRANSITIONS} transitions")
    current = pinned
    following = False
    for wire in wires:
        if not following:
            body = wire.get("body") if isinstance(wire, dict) else None
            transition = parse_transition(b64decode(body, field="transition.body"))
            if transition.old != pinned:
                continue  # a transition from before the kiosk's key: not its business
            following = True
        current = open_transition(wire, current).transition.new
    return current
