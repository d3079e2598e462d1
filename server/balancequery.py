"""Kiosk-signed balance queries: one card's balance for a till (or kiosk) that holds a fresh tap of it.

A till shows a volunteer's balance before a sale.  Personal data needs the
person, so instead of a public route the till signs a query carrying the
credential it read at this tap (:mod:`protocol.balancequery`), and
:func:`answer_balance_query` checks, in this order, and refuses with the code:

1. the body is JSON (``malformed_request``); the kiosk is enrolled (``unknown_kiosk``)
   and active (``kiosk_revoked``, ``kiosk_suspended``);
2. its enrolled key signed a v1 query for this kiosk (``bad_signature``,
   ``kiosk_mismatch``, the format's codes);
3. ``at_ms`` is within :data:`protocol.balancequery.MAX_SKEW_MS` of the server's
   clock (``stale_request``);
4. the nonce was not used by this kiosk before (``409 replayed``);
5. the kiosk made fewer than :data:`QUERIES_PER_HOUR` queries in the last hour
   (``429 quota_exceeded``);
6. a ``c_`` card's credential is genuine, current and names the card
   (``bad_credential``, ``unknown_issuer``, ``credential_expired``, …); a ``u_``
   card is answered only where the kiosk's site allows uncredentialed cards
   (``409 uncredentialed_card``);
7. the card is registered (``404 unknown_card``) and not blocked (``409 card_blocked``).

The answer is ``{"balances": <signed balance sheet>}`` for that one card
(:mod:`protocol.balances`), for the asking kiosk.  What a stolen till key can
do with this: docs/protocol.md, "Balance queries".
"""

from __future__ import annotations

from typing import Any, Final

from protocol import BalanceSheet, ProtocolError, PublicKey, Reason, sign_balances
from protocol.balancequery import MAX_SKEW_MS, BalanceQuery, open_balance_query
from protocol.credentials import CardTrust, parse_credential, verify_credential
from server import quotas
from server.context import ServerContext
from server.errors import ServiceError, from_protocol
from server.inputs import parse_json
from server.models import IssuerKeyStatus
from server.signers import signing_kiosk
from server.storage import Tx

QUERIES_PER_HOUR: Final = 120  # per kiosk: a busy till serves a customer every 30 s at most
HOUR_MS: Final = 3_600_000
_TRUSTED: Final = frozenset({IssuerKeyStatus.ACTIVE, IssuerKeyStatus.RETIRED})


def answer_balance_query(ctx: ServerContext, kiosk_id: str, data: bytes) -> dict[str, Any]:
    """Check the signed query in ``data`` (the raw request body) and answer the card's signed balance."""
    wire = parse_json(data)
    with ctx.storage.read() as tx:
        kiosk = signing_kiosk(tx.get_kiosk(kiosk_id), kiosk_id, suspended_ok=False)
    try:
        query = open_balance_query(wire, PublicKey(kiosk.public_key), kiosk_id=kiosk_id)
    except ProtocolError as exc:
        raise from_protocol(exc) from exc
    now = ctx.now_ms()
    if abs(query.at_ms - now) > MAX_SKEW_MS:
        raise ServiceError(
            Reason.STALE_REQUEST,
            f"at_ms is {abs(query.at_ms - now)} ms from the server's clock, at most {MAX_SKEW_MS} allowed",
            extra={"server_ms": now},
        )
    with ctx.storage.write() as tx:
        # Read again inside the write: the kiosk may have been suspended or revoked meanwhile.
        kiosk = signing_kiosk(tx.get_kiosk(kiosk_id), kiosk_id, suspended_ok=False)
        if not tx.record_balance_query(kiosk_id, query.nonce, query.at_ms, forget_before_ms=now - HOUR_MS):
            raise ServiceError(Reason.REPLAYED, "this query's nonce was used before")
        # Counted with this query, by the signed at_ms (within MAX_SKEW_MS of now).
        held = tx.count_balance_queries(kiosk_id, now - HOUR_MS) - 1
        quotas.check(held, QUERIES_PER_HOUR, "balance queries from this kiosk in the last hour")
        _check_card(tx, query, kiosk.site_id, now)
        card = tx.get_card(query.card)
        if card is None:
            raise ServiceError(Reason.UNKNOWN_CARD, "this card is not registered")
        if card.blocked_ms is not None:
            raise ServiceError(Reason.CARD_BLOCKED, "this card is blocked")
        balance = tx.balance(card.volunteer_id)
    sheet = BalanceSheet(kiosk=kiosk_id, as_of_ms=now, balances={query.card: balance})
    return {"balances": sign_balances(sheet, ctx.server_key)}


def _check_card(tx: Tx, query: BalanceQuery, site_id: str, now_ms: int) -> None:
    """The tap's proof: a genuine credential naming the card, or a ``u_`` card where the site allows one."""
    if not query.credential:  # a u_ card (the format allows no other card without a credential)
        site = tx.get_site(site_id)
        if site is None or not site.allow_uncredentialed:
            raise ServiceError(Reason.UNCREDENTIALED_CARD, "this kiosk's site takes no uncredentialed cards")
        return
    try:
        claimed = parse_credential(query.credential)
        key = tx.get_issuer_key(claimed.key_id)
        trusted = (
            {key.key_id: PublicKey(key.public_key)} if key is not None and key.status in _TRUSTED else {}
        )
        credential = verify_credential(
            query.credential, uid=claimed.uid, trust=CardTrust(issuer_keys=trusted), now_s=now_ms // 1000
        )
    except ProtocolError as exc:
        raise from_protocol(exc, field="credential") from exc
    if credential.card_id != query.card:
        raise ServiceError(
            Reason.BAD_CREDENTIAL, "the credential names another card", extra={"field": "credential"}
        )
