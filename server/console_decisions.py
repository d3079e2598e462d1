"""Decisions from the console: the server prepares the bytes, the browser's own key signs them.

A coordinator's decision carries their Ed25519 signature so the server cannot
forge it (``docs/economy.md``, "Decisions from the browser").  In the console
the key is a browser *device key*: a WebCrypto Ed25519 key that cannot be
exported, kept in the browser's IndexedDB (``server/web/static/sign.js``).  Its
public half is registered as a coordinator key whose ``person_id`` is the
account's person, logged like any coordinator key.

The flow, one decision:

1. :func:`prepare_decision` turns a form's fields into the canonical decision
   body (nonce and ``at_ms`` from the server's clock; a manual shift as decision
   v2, with a fresh opening of its card commitment) and answers ``body_b64``;
2. the browser signs exactly those bytes with its device key;
3. :func:`submit_prepared` hands ``{body, sig, opening}`` to
   :func:`server.decisions.submit_decision`, the path of the CLI's decisions, so
   ``kokreativ verify`` checks both alike.

A principal signs only with its own device keys (``403 not_your_key``) and only
about sites where it holds ``decide`` (outside: ``404``, as if unknown).  A
decision over the four-eyes threshold waits (:mod:`server.foureyes`) until
:func:`cosign` adds a second person's signature over
:func:`protocol.decisions.cosign_message`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from protocol import (
    ProtocolError,
    PublicKey,
    Reason,
    b64encode,
    coordinator_id,
    decision_hash,
    ids,
    parse_decision,
)
from protocol.decisions import DATA_FIELDS_V2, committed_decision, cosign_message
from protocol.earning import ZONE
from protocol.economy.decisions import MAX_CLOCK_SKEW_MS
from server import decisions, foureyes, quotas, tlog
from server.context import ServerContext
from server.errors import InputError, ServiceError, from_protocol
from server.models import CoordinatorKey, CoordinatorStatus
from server.principals import Permission, Principal
from server.storage import ReadTx
from server.storage.foureyes import PendingDecision

DEVICE_KEY_FIELDS: Final = frozenset({"public_key", "label"})
MAX_LABEL_CHARS: Final = 80
MAX_DIGITS: Final = 20  # a whole-number or millisecond field of a form; the parser checks the range
_INT_FIELDS: Final = frozenset(
    {
        "tokens_per_hour",
        "max_shift_hours",
        "daily_cap",
        "max_amount",
        "offline_allowance",
        "offline_daily_cap",
        "void_window_s",
        "max_day_hours",
        "backdate_days",
        "minutes",
    }
)
_TIME_FIELDS: Final = frozenset({"start_ms", "end_ms", "from_ms", "to_ms"})


# -- who is asking -------------------------------------------------------------------------------------
def person_of(principal: Principal) -> str:
    """The person behind a console principal; a token (a machine) has none and signs nothing here."""
    person = principal.person_id
    if person is None:
        raise ServiceError(Reason.NOT_YOUR_KEY, "only a person's console account has device keys", status=403)
    return person


def _may_manage_keys(principal: Principal) -> bool:
    """``manage_teams`` over the whole economy may list and revoke anyone's device keys."""
    return principal.may(Permission.MANAGE_TEAMS, None)


def signer_of(principal: Principal) -> decisions.Signer:
    """The principal as :class:`server.decisions.Signer`: their person, and where they hold ``decide``."""
    return decisions.Signer(person_of(principal), lambda site: principal.may(Permission.DECIDE, site))


def _own_key(tx: ReadTx, principal: Principal, key_id: str) -> CoordinatorKey:
    """The principal's own active device key ``key_id``, else ``not_your_key`` / ``coordinator_revoked``."""
    key = tx.get_coordinator(key_id) if ids.is_id(key_id, ids.COORDINATOR) else None
    if key is None or tx.coordinator_person(key_id) != person_of(principal):
        raise ServiceError(Reason.NOT_YOUR_KEY, "this is not a device key of your account", status=403)
    if key.status is not CoordinatorStatus.ACTIVE:
        raise ServiceError(Reason.COORDINATOR_REVOKED, "this device key was revoked; register a new one")
    return key


