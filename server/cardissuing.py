"""Cards the console prepares and a reader's read-back confirms; volunteers registered without a card.

Issuer private keys never reach the server (:mod:`server.cards`), and a
credential is bound to the UID of the very tag it is written on, so the server
cannot sign a card in advance.  The console therefore *prepares* one: it picks
the card ID for a volunteer and records it as ``pending``.  A coordinator's
laptop with a reader (``kokreativ provision card issue --prepared c_…``) then
signs the credential for that ID and the tag on the reader, writes it, reads
the tag back, and posts what it read (:func:`confirm_card`).  Only a read-back
that holds a genuine, current credential naming this card, under an active
issuer key and bound to the UID read back, makes the card ``active``.

A pending card is in no trust list's sense registered: it is not in ``cards``
and not in the transparency log, so a tap with it is flagged ``unknown_card``
at ingest and refused ``unknown_card`` at a till, exactly what the auditor's
replay expects of a card the log has not registered yet.  Confirmation
registers it (a ``card`` log entry) from then on; taps before stay unpaid.

Replacing a lost card blocks the old one at once (final, logged) and prepares
a new one for the same volunteer: balances belong to volunteers, not cards.
Cancelling a pending card (the console's "block" on a card never written)
leaves no trace in the log, since it never was registered.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Mapping
from typing import Any, Final

from hardware.cardrecord import find_credential
from protocol import ProtocolError, PublicKey, Reason, ids
from protocol.credentials import CardTrust, verify_credential
from server import cards, people, quotas, sessions, tlog
from server.context import ServerContext
from server.errors import InputError, ServiceError
from server.inputs import optional_str, require_str
from server.models import Card, CardKind, IssuerKeyStatus
from server.storage import ReadTx, Tx
from server.storage.issuing import PreparedCard
from server.vault import PersonalData

MAX_PENDING_PER_VOLUNTEER: Final = 2  # a spare for a failed write; more means something is wrong
MAX_READ_BACK_BYTES: Final = 2048  # an NTAG216 holds 888 bytes of NDEF
CONFIRM_FIELDS: Final = frozenset({"uid", "ndef"})
VOLUNTEER_FIELDS: Final = frozenset({"name", "site_id", "ehrenamtskarte"})
PENDING: Final = "pending"
ACTIVE: Final = "active"
CANCELLED: Final = "cancelled"
BLOCKED: Final = "blocked"


def register_volunteer(
    ctx: ServerContext, *, name: str, site_id: str, ehrenamtskarte: str | None = None
) -> dict[str, Any]:
    """A new volunteer without a card: the name sealed in the vault, the home site, a fresh access secret.

    Answers ``{"volunteer_id","home_site_id","access_secret"}``; the secret is shown
    this once (the issuing sheet), stored only as a hash (:mod:`server.sessions`).
    """
    fields = {"name": name, "site_id": site_id}
    if ehrenamtskarte:
        fields["ehrenamtskarte"] = ehrenamtskarte
    name = require_str(fields, "name")
    site_id = require_str(fields, "site_id", max_len=40)
    number = optional_str(fields, "ehrenamtskarte", max_len=cards.MAX_EHRENAMTSKARTE_CHARS)
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        if tx.get_site(site_id) is None:
            raise ServiceError(Reason.UNKNOWN_SITE, "no such site")
        volunteer_id = ids.new_id(ids.VOLUNTEER)
        people.register(ctx, tx, volunteer_id, PersonalData(name, number), now)
        tx.set_home_site(volunteer_id, site_id)
        secret = sessions.issue_secret(tx, volunteer_id, now)
    return {"volunteer_id": volunteer_id, "home_site_id": site_id, "access_secret": secret}


def _prepare_in(tx: Tx, volunteer_id: str, by: str, now: int, replaces: str | None) -> PreparedCard:
    if not tx.volunteer_exists(volunteer_id):
        raise ServiceError(Reason.UNKNOWN_VOLUNTEER, "no such volunteer")
    if tx.erased_ms(volunteer_id) is not None:
        raise ServiceError(Reason.VOLUNTEER_ERASED, "this volunteer was erased; register them anew")
    pending = [p for p in tx.prepared_cards_of(volunteer_id) if p.status == PENDING]
    if len(pending) >= MAX_PENDING_PER_VOLUNTEER:
        raise ServiceError(
            Reason.TOO_MANY_PENDING_CARDS,
            f"{len(pending)} cards of this volunteer wait to be written; write or cancel one first",
        )
    quotas.check(tx.count_cards(), quotas.CARDS, "cards")
    card = PreparedCard(ids.new_id(ids.CARD), volunteer_id, PENDING, now, by[:200], replaces, now)
    tx.insert_prepared_card(card)
    return card


def prepare_card(ctx: ServerContext, volunteer_id: str, *, by: str) -> dict[str, Any]:
    """Prepare a card for ``volunteer_id``: a new card ID, ``pending`` until its read-back (module doc)."""
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        card = _prepare_in(tx, volunteer_id, by, now, None)
    return prepared_json(card)


def replace_card(ctx: ServerContext, card_id: str, *, by: str, reason: str | None = None) -> dict[str, Any]:
    """Block the lost card ``card_id`` (final, logged) and prepare a new one for the same volunteer.

    One transaction: the old card is never blocked without its replacement
    prepared, nor the other way round.  Answers the new card as :func:`prepare_card`.
    """
    note = optional_str({"reason": reason} if reason else {}, "reason", max_len=cards.MAX_BLOCK_REASON_CHARS)
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        old = tx.get_card(card_id)
        if old is None:
            raise ServiceError(Reason.UNKNOWN_CARD, "no such card")
        new = _prepare_in(tx, old.volunteer_id, by, now, card_id)
        cards.block_in(ctx, tx, old, note or "replaced", now)
    return prepared_json(new)


def cancel_prepared(ctx: ServerContext, card_id: str) -> dict[str, Any]:
    """Cancel a pending card (never written, or written and lost before its read-back).

    It never was registered, so nothing is logged; a tag that carries its
    credential stays ``unknown_card`` everywhere.  ``409 card_not_pending`` once confirmed.
    """
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        card = tx.prepared_card(card_id)
        if card is None:
            raise ServiceError(Reason.UNKNOWN_CARD, "no such prepared card")
        if not tx.set_prepared_status(card_id, CANCELLED, now):
            raise ServiceError(Reason.CARD_NOT_PENDING, f"this card is {card.status}, not pending")
    return prepared_json(dataclasses.replace(card, status=CANCELLED, changed_ms=now))


def prepared(ctx: ServerContext, card_id: str) -> dict[str, Any]:
    """A prepared card as the issuing tool needs it: its ID, volunteer and status."""
    with ctx.storage.read() as tx:
        card = tx.prepared_card(card_id)
    if card is None:
        raise ServiceError(Reason.UNKNOWN_CARD, "no such prepared card")
    return prepared_json(card)


def prepared_json(card: PreparedCard) -> dict[str, Any]:
    return {
        "card_id": card.card_id,
        "volunteer_id": card.volunteer_id,
        "status": card.status,
        "prepared_ms": card.prepared_ms,
        "replaces": card.replaces,
    }


def _read_back(request: Mapping[str, Any]) -> tuple[bytes, bytes]:
    uid = cards.parse_uid(request.get("uid"))
    ndef = request.get("ndef")
    if not isinstance(ndef, str) or len(ndef) > MAX_READ_BACK_BYTES * 4 // 3 + 4:
        raise InputError(Reason.MALFORMED_REQUEST, "ndef must be the NDEF message read back, in base64")
    try:
        message = base64.b64decode(ndef, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(Reason.MALFORMED_REQUEST, "ndef must be base64") from exc
    return uid, message


def _active_issuers(tx: ReadTx) -> CardTrust:
    keys = {
        k.key_id: PublicKey(k.public_key) for k in tx.list_issuer_keys() if k.status is IssuerKeyStatus.ACTIVE
    }
    return CardTrust(issuer_keys=keys)


def confirm_card(ctx: ServerContext, card_id: str, request: Mapping[str, Any]) -> dict[str, Any]:
    """Confirm a pending card with what the reader read back after writing: ``{"uid": hex, "ndef": b64}``.

    The read-back must hold a credential that verifies under an active issuer
    key, is bound to ``uid``, is current, and names ``card_id``; anything else is
    ``409 read_back_mismatch`` and the card stays pending (write again, or cancel).
    Then the card is registered (with the credential's key and validity) and
    logged, and answers as :func:`server.cards.list_cards` lists it.  The UID is
    checked, never stored.
    """
    uid, message = _read_back(request)
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        pending = tx.prepared_card(card_id)
        if pending is None:
            raise ServiceError(Reason.UNKNOWN_CARD, "no such prepared card")
        if pending.status != PENDING:
            raise ServiceError(Reason.CARD_NOT_PENDING, f"this card is {pending.status}, not pending")
        try:
            payload = find_credential(message)
            if payload is None:
                raise ServiceError(Reason.READ_BACK_MISMATCH, "the tag read back carries no credential")
            credential = verify_credential(payload, uid=uid, trust=_active_issuers(tx), now_s=now // 1000)
        except ProtocolError as exc:
            raise ServiceError(
                Reason.READ_BACK_MISMATCH, f"the credential read back fails: {exc.reason.value}"
            ) from exc
        if credential.card_id != card_id:
            raise ServiceError(
                Reason.READ_BACK_MISMATCH, "the tag read back carries another card's credential"
            )
        if tx.get_card(card_id) is not None:
            raise ServiceError(Reason.CARD_EXISTS, "this card is registered already")
        if tx.erased_ms(pending.volunteer_id) is not None:
            raise ServiceError(Reason.VOLUNTEER_ERASED, "this volunteer was erased meanwhile")
        card = Card(
            card_id,
            pending.volunteer_id,
            CardKind.CREDENTIAL,
            now,
            credential.key_id,
            credential.valid_from_s,
            credential.valid_until_s,
        )
        tx.insert_card(card)
        tlog.log_card(ctx, tx, card, now)
        tx.set_prepared_status(card_id, ACTIVE, now)
    return card.to_json()


def volunteer_cards(ctx: ServerContext, tx: ReadTx, volunteer_id: str) -> list[dict[str, Any]]:
    """A volunteer's cards for the console, oldest first: registered ones and prepared ones still open.

    ``status`` is ``active``, ``blocked``, ``pending`` or ``cancelled``; a prepared
    card that was confirmed is listed once, as the registered card it became.
    """
    found: list[dict[str, Any]] = []
    for card in tx.list_cards(volunteer_id):
        row = card.to_json()
        row["status"] = BLOCKED if card.blocked_ms is not None else ACTIVE
        row["since_ms"] = card.blocked_ms if card.blocked_ms is not None else card.registered_ms
        found.append(row)
    for prepared_card in tx.prepared_cards_of(volunteer_id):
        if prepared_card.status != ACTIVE:
            row = prepared_json(prepared_card)
            row["since_ms"] = prepared_card.changed_ms
            found.append(row)
    return sorted(found, key=lambda row: int(row.get("registered_ms") or row.get("prepared_ms") or 0))
