"""Hiding commitments to card references and to what a tap was, and their openings.

The public log must prove integrity without handing out a timeline, so a v2
event names neither its card nor what happened when: it names a *commitment*,
the hex SHA-256 of a domain tag, 16 fresh random bytes (the salt) and the
sealed fields, the canonical JSON of the card, the kiosk's clock evidence, the
kind and its data::

    ref = SHA-256("kokreativ.event-seal.v1\\0" ‖ salt ‖ canonical {card, clock, data, kind})

A fresh salt per event makes two commitments look unrelated (the commitment
*hides*); SHA-256 makes it infeasible to open one commitment two ways (it
*binds*).  The *opening*, ``{"card", "clock", "data", "kind", "salt"}``,
travels beside the signed event to the server and is kept off the log: the
server, a designated auditor and the card holder can check what an event was;
a stranger with the log sees a kiosk's signed chain of sealed taps and cannot
tell a check-in from a purchase, nor when it happened beyond the day the
server received it (``docs/privacy.md``).

After a receipt the kiosk no longer keeps an opening in the clear: it keeps it
*sealed* to the server's key (:class:`SealedOpening`), which a stolen kiosk
cannot read and only the server can open, so a server restored from an older
backup can still be re-fed (``docs/protocol.md``, "Re-feeding a restored server").

A block names only a card: ``{"card", "salt"}`` opens
``SHA-256("kokreativ.card-ref.v1\\0" ‖ salt ‖ card ID)``.

The same construction commits a log entry to any short value the public must
not read (a card's registration to its volunteer, a block to its card):
:func:`commit_value` with its own domain tag.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from protocol import ids
from protocol.encoding import b64decode, b64encode, canonical_json, check_canonical
from protocol.errors import MalformedError, ProtocolError, VerificationError
from protocol.keys import PrivateKey, PublicKey, Sealer
from protocol.reasons import Reason

SALT_BYTES: Final = 16
CARD_REF_DOMAIN: Final = b"kokreativ.card-ref.v1\x00"
EVENT_SEAL_DOMAIN: Final = b"kokreativ.event-seal.v1\x00"
SEALED_FIELDS: Final = frozenset({"clock", "data", "kind"})  # besides ``card``: what a v2 event seals
# Trust list v4 names blocked and coordinator cards by ``commit_value(TRUST_CARD_DOMAIN, card_salt, card)``
# with one fresh salt per list: a kiosk hashes a tapped card to look it up (protocol.trust).
TRUST_CARD_DOMAIN: Final = b"kokreativ.trust-card.v1\x00"
_HEX64: Final = re.compile(r"[0-9a-f]{64}")
_SALT: Final = re.compile(r"[0-9a-f]{32}")


def new_salt() -> str:
    """16 fresh random bytes as 32 hex digits: one per commitment, never reused."""
    return secrets.token_hex(SALT_BYTES)


def commit_value(domain: bytes, salt: str, value: str) -> str:
    """The commitment ``SHA-256(domain ‖ salt bytes ‖ value)`` as 64 hex digits."""
    return hashlib.sha256(domain + bytes.fromhex(salt) + value.encode("ascii")).hexdigest()


def is_commitment(value: object) -> bool:
    """Whether ``value`` has the form of a commitment: 64 lowercase hex digits."""
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def require_commitment(value: object, *, field: str) -> str:
    """``value`` if it is a commitment's form, else ``bad_field``."""
    if not is_commitment(value):
        raise MalformedError(Reason.BAD_FIELD, f"{field} is not a commitment (64 lowercase hex digits)")
    assert isinstance(value, str)
    return value