# -- device keys ---------------------------------------------------------------------------------------
def register_device_key(
    ctx: ServerContext, principal: Principal, request: Mapping[str, Any]
) -> dict[str, Any]:
    """Register this browser's raw Ed25519 public key as a coordinator key of the principal's person.

    Active at once: the person is logged in with their second factor and holds
    ``decide`` somewhere.  Logged (``coordinator_key``) like a laptop's key.
    The same key again answers it unchanged; another person's key is refused.
    """
    person = person_of(principal)
    if principal.sites_for(Permission.DECIDE) == frozenset():
        raise ServiceError(Reason.FORBIDDEN, "only a person who holds decide signs decisions", status=403)
    label = request.get("label") or "Browser"
    if not isinstance(label, str) or len(label) > MAX_LABEL_CHARS:
        raise InputError(Reason.BAD_FIELD, f"label is a text of at most {MAX_LABEL_CHARS} characters")
    try:
        public_key = PublicKey.from_b64(request.get("public_key"))
    except ProtocolError as exc:
        raise from_protocol(exc) from exc
    key_id = coordinator_id(public_key)
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        existing = tx.get_coordinator(key_id)
        if existing is not None:
            if tx.coordinator_person(key_id) != person:
                raise ServiceError(Reason.KEY_ALREADY_ENROLLED, "this key is registered already", status=409)
            return _key_json(existing, person)
        quotas.check(tx.count_coordinators(), quotas.COORDINATORS, "coordinator keys")
        key = CoordinatorKey(
            key_id, public_key.raw, CoordinatorStatus.ACTIVE, created_ms=now, changed_ms=now, name=label
        )
        tx.insert_coordinator(key)
        tx.set_coordinator_person(key_id, person)
        tlog.append(ctx, tx, [tlog.coordinator_key_entry(key, now, version=tx.log_format())], now_ms=now)
    return _key_json(key, person)


def _key_json(key: CoordinatorKey, person: str | None) -> dict[str, Any]:
    return {**key.to_json(), "person_id": person}


def list_device_keys(
    ctx: ServerContext, principal: Principal, person_id: str | None = None
) -> list[dict[str, Any]]:
    """A person's device keys: one's own, or anyone's for ``manage_teams``."""
    person = person_id or person_of(principal)
    if person != principal.person_id and not _may_manage_keys(principal):
        raise ServiceError(Reason.NOT_FOUND, "no such person", status=404)
    with ctx.storage.read() as tx:
        return [_key_json(key, person) for key in tx.device_keys(person)]


def revoke_device_key(ctx: ServerContext, principal: Principal, key_id: str) -> dict[str, Any]:
    """Revoke a device key (a lost laptop): by its person or by ``manage_teams``.  Idempotent, logged once.

    Decisions it signed stand; decisions it signed that still wait for a cosignature are dropped.
    """
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        key = tx.get_coordinator(key_id) if ids.is_id(key_id, ids.COORDINATOR) else None
        owner = None if key is None else tx.coordinator_person(key_id)
        mine = owner is not None and owner == principal.person_id
        if key is None or owner is None or not (mine or _may_manage_keys(principal)):
            raise ServiceError(Reason.UNKNOWN_COORDINATOR, "no such device key", status=404)
        if key.status is CoordinatorStatus.ACTIVE:
            key = CoordinatorKey(
                key.coordinator_id, key.public_key, CoordinatorStatus.REVOKED, key.created_ms, now, key.name
            )
            tx.set_coordinator_status(key_id, CoordinatorStatus.REVOKED, now)
            tlog.append(ctx, tx, [tlog.coordinator_key_entry(key, now, version=tx.log_format())], now_ms=now)
            for pending in tx.pending_decisions():
                if pending.coordinator_id == key_id:
                    tx.delete_pending_decision(pending.decision_hash)
    return _key_json(key, owner)


