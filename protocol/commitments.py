"""Hiding commitments to card references, and their openings.

The public log must prove integrity without handing out a timeline, so a v2
event does not name its card: it names a *commitment*, the hex SHA-256 of a
domain tag, 16 fresh random bytes (the salt) and the card ID::

    ref = SHA-256("kokreativ.card-ref.v1\\0" ‖ salt ‖ card ID as ASCII)

A fresh salt per event makes two commitments to one card look unrelated (the
commitment *hides*); SHA-256 makes it infeasible to open one commitment as two
cards (it *binds*).  The *opening*, ``{"card": "c_…", "salt": "<32 hex>"}``,
travels beside the signed event to the server and is kept off the log: the
server, a designated auditor and the card holder can check which card an
event is about; a stranger with the log cannot (``docs/privacy.md``).

The same construction commits a log entry to any short value the public must
not read (a card's registration to its volunteer, a block to its card):
:func:`commit_value` with its own domain tag.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any, Final

from protocol import ids
from protocol.errors import MalformedError, VerificationError
from protocol.reasons import Reason

SALT_BYTES: Final = 16
CARD_REF_DOMAIN: Final = b"kokreativ.card-ref.v1\x00"
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
    """What opens a card commitment: the card ID (``c_`` or ``u_``) and the salt."""

    card: str
    salt: str

    @classmethod
    def fresh(cls, card: str) -> Opening:
        """An opening for ``card`` with a new random salt."""
        ids.require_id(card, ids.CARD, ids.UID_CARD, field="opening.card")
        return cls(card=card, salt=new_salt())

    @property
    def ref(self) -> str:
        """The commitment this opening opens."""
        return commit_value(CARD_REF_DOMAIN, self.salt, self.card)

    def opens(self, ref: str) -> bool:
        """Whether this opening opens ``ref`` (compared in constant time)."""
        return hmac.compare_digest(self.ref, ref)

    def check(self, ref: str) -> None:
        """Raise ``opening_mismatch`` unless this opening opens ``ref``."""
        if not self.opens(ref):
            raise VerificationError(
                Reason.OPENING_MISMATCH, "the opening does not open the event's card reference"
            )

    def to_json(self) -> dict[str, str]:
        return {"card": self.card, "salt": self.salt}


def parse_opening(value: object, *, field: str = "opening") -> Opening:
    """An :class:`Opening` from its wire form ``{"card", "salt"}``, strictly."""
    if not isinstance(value, dict) or set(value) != {"card", "salt"}:
        raise MalformedError(Reason.BAD_FIELD, f"{field} is {{card, salt}}")
    salt: Any = value["salt"]
    if not isinstance(salt, str) or _SALT.fullmatch(salt) is None:
        raise MalformedError(Reason.BAD_FIELD, f"{field}.salt is not 32 lowercase hex digits")
    card = ids.require_id(value["card"], ids.CARD, ids.UID_CARD, field=f"{field}.card")
    return Opening(card=card, salt=salt)
