"""Read-only views for kiosks and card holders: kiosk state, a card's balance and shifts.

Balances are kept per volunteer (so a replacement card keeps the balance); a
card is only the way in.  These views never include a name.
"""

from __future__ import annotations

from typing import Any

from protocol import Reason
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