# -- preparing a decision from a form ------------------------------------------------------------------
def _time_ms(value: object, name: str) -> int:
    """Milliseconds from an integer, digits, or a local (Europe/Berlin) time like ``2026-12-07T08:30``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text in ("", "0"):
            return 0
        if _digits(text):
            return int(text)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=ZONE)
            return int(moment.timestamp() * 1000)
    raise InputError(Reason.BAD_FIELD, f"{name} is a date and time like 2026-12-07T08:30")


def _digits(text: str) -> bool:
    """ASCII digits, few enough for ``int()`` (it raises ``ValueError`` past 4,300 digits: a 500)."""
    return 0 < len(text) <= MAX_DIGITS and text.isascii() and text.isdigit()


def _int(value: object, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _digits(value.strip().removeprefix("-")):
        return int(value.strip())
    raise InputError(Reason.BAD_FIELD, f"{name} is a whole number")


def decision_data(kind: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A form's fields (text) as the ``data`` of a decision of ``kind`` (v1 names: ``card``, not ``ref``).

    A review names its shift by ``kiosk`` and ``seq``; times are local date-times or ms; empty
    ``start_ms``/``end_ms`` of a review keep the recorded time (0).  The parser checks the rest.
    """
    names = DATA_FIELDS_V2.get(kind)
    if names is None:
        raise InputError(Reason.UNKNOWN_KIND, f"decision kind {kind[:40]!r} is not known")
    data: dict[str, Any] = {}
    for name in names:
        if name == "ref":
            data["card"] = fields.get("card")
        elif name == "shift":
            data["shift"] = {"kiosk": fields.get("kiosk"), "seq": _int(fields.get("seq"), "seq")}
        elif name in _TIME_FIELDS:
            data[name] = _time_ms(fields.get(name, ""), name)
        elif name in _INT_FIELDS:
            data[name] = _int(fields.get(name), name)
        elif name == "bonuses":
            bonuses = fields.get("bonuses", [])
            try:
                data[name] = json.loads(bonuses or "[]") if isinstance(bonuses, str) else bonuses
            except ValueError as exc:
                raise InputError(Reason.BAD_FIELD, "bonuses is a JSON list") from exc
        else:
            data[name] = fields.get(name)
    return data


def prepare_decision(
    ctx: ServerContext, principal: Principal, device_coordinator_id: str, kind: str, fields: Mapping[str, Any]
) -> dict[str, Any]:
    """The canonical bytes for the browser to sign: ``{body_b64, opening?, decision, minutes, four_eyes}``.

    ``opening`` (a manual shift's ``{card, salt}``) goes back with the signature
    unchanged.  ``four_eyes`` says the decision will wait for a second person.
    Refuses a key that is not the principal's and a site outside its ``decide``.
    """
    data = decision_data(kind, fields)
    with ctx.storage.read() as tx:
        key = _own_key(tx, principal, device_coordinator_id)
        try:
            decision, opening = committed_decision(kind, key.coordinator_id, ctx.now_ms(), data)
            body = decision.to_bytes()
        except ProtocolError as exc:
            raise from_protocol(exc) from exc
        site = foureyes.decision_site(tx, decision)
        if site is not None and not principal.may(Permission.DECIDE, site):
            hidden = {"review": Reason.UNKNOWN_SHIFT}.get(kind, Reason.UNKNOWN_SITE)
            if kind in ("acknowledge", "redemption_review"):
                hidden = Reason.UNKNOWN_REDEMPTION
            raise ServiceError(hidden, "no such object", status=404)
        wait, minutes = foureyes.needs_cosignature(tx, decision)
    answer: dict[str, Any] = {
        "body_b64": b64encode(body),
        "decision": decision_hash(body),
        "kind": kind,
        "minutes": minutes,
        "four_eyes": wait,
    }
    if opening is not None:
        answer["opening"] = opening.to_json()
    return answer


