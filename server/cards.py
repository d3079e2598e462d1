"""Coordinator operations on card trust: issuer keys, card registration, blocks and coordinator cards.

Issuer private keys never reach the server: the coordinator's tool signs
credentials locally (``provisioning.cards``), and the server knows only
public keys, card IDs, owners, blocks and coordinator cards, which kiosks
learn from the signed trust list (:mod:`server.trust`).  Key states move one
way; blocking is final and never touches a balance; the coordinator role
belongs to one credential card, server-wide, and is not a log entry because
it decides no balance.  The rules: docs/protocol.md, "Issuer keys and
rotation" and "Coordinator cards".
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, Final

from protocol import ProtocolError, PublicKey, Reason, ids, issuer_key_id, uid_pseudonym
from protocol.credentials import MAX_VALIDITY_S
from server import people, quotas, sessions, tlog
from server.context import ServerContext
from server.errors import InputError, ServiceError
from server.inputs import optional_str, require_bool, require_int, require_str
from server.models import Card, CardKind, IssuerKey, IssuerKeyStatus
from server.storage import Tx
from server.vault import PersonalData

ISSUER_KEY_FIELDS: Final = frozenset({"public_key"})
CARD_FIELDS: Final = frozenset(
    {
        "name",
        "volunteer_id",
        "ehrenamtskarte",
        "issuer_key_id",
        "valid_from_s",
        "valid_until_s",
        "uid",
        "site_id",
    }
)
BLOCK_FIELDS: Final = frozenset({"reason"})
COORDINATOR_FIELDS: Final = frozenset({"coordinator"})
MAX_EHRENAMTSKARTE_CHARS: Final = 40
MAX_BLOCK_REASON_CHARS: Final = 200
_CREDENTIAL_FIELDS: Final = ("issuer_key_id", "valid_from_s", "valid_until_s")
_KEY_ID = re.compile(r"i_[0-9a-f]{16}")
# 4 to 10 bytes as hex digits, either case; nothing else (no separators), so one UID has one spelling.
_UID_HEX = re.compile(r"(?:[0-9a-fA-F]{2}){4,10}")


# -- issuer keys -----------------------------------------------------------------------------------
def register_issuer_key(ctx: ServerContext, request: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """Register an issuer public key as ``active``; return its JSON and whether it is new.

    Idempotent: a key registered before is returned unchanged, whatever its
    status (so posting a revoked key again never reactivates it).
    """
    try:
        public_key = PublicKey.from_b64(request.get("public_key"))
    except ProtocolError as exc:
        raise InputError(Reason.MALFORMED_REQUEST, exc.message) from exc
    key_id = issuer_key_id(public_key)
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        existing = tx.get_issuer_key(key_id)
        if existing is not None:
            if existing.public_key != public_key.raw:
                # 64-bit key IDs: a collision takes deliberate work; never let it shadow a key.
                raise InputError(Reason.MALFORMED_REQUEST, "key ID collides with another key; make a new key")
            return existing.to_json(), False
        quotas.check(tx.count_issuer_keys(), quotas.ISSUER_KEYS, "issuer keys")
        key = IssuerKey(key_id, public_key.raw, IssuerKeyStatus.ACTIVE, created_ms=now, changed_ms=now)
        tx.insert_issuer_key(key)
        tlog.append(ctx, tx, [tlog.issuer_key_entry(key, now, version=tx.log_format())], now_ms=now)
    return key.to_json(), True


def list_issuer_keys(ctx: ServerContext) -> dict[str, Any]:
    with ctx.storage.read() as tx:
        return {"issuer_keys": [key.to_json() for key in tx.list_issuer_keys()]}


def _set_issuer_status(ctx: ServerContext, key_id: str, status: IssuerKeyStatus) -> IssuerKey:
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        key = tx.get_issuer_key(key_id)
        if key is None:
            raise ServiceError(Reason.UNKNOWN_ISSUER, "no such issuer key")
        if key.status is IssuerKeyStatus.REVOKED:
            raise ServiceError(Reason.ISSUER_KEY_INACTIVE, "a revoked issuer key stays revoked")
        if key.status is status:
            return key  # retiring a retired key changes nothing, not even changed_ms
        tx.set_issuer_key_status(key_id, status, now)
        key = dataclasses.replace(key, status=status, changed_ms=now)
        tlog.append(ctx, tx, [tlog.issuer_key_entry(key, now, version=tx.log_format())], now_ms=now)
    return key


def retire_issuer_key(ctx: ServerContext, key_id: str) -> dict[str, Any]:
    """Rotation: kiosks keep trusting the key's cards, but no new card may be registered under it."""
    return _set_issuer_status(ctx, key_id, IssuerKeyStatus.RETIRED).to_json()


