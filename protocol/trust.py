"""The trust list: what the server tells a kiosk to believe about cards.

Kiosks check card credentials with no network (:mod:`protocol.credentials`),
so they need the issuer keys, the blocked cards and their site's card policy
on disk.  The server hands each kiosk a *trust list* at enrolment and at every
sync, signed with the server key the kiosk pinned at enrolment::

    {"allow_uncredentialed": false,
     "blocked": ["c_…", "u_…"],                       # sorted, unique
     "issued_ms": 1764400000000,
     "issuers": [{"key_id": "i_…", "public_key": "<b64>"}],   # sorted by key_id
     "kiosk": "k_…", "site": "s_…",
     "type": "kokreativ.trust", "v": 1}

sent as ``{"body": <b64 of those canonical bytes>, "sig": <b64>}``.  A kiosk
keeps the newest list it has verified and refuses an older one
(``issued_ms`` must not go back), so a replayed list cannot unblock a card.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from protocol import ids
from protocol.credentials import CardTrust, issuer_key_id
from protocol.encoding import canonical_json, parse_canonical_json
from protocol.errors import MalformedError, ProtocolError, VerificationError
from protocol.keys import PrivateKey, PublicKey
from protocol.reasons import Reason
from protocol.sealed import open_sealed, seal

TRUST_TYPE: Final = "kokreativ.trust"
TRUST_VERSION: Final = 1
MAX_TRUST_BYTES: Final = 4 * 1024 * 1024  # about 100,000 blocked cards
_FIELDS: Final = frozenset(
    {"allow_uncredentialed", "blocked", "issued_ms", "issuers", "kiosk", "site", "type", "v"}
)


@dataclass(frozen=True, slots=True)
class TrustList:
    """Issuer keys (by key ID), blocked card IDs and the site's policy, as of ``issued_ms``."""

    kiosk: str
    site: str
    issued_ms: int
    issuers: tuple[tuple[str, PublicKey], ...]
    blocked: frozenset[str]
    allow_uncredentialed: bool

    @property
    def card_trust(self) -> CardTrust:
        """The part :func:`protocol.credentials.verify_credential` needs."""
        return CardTrust(issuer_keys=dict(self.issuers), blocked=self.blocked)

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "allow_uncredentialed": self.allow_uncredentialed,
                "blocked": sorted(self.blocked),
                "issued_ms": self.issued_ms,
                "issuers": [
                    {"key_id": key_id, "public_key": key.to_b64()} for key_id, key in sorted(self.issuers)
                ],
                "kiosk": self.kiosk,
                "site": self.site,
                "type": TRUST_TYPE,
                "v": TRUST_VERSION,
            }
        )


def sign_trust_list(trust: TrustList, key: PrivateKey) -> dict[str, str]:
    """The wire form ``{"body": b64, "sig": b64}``."""
    return seal(trust.to_bytes(), key)


def _parse_issuers(value: object) -> tuple[tuple[str, PublicKey], ...]:
    if not isinstance(value, list):
        raise MalformedError(Reason.BAD_FIELD, "issuers must be a list")
    issuers: list[tuple[str, PublicKey]] = []
    for entry in value:
        if not isinstance(entry, dict) or set(entry) != {"key_id", "public_key"}:
            raise MalformedError(Reason.BAD_FIELD, "an issuer is {key_id, public_key}")
        key = PublicKey.from_b64(entry["public_key"], field="issuers.public_key")
        if entry["key_id"] != issuer_key_id(key):
            raise MalformedError(Reason.BAD_FIELD, "an issuer's key_id does not match its key")
        issuers.append((entry["key_id"], key))
    if [key_id for key_id, _ in issuers] != sorted({key_id for key_id, _ in issuers}):
        raise MalformedError(Reason.NOT_CANONICAL, "issuers must be sorted by key_id, without repeats")
    return tuple(issuers)


def _parse(body: bytes) -> TrustList:
    obj: dict[str, Any] = parse_canonical_json(body, max_bytes=MAX_TRUST_BYTES)
    if obj.get("type") != TRUST_TYPE or obj.get("v") != TRUST_VERSION or isinstance(obj.get("v"), bool):
        raise MalformedError(Reason.UNKNOWN_TYPE, "not a v1 kokreativ.trust")
    if set(obj) != _FIELDS:
        raise MalformedError(Reason.UNKNOWN_FIELD, "trust list fields differ from v1")
    issued, allow, blocked = obj["issued_ms"], obj["allow_uncredentialed"], obj["blocked"]
    if isinstance(issued, bool) or not isinstance(issued, int) or issued < 0:
        raise MalformedError(Reason.BAD_FIELD, "issued_ms must be an integer >= 0")
    if not isinstance(allow, bool):
        raise MalformedError(Reason.BAD_FIELD, "allow_uncredentialed must be true or false")
    if not isinstance(blocked, list) or not all(ids.is_id(c, ids.CARD, ids.UID_CARD) for c in blocked):
        raise MalformedError(Reason.BAD_FIELD, "blocked must be a list of card IDs")
    if blocked != sorted(set(blocked)):
        raise MalformedError(Reason.NOT_CANONICAL, "blocked must be sorted, without repeats")
    return TrustList(
        kiosk=ids.require_id(obj["kiosk"], ids.KIOSK, field="kiosk"),
        site=ids.require_id(obj["site"], ids.SITE, field="site"),
        issued_ms=issued,
        issuers=_parse_issuers(obj["issuers"]),
        blocked=frozenset(blocked),
        allow_uncredentialed=allow,
    )


def verify_trust_list(wire: object, server_key: PublicKey, *, kiosk_id: str) -> TrustList:
    """Check the server's signature and that the list is for ``kiosk_id``; ``bad_trust_list`` otherwise."""
    try:
        trust = _parse(open_sealed(wire, server_key, what="trust list", field="trust"))
    except ProtocolError as exc:
        raise VerificationError(Reason.BAD_TRUST_LIST, exc.message) from exc
    if trust.kiosk != kiosk_id:
        raise VerificationError(Reason.BAD_TRUST_LIST, "trust list is for another kiosk")
    return trust
