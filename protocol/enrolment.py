"""What a kiosk signs to enrol: proof that it holds the key it asks to register.

The kiosk generates its key pair locally, then sends the one-time code, its
public key and a signature over :func:`enrolment_message`.  The server thus
never sees a private key, and a code intercepted in transit is useless without
the key that signed the request.

A code is :data:`ENROL_CODE_DIGITS` decimal digits, shown in groups of four
(``1234-5678-9012-3456-7890``) so a coordinator can read it out and a kiosk's
numeric keypad can take it.  Twenty digits are 66.4 bits: enough that guessing
fails even without the server's rate limits (``docs/protocol.md``, "Guessing").
The signed ``code`` is the bare digits, without dashes or spaces.
"""

from __future__ import annotations

from typing import Final

from protocol.encoding import canonical_json
from protocol.keys import PublicKey

ENROL_TYPE: Final = "kokreativ.enrol"
ENROL_VERSION: Final = 1
ENROL_CODE_DIGITS: Final = 20
ENROL_CODE_GROUP: Final = 4


def enrolment_message(code: str, public_key: PublicKey) -> bytes:
    """The canonical bytes a kiosk signs when it enrols with ``code``."""
    return canonical_json(
        {"code": code, "public_key": public_key.to_b64(), "type": ENROL_TYPE, "v": ENROL_VERSION}
    )
