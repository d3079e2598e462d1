"""A card's own reads: its balance, shifts and statement, by card ID, for its holder or a scoped admin.

Personal data (issue 17): each route admits the card's holder (their session
cookie, :mod:`server.sessions`), a principal with ``read_personal`` for the
home site of the card's volunteer, or an economy-wide admin
(:func:`~server.http.access.card_holder_or`).  Anyone else gets the answer an
unknown card gets, or ``401``/``403`` that say nothing about the card.

Shop tills no longer read here: they ask with a kiosk-signed balance query
tied to the tap (``POST /v1/kiosks/{kiosk_id}/balance``).  Answers are marked
``Cache-Control: no-store``: no proxy or browser cache keeps them.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from server import reads
from server.http.access import Permission, card_holder_or
from server.http.common import call, document, private
from server.http.openapi import CSV_TOO, HOLDER_OR_ADMIN, PERIOD, PERSONAL, doc

router = APIRouter(tags=["cards"], dependencies=[Depends(card_holder_or(Permission.READ_PERSONAL))])


@router.get("/v1/cards/{card_id}/balance", **doc(errors=PERSONAL, security=HOLDER_OR_ADMIN))
async def get_balance(card_id: str, request: Request) -> Response:
    return private(JSONResponse(await call(request, reads.card_balance, card_id)))


@router.get("/v1/cards/{card_id}/shifts", **doc(errors=PERSONAL, security=HOLDER_OR_ADMIN))
async def get_shifts(card_id: str, request: Request) -> Response:
    return private(JSONResponse(await call(request, reads.card_shifts, card_id)))


@router.get(
    "/v1/cards/{card_id}/statement",
    **doc(query=PERIOD, also=CSV_TOO, errors=PERSONAL, security=HOLDER_OR_ADMIN),
)
async def get_card_statement(card_id: str, request: Request) -> Response:
    return private(document(await call(request, reads.card_statement, card_id, dict(request.query_params))))
