"""The keyed pseudonym of a raw UID.

A raw UID never leaves the kiosk.  Where the kiosk must name a card without
a trustworthy credential (to deny it, or to accept an uncredentialed pilot
card where its site allows that), it uses :func:`uid_pseudonym`: an HMAC of
the UID under a programme-wide key that the kiosk receives at enrolment.
The credential a card normally carries is :mod:`protocol.credentials`.
"""

from __future__ import annotations

import hmac
from typing import Final

from protocol import ids
from protocol.errors import MalformedError
from protocol.reasons import Reason

UID_PSEUDONYM_KEY_BYTES: Final = 32
_UID_DOMAIN: Final = b"kokreativ.uid.v1\x00"


def check_uid(uid: bytes, key: bytes) -> None:
    """Raise as :func:`uid_pseudonym` would for this UID and key, without computing the HMAC."""
    if len(key) != UID_PSEUDONYM_KEY_BYTES:
        raise ValueError("uid pseudonym key must be 32 bytes")
    if not 4 <= len(uid) <= 10:
        raise MalformedError(Reason.BAD_FIELD, "a tag UID has 4 to 10 bytes")


def uid_pseudonym(uid: bytes, key: bytes) -> str:
    """A stable ``u_`` card ID for a raw UID; without ``key`` it cannot be linked back."""
    check_uid(uid, key)
    digest = hmac.digest(key, _UID_DOMAIN + uid, "sha256")  # one call into OpenSSL: a tap makes one

    return f"{ids.UID_CARD}_{digest[:16].hex()}"
