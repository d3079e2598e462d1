"""Kiosk heartbeats: a kiosk's signed word that it is alive, and how it is doing.

A heartbeat is canonical JSON signed by the kiosk's own key and sent sealed
(``{"body", "sig"}``, :mod:`protocol.sealed`) to
``POST /v1/kiosks/{kiosk_id}/heartbeat``.  The signature is what keeps anyone
else from reporting a stolen kiosk as healthy (or a healthy one as broken).

Health is operational, not ledger: heartbeats sent for health never enter the
transparency log, and the server keeps only the latest per kiosk.  The same
signed form rides along with every sync request as its *clock sample*; the
server logs one when it needs it to correct an unsynced clock
(:mod:`protocol.clockref`).

Example::

    beat = Heartbeat(kiosk="k_…", sent_ms=wall_ms, boot=boot_id, mono_ms=mono_ms, synced=True,
                     version="0.1.0", pending=3, reader="ok", last_seq=42)
    wire = sign_heartbeat(beat, kiosk_key)              # what the kiosk POSTs
    beat = verify_heartbeat(wire, kiosk_public_key, kiosk_id="k_…")   # the server's side
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from protocol import ids
from protocol.encoding import b64decode, canonical_json, parse_canonical_json
from protocol.errors import MalformedError
from protocol.keys import PrivateKey, PublicKey
from protocol.reasons import Reason
from protocol.sealed import open_sealed, seal

HEARTBEAT_TYPE: Final = "kokreativ.heartbeat"
HEARTBEAT_VERSION: Final = 1
MAX_HEARTBEAT_BYTES: Final = 1024
MAX_VERSION_CHARS: Final = 40
# What the kiosk knows of its card reader; ``unknown`` when the sending process has no reader
# (the sync service runs apart from the kiosk's screen).
READER_STATES: Final = frozenset({"ok", "missing", "error", "unknown"})
_FIELDS: Final = frozenset(
    {"type", "v", "kiosk", "sent_ms", "boot", "mono_ms", "synced", "version", "pending", "reader", "last_seq"}
)
_BOOT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_VERSION = re.compile(r"[0-9A-Za-z.+_-]{1,40}")


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """One heartbeat: who, the kiosk's clock evidence, its software version, backlog and reader."""

    kiosk: str
    sent_ms: int  # the kiosk's wall clock when it sent this; the server measures the offset against it
    boot: str
    mono_ms: int
    synced: bool
    version: str
    pending: int
    reader: str
    last_seq: int

    def to_bytes(self) -> bytes:
        """The canonical bytes; refuses (``bad_field``) what a parser would refuse."""
        return canonical_json(_check(self.to_json()))

    def to_json(self) -> dict[str, Any]:
        return {
            "boot": self.boot,
            "kiosk": self.kiosk,
            "last_seq": self.last_seq,
            "mono_ms": self.mono_ms,
            "pending": self.pending,
            "reader": self.reader,
            "sent_ms": self.sent_ms,
            "synced": self.synced,
            "type": HEARTBEAT_TYPE,
            "v": HEARTBEAT_VERSION,
            "version": self.version,
        }


def _int(obj: dict[str, Any], name: str) -> int:
    value = obj[name]
    # ``True == 1`` in Python, so a boolean would pass an isinstance check for int alone.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedError(Reason.BAD_FIELD, f"{name} must be an integer >= 0")
    return value


