"""Read-only views for kiosks and card holders: kiosk state, a card's balance, shifts and statement.

Balances are kept per volunteer (so a replacement card keeps the balance); a
card is only the way in.  These views never include a name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from protocol import Reason
from server import statements
from server.context import ServerContext
from server.errors import ServiceError


def kiosk_state(ctx: ServerContext, kiosk_id: str) -> dict[str, Any]:
    """``{"kiosk_id","site_id","status","last_seq","head","enrolled_ms"}`` or ``404 unknown_kiosk``."""
    with ctx.storage.read() as tx:
        kiosk = tx.get_kiosk(kiosk_id)
    if kiosk is None:
        raise ServiceError(Reason.UNKNOWN_KIOSK, "no such kiosk")
    return kiosk.to_json()


def _volunteer_of(tx_cards: dict[str, str], card_id: str) -> str:
    volunteer_id = tx_cards.get(card_id)
    if volunteer_id is None:
        raise ServiceError(Reason.UNKNOWN_CARD, "this card is not registered")
    return volunteer_id


def card_balance(ctx: ServerContext, card_id: str) -> dict[str, Any]:
    with ctx.storage.read() as tx:
        volunteer_id = _volunteer_of(tx.card_volunteers([card_id]), card_id)
        balance = tx.balance(volunteer_id)
    return {"card_id": card_id, "volunteer_id": volunteer_id, "balance": balance}


def card_shifts(ctx: ServerContext, card_id: str) -> dict[str, Any]:
    with ctx.storage.read() as tx:
        _volunteer_of(tx.card_volunteers([card_id]), card_id)
        shifts = tx.shifts_for_card(card_id)
    return {"card_id": card_id, "shifts": [shift.to_json() for shift in shifts]}


def card_statement(ctx: ServerContext, card_id: str, params: Mapping[str, str]) -> statements.Document:
    """The card's volunteer's statement (:func:`server.statements.account`) without name or volunteer ID.

    ``{"card_id","from_ms","to_ms","opening_balance","earned","redeemed","voided","closing_balance",
    "entries":[…]}``, or its CSV with ``format=csv``; ``404 unknown_card``, ``400 bad_field``.
    """
    period, fmt = statements.parse_period(params), statements.parse_format(params)
    with ctx.storage.read() as tx:
        volunteer_id = _volunteer_of(tx.card_volunteers([card_id]), card_id)
        statement = statements.account(tx, volunteer_id, period)
    return statements.render_account({"card_id": card_id}, statement, fmt)
