"""Read-only views for kiosks and card holders: kiosk state, a card's balance, shifts and statement, and a
volunteer's own views (all their cards) for ``/v1/me/…``.

Balances are kept per volunteer (so a replacement card keeps the balance); a
card is only the way in.  These views never include a name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

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


UNKNOWN_CARD_MESSAGE: Final = "this card is not registered"


def _volunteer_of(tx_cards: dict[str, str], card_id: str) -> str:
    volunteer_id = tx_cards.get(card_id)
    if volunteer_id is None:
        raise ServiceError(Reason.UNKNOWN_CARD, UNKNOWN_CARD_MESSAGE)
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


# -- a volunteer's own views (``/v1/me/…``): the same data as by card, over all of their cards ----------


def volunteer_overview(ctx: ServerContext, volunteer_id: str) -> dict[str, Any]:
    """``{"volunteer_id","home_site_id","cards":[{"card_id","kind","registered_ms","blocked"}],"access"}``.

    What a volunteer sees of themselves: no name (that is the export's, issue 17
    requirement 5), their cards with block status, and their secret's and sessions' metadata.
    """
    with ctx.storage.read() as tx:
        if not tx.volunteer_exists(volunteer_id):
            raise ServiceError(Reason.UNKNOWN_VOLUNTEER, "no such volunteer")
        cards = tx.list_cards(volunteer_id)
        access = tx.access_of(volunteer_id)
        live_sessions = tx.sessions_of(volunteer_id)
        home = tx.home_site(volunteer_id)
    return {
        "volunteer_id": volunteer_id,
        "home_site_id": home,
        "cards": [
            {
                "card_id": card.card_id,
                "kind": card.kind.value,
                "registered_ms": card.registered_ms,
                "blocked": card.blocked_ms is not None,
            }
            for card in cards
        ],
        "access": {
            "secret_issued_ms": None if access is None else access.issued_ms,
            "secret_revoked_ms": None if access is None else access.revoked_ms,
            "sessions": len(live_sessions),
        },
    }


def volunteer_balance(ctx: ServerContext, volunteer_id: str) -> dict[str, Any]:
    """``{"volunteer_id","balance"}``: the balance is the volunteer's, whichever card they tap."""
    with ctx.storage.read() as tx:
        if not tx.volunteer_exists(volunteer_id):
            raise ServiceError(Reason.UNKNOWN_VOLUNTEER, "no such volunteer")
        return {"volunteer_id": volunteer_id, "balance": tx.balance(volunteer_id)}


def volunteer_shifts(ctx: ServerContext, volunteer_id: str) -> dict[str, Any]:
    """``{"volunteer_id","shifts":[…]}``: the shifts of every card of the volunteer, in shift order."""
    with ctx.storage.read() as tx:
        shifts = [shift for card in tx.list_cards(volunteer_id) for shift in tx.shifts_for_card(card.card_id)]
    shifts.sort(key=lambda shift: shift.shift_id)
    return {"volunteer_id": volunteer_id, "shifts": [shift.to_json() for shift in shifts]}


def own_statement(ctx: ServerContext, volunteer_id: str, params: Mapping[str, str]) -> statements.Document:
    """The volunteer's statement (:func:`server.statements.account`) without a name, as by card."""
    period, fmt = statements.parse_period(params), statements.parse_format(params)
    with ctx.storage.read() as tx:
        if not tx.volunteer_exists(volunteer_id):
            raise ServiceError(Reason.UNKNOWN_VOLUNTEER, "no such volunteer")
        statement = statements.account(tx, volunteer_id, period)
    return statements.render_account({"volunteer_id": volunteer_id}, statement, fmt)


def holds_card(ctx: ServerContext, volunteer_id: str, card_id: str) -> bool:
    """Whether ``card_id`` is one of ``volunteer_id``'s cards (blocked ones too: the history is theirs)."""
    with ctx.storage.read() as tx:
        return tx.card_volunteers([card_id]).get(card_id) == volunteer_id


def home_site_of_card(ctx: ServerContext, card_id: str) -> str | None:
    """The home site of the volunteer who holds ``card_id``; ``None`` for an unknown card or no home site."""
    with ctx.storage.read() as tx:
        volunteer_id = tx.card_volunteers([card_id]).get(card_id)
        return None if volunteer_id is None else tx.home_site(volunteer_id)


def home_site_of_volunteer(ctx: ServerContext, volunteer_id: str) -> str | None:
    """``volunteer_id``'s home site; ``None`` for an unknown volunteer or no home site."""
    with ctx.storage.read() as tx:
        return tx.home_site(volunteer_id)
