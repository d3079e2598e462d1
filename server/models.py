"""Plain records passed between storage and the services.

They are the storage interface's vocabulary: :mod:`server.storage` builds them
from rows and the services never see a row, a cursor or SQL.  ``to_json``
gives the documented API shape where one exists.  The values the economy rules
use (sites, cards, shifts, ledger entries, redemptions, standings) live in
:mod:`protocol.economy.models`, shared with the auditor, and are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protocol import b64encode
from protocol.economy.models import (
    Card,
    CardKind,
    CoordinatorStatus,
    IssuerKeyStatus,
    KioskStatus,
    LedgerEntry,
    Redemption,
    RedemptionStatus,
    Shift,
    ShiftStatus,
    Site,
    SiteKind,
    TapClock,
)


@dataclass(frozen=True, slots=True)
class IssuerKey:
    """The public half of a card issuer key; the private half never reaches the server."""

    key_id: str
    public_key: bytes
    status: IssuerKeyStatus
    created_ms: int
    changed_ms: int

    def to_json(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "public_key": b64encode(self.public_key),
            "status": self.status.value,
            "created_ms": self.created_ms,
            "changed_ms": self.changed_ms,
        }


@dataclass(frozen=True, slots=True)
class CoordinatorKey:
    """A coordinator's public key (``o_`` ID derived from it) and, for the admin API only, their name.

    The name lives in ``coordinator_names`` and never enters the transparency log.
    """

    coordinator_id: str
    public_key: bytes
    status: CoordinatorStatus
    created_ms: int
    changed_ms: int
    name: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "coordinator_id": self.coordinator_id,
            "name": self.name,
            "public_key": b64encode(self.public_key),
            "status": self.status.value,
            "created_ms": self.created_ms,
            "changed_ms": self.changed_ms,
        }


@dataclass(frozen=True, slots=True)
class AppliedDecision:
    """A coordinator decision the server applied, by the hash of its signed bytes, and its answer."""

    decision_hash: str
    coordinator_id: str
    kind: str
    body: bytes
    sig: bytes
    result: dict[str, Any]
    received_ms: int
    log_index: int


@dataclass(frozen=True, slots=True)
class EnrolmentCode:
    code_sha256: str
    site_id: str
    expires_ms: int
    used_ms: int | None
    kiosk_id: str | None


@dataclass(frozen=True, slots=True)
class Kiosk:
    kiosk_id: str
    site_id: str
    public_key: bytes
    status: KioskStatus
    last_seq: int
    head: str
    enrolled_ms: int

    def to_json(self) -> dict[str, Any]:
        """The documented kiosk state (``GET /v1/kiosks/{id}``), plus when it enrolled."""
        return {
            "kiosk_id": self.kiosk_id,
            "site_id": self.site_id,
            "status": self.status.value,
            "last_seq": self.last_seq,
            "head": self.head,
            "enrolled_ms": self.enrolled_ms,
        }


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An admitted event, ready to be stored exactly as received."""

    kiosk_id: str
    seq: int
    body: bytes
    sig: bytes
    hash: str
    kind: str
    card_id: str
    wall_ms: int
    flags: tuple[str, ...]
    received_ms: int
    log_index: int | None = None  # its entry in the transparency log
    corrected_ms: int | None = None  # an unsynced clock's time by a clock reference (protocol.clockref)


@dataclass(frozen=True, slots=True)
class HeldEvent:
    """What a duplicate's answer needs of the stored copy: its bytes, flags and log position."""

    body: bytes
    flags: str  # as stored: a JSON array of reason codes
    received_ms: int
    log_index: int | None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """What verification needs of a stored event: the bytes as received."""

    kiosk_id: str
    seq: int
    body: bytes
    sig: bytes
    hash: str


@dataclass(frozen=True, slots=True)
class LogOpening:
    """What opens the commitment of one log entry (``openings``, never logged; ``docs/privacy.md``).

    ``kind`` is the entry's kind: ``event`` (``kiosk_id`` and ``seq`` say which),
    ``decision`` (a ``manual_shift`` naming a card), ``card`` (a registration:
    its commitment is to ``card_id|volunteer_id``) or ``card_blocked``.
    """

    log_index: int
    kind: str
    card_id: str
    salt: str
    volunteer_id: str | None = None
    kiosk_id: str | None = None
    seq: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The auditor's form, flat: ``{"index", "kind", "card", "salt"}``, ``"volunteer"`` for a
        registration, ``"kiosk"`` and ``"seq"`` for an event (what ``provisioning.audit`` reads)."""
        answer: dict[str, Any] = {
            "index": self.log_index,
            "kind": self.kind,
            "card": self.card_id,
            "salt": self.salt,
        }
        if self.kind == "card":
            answer["volunteer"] = self.volunteer_id
        if self.kiosk_id is not None:
            answer.update(kiosk=self.kiosk_id, seq=self.seq)
        return answer


@dataclass(frozen=True, slots=True)
class Volunteer:
    """A volunteer with their personal data; ``name`` is ``None`` once erased."""

    volunteer_id: str
    name: str | None
    ehrenamtskarte: str | None = None


@dataclass(frozen=True, slots=True)
class KioskHealth:
    """A kiosk's latest heartbeat as the server stored it (``kiosk_health``; not in the log).

    ``offset_ms`` is the server's clock at ``received_ms`` minus the kiosk's ``sent_ms``:
    positive when the kiosk's clock is behind.
    """

    kiosk_id: str
    received_ms: int
    sent_ms: int
    offset_ms: int
    boot: str
    mono_ms: int
    synced: bool
    version: str
    pending: int
    reader: str
    last_seq: int


__all__ = [
    "AppliedDecision",
    "Card",
    "CardKind",
    "CoordinatorKey",
    "CoordinatorStatus",
    "EnrolmentCode",
    "HeldEvent",
    "IssuerKey",
    "IssuerKeyStatus",
    "Kiosk",
    "KioskHealth",
    "KioskStatus",
    "LedgerEntry",
    "NewEvent",
    "Redemption",
    "RedemptionStatus",
    "Shift",
    "ShiftStatus",
    "Site",
    "SiteKind",
    "StoredEvent",
    "TapClock",
    "Volunteer",
]
