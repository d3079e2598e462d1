"""C2SP tlog-checkpoint: the signed tree head of a transparency log, and C2SP tlog-proof receipts.

A checkpoint is a signed note (:mod:`protocol.note`) whose text is::

    <origin>
    <tree size in decimal, no leading zeros>
    <base64 of the RFC 6962 root hash>
    [extension lines]

A tlog-proof (c2sp.org/tlog-proof) is an offline-verifiable receipt for one
entry: ``c2sp.org/tlog-proof@v1``, an optional ``extra <base64>`` line,
``index N``, the inclusion proof hashes one per line, a blank line, and the
checkpoint verbatim.  Anyone holding the log's verifier key can check it
without asking the log anything.

Both verifiers work for any log that follows the C2SP specs, not only ours.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from protocol.errors import MalformedError, VerificationError
from protocol.keys import PrivateKey
from protocol.merkle import HASH_BYTES, ProofError, verify_inclusion
from protocol.note import NoteVerifier, sign_note, strict_b64decode, verify_note
from protocol.reasons import Reason

PROOF_HEADER: Final = "c2sp.org/tlog-proof@v1"
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head: the log's ``origin``, its ``size`` and ``root_hash``."""

    origin: str
    size: int
    root_hash: bytes = field(repr=False)
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode(), *self.extensions]
        return "".join(line + "\n" for line in lines)


def parse_checkpoint_text(text: str) -> Checkpoint:
    """The checkpoint in a note's text; ``bad_checkpoint`` if it is not one."""
    if not text.endswith("\n"):
        raise MalformedError(Reason.BAD_CHECKPOINT, "checkpoint text ends with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or any(not line for line in lines):
        raise MalformedError(Reason.BAD_CHECKPOINT, "a checkpoint has at least three non-empty lines")
    origin, size, root, *extensions = lines
    if not _DECIMAL.fullmatch(size):
        raise MalformedError(Reason.BAD_CHECKPOINT, "tree size is not a decimal without leading zeros")
    try:
        root_hash = strict_b64decode(root, "root hash")
    except MalformedError as exc:
        raise MalformedError(Reason.BAD_CHECKPOINT, exc.message) from exc
    if len(root_hash) != HASH_BYTES:
        raise MalformedError(Reason.BAD_CHECKPOINT, "root hash is not 32 bytes")
    return Checkpoint(origin, int(size), root_hash, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, key: PrivateKey, *, key_name: str | None = None) -> bytes:
    """The signed note for ``checkpoint``; the key name defaults to the origin, as the spec advises."""
    return sign_note(checkpoint.text(), key_name or checkpoint.origin, key)


def verify_checkpoint(
    data: bytes, verifiers: Sequence[NoteVerifier], *, origin: str | None = None
) -> Checkpoint:
    """Verify the signed checkpoint ``data`` and return it.

    The origin line must equal ``origin``, or, when that is not given, the name of
    a verifier whose signature checked.  Raises ``bad_note``, ``note_unverified``,
    ``bad_signature`` or ``bad_checkpoint``.
    """
    text, verified_by = verify_note(data, verifiers)
    checkpoint = parse_checkpoint_text(text)
    expected = {origin} if origin is not None else {v.name for v in verified_by}
    if checkpoint.origin not in expected:
        raise VerificationError(
            Reason.BAD_CHECKPOINT, f"origin {checkpoint.origin!r} is not the expected {sorted(expected)}"
        )
    return checkpoint


@dataclass(frozen=True, slots=True)
class TlogProof:
    """A parsed tlog-proof; :func:`verify_tlog_proof` decides whether to believe it."""

    index: int
    hashes: tuple[bytes, ...] = field(repr=False)
    checkpoint: bytes = field(repr=False)
    extra: bytes | None = None


def format_tlog_proof(
    index: int, hashes: Sequence[bytes], checkpoint: bytes, *, extra: bytes | None = None
) -> bytes:
    lines = [PROOF_HEADER]
    if extra is not None:
        lines.append("extra " + base64.b64encode(extra).decode())
    lines.append(f"index {index}")
    lines.extend(base64.b64encode(h).decode() for h in hashes)
    return ("\n".join(lines) + "\n\n").encode() + checkpoint


def parse_tlog_proof(data: bytes) -> TlogProof:
    """Split a tlog-proof into its parts; ``bad_proof`` if it is malformed."""
    head, sep, checkpoint = data.partition(b"\n\n")
    if not sep:
        raise MalformedError(Reason.BAD_PROOF, "a tlog-proof needs a blank line before its checkpoint")
    try:
        lines = head.decode("ascii").split("\n")
    except UnicodeDecodeError as exc:
        raise MalformedError(Reason.BAD_PROOF, "a tlog-proof header is ASCII") from exc
    if lines[0] != PROOF_HEADER:
        raise MalformedError(Reason.BAD_PROOF, f"a tlog-proof starts with {PROOF_HEADER}")
    rest = lines[1:]
    extra = None
    try:
        if rest and rest[0].startswith("extra "):
            extra = strict_b64decode(rest.pop(0)[len("extra ") :], "extra")
        if not rest or not rest[0].startswith("index ") or not _DECIMAL.fullmatch(rest[0][len("index ") :]):
            raise MalformedError(Reason.BAD_PROOF, "a tlog-proof names 'index N' in decimal")
        index = int(rest[0][len("index ") :])
        hashes = tuple(strict_b64decode(line, "proof hash") for line in rest[1:])
    except MalformedError as exc:
        raise MalformedError(Reason.BAD_PROOF, exc.message) from exc
    if any(len(h) != HASH_BYTES for h in hashes):
        raise MalformedError(Reason.BAD_PROOF, "a proof hash is not 32 bytes")
    return TlogProof(index, hashes, checkpoint, extra)


def verify_tlog_proof(
    data: bytes, verifiers: Sequence[NoteVerifier], *, leaf_hash: bytes, origin: str | None = None
) -> tuple[Checkpoint, TlogProof]:
    """Check the checkpoint's signature and that ``leaf_hash`` is at the proof's index under its root."""
    proof = parse_tlog_proof(data)
    checkpoint = verify_checkpoint(proof.checkpoint, verifiers, origin=origin)
    try:
        verify_inclusion(leaf_hash, proof.index, checkpoint.size, proof.hashes, checkpoint.root_hash)
    except ProofError as exc:
        raise VerificationError(Reason.BAD_PROOF, str(exc)) from exc
    return checkpoint, proof
