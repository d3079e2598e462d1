"""Log evidence: a kiosk's signed report that the server's log did not extend the one it verified.

A kiosk that finds the server's checkpoint inconsistent with the one it
verified (``log_inconsistent``, docs/protocol.md) keeps both checkpoints and the
proof, and reports them as canonical JSON signed by its own key, sent sealed
(``{"body", "sig"}``, :mod:`protocol.sealed`) to ``POST /v1/kiosks/{kiosk_id}/evidence``.
The signature is what keeps anyone else from filling the server with reports
in a kiosk's name; ``type`` separates the signed domain (a signed heartbeat or
event can never pass as evidence); ``number`` is the kiosk's own count of its
reports, so the server can refuse one it already holds (a replay).

Every part is bounded, so a report fits in :data:`MAX_EVIDENCE_BYTES` whatever
a hostile server sent the kiosk: :meth:`EvidenceReport.clipped` cuts what is
too long and sets ``truncated`` (the full evidence stays on the kiosk).

Example::

    report = EvidenceReport.clipped(kiosk="k_…", number=1, kind="log_inconsistent",
                                    old_checkpoint=old_note, new_checkpoint=new_note,
                                    consistency=["<b64>", …], detail="the log shrank", detected_ms=now)
    wire = sign_evidence(report, kiosk_key)                      # what the kiosk POSTs
    report = open_evidence(wire, kiosk_public_key, kiosk_id="k_…").report   # the server's side
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from protocol import ids
from protocol.encoding import MAX_SAFE_INT, b64decode, canonical_json, parse_canonical_json
from protocol.errors import MalformedError
from protocol.keys import PrivateKey, PublicKey
from protocol.reasons import Reason
from protocol.sealed import open_sealed, seal

EVIDENCE_TYPE: Final = "kokreativ.evidence"
EVIDENCE_VERSION: Final = 1
EVIDENCE_KINDS: Final = frozenset({"log_inconsistent"})
# Limits on each string's JSON encoding (quotes and escapes included), so they bound the bytes.
MAX_CHECKPOINT_CHARS: Final = 8192  # a checkpoint note: origin, size, root and a few signature lines
MAX_DETAIL_CHARS: Final = 1024
MAX_HASH_CHARS: Final = 64  # a base64 SHA-256 is 44; what a server sent is kept verbatim, so allow more
MAX_CONSISTENCY_HASHES: Final = 128  # an RFC 6962 consistency proof has at most about 2·log2(size)
MAX_EVIDENCE_BYTES: Final = 32 * 1024  # above the worst case of the limits above (about 26 KB)
_FIELDS: Final = frozenset(
    {
        "type",
        "v",
        "kiosk",
        "number",
        "kind",
        "old_checkpoint",
        "new_checkpoint",
        "consistency",
        "detail",
        "detected_ms",
        "truncated",
    }
)


def _encoded_len(text: str) -> int:
    return len(json.dumps(text, ensure_ascii=True))


def _clip(text: str, limit: int) -> tuple[str, bool]:
    """``text`` cut so that its JSON encoding fits in ``limit`` characters; whether it was cut."""
    if _encoded_len(text) <= limit:
        return text, False
    used = 2  # the quotes
    for end, char in enumerate(text):
        used += _encoded_len(char) - 2
        if used > limit:
            return text[:end], True
    return text, False  # pragma: no cover - the whole text fitted after all


@dataclass(frozen=True, slots=True)
class EvidenceReport:
    """One report: which kiosk, its report number, the two checkpoints, the proof and what failed."""

    kiosk: str
    number: int  # the kiosk's own count of its reports, from 1; the server keeps each number once
    kind: str
    old_checkpoint: str  # the note the kiosk had verified
    new_checkpoint: str  # the note that did not extend it
    consistency: tuple[str, ...]  # the proof as the server sent it
    detail: str
    detected_ms: int  # the kiosk's wall clock when it found the inconsistency
    truncated: bool = False  # some part was cut to fit the limits; the kiosk keeps the whole

    @classmethod
    def clipped(
        cls,
        *,
        kiosk: str,
        number: int,
        kind: str,
        old_checkpoint: str,
        new_checkpoint: str,
        consistency: Sequence[str],
        detail: str,
        detected_ms: int,
    ) -> EvidenceReport:
        """A report of this evidence cut to the limits, with ``truncated`` set if anything was cut."""
        old, cut_old = _clip(old_checkpoint, MAX_CHECKPOINT_CHARS)
        new, cut_new = _clip(new_checkpoint, MAX_CHECKPOINT_CHARS)
        text, cut_detail = _clip(detail, MAX_DETAIL_CHARS)
        hashes = [_clip(h, MAX_HASH_CHARS) for h in consistency[:MAX_CONSISTENCY_HASHES]]
        cut = cut_old or cut_new or cut_detail or len(consistency) > MAX_CONSISTENCY_HASHES
        return cls(
            kiosk=kiosk,
            number=number,
            kind=kind,
            old_checkpoint=old,
            new_checkpoint=new,
            consistency=tuple(h for h, _ in hashes),
            detail=text,
            detected_ms=detected_ms,
            truncated=cut or any(c for _, c in hashes),
        )

    def to_bytes(self) -> bytes:
        """The canonical bytes; refuses (``bad_field`` …) what a parser would refuse."""
        return canonical_json(_check(self.to_json()))

    def to_json(self) -> dict[str, Any]:
        return {
            "consistency": list(self.consistency),
            "detail": self.detail,
            "detected_ms": self.detected_ms,
            "kind": self.kind,
            "kiosk": self.kiosk,
            "new_checkpoint": self.new_checkpoint,
            "number": self.number,
            "old_checkpoint": self.old_checkpoint,
            "truncated": self.truncated,
            "type": EVIDENCE_TYPE,
            "v": EVIDENCE_VERSION,
        }


def _int(obj: dict[str, Any], name: str, minimum: int) -> int:
    value = obj[name]
    # ``True == 1`` in Python, so a boolean would pass an isinstance check for int alone.
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_SAFE_INT:
        raise MalformedError(Reason.BAD_FIELD, f"{name} must be an integer >= {minimum}")
    return value


def _text(obj: dict[str, Any], name: str, limit: int) -> str:
    value = obj[name]
    if not isinstance(value, str) or _encoded_len(value) > limit:
        raise MalformedError(Reason.BAD_FIELD, f"{name} must be a string of at most {limit} JSON characters")
    return value


def _check(obj: dict[str, Any]) -> dict[str, Any]:
    """Apply every v1 field rule to a decoded evidence object; returns it unchanged."""
    if obj.get("type") != EVIDENCE_TYPE:
        raise MalformedError(Reason.UNKNOWN_TYPE, "not a kokreativ.evidence")
    if obj.get("v") != EVIDENCE_VERSION or isinstance(obj.get("v"), bool):
        raise MalformedError(Reason.UNKNOWN_VERSION, f"evidence version {obj.get('v')!r} is not supported")
    missing = _FIELDS - set(obj)
    if missing:
        raise MalformedError(Reason.MISSING_FIELD, f"evidence lacks {sorted(missing)[0]}")
    extra = set(obj) - _FIELDS
    if extra:
        raise MalformedError(Reason.UNKNOWN_FIELD, f"evidence has unknown field {sorted(extra)[0][:40]!r}")
    ids.require_id(obj["kiosk"], ids.KIOSK, field="kiosk")
    _int(obj, "number", 1)
    _int(obj, "detected_ms", 0)
    if not isinstance(obj["kind"], str) or obj["kind"] not in EVIDENCE_KINDS:  # a dict is unhashable
        raise MalformedError(Reason.BAD_FIELD, f"kind must be one of {sorted(EVIDENCE_KINDS)}")
    _text(obj, "old_checkpoint", MAX_CHECKPOINT_CHARS)
    _text(obj, "new_checkpoint", MAX_CHECKPOINT_CHARS)
    _text(obj, "detail", MAX_DETAIL_CHARS)
    proof = obj["consistency"]
    if not isinstance(proof, list) or len(proof) > MAX_CONSISTENCY_HASHES:
        raise MalformedError(
            Reason.BAD_FIELD, f"consistency must be a list of at most {MAX_CONSISTENCY_HASHES} strings"
        )
    for item in proof:
        if not isinstance(item, str) or _encoded_len(item) > MAX_HASH_CHARS:
            raise MalformedError(
                Reason.BAD_FIELD,
                f"consistency items must be strings of at most {MAX_HASH_CHARS} JSON chars",
            )
    if not isinstance(obj["truncated"], bool):
        raise MalformedError(Reason.BAD_FIELD, "truncated is not a boolean")
    return obj


def parse_evidence(body: bytes) -> EvidenceReport:
    """Parse canonical evidence bytes strictly, without checking any signature."""
    obj = _check(parse_canonical_json(body, max_bytes=MAX_EVIDENCE_BYTES))
    return EvidenceReport(
        kiosk=obj["kiosk"],
        number=obj["number"],
        kind=obj["kind"],
        old_checkpoint=obj["old_checkpoint"],
        new_checkpoint=obj["new_checkpoint"],
        consistency=tuple(obj["consistency"]),
        detail=obj["detail"],
        detected_ms=obj["detected_ms"],
        truncated=obj["truncated"],
    )


def sign_evidence(report: EvidenceReport, key: PrivateKey) -> dict[str, str]:
    """The wire form ``{"body": b64, "sig": b64}`` of a report signed by the kiosk's key."""
    return seal(report.to_bytes(), key)


@dataclass(frozen=True, slots=True)
class SignedEvidence:
    """A verified report with the exact bytes and signature it came in (what the server keeps)."""

    report: EvidenceReport
    body: bytes
    sig: bytes


def open_evidence(wire: object, kiosk_key: PublicKey, *, kiosk_id: str) -> SignedEvidence:
    """The report in ``wire`` once ``kiosk_key`` signed it and it names ``kiosk_id``, with its bytes.

    Raises :class:`MalformedError` (``bad_field``, ``bad_encoding``, ``not_canonical``,
    ``too_large``, ``unknown_type`` …, or ``kiosk_mismatch`` for a report of another
    kiosk) or :class:`VerificationError` (``bad_signature``).  The signature is checked
    before the body is parsed.
    """
    body = open_sealed(wire, kiosk_key, what="evidence", field="evidence")
    report = parse_evidence(body)
    if report.kiosk != kiosk_id:
        raise MalformedError(Reason.KIOSK_MISMATCH, "the evidence names another kiosk")
    assert isinstance(wire, dict), "open_sealed checked the shape"
    return SignedEvidence(report, body, b64decode(wire["sig"], field="evidence.sig"))
