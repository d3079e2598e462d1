"""How a card names itself, and the keyed pseudonym of a raw UID.

A kokreativ card carries an NDEF external record of type
:data:`CARD_RECORD_TYPE` whose payload is the ASCII card ID (``c_`` + 32 hex).
A later protocol version adds an issuer signature bound to the tag's UID; the
record type then changes, so v1 readers never mistake one for the other.

A raw UID never leaves the kiosk.  Where the kiosk must name a card that has
no record (to deny it, say), it uses :func:`uid_pseudonym`: an HMAC of the UID
under a programme-wide key that the kiosk receives at enrolment.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

from protocol import ids
from protocol.errors import MalformedError
from protocol.reasons import Reason

CARD_RECORD_TYPE: Final = "urn:nfc:ext:kokreativ.org:card"
UID_PSEUDONYM_KEY_BYTES: Final = 32
_UID_DOMAIN: Final = b"kokreativ.uid.v1\x00"


def card_record_payload(card_id: str) -> bytes:
    """The NDEF payload that names ``card_id``."""
    return ids.require_id(card_id, ids.CARD, field="card").encode("ascii")


def parse_card_record_payload(payload: bytes) -> str:
    """The card ID in a card record's payload, or ``MalformedError``."""
    try:
        text = payload.decode("ascii")
    except UnicodeDecodeError as exc:
        raise MalformedError(Reason.BAD_ENCODING, "card record is not ASCII") from exc
    return ids.require_id(text, ids.CARD, field="card record")


def uid_pseudonym(uid: bytes, key: bytes) -> str:
    """A stable ``u_`` card ID for a raw UID; without ``key`` it cannot be linked back."""
    if len(key) != UID_PSEUDONYM_KEY_BYTES:
        raise ValueError("uid pseudonym key must be 32 bytes")
    if not 4 <= len(uid) <= 10:
        raise MalformedError(Reason.BAD_FIELD, "a tag UID has 4 to 10 bytes")
    digest = hmac.new(key, _UID_DOMAIN + uid, hashlib.sha256).digest()
    return f"{ids.UID_CARD}_{digest[:16].hex()}"
