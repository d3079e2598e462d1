"""C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys, as Go's checksum database uses them.

A note is UTF-8 text ending in a newline, a blank line, then one or more
signature lines ``— <key name> <base64(4-byte key ID ‖ signature)>`` (an em
dash, U+2014, and a space).  Verifier keys are written
``<name>+<8 hex digits of the key ID>+<base64(0x01 ‖ public key)>``, with
``key ID = SHA-256(name ‖ "\\n" ‖ 0x01 ‖ public key)[:4]``.

Verification follows the spec to the letter, because this is what strangers
will check our checkpoints with: signatures from unknown keys (name *and* ID
must match) are ignored; a known key whose signature fails rejects the note;
a note with no verified signature is rejected.  Parsing is strict: no control
characters but newline, canonical base64 only, an em dash exactly.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from protocol.errors import MalformedError, VerificationError
from protocol.keys import PUBLIC_KEY_BYTES, SIGNATURE_BYTES, PrivateKey, PublicKey
from protocol.reasons import Reason

ED25519_TYPE: Final = 0x01
SIGNATURE_PREFIX: Final = "\u2014 "  # em dash, space
MAX_NOTE_BYTES: Final = 1 << 20
MAX_SIGNATURES: Final = 100  # the spec asks verifiers to accept at least 16


def _bad(message: str) -> MalformedError:
    return MalformedError(Reason.BAD_NOTE, message)


def strict_b64decode(text: str, what: str) -> bytes:
    """Standard base64 that must re-encode to exactly ``text`` (so every value has one spelling)."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise _bad(f"{what} is not base64") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise _bad(f"{what} is not canonical base64")
    return raw


def _check_key_name(name: str) -> None:
    if not name or "+" in name or any(ch.isspace() or unicodedata.category(ch) == "Zs" for ch in name):
        raise _bad("a key name must be non-empty, without spaces or '+'")


def note_key_id(name: str, public_key: PublicKey) -> int:
    """The 32-bit key ID of an Ed25519 note key."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ED25519_TYPE]) + public_key.raw).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass(frozen=True, slots=True)
class NoteVerifier:
    """An Ed25519 note verifier key: name, key ID and public key."""

    name: str
    key_id: int
    public_key: PublicKey

    @classmethod
    def for_key(cls, name: str, public_key: PublicKey) -> NoteVerifier:
        _check_key_name(name)
        return cls(name, note_key_id(name, public_key), public_key)

    @classmethod
    def parse(cls, text: str) -> NoteVerifier:
        """Parse ``name+hexid+base64``; the ID must match the key, so a typo cannot pass."""
        # Names and IDs hold no '+', but base64 may: split off the first two fields only.
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise _bad("a verifier key is name+keyid+base64")
        name, hex_id, b64 = parts
        _check_key_name(name)
        # Checked by hand: int(_, 16) also takes "0x", "_" and surrounding whitespace.
        if len(hex_id) != 8 or not all(ch in "0123456789abcdef" for ch in hex_id):
            raise _bad("a verifier key ID is 8 lowercase hex digits")
        try:
            key_id = int(hex_id, 16)
        except ValueError as exc:
            raise _bad("a verifier key ID is 8 lowercase hex digits") from exc
        raw = strict_b64decode(b64, "verifier key")
        if len(raw) != 1 + PUBLIC_KEY_BYTES or raw[0] != ED25519_TYPE:
            raise _bad("only Ed25519 verifier keys (type 0x01, 32 bytes) are supported")
        verifier = cls.for_key(name, PublicKey(raw[1:]))
        if verifier.key_id != key_id:
            raise _bad("the verifier key ID does not match its key")
        return verifier

    def __str__(self) -> str:
        encoded = base64.b64encode(bytes([ED25519_TYPE]) + self.public_key.raw).decode()
        return f"{self.name}+{self.key_id:08x}+{encoded}"


@dataclass(frozen=True, slots=True)
class NoteSignature:
    name: str
    key_id: int
    signature: bytes


@dataclass(frozen=True, slots=True)
class Note:
    """A parsed note: its text (with the final newline) and its signature lines, unverified."""

    text: str
    signatures: tuple[NoteSignature, ...]


def _check_text(text: str) -> None:
    if any(ord(ch) < 0x20 and ch != "\n" for ch in text):
        raise _bad("a note must not contain control characters other than newline")


def parse_note(data: bytes) -> Note:
    """Split ``data`` into text and signatures; :class:`MalformedError` (``bad_note``) if malformed."""
    if len(data) > MAX_NOTE_BYTES:
        raise _bad("note is too large")
    try:
        whole = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad("a note must be UTF-8") from exc
    _check_text(whole)
    if not whole.endswith("\n"):
        raise _bad("a note ends with a newline")
    split = whole.rfind("\n\n")
    if split < 0:
        raise _bad("a note needs a blank line before its signatures")
    text, block = whole[: split + 1], whole[split + 2 :]
    lines = block.split("\n")[:-1]  # the block ends with "\n"
    if not lines:
        raise _bad("a note has at least one signature")
    if len(lines) > MAX_SIGNATURES:
        raise _bad("too many signatures")
    signatures = []
    for line in lines:
        if not line.startswith(SIGNATURE_PREFIX):
            raise _bad("a signature line starts with an em dash (U+2014) and a space")
        name, sep, b64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
        if not sep or " " in b64:
            raise _bad("a signature line is '— <name> <base64>'")
        _check_key_name(name)
        raw = strict_b64decode(b64, "signature")
        if len(raw) < 5:
            raise _bad("a signature holds a 4-byte key ID and the signature")
        signatures.append(NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:]))
    return Note(text, tuple(signatures))


def sign_note(text: str, name: str, key: PrivateKey, *, also: Sequence[tuple[str, PrivateKey]] = ()) -> bytes:
    """The note bytes: ``text`` (ending in newline) signed by ``key`` under ``name`` (and ``also``)."""
    if not text.endswith("\n"):
        raise _bad("note text ends with a newline")
    _check_text(text)
    lines = []
    for signer_name, signer in ((name, key), *also):
        key_id = note_key_id(signer_name, signer.public_key)
        _check_key_name(signer_name)
        raw = key_id.to_bytes(4, "big") + signer.sign(text.encode())
        lines.append(f"{SIGNATURE_PREFIX}{signer_name} {base64.b64encode(raw).decode()}\n")
    return (text + "\n" + "".join(lines)).encode()


def verify_note(data: bytes, verifiers: Sequence[NoteVerifier]) -> tuple[str, tuple[NoteVerifier, ...]]:
    """The note's text and the verifiers whose signatures checked, or raise.

    Unknown signatures are ignored.  A known key with a bad signature raises
    ``bad_signature``; no verified signature at all raises ``note_unverified``.
    """
    note = parse_note(data)
    known = {(v.name, v.key_id): v for v in verifiers}
    verified: list[NoteVerifier] = []
    for sig in note.signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            continue
        if len(sig.signature) != SIGNATURE_BYTES:
            raise VerificationError(Reason.BAD_SIGNATURE, f"signature by {sig.name} has the wrong length")
        verifier.public_key.verify(note.text.encode(), sig.signature)  # raises bad_signature
        if verifier not in verified:
            verified.append(verifier)
    if not verified:
        raise VerificationError(Reason.NOTE_UNVERIFIED, "no signature from a known key")
    return note.text, tuple(verified)