def revoke_issuer_key(ctx: ServerContext, key_id: str) -> dict[str, Any]:
    """A stolen key: drop it from every trust list, so each card it signed is denied ``unknown_issuer``."""
    return _set_issuer_status(ctx, key_id, IssuerKeyStatus.REVOKED).to_json()


# -- cards -----------------------------------------------------------------------------------------
def _credential_fields(request: Mapping[str, Any]) -> tuple[str, int, int] | None:
    """``(issuer_key_id, valid_from_s, valid_until_s)``, all three or none."""
    present = [name for name in _CREDENTIAL_FIELDS if name in request]
    if not present:
        return None
    if len(present) != len(_CREDENTIAL_FIELDS):
        raise InputError(Reason.MALFORMED_REQUEST, "give issuer_key_id, valid_from_s and valid_until_s")
    key_id = request["issuer_key_id"]
    if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
        raise InputError(Reason.MALFORMED_REQUEST, "issuer_key_id must be i_ and 16 lowercase hex digits")
    valid_from = require_int(request, "valid_from_s", minimum=0, maximum=MAX_VALIDITY_S)
    valid_until = require_int(request, "valid_until_s", minimum=0, maximum=MAX_VALIDITY_S)
    if valid_until <= valid_from:
        raise InputError(Reason.MALFORMED_REQUEST, "valid_until_s must be after valid_from_s")
    return key_id, valid_from, valid_until


def parse_uid(value: object) -> bytes:
    """The raw tag UID from its hex spelling (4 to 10 bytes).  The error never repeats the value."""
    if not isinstance(value, str) or not _UID_HEX.fullmatch(value):
        raise InputError(Reason.MALFORMED_REQUEST, "uid must be the tag UID as 8 to 20 hex digits")
    return bytes.fromhex(value)


def create_card(ctx: ServerContext, request: Mapping[str, Any]) -> dict[str, Any]:
    """Register a card for a new volunteer (``name``) or an existing one (``volunteer_id``).

    See the module docstring for the three kinds of registration.  Answers
    ``{"card_id","volunteer_id","kind"}``, plus the credential fields for a
    credential card, plus for a new volunteer ``home_site_id`` and the
    volunteer's ``access_secret`` (:mod:`server.sessions`; shown this once,
    stored only as a hash).  A new volunteer needs ``site_id``, their home site:
    who may read their data besides themselves (``404 unknown_site``).
    """
    if ("name" in request) == ("volunteer_id" in request):
        raise InputError(Reason.MALFORMED_REQUEST, 'give exactly one of "name" and "volunteer_id"')
    if "ehrenamtskarte" in request and "name" not in request:
        raise InputError(Reason.MALFORMED_REQUEST, "ehrenamtskarte is recorded with a new volunteer's name")
    if ("site_id" in request) != ("name" in request):
        raise InputError(
            Reason.MALFORMED_REQUEST,
            "a new volunteer (name) needs site_id, their home site; a card for "
            "an existing volunteer keeps theirs",
        )
    name = require_str(request, "name") if "name" in request else None
    home_site_id = require_str(request, "site_id", max_len=40) if name is not None else None
    ehrenamtskarte = optional_str(request, "ehrenamtskarte", max_len=MAX_EHRENAMTSKARTE_CHARS)
    volunteer_id = None if name is not None else require_str(request, "volunteer_id", max_len=40)
    credential = _credential_fields(request)
    if credential is not None and "uid" in request:
        raise InputError(Reason.MALFORMED_REQUEST, "give a credential (issuer_key_id) or a uid, not both")
    if "uid" in request:
        card_id, kind = uid_pseudonym(parse_uid(request["uid"]), ctx.uid_pseudonym_key), CardKind.UID
    else:
        card_id, kind = ids.new_id(ids.CARD), CardKind.CREDENTIAL

    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        if credential is not None:
            key = tx.get_issuer_key(credential[0])
            if key is None:
                raise ServiceError(Reason.UNKNOWN_ISSUER, "no such issuer key")
            if key.status is not IssuerKeyStatus.ACTIVE:
                raise ServiceError(Reason.ISSUER_KEY_INACTIVE, f"issuer key is {key.status.value}")
        if kind is CardKind.UID and tx.get_card(card_id) is not None:
            raise ServiceError(Reason.CARD_EXISTS, "this tag is already registered")
        quotas.check(tx.count_cards(), quotas.CARDS, "cards")
        secret: str | None = None
        if name is not None:
            assert home_site_id is not None
            if tx.get_site(home_site_id) is None:
                raise ServiceError(Reason.UNKNOWN_SITE, "no such site")
            volunteer_id = ids.new_id(ids.VOLUNTEER)
            people.register(ctx, tx, volunteer_id, PersonalData(name, ehrenamtskarte), now)
            tx.set_home_site(volunteer_id, home_site_id)
            secret = sessions.issue_secret(tx, volunteer_id, now)
        elif not tx.volunteer_exists(str(volunteer_id)):
            raise ServiceError(Reason.UNKNOWN_VOLUNTEER, "no such volunteer")
        elif tx.erased_ms(str(volunteer_id)) is not None:
            raise ServiceError(Reason.VOLUNTEER_ERASED, "this volunteer was erased; register them anew")
        assert volunteer_id is not None
        key_id, valid_from, valid_until = credential if credential is not None else (None, None, None)
        card = Card(card_id, volunteer_id, kind, now, key_id, valid_from, valid_until)
        tx.insert_card(card)
        tlog.log_card(ctx, tx, card, now)
    answer: dict[str, Any] = {"card_id": card_id, "volunteer_id": volunteer_id, "kind": kind.value}
    if credential is not None:
        answer.update(issuer_key_id=key_id, valid_from_s=valid_from, valid_until_s=valid_until)
    if secret is not None:
        answer.update(home_site_id=home_site_id, access_secret=secret)
    return answer


