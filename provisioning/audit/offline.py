"""Offline checks of one signed checkpoint or one C2SP tlog-proof, for any log that follows C2SP.

Nothing here knows about kokreativ entries: a checkpoint is checked against
verifier keys (``name+keyid+base64``, several allowed, unknown signers
ignored) and an optional origin, and a proof against a leaf hash.  A
volunteer's receipt (``GET /v1/log/entries/{index}/proof``) is such a proof;
its leaf is the RFC 6962 hash of the raw entry bytes.

Example::

    verifiers = parse_verifier_keys(["ledger.example.org+1a2b3c4d+AV…"])
    checkpoint, proof = check_proof(proof_bytes, verifiers, leaf_hash(entry_bytes))
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Sequence

from protocol.checkpoint import Checkpoint, TlogProof, verify_checkpoint, verify_tlog_proof
from protocol.errors import ProtocolError
from protocol.merkle import HASH_BYTES
from protocol.note import NoteVerifier
from provisioning.audit.errors import UsageError

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def parse_verifier_keys(texts: Iterable[str]) -> list[NoteVerifier]:
    """Parse each ``name+keyid+base64`` key; :class:`UsageError` names the first that is not one."""
    verifiers = []
    for text in texts:
        try:
            verifiers.append(NoteVerifier.parse(text))
        except ProtocolError as exc:
            raise UsageError("bad_key", f"{text[:60]!r} is not a verifier key: {exc.message}") from exc
    if not verifiers:
        raise UsageError("bad_key", "give at least one verifier key")
    return verifiers


def parse_leaf_hash(text: str) -> bytes:
    """A 32-byte leaf hash written as 64 hex digits or standard base64."""
    text = text.strip()
    if _HEX64.fullmatch(text):
        return bytes.fromhex(text)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != HASH_BYTES:
        raise UsageError("bad_leaf_hash", "a leaf hash is 64 hex digits or the base64 of 32 bytes")
    return raw


def check_checkpoint(
    data: bytes, verifiers: Sequence[NoteVerifier], *, origin: str | None = None
) -> Checkpoint:
    """The checkpoint if a known key signed it (and its origin is ``origin`` or that key's name).

    Raises :class:`protocol.ProtocolError` with ``bad_note``, ``note_unverified``,
    ``bad_signature`` or ``bad_checkpoint``.
    """
    return verify_checkpoint(data, verifiers, origin=origin)


def check_proof(
    data: bytes, verifiers: Sequence[NoteVerifier], leaf: bytes, *, origin: str | None = None
) -> tuple[Checkpoint, TlogProof]:
    """The proof's checkpoint and parts if ``leaf`` is in the log under a checkpoint a known key signed.

    Raises :class:`protocol.ProtocolError` (``bad_proof`` and the checkpoint's codes).
    """
    return verify_tlog_proof(data, verifiers, leaf_hash=leaf, origin=origin)