def submit_prepared(ctx: ServerContext, principal: Principal, request: Mapping[str, Any]) -> dict[str, Any]:
    """``{body, sig, opening?}`` signed in the browser, through the normal decision path.

    Answers as :func:`server.decisions.submit_decision`; over the four-eyes
    threshold ``"pending": true`` (``four_eyes_required``).
    """
    wire = {name: request[name] for name in ("body", "sig", "opening") if name in request}
    return decisions.submit_decision(ctx, wire, signer=signer_of(principal))


# -- four eyes -----------------------------------------------------------------------------------------
def pending_for(ctx: ServerContext, principal: Principal) -> list[dict[str, Any]]:
    """The decisions waiting for a cosignature at sites where the principal holds ``decide``.

    ``mine`` marks those the principal's person signed (someone else must cosign them);
    ``stale`` those signed more than a day ago, which the server no longer takes
    (``decision_stale``): discard them and sign anew.
    """
    person = principal.person_id
    now = ctx.now_ms()
    with ctx.storage.read() as tx:
        waiting = tx.pending_decisions()
    answer = []
    for p in waiting:
        if principal.may(Permission.DECIDE, p.site_id):
            data = _data(p.body)
            mine = person is not None and p.person_id == person
            stale = abs(now - data["at_ms"]) > MAX_CLOCK_SKEW_MS
            answer.append({**p.to_json(), "mine": mine, "stale": stale, "data": data})
    return answer


def _data(body: bytes) -> dict[str, Any]:
    decision = parse_decision(body)
    return {**dict(decision.data), "at_ms": decision.at_ms}


def _pending(tx: ReadTx, principal: Principal, digest: str) -> PendingDecision:
    pending = tx.get_pending_decision(digest) if isinstance(digest, str) else None
    if pending is None or not principal.may(Permission.DECIDE, pending.site_id):
        raise ServiceError(Reason.NOT_PENDING, "no decision waits for a cosignature under this hash")
    return pending


def prepare_cosign(ctx: ServerContext, principal: Principal, digest: str) -> dict[str, Any]:
    """What the second person's browser signs: ``{body_b64}``, the cosign message of the waiting decision.

    Named ``body_b64`` so ``sign.js`` signs it like any prepared body.
    """
    with ctx.storage.read() as tx:
        pending = _pending(tx, principal, digest)
    return {"body_b64": b64encode(cosign_message(pending.body)), "decision": digest, "kind": pending.kind}


def cosign(
    ctx: ServerContext, principal: Principal, digest: str, coordinator: str, sig: str
) -> dict[str, Any]:
    """Cosign a waiting decision with the principal's own device key: applied, logged with ``cosig``."""
    with ctx.storage.read() as tx:
        pending = _pending(tx, principal, digest)
    wire: dict[str, Any] = {
        "body": b64encode(pending.body),
        "sig": b64encode(pending.sig),
        "cosig": {"coordinator": coordinator, "sig": sig},
    }
    if pending.opening is not None:
        wire["opening"] = json.loads(pending.opening)
    return decisions.submit_decision(ctx, wire, cosigner=signer_of(principal))


def discard_pending(ctx: ServerContext, principal: Principal, digest: str) -> dict[str, Any]:
    """Drop a waiting decision (declined, or wrong): nothing was applied, so nothing is logged."""
    with ctx.storage.write() as tx:
        pending = _pending(tx, principal, digest)
        tx.delete_pending_decision(digest)
    return pending.to_json()


__all__ = [
    "DEVICE_KEY_FIELDS",
    "cosign",
    "decision_data",
    "discard_pending",
    "list_device_keys",
    "pending_for",
    "prepare_cosign",
    "prepare_decision",
    "register_device_key",
    "revoke_device_key",
    "submit_prepared",
]
