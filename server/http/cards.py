"""A card's own reads: its balance, shifts and statement, by card ID, without names.

Shop tills have no routes of their own: a till is a kiosk enrolled with a
shop's code, so it uses the kiosk routes (:mod:`server.http.kiosks`) for its
signed redemptions, and asks here for a card's fresh balance before one
(``GET /v1/cards/{card_id}/balance``).  Card holders read their shifts and
statement here.  All public: the views name random IDs only.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from server import reads
from server.http.access import public
from server.http.common import call, document
from server.http.openapi import CSV_TOO, PERIOD, doc

router = APIRouter(tags=["cards"], dependencies=[Depends(public)])


@router.get("/v1/cards/{card_id}/balance", **doc())
async def get_balance(card_id: str, request: Request) -> JSONResponse:
    return JSONResponse(await call(request, reads.card_balance, card_id))


@router.get("/v1/cards/{card_id}/shifts", **doc())
async def get_shifts(card_id: str, request: Request) -> JSONResponse:
    return JSONResponse(await call(request, reads.card_shifts, card_id))


@router.get("/v1/cards/{card_id}/statement", **doc(query=PERIOD, also=CSV_TOO))
async def get_card_statement(card_id: str, request: Request) -> Response:
    return document(await call(request, reads.card_statement, card_id, dict(request.query_params)))