def _check(obj: dict[str, Any]) -> dict[str, Any]:
    """Apply every v1 field rule to a decoded heartbeat object; returns it unchanged."""
    if obj.get("type") != HEARTBEAT_TYPE:
        raise MalformedError(Reason.UNKNOWN_TYPE, "not a kokreativ.heartbeat")
    if obj.get("v") != HEARTBEAT_VERSION or isinstance(obj.get("v"), bool):
        raise MalformedError(Reason.UNKNOWN_VERSION, f"heartbeat version {obj.get('v')!r} is not supported")
    missing = _FIELDS - set(obj)
    if missing:
        raise MalformedError(Reason.MISSING_FIELD, f"heartbeat lacks {sorted(missing)[0]}")
    extra = set(obj) - _FIELDS
    if extra:
        raise MalformedError(Reason.UNKNOWN_FIELD, f"heartbeat has unknown field {sorted(extra)[0][:40]!r}")
    ids.require_id(obj["kiosk"], ids.KIOSK, field="kiosk")
    for name in ("sent_ms", "mono_ms", "pending", "last_seq"):
        _int(obj, name)
    if not isinstance(obj["synced"], bool):
        raise MalformedError(Reason.BAD_FIELD, "synced is not a boolean")
    if not isinstance(obj["boot"], str) or _BOOT_ID.fullmatch(obj["boot"]) is None:
        raise MalformedError(Reason.BAD_FIELD, "boot is not a lowercase UUID")
    if not isinstance(obj["version"], str) or _VERSION.fullmatch(obj["version"]) is None:
        raise MalformedError(Reason.BAD_FIELD, f"version must be 1 to {MAX_VERSION_CHARS} of [0-9A-Za-z.+_-]")
    if not isinstance(obj["reader"], str) or obj["reader"] not in READER_STATES:  # a dict is unhashable
        raise MalformedError(Reason.BAD_FIELD, f"reader must be one of {sorted(READER_STATES)}")
    return obj


def parse_heartbeat(body: bytes) -> Heartbeat:
    """Parse canonical heartbeat bytes strictly, without checking any signature."""
    obj = _check(parse_canonical_json(body, max_bytes=MAX_HEARTBEAT_BYTES))
    return Heartbeat(
        kiosk=obj["kiosk"],
        sent_ms=obj["sent_ms"],
        boot=obj["boot"],
        mono_ms=obj["mono_ms"],
        synced=obj["synced"],
        version=obj["version"],
        pending=obj["pending"],
        reader=obj["reader"],
        last_seq=obj["last_seq"],
    )


def sign_heartbeat(beat: Heartbeat, key: PrivateKey) -> dict[str, str]:
    """The wire form ``{"body": b64, "sig": b64}`` of a heartbeat signed by the kiosk's key."""
    return seal(beat.to_bytes(), key)


@dataclass(frozen=True, slots=True)
class SignedHeartbeat:
    """A verified heartbeat with the exact bytes and signature it came in (what a log entry keeps)."""

    beat: Heartbeat
    body: bytes
    sig: bytes


def open_heartbeat(
    wire: object, kiosk_key: PublicKey, *, kiosk_id: str, field: str = "heartbeat"
) -> SignedHeartbeat:
    """The heartbeat in ``wire`` once ``kiosk_key`` signed it and it names ``kiosk_id``, with its bytes.

    Raises :class:`MalformedError` (``bad_field``, ``bad_encoding``, ``not_canonical``,
    ``unknown_type`` …, or ``kiosk_mismatch`` for a heartbeat of another kiosk) or
    :class:`VerificationError` (``bad_signature``).  The signature is checked before
    the body is parsed.  ``field`` prefixes field names in messages.
    """
    body = open_sealed(wire, kiosk_key, what=field, field=field)
    beat = parse_heartbeat(body)
    if beat.kiosk != kiosk_id:
        raise MalformedError(Reason.KIOSK_MISMATCH, f"the {field} names another kiosk")
    assert isinstance(wire, dict), "open_sealed checked the shape"
    return SignedHeartbeat(beat, body, b64decode(wire["sig"], field=f"{field}.sig"))


def verify_heartbeat(wire: object, kiosk_key: PublicKey, *, kiosk_id: str) -> Heartbeat:
    """The heartbeat in ``wire`` once ``kiosk_key`` signed it for ``kiosk_id`` (:func:`open_heartbeat`)."""
    return open_heartbeat(wire, kiosk_key, kiosk_id=kiosk_id).beat