@dataclass(frozen=True, slots=True)
class Opening:
    """What opens a commitment: the card ID (``c_`` or ``u_``), the salt and, for an event, its sealed fields.

    ``sealed`` is ``None`` for a commitment to the card alone (a block); for a
    v2 event it holds the event's ``clock``, ``data`` and ``kind`` exactly as
    JSON values, which :meth:`protocol.events.Event.opened` checks by the event rules.
    """

    card: str
    salt: str
    sealed: Mapping[str, Any] | None = None

    @classmethod
    def fresh(cls, card: str, sealed: Mapping[str, Any] | None = None) -> Opening:
        """An opening for ``card`` (and an event's ``sealed`` fields) with a new random salt."""
        ids.require_id(card, ids.CARD, ids.UID_CARD, field="opening.card")
        return cls(card=card, salt=new_salt(), sealed=None if sealed is None else dict(sealed))

    @property
    def ref(self) -> str:
        """The commitment this opening opens."""
        if self.sealed is None:
            return commit_value(CARD_REF_DOMAIN, self.salt, self.card)
        body = canonical_json({"card": self.card, **self.sealed})
        return hashlib.sha256(EVENT_SEAL_DOMAIN + bytes.fromhex(self.salt) + body).hexdigest()

    def check_encoded(self, ref: str, sealed: bytes) -> None:
        """:meth:`check` with the canonical JSON of ``{card, **sealed}`` encoded already by the caller."""
        digest = hashlib.sha256(EVENT_SEAL_DOMAIN + bytes.fromhex(self.salt) + sealed).hexdigest()
        if not hmac.compare_digest(digest, ref):
            raise VerificationError(
                Reason.OPENING_MISMATCH, "the opening does not open the event's card reference"
            )

    def opens(self, ref: str) -> bool:
        """Whether this opening opens ``ref`` (compared in constant time)."""
        return hmac.compare_digest(self.ref, ref)

    def check(self, ref: str) -> None:
        """Raise ``opening_mismatch`` unless this opening opens ``ref``."""
        if not self.opens(ref):
            raise VerificationError(
                Reason.OPENING_MISMATCH, "the opening does not open the event's card reference"
            )

    def to_json(self) -> dict[str, Any]:
        return {"card": self.card, "salt": self.salt, **(self.sealed or {})}


_OPENING_SHAPES: Final = (frozenset({"card", "salt"}), frozenset({"card", "salt"} | SEALED_FIELDS))


def parse_opening(value: object, *, field: str = "opening") -> Opening:
    """An :class:`Opening` from its wire form: ``{"card", "salt"}``, or with ``clock``, ``data`` and ``kind``.

    Only the shape is checked here; the sealed fields are checked by the event
    rules when the opening opens an event.
    """
    if not isinstance(value, dict) or value.keys() not in _OPENING_SHAPES:
        raise MalformedError(
            Reason.BAD_FIELD, f"{field} is {{card, salt}} or {{card, clock, data, kind, salt}}"
        )
    salt: Any = value["salt"]
    if not isinstance(salt, str) or _SALT.fullmatch(salt) is None:
        raise MalformedError(Reason.BAD_FIELD, f"{field}.salt is not 32 lowercase hex digits")
    card = ids.require_id(value["card"], ids.CARD, ids.UID_CARD, field=f"{field}.card")
    if "kind" not in value:
        return Opening(card, salt)
    # SEALED_FIELDS, named one by one: a literal is built faster than a comprehension over the set.
    sealed = {"clock": value["clock"], "data": value["data"], "kind": value["kind"]}
    # What canonical_json refuses, without encoding it: ``ref`` encodes it once, when it is checked.
    check_canonical(sealed)
    return Opening(card, salt, sealed)


MAX_SEALED_OPENING_BYTES: Final = 2048  # a sealed box: 48 bytes around an opening of at most ~1.5 KB


@dataclass(frozen=True, slots=True)
class SealedOpening:
    """An :class:`Opening` in a sealed box to the server's key, wire form ``"sealed_opening": "<b64>"``.

    A kiosk keeps this instead of the opening once a receipt covers its event,
    and sends it beside the event when it re-feeds a server that lost the
    event (restored from an older backup).  Nobody but the holder of the
    server's private key learns the card from it.
    """

    box: bytes

    def to_b64(self) -> str:
        return b64encode(self.box)

    def open(self, keys: Sequence[PrivateKey]) -> Opening | None:
        """The opening inside, opened with the first of ``keys`` that can; ``None`` if none can or garbled."""
        for key in keys:
            try:
                plain = key.unseal(self.box)
            except VerificationError:
                continue
            try:
                return parse_opening(json.loads(plain), field="sealed_opening")
            except (ValueError, RecursionError, ProtocolError):
                return None
        return None


def seal_opening(opening: Opening, server_key: PublicKey | Sealer) -> SealedOpening:
    """``opening`` sealed to ``server_key``, or with a :class:`~protocol.keys.Sealer` made for it.

    Pass one sealer for many openings (a receipt's): the key agreement is done once.
    """
    sealer = server_key.sealer() if isinstance(server_key, PublicKey) else server_key
    return SealedOpening(sealer.seal(canonical_json(opening.to_json())))


def parse_sealed_opening(value: object, *, field: str = "sealed_opening") -> SealedOpening:
    """A :class:`SealedOpening` from its base64 wire form, bounded to :data:`MAX_SEALED_OPENING_BYTES`."""
    if isinstance(value, str) and len(value) > (MAX_SEALED_OPENING_BYTES * 4) // 3 + 4:
        raise MalformedError(Reason.BAD_FIELD, f"{field} is longer than {MAX_SEALED_OPENING_BYTES} bytes")
    return SealedOpening(b64decode(value, field=field))