def list_cards(ctx: ServerContext, volunteer_id: str | None = None) -> dict[str, Any]:
    """Every card (or one volunteer's), oldest first, with issuance details and blocks."""
    with ctx.storage.read() as tx:
        if volunteer_id is not None and not tx.volunteer_exists(volunteer_id):
            raise ServiceError(Reason.UNKNOWN_VOLUNTEER, "no such volunteer")
        return {"cards": [card.to_json() for card in tx.list_cards(volunteer_id)]}


def block_card(ctx: ServerContext, card_id: str, request: Mapping[str, Any]) -> dict[str, Any]:
    """Block a lost or misused card for good; a second block keeps the first one's time and reason.

    Kiosks deny it once their trust list holds the block; the server flags its
    taps from ``blocked_ms`` on (``card_blocked``), whatever the kiosk decided.
    Keep names out of ``reason``: it is stored with the card, not as personal data.
    """
    reason = optional_str(request, "reason", max_len=MAX_BLOCK_REASON_CHARS)
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        card = tx.get_card(card_id)
        if card is None:
            raise ServiceError(Reason.UNKNOWN_CARD, "no such card")
        card = block_in(ctx, tx, card, reason, now)
    return card.to_json()


def block_in(ctx: ServerContext, tx: Tx, card: Card, reason: str | None, now: int) -> Card:
    """Block ``card`` inside ``tx`` with its log entry; a blocked card stays as it was.

    Shared by :func:`block_card` and the erasure (:mod:`server.erasure`), so an
    erased person's cards are blocked and logged exactly like any other block.
    """
    if card.blocked_ms is not None:
        return card
    tx.block_card(card.card_id, now, reason)
    tlog.log_card_blocked(ctx, tx, card.card_id, now)
    return dataclasses.replace(card, blocked_ms=now, block_reason=reason, coordinator_ms=None)


def set_coordinator(ctx: ServerContext, card_id: str, request: Mapping[str, Any]) -> dict[str, Any]:
    """Grant (``{"coordinator": true}``) or withdraw (``false``) a card's coordinator role; the card's JSON.

    Idempotent: granting again keeps the first ``coordinator_ms``, withdrawing a
    card that is no coordinator changes nothing.  Granting is refused for an
    unknown card (``404 unknown_card``), a blocked one (``409 card_blocked``) and
    a UID-pseudonym card (``409 uncredentialed_card``); withdrawing works for any known card.
    Kiosks learn it from their next trust list (at most a minute after their
    next successful sync), as they learn blocks.
    """
    coordinator = require_bool(request, "coordinator")
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        card = tx.get_card(card_id)
        if card is None:
            raise ServiceError(Reason.UNKNOWN_CARD, "no such card")
        if coordinator and card.coordinator_ms is None:
            if card.blocked_ms is not None:
                raise ServiceError(Reason.CARD_BLOCKED, "a blocked card cannot be a coordinator card")
            if card.kind is not CardKind.CREDENTIAL:
                raise ServiceError(
                    Reason.UNCREDENTIALED_CARD, "only a card with a credential can be a coordinator card"
                )
            tx.set_card_coordinator(card_id, now)
            card = dataclasses.replace(card, coordinator_ms=now)
        elif not coordinator and card.coordinator_ms is not None:
            tx.set_card_coordinator(card_id, None)
            card = dataclasses.replace(card, coordinator_ms=None)
    return card.to_json()
