"""Hours certificates (Nachweis): a log entry, its QR payload and the offline check of both.

A certificate states that somebody volunteered ``minutes`` in the local days
``from_day`` to ``to_day`` (inclusive, Europe/Berlin).  It is itself an entry
of the transparency log, kind ``certificate``, which names no card, volunteer
or site: only the period, the minutes, the day it was issued and a salted hash
of the printed name::

    name_hash = SHA-256("kokreativ.certificate-name.v1\\0" ‖ salt ‖ UTF-8(NFC(name)))

The salt (16 random bytes, 32 hex digits) is printed on the certificate beside
the name, so whoever holds the paper can reproduce the hash, and a stranger
reading the log can neither guess names against it nor link two certificates.

The QR code carries the **payload**: base64url (no padding) of a small binary
record, so it stays printable (big-endian)::

    0x01 (version) ‖ u8 entry version ‖ u16 first day ‖ u16 last day ‖ u32 minutes
    ‖ u16 day issued ‖ 32-byte name hash ‖ u64 log index
    ‖ u8 proof length n ‖ n × 32-byte inclusion proof hashes ‖ the signed checkpoint (rest)

Days count from 1970-01-01.  The entry travels as its fields and is rebuilt
byte for byte (:func:`protocol.logentry.make_entry` is canonical), which keeps
the QR code three versions smaller than the entry's JSON would.

:func:`verify_certificate` needs no network: the checkpoint's signature by the
log's verifier key, the entry's inclusion under its root, and name + salt
reproducing ``name_hash``.  Everything it refuses raises a
:class:`~protocol.errors.ProtocolError`; garbage never raises anything else.

Example::

    facts = verify_certificate(payload, [NoteVerifier.parse(key)], name="Erika Mustermann", salt=salt)
    facts.minutes  # 15000
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import re
import struct
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from protocol.checkpoint import Checkpoint, verify_checkpoint
from protocol.errors import MalformedError, VerificationError
from protocol.logentry import ENTRY_VERSION, PRIVATE_ENTRY_VERSION, make_entry, parse_entry, public_day
from protocol.merkle import HASH_BYTES, ProofError, leaf_hash, verify_inclusion
from protocol.note import NoteVerifier
from protocol.reasons import Reason

NAME_DOMAIN: Final = b"kokreativ.certificate-name.v1\x00"
PAYLOAD_VERSION: Final = 1
MAX_PAYLOAD_CHARS: Final = 4096  # a QR code holds at most 2,953 bytes; anything longer is not ours
MAX_NAME_CHARS: Final = 200
PAYLOAD_PARAMETER: Final = "p"  # the query parameter of the /nachweis URL the QR code opens
_SALT: Final = re.compile(r"[0-9a-f]{32}")
_B64URL: Final = re.compile(r"[A-Za-z0-9_-]*")
# The entry travels as its fields, not its JSON (43 bytes instead of about 216), and is rebuilt with
# make_entry, which is canonical: entry version, first and last day and the issuing day as days since
# 1970-01-01, minutes, the name hash.
_HEAD: Final = struct.Struct(">BBHHIH32s")
_INDEX: Final = struct.Struct(">QB")
_EPOCH: Final = datetime.date(1970, 1, 1).toordinal()
_DAY_MS: Final = 86_400_000


def _bad(message: str) -> MalformedError:
    return MalformedError(Reason.BAD_CERTIFICATE, message)


def normalise_name(name: str) -> str:
    """The name as hashed: NFC, surrounding space dropped, inner runs of white space as one space.

    So "Erika  Mustermann" typed from the paper and the NFD "é" of another
    keyboard give the hash the server computed.
    """
    return " ".join(unicodedata.normalize("NFC", name).split())


def name_hash(salt: str, name: str) -> str:
    """The hex hash a certificate entry holds for ``name`` under ``salt`` (32 hex digits)."""
    if not isinstance(salt, str) or _SALT.fullmatch(salt) is None:
        raise _bad("the salt is 32 lowercase hex digits")
    if not isinstance(name, str):
        raise _bad("the name is text")
    normal = normalise_name(name)
    if not normal or len(normal) > MAX_NAME_CHARS:
        raise _bad(f"the name has 1 to {MAX_NAME_CHARS} characters")
    return hashlib.sha256(NAME_DOMAIN + bytes.fromhex(salt) + normal.encode("utf-8")).hexdigest()


def _day(value: object, what: str) -> datetime.date:
    if not isinstance(value, str):
        raise _bad(f"{what} is a date YYYY-MM-DD")
    try:
        return datetime.date.fromisoformat(value)
    except ValueError as exc:
        raise _bad(f"{what} is a date YYYY-MM-DD") from exc


def certificate_entry(
    *,
    from_day: datetime.date,
    to_day: datetime.date,
    minutes: int,
    hashed_name: str,
    at_ms: int,
    version: int = PRIVATE_ENTRY_VERSION,
) -> bytes:
    """The canonical ``certificate`` entry; ``at_ms`` is floored to its UTC day (no finer time is public)."""
    if to_day < from_day:
        raise MalformedError(Reason.BAD_FIELD, "the period ends before it starts")
    return make_entry(
        "certificate",
        version=version,
        from_day=from_day.isoformat(),
        to_day=to_day.isoformat(),
        minutes=minutes,
        name_hash=hashed_name,
        at_ms=public_day(at_ms),
    )


@dataclass(frozen=True, slots=True)
class CertificatePayload:
    """What a certificate's QR code carries, parsed but not yet believed."""

    entry: bytes
    index: int
    proof: tuple[bytes, ...]
    checkpoint: bytes

    def encode(self) -> str:
        """base64url without padding of the binary record (the module docstring)."""
        if len(self.proof) > 255:
            raise _bad("the proof is too long for a payload")
        entry = parse_entry(self.entry)
        if entry["kind"] != "certificate" or entry["at_ms"] % _DAY_MS:
            raise _bad("only a certificate entry issued on a whole UTC day travels in a payload")
        try:
            head = _pack_head(entry)
        except (struct.error, ValueError) as exc:
            raise _bad(f"the entry does not fit a payload: {exc}") from exc
        raw = b"".join((head, _INDEX.pack(self.index, len(self.proof)), *self.proof, self.checkpoint))
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _pack_head(entry: dict[str, Any]) -> bytes:
    return _HEAD.pack(
        PAYLOAD_VERSION,
        entry["v"],
        datetime.date.fromisoformat(entry["from_day"]).toordinal() - _EPOCH,
        datetime.date.fromisoformat(entry["to_day"]).toordinal() - _EPOCH,
        entry["minutes"],
        entry["at_ms"] // _DAY_MS,
        bytes.fromhex(entry["name_hash"]),
    )


