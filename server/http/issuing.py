"""Cards prepared in the console and confirmed by a reader's read-back (:mod:`server.cardissuing`).

The issuing tool (``kokreativ provision card issue --prepared c_…``) reads a
prepared card, writes its credential and posts the read-back; preparing is for
the volunteer's home site, like their access secret; reading and confirming
belong to the whole economy, like registering a card.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from server import cardissuing
from server.http.access import (
    Permission,
    Principal,
    economy,
    home_site_of_volunteer,
    quota,
    require,
)
from server.http.common import call, json_body
from server.http.openapi import ADMIN, ADMIN_BODY, ADMIN_CHANGE, doc

router = APIRouter(tags=["admin"])
_PREPARER = require(Permission.MANAGE_CARDS, scope=home_site_of_volunteer)


@router.post(
    "/v1/admin/volunteers/{volunteer_id}/cards/prepare",
    dependencies=[Depends(quota(f"{cardissuing.MAX_PENDING_PER_VOLUNTEER} pending cards per volunteer"))],
    **doc(ok={201: "Created"}, errors=ADMIN_CHANGE),
)
async def prepare_card(
    volunteer_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(_PREPARER)],
) -> JSONResponse:
    answer = await call(request, cardissuing.prepare_card, volunteer_id, by=principal.name)
    return JSONResponse(answer, status_code=201)


@router.get(
    "/v1/admin/cards/{card_id}/prepared",
    dependencies=[Depends(require(Permission.MANAGE_CARDS, scope=economy))],
    **doc(errors=ADMIN),
)
async def get_prepared(card_id: str, request: Request) -> JSONResponse:
    return JSONResponse(await call(request, cardissuing.prepared, card_id))


@router.post(
    "/v1/admin/cards/{card_id}/confirm",
    dependencies=[
        Depends(require(Permission.MANAGE_CARDS, scope=economy)),
        Depends(quota("once per prepared card")),
    ],
    **doc(errors=ADMIN_BODY),
)
async def confirm_card(card_id: str, request: Request) -> JSONResponse:
    body = await json_body(request, cardissuing.CONFIRM_FIELDS)
    return JSONResponse(await call(request, cardissuing.confirm_card, card_id, body))
