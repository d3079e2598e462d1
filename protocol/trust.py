"""The trust list: what the server tells a kiosk to believe about cards.

Kiosks check credentials with no network, so they keep on disk the issuer
keys, blocked cards, their site's card policy, coordinator cards and (v3) a
shop's limits or a site's earning rules, as a list the server signs.  From v4 the
list names no card: ``blocked`` and ``coordinators`` hold
``SHA-256("kokreativ.trust-card.v1\\0" ‖ card_salt ‖ card ID)`` with a fresh
16-byte ``card_salt`` per list, and a kiosk hashes a tapped card to look it up
(:meth:`TrustList.is_blocked`, :meth:`TrustList.is_coordinator`).  Random
128-bit card IDs cannot be enumerated, so the list tells a reader nothing about
who is blocked or a coordinator unless they already hold that card's ID, and
the per-list salt makes two lists' entries unlinkable.  A kiosk
keeps the newest list it verified and refuses an older one, so a replayed list
cannot unblock a card.  Format, versions and rules: ``docs/protocol.md``,
"Trust list".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from protocol import ids
from protocol.commitments import TRUST_CARD_DOMAIN, commit_value, is_commitment, new_salt
from protocol.credentials import CardTrust, issuer_key_id
from protocol.earning import EarningRules
from protocol.encoding import MAX_SAFE_INT, canonical_json, parse_canonical_json
from protocol.errors import MalformedError, ProtocolError, VerificationError
from protocol.keys import PrivateKey, PublicKey
from protocol.reasons import Reason
from protocol.sealed import open_sealed, seal

TRUST_TYPE: Final = "kokreativ.trust"
TRUST_VERSION: Final = 4  # what the server signs: cards hashed with the list's ``card_salt``
MAX_TRUST_BYTES: Final = 4 * 1024 * 1024  # about 60,000 blocked cards by hash (v4)
_V1_FIELDS: Final = frozenset(
    {"allow_uncredentialed", "blocked", "issued_ms", "issuers", "kiosk", "site", "type", "v"}
)
# version -> exactly the fields a list of that version has
_FIELDS: Final[dict[int, frozenset[str]]] = {
    1: _V1_FIELDS,
    2: _V1_FIELDS | {"coordinators"},
    3: _V1_FIELDS | {"coordinators", "earning", "shop"},
    4: _V1_FIELDS | {"card_salt", "coordinators", "earning", "shop"},
}
_SALT_HEX: Final = 32
_SHOP_FIELDS: Final = frozenset(
    {"max_amount", "offline_allowance", "offline_daily_cap", "presets", "void_window_s"}
)
MAX_PRESETS: Final = 12
MAX_PRESET_LABEL: Final = 24


@dataclass(frozen=True, slots=True)
class Preset:
    """A button on the shop terminal's till: a label (an item, not a person) and its price in tokens."""

    label: str
    amount: int


@dataclass(frozen=True, slots=True)
class ShopLimits:
    """What a shop terminal may accept, set per shop by a coordinator (``docs/economy.md``).

    ``max_amount`` caps one redemption, online or offline.  Offline, a card may
    spend at most ``offline_allowance`` at this terminal beyond its last balance
    the server confirmed, and the terminal at most ``offline_daily_cap`` a day.
    A redemption can be voided at the same shop for ``void_window_s`` seconds.
    """

    max_amount: int
    offline_allowance: int
    offline_daily_cap: int
    void_window_s: int
    presets: tuple[Preset, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "max_amount": self.max_amount,
            "offline_allowance": self.offline_allowance,
            "offline_daily_cap": self.offline_daily_cap,
            "presets": [{"amount": p.amount, "label": p.label} for p in self.presets],
            "void_window_s": self.void_window_s,
        }


