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
    """What opens the commitment of one log entry, and what the entry no longer shows (``openings``).

    Never logged, never public (``docs/privacy.md``); the designated auditor reads
    these rows (``GET /v1/audit/openings``), a volunteer those of their own cards
    (``GET /v1/me/openings``).  ``kind`` is the entry's kind:

    - ``event``: a v2 event (``kiosk_id`` and ``seq`` say which); ``sealed`` is the
      opening's ``{clock, data, kind}``, ``received_ms`` the exact receipt time (the
      entry shows the UTC day), ``flags``, ``issued`` and ``redeemed`` what the rules
      made of it (an entry v2 shows none of them);
    - ``event_sealed``: a v1 event in a log that names no card: the same, and its
      signed ``body`` and ``sig``; ``salt`` opens the card commitment the server made;
    - ``decision``: a coordinator decision's ``issued`` and ``redeemed``; ``card_id``
      and ``salt`` only for a ``manual_shift`` naming a card;
    - ``card`` (a registration: its commitment is to ``card_id|volunteer_id``) and
      ``card_blocked``.
    """

    log_index: int
    kind: str
    card_id: str | None
    salt: str | None
    volunteer_id: str | None = None
    kiosk_id: str | None = None
    seq: int | None = None
    sealed: dict[str, Any] | None = None
    received_ms: int | None = None
    flags: tuple[str, ...] | None = None
    issued: int | None = None
    redeemed: int | None = None
    body: bytes | None = None
    sig: bytes | None = None

    def to_json(self) -> dict[str, Any]:
        """The item of ``GET /v1/audit/openings`` (``docs/protocol.md``, "Openings"), flat, by kind."""
        answer: dict[str, Any] = {"index": self.log_index, "kind": self.kind}
        if self.card_id is not None:
            answer.update(card=self.card_id, salt=self.salt)
        if self.kind == "card":
            answer["volunteer"] = self.volunteer_id
        if self.kind in ("event", "event_sealed"):
            answer.update(
                sealed=self.sealed,
                kiosk=self.kiosk_id,
                seq=self.seq,
                received_ms=self.received_ms,
                flags=list(self.flags or ()),
            )
        if self.kind in ("event", "event_sealed", "decision"):
            answer.update(issued=self.issued or 0, redeemed=self.redeemed or 0)
        if self.kind == "event_sealed" and self.body is not None and self.sig is not None:
            answer.update(body=b64encode(self.body), sig=b64encode(self.sig))
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
