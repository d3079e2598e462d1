"""The wire form of a server-signed document: ``{"body": <b64 of canonical bytes>, "sig": <b64>}``.

Receipts and trust lists travel this way: the signature covers the exact body
bytes, which the reader parses only after the signature checked.
"""

from __future__ import annotations

from protocol.encoding import b64decode, b64encode
from protocol.errors import MalformedError
from protocol.keys import SIGNATURE_BYTES, PrivateKey, PublicKey
from protocol.reasons import Reason


def seal(body: bytes, key: PrivateKey) -> dict[str, str]:
    """``{"body", "sig"}`` for ``body`` signed by ``key``."""
    return {"body": b64encode(body), "sig": b64encode(key.sign(body))}


def open_sealed(wire: object, key: PublicKey, *, what: str, field: str) -> bytes:
    """The body bytes of ``wire`` once ``key``'s signature over them checks.

    ``what`` names the document in messages, ``field`` prefixes its field names.
    Raises :class:`MalformedError` or :class:`VerificationError` (``bad_signature``);
    callers turn either into their own reason code.
    """
    if not isinstance(wire, dict) or set(wire) != {"body", "sig"}:
        raise MalformedError(Reason.BAD_FIELD, f"{what} is not {{body, sig}}")
    body = b64decode(wire["body"], field=f"{field}.body")
    signature = b64decode(wire["sig"], field=f"{field}.sig", length=SIGNATURE_BYTES)
    key.verify(body, signature)
    return body