def _count(value: object, name: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_SAFE_INT:
        raise MalformedError(Reason.BAD_FIELD, f"shop.{name} must be an integer >= {low}")
    return value


def parse_presets(value: object) -> tuple[Preset, ...]:
    """Presets as listed in a trust list or an admin request: ``[{"amount", "label"}]``, at most 12."""
    if not isinstance(value, list) or len(value) > MAX_PRESETS:
        raise MalformedError(Reason.BAD_FIELD, f"presets is a list of at most {MAX_PRESETS}")
    presets = []
    for item in value:
        if not isinstance(item, dict) or set(item) != {"amount", "label"}:
            raise MalformedError(Reason.BAD_FIELD, "a preset is {amount, label}")
        label = item["label"]
        if not isinstance(label, str) or not label.strip() or len(label) > MAX_PRESET_LABEL:
            raise MalformedError(Reason.BAD_FIELD, f"a preset label has 1 to {MAX_PRESET_LABEL} characters")
        presets.append(Preset(label=label, amount=_count(item["amount"], "presets.amount", 1)))
    return tuple(presets)


def _parse_shop(value: object) -> ShopLimits | None:
    if not isinstance(value, dict):
        raise MalformedError(Reason.BAD_FIELD, "shop must be an object")
    if not value:
        return None
    if set(value) != _SHOP_FIELDS:
        raise MalformedError(Reason.BAD_FIELD, f"shop has exactly {sorted(_SHOP_FIELDS)}")
    return ShopLimits(
        max_amount=_count(value["max_amount"], "max_amount", 1),
        offline_allowance=_count(value["offline_allowance"], "offline_allowance"),
        offline_daily_cap=_count(value["offline_daily_cap"], "offline_daily_cap"),
        void_window_s=_count(value["void_window_s"], "void_window_s"),
        presets=parse_presets(value["presets"]),
    )


@dataclass(frozen=True, slots=True)
class TrustList:
    """Issuer keys (by key ID), blocked cards, the site's policy and coordinator cards, as of ``issued_ms``.

    Without ``card_salt`` (a v1–v3 list) ``blocked`` and ``coordinators`` are card
    IDs; with it (v4) they are the cards' salted hashes (:func:`trust_card_hash`):
    ask :meth:`is_blocked` and :meth:`is_coordinator`, never ``in`` the sets.
    :meth:`hiding` builds a v4 list from card IDs.  ``coordinators`` is empty for a
    version 1 list.  ``shop`` is set for a shop terminal, ``earning`` (its site's
    earning rules) for a check-in kiosk; both are ``None`` for a v1 or v2 list.  Believe a coordinator card ID
    only once its credential verified (:meth:`card_trust`): the list says which
    card IDs are coordinators, the credential proves that this tag is that card.
    """

    kiosk: str
    site: str
    issued_ms: int
    issuers: tuple[tuple[str, PublicKey], ...]
    blocked: frozenset[str]
    allow_uncredentialed: bool
    coordinators: frozenset[str] = frozenset()
    shop: ShopLimits | None = None
    earning: EarningRules | None = None
    card_salt: str | None = None

    @classmethod
    def hiding(
        cls,
        *,
        blocked_cards: frozenset[str],
        coordinator_cards: frozenset[str] = frozenset(),
        card_salt: str | None = None,
        **fields: Any,
    ) -> TrustList:
        """A v4 list naming ``blocked_cards`` and ``coordinator_cards`` by salted hash (a fresh salt)."""
        salt = card_salt if card_salt is not None else new_salt()
        return cls(
            blocked=frozenset(trust_card_hash(salt, card) for card in blocked_cards),
            coordinators=frozenset(trust_card_hash(salt, card) for card in coordinator_cards),
            card_salt=salt,
            **fields,
        )

    def _entry(self, card_id: str) -> str:
        return card_id if self.card_salt is None else trust_card_hash(self.card_salt, card_id)

    def is_blocked(self, card_id: str) -> bool:
        """Whether the list blocks ``card_id`` (a ``c_`` card or a ``u_`` UID pseudonym)."""
        return self._entry(card_id) in self.blocked

    @property
    def is_shop(self) -> bool:
        """Whether this kiosk is a shop terminal (it redeems tokens instead of recording shifts)."""
        return self.shop is not None

    def is_coordinator(self, card_id: str) -> bool:
        """Whether ``card_id`` is a coordinator card: named in ``coordinators`` and not blocked.

        Ask only with a card ID taken from a credential that verified against this list: a
        card ID alone proves nothing.
        """
        entry = self._entry(card_id)
        return entry in self.coordinators and entry not in self.blocked

    @property
    def card_trust(self) -> CardTrust:
        """The part :func:`protocol.credentials.verify_credential` needs."""
        return CardTrust(issuer_keys=dict(self.issuers), blocked=self.blocked, blocked_salt=self.card_salt)

    def to_bytes(self) -> bytes:
        """The canonical bytes: v4 with ``card_salt``, else v3 (kiosks accept both)."""
        salted: dict[str, Any] = {} if self.card_salt is None else {"card_salt": self.card_salt}
        return canonical_json(
            {
                **salted,
                "allow_uncredentialed": self.allow_uncredentialed,
                "blocked": sorted(self.blocked),
                "coordinators": sorted(self.coordinators),
                "earning": self.earning.to_json() if self.earning is not None else {},
                "issued_ms": self.issued_ms,
                "issuers": [
                    {"key_id": key_id, "public_key": key.to_b64()} for key_id, key in sorted(self.issuers)
                ],
                "kiosk": self.kiosk,
                "shop": self.shop.to_json() if self.shop is not None else {},
                "site": self.site,
                "type": TRUST_TYPE,
                "v": 3 if self.card_salt is None else TRUST_VERSION,
            }
        )


def trust_card_hash(card_salt: str, card_id: str) -> str:
    """How a v4 trust list names a card: ``SHA-256(TRUST_CARD_DOMAIN ‖ card_salt ‖ card_id)`` as hex."""
    return commit_value(TRUST_CARD_DOMAIN, card_salt, card_id)


def sign_trust_list(trust: TrustList, key: PrivateKey) -> dict[str, str]:
    """The wire form ``{"body": b64, "sig": b64}``."""
    return seal(trust.to_bytes(), key)


def _parse_earning(value: object) -> EarningRules | None:
    if not isinstance(value, dict):
        raise MalformedError(Reason.BAD_FIELD, "earning must be an object")
    return EarningRules.from_json(value) if value else None


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


def _parse_card_ids(value: object, *kinds: str, field: str) -> frozenset[str]:
    """A sorted list of card IDs of ``kinds`` without repeats (the canonical form of a set)."""
    if not isinstance(value, list) or not all(ids.is_id(card, *kinds) for card in value):
        raise MalformedError(Reason.BAD_FIELD, f"{field} must be a list of {'/'.join(kinds)}_ card IDs")
    if value != sorted(set(value)):
        raise MalformedError(Reason.NOT_CANONICAL, f"{field} must be sorted, without repeats")
    return frozenset(value)


def _parse_hashes(value: object, *, field: str) -> frozenset[str]:
    """A sorted list of 64-hex card hashes without repeats (v4's ``blocked`` and ``coordinators``)."""
    if not isinstance(value, list) or not all(is_commitment(entry) for entry in value):
        raise MalformedError(Reason.BAD_FIELD, f"{field} must be a list of 64-hex card hashes")
    if value != sorted(set(value)):
        raise MalformedError(Reason.NOT_CANONICAL, f"{field} must be sorted, without repeats")
    return frozenset(value)


def _parse_salt(value: object) -> str:
    if (
        not isinstance(value, str)
        or len(value) != _SALT_HEX
        or any(c not in "0123456789abcdef" for c in value)
    ):
        raise MalformedError(Reason.BAD_FIELD, "card_salt must be 32 lowercase hex digits")
    return value


def _parse(body: bytes) -> TrustList:
    obj: dict[str, Any] = parse_canonical_json(body, max_bytes=MAX_TRUST_BYTES)
    version = obj.get("v")
    # ``True == 1`` in Python, so "v": true would pass the lookup alone.
    fields = None if isinstance(version, bool) or not isinstance(version, int) else _FIELDS.get(version)
    if obj.get("type") != TRUST_TYPE or fields is None:
        raise MalformedError(Reason.UNKNOWN_TYPE, "not a v1 to v4 kokreativ.trust")
    if set(obj) != fields:
        raise MalformedError(Reason.UNKNOWN_FIELD, f"trust list fields differ from v{version}")
    issued, allow = obj["issued_ms"], obj["allow_uncredentialed"]
    if isinstance(issued, bool) or not isinstance(issued, int) or issued < 0:
        raise MalformedError(Reason.BAD_FIELD, "issued_ms must be an integer >= 0")
    if not isinstance(allow, bool):
        raise MalformedError(Reason.BAD_FIELD, "allow_uncredentialed must be true or false")
    card_salt = _parse_salt(obj["card_salt"]) if "card_salt" in fields else None
    if card_salt is not None:
        blocked = _parse_hashes(obj["blocked"], field="blocked")
        coordinators = _parse_hashes(obj["coordinators"], field="coordinators")
    else:
        blocked = _parse_card_ids(obj["blocked"], ids.CARD, ids.UID_CARD, field="blocked")
        coordinators = (
            _parse_card_ids(obj["coordinators"], ids.CARD, field="coordinators")
            if "coordinators" in fields
            else frozenset()
        )
    shop = _parse_shop(obj["shop"]) if "shop" in fields else None
    earning = _parse_earning(obj["earning"]) if "earning" in fields else None
    if shop is not None and earning is not None:
        raise MalformedError(Reason.BAD_FIELD, "a trust list has shop limits or earning rules, not both")
    return TrustList(
        kiosk=ids.require_id(obj["kiosk"], ids.KIOSK, field="kiosk"),
        site=ids.require_id(obj["site"], ids.SITE, field="site"),
        issued_ms=issued,
        issuers=_parse_issuers(obj["issuers"]),
        blocked=blocked,
        allow_uncredentialed=allow,
        coordinators=coordinators,
        shop=shop,
        earning=earning,
        card_salt=card_salt,
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