def _entry_from(raw: bytes) -> bytes:
    """The certificate entry a payload's head stands for, rebuilt byte for byte."""
    version, entry_version, first, last, minutes, issued, hashed = _HEAD.unpack_from(raw)
    if version != PAYLOAD_VERSION:
        raise _bad(f"payload version {version} is not supported")
    try:
        from_day = datetime.date.fromordinal(_EPOCH + first)
        to_day = datetime.date.fromordinal(_EPOCH + last)
    except (ValueError, OverflowError) as exc:
        raise _bad("the payload's period is not two dates") from exc
    if entry_version not in (ENTRY_VERSION, PRIVATE_ENTRY_VERSION):
        raise _bad(f"entry version {entry_version} is not supported")
    return certificate_entry(
        from_day=from_day,
        to_day=to_day,
        minutes=minutes,
        hashed_name=hashed.hex(),
        at_ms=issued * _DAY_MS,
        version=entry_version,
    )


def payload_of(text: str) -> str:
    """The payload in ``text``: the payload itself, or a ``…/nachweis?p=…`` URL holding it."""
    text = text.strip()
    if "?" in text or "#" in text:
        parts = urlsplit(text)
        found = parse_qs(parts.query).get(PAYLOAD_PARAMETER) or parse_qs(parts.fragment).get(
            PAYLOAD_PARAMETER
        )
        if not found:
            raise _bad(f"the URL has no {PAYLOAD_PARAMETER}= parameter")
        text = found[0]
    return text


