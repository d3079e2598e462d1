"""What a kiosk signs to enrol: proof that it holds the key it asks to register.

The kiosk generates its key pair locally, then sends the one-time code, its
public key and a signature over :func:`enrolment_message`.  The server thus
never sees a private key, and a code intercepted in transit is useless without
the key that signed the request.
"""

from __future__ import annotations

from typing import Final

from protocol.encoding import canonical_json
from protocol.keys import PublicKey

ENROL_TYPE: Final = "kokreativ.enrol"
ENROL_VERSION: Final = 1


def enrolment_message(code: str, public_key: PublicKey) -> bytes:
    """The canonical bytes a kiosk signs when it enrols with ``code``."""
    return canonical_json(
        {"code": code, "public_key": public_key.to_b64(), "type": ENROL_TYPE, "v": ENROL_VERSION}
    )
