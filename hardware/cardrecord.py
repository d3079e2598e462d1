"""What a kokreativ card's NDEF message holds: one external record carrying the signed credential.

The credential itself (layout, signature, checks) is :mod:`protocol.credentials`;
this module only wraps it in NDEF and finds it again, because NDEF is how
tags store data and ndeflib is how we parse it.  A tag may carry other records
too (a URL, say); they are ignored.
"""

from __future__ import annotations

import ndef

from hardware.ndefchunks import unchunk
from protocol import MalformedError, Reason
from protocol.credentials import CREDENTIAL_RECORD_TYPE

# The message :func:`credential_message` writes for any credential (at most 108 bytes): one short
# record (MB, ME, SR set; TNF 4, external) of our type, no ID.  :func:`find_credential` reads a
# message of exactly that shape without ndeflib, which costs a tap more than all of it.
_TYPE = CREDENTIAL_RECORD_TYPE.removeprefix("urn:nfc:ext:").encode("ascii")
_HEAD = bytes([0xD4, len(_TYPE)])
_START = 3 + len(_TYPE)


def credential_message(credential: bytes) -> bytes:
    """The NDEF message to write to a tag: one record of type ``CREDENTIAL_RECORD_TYPE``."""
    return b"".join(ndef.message_encoder([ndef.Record(CREDENTIAL_RECORD_TYPE, "", credential)]))


def find_credential(message: bytes | None) -> bytes | None:
    """The credential payload in ``message``; ``None`` when the tag carries no kokreativ credential.

    Raises ``MalformedError(bad_credential)`` for a message that is not valid NDEF, or that
    holds more than one credential: both mean somebody wrote to the tag who should not have.
    A record split into chunks is reassembled first; a broken chunk sequence raises
    ``bad_ndef_chunk``, one too large ``ndef_chunk_too_large`` (:mod:`hardware.ndefchunks`).
    """
    if not message:
        return None
    if (
        len(message) > _START
        and message[2] == len(message) - _START
        and message.startswith(_HEAD)
        and message[3:_START] == _TYPE
    ):  # exactly what credential_message writes: ndeflib would find the same payload
        return bytes(message[_START:])
    whole = unchunk(message)  # outside the try: its MalformedError is a ValueError with its own reason
    try:
        records = list(ndef.message_decoder(whole))
    except (ndef.DecodeError, ValueError, TypeError) as exc:
        raise MalformedError(Reason.BAD_CREDENTIAL, "the tag's NDEF message does not decode") from exc
    payloads = [bytes(r.data) for r in records if r.type == CREDENTIAL_RECORD_TYPE]
    if len(payloads) > 1:
        raise MalformedError(Reason.BAD_CREDENTIAL, "the tag holds more than one credential")
    return payloads[0] if payloads else None