def parse_payload(text: object) -> CertificatePayload:
    """Parse a QR payload (or a URL holding one); ``bad_certificate`` or another parse code if not one."""
    if not isinstance(text, str):
        raise _bad("the payload is text")
    if len(text) > MAX_PAYLOAD_CHARS * 2:
        raise _bad("the payload is too long")
    text = payload_of(text)
    if not text or len(text) > MAX_PAYLOAD_CHARS or _B64URL.fullmatch(text) is None:
        raise _bad("the payload is base64url text")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise _bad("the payload is not base64url") from exc
    if len(raw) < _HEAD.size + _INDEX.size:
        raise _bad("the payload is too short")
    entry = _entry_from(raw)
    offset = _HEAD.size
    index, count = _INDEX.unpack_from(raw, offset)
    offset += _INDEX.size
    end = offset + count * HASH_BYTES
    if len(raw) < end:
        raise _bad("the payload's proof is cut short")
    proof = tuple(raw[i : i + HASH_BYTES] for i in range(offset, end, HASH_BYTES))
    checkpoint = raw[end:]
    if not checkpoint:
        raise _bad("the payload has no checkpoint")
    return CertificatePayload(entry, index, proof, checkpoint)


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    """A verified certificate: what it states, where it is in the log and the checkpoint that says so."""

    from_day: datetime.date
    to_day: datetime.date
    minutes: int
    name_hash: str
    issued_day_ms: int
    index: int
    checkpoint: Checkpoint
    entry: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "from_day": self.from_day.isoformat(),
            "to_day": self.to_day.isoformat(),
            "minutes": self.minutes,
            "hours": round(self.minutes / 60, 2),
            "issued_day_ms": self.issued_day_ms,
            "index": self.index,
            "origin": self.checkpoint.origin,
            "size": self.checkpoint.size,
        }


def certificate_facts(payload: CertificatePayload, checkpoint: Checkpoint) -> CertificateFacts:
    """The entry's facts (already parsed once by :func:`parse_payload`)."""
    entry = parse_entry(payload.entry)
    from_day, to_day = _day(entry["from_day"], "from_day"), _day(entry["to_day"], "to_day")
    if to_day < from_day:
        raise _bad("the period ends before it starts")
    return CertificateFacts(
        from_day,
        to_day,
        entry["minutes"],
        entry["name_hash"],
        entry["at_ms"],
        payload.index,
        checkpoint,
        payload.entry,
    )


def verify_entry(
    text: object, verifiers: Sequence[NoteVerifier], *, origin: str | None = None
) -> CertificateFacts:
    """Check a payload's signed checkpoint and its entry's inclusion, not the holder's name.

    What a check without the paper's name and salt can say: such a certificate
    is in the log.  Raises as :func:`verify_certificate` does, except the name.
    """
    payload = parse_payload(text)
    checkpoint = verify_checkpoint(payload.checkpoint, verifiers, origin=origin)
    try:
        verify_inclusion(
            leaf_hash(payload.entry), payload.index, checkpoint.size, payload.proof, checkpoint.root_hash
        )
    except ProofError as exc:
        raise VerificationError(Reason.BAD_PROOF, f"the certificate is not in the log: {exc}") from exc
    return certificate_facts(payload, checkpoint)


def verify_certificate(
    text: object,
    verifiers: Sequence[NoteVerifier],
    *,
    name: str,
    salt: str,
    origin: str | None = None,
) -> CertificateFacts:
    """Check a certificate offline: signed checkpoint, inclusion of its entry, and the name.

    Raises ``bad_certificate`` (and the parse codes of entries and notes) for a
    payload that is not one, ``note_unverified``/``bad_signature``/``bad_checkpoint``
    for a checkpoint the keys did not sign, ``bad_proof`` for an entry not under
    its root, ``certificate_name_mismatch`` when name and salt give another hash.
    """
    facts = verify_entry(text, verifiers, origin=origin)
    if name_hash(salt, name) != facts.name_hash:
        raise VerificationError(
            Reason.CERTIFICATE_NAME_MISMATCH, "the name and salt do not reproduce the certificate's hash"
        )
    return facts


__all__ = [
    "NAME_DOMAIN",
    "CertificateFacts",
    "CertificatePayload",
    "certificate_entry",
    "certificate_facts",
    "name_hash",
    "normalise_name",
    "parse_payload",
    "payload_of",
    "verify_certificate",
    "verify_entry",
]
