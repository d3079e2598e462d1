"""Balance queries: a kiosk asks for one card's balance, tied to a fresh tap of that card.

Personal data needs the person (issue 17), and at a till the person is there:
they just tapped their card.  So a till does not read a public balance route;
it signs a query that carries what it read at this tap, and the server answers
with a balance sheet (:mod:`protocol.balances`) for that one card::

    {"at_ms": 1764400000000,
     "card": "c_…",
     "credential": "<b64 of the credential bytes read at this tap>",   # "" for a u_ card
     "kiosk": "k_…",
     "nonce": "<32 hex>",
     "type": "kokreativ.balance_query", "v": 1}

sent as ``{"body": <b64 of those canonical bytes>, "sig": <b64>}`` signed with
the kiosk's enrolled key.  The server checks the signature and that the kiosk
is active, that ``at_ms`` is within :data:`MAX_SKEW_MS` of its clock, that the
nonce was not used before, that the credential is genuine and names ``card``
(a ``u_`` card has none, and is answered only where the kiosk's site allows
uncredentialed cards), and a quota per kiosk.  A stolen kiosk key can
therefore ask only about cards whose credential it holds (a credential is on
the card, so: cards that were tapped there or elsewhere and copied), at most
the quota an hour: docs/protocol.md, "Balance queries".

:func:`open_balance_query` fails closed: it returns the query only when the
signature checks, the body is a canonical v1 query and it names the expected
kiosk, else it raises with the reason of the first failure.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any, Final

from protocol import ids
from protocol.encoding import MAX_SAFE_INT, b64decode, b64encode, canonical_json, parse_canonical_json
from protocol.errors import MalformedError, VerificationError
from protocol.keys import PrivateKey, PublicKey
from protocol.reasons import Reason
from protocol.sealed import open_sealed, seal

BALANCE_QUERY_TYPE: Final = "kokreativ.balance_query"
BALANCE_QUERY_VERSION: Final = 1
MAX_SKEW_MS: Final = 120_000  # |at_ms - server now| allowed: a till's clock is NTP-synced when online
MAX_BALANCE_QUERY_BYTES: Final = 2048  # a credential is about 130 bytes
NONCE_BYTES: Final = 16
_FIELDS: Final = frozenset({"at_ms", "card", "credential", "kiosk", "nonce", "type", "v"})
_NONCE: Final = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True, slots=True)
class BalanceQuery:
    """One kiosk-signed question: what is ``card`` worth, asked at ``at_ms`` with ``credential`` in hand."""

    kiosk: str
    card: str
    credential: bytes  # empty for a ``u_`` card
    at_ms: int
    nonce: str

    @classmethod
    def fresh(cls, *, kiosk: str, card: str, credential: bytes, at_ms: int) -> BalanceQuery:
        """A query with a new random nonce."""
        return cls(
            kiosk=kiosk, card=card, credential=credential, at_ms=at_ms, nonce=secrets.token_hex(NONCE_BYTES)
        )

    def to_bytes(self) -> bytes:
        body = canonical_json(
            {
                "at_ms": self.at_ms,
                "card": self.card,
                "credential": b64encode(self.credential),
                "kiosk": self.kiosk,
                "nonce": self.nonce,
                "type": BALANCE_QUERY_TYPE,
                "v": BALANCE_QUERY_VERSION,
            }
        )
        _parse(body)  # nothing malformed is ever signed
        return body


def sign_balance_query(query: BalanceQuery, key: PrivateKey) -> dict[str, str]:
    """The wire form ``{"body": b64, "sig": b64}``, signed with the kiosk's key."""
    return seal(query.to_bytes(), key)


def _parse(body: bytes) -> BalanceQuery:
    obj: dict[str, Any] = parse_canonical_json(body, max_bytes=MAX_BALANCE_QUERY_BYTES)
    version = obj.get("v")
    if obj.get("type") != BALANCE_QUERY_TYPE or isinstance(version, bool) or version != BALANCE_QUERY_VERSION:
        raise MalformedError(Reason.UNKNOWN_TYPE, "not a v1 kokreativ.balance_query")
    if set(obj) != _FIELDS:
        raise MalformedError(Reason.UNKNOWN_FIELD, "balance query fields differ from v1")
    at_ms, nonce = obj["at_ms"], obj["nonce"]
    if isinstance(at_ms, bool) or not isinstance(at_ms, int) or not 0 <= at_ms <= MAX_SAFE_INT:
        raise MalformedError(Reason.BAD_FIELD, "at_ms must be an integer >= 0")
    if not isinstance(nonce, str) or _NONCE.fullmatch(nonce) is None:
        raise MalformedError(Reason.BAD_FIELD, "nonce must be 32 lowercase hex digits")
    card = ids.require_id(obj["card"], ids.CARD, ids.UID_CARD, field="card")
    credential = b64decode(obj["credential"], field="credential")
    if card.startswith(f"{ids.UID_CARD}_") == bool(credential):
        raise MalformedError(Reason.BAD_FIELD, "a c_ card comes with its credential, a u_ card without")
    return BalanceQuery(
        kiosk=ids.require_id(obj["kiosk"], ids.KIOSK, field="kiosk"),
        card=card,
        credential=credential,
        at_ms=at_ms,
        nonce=nonce,
    )


def open_balance_query(wire: object, kiosk_key: PublicKey, *, kiosk_id: str) -> BalanceQuery:
    """The query in ``wire`` once its signature, format and kiosk check; raises otherwise.

    Raises :class:`protocol.MalformedError` or :class:`protocol.VerificationError`
    (``bad_signature``; ``kiosk_mismatch`` for a query signed for another kiosk).
    """
    query = _parse(open_sealed(wire, kiosk_key, what="balance query", field="query"))
    if query.kiosk != kiosk_id:
        raise VerificationError(Reason.KIOSK_MISMATCH, "balance query is from another kiosk")
    return query
