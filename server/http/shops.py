"""``GET /v1/public/shops``: where tokens can be spent, as JSON, for anyone.

The same shops as the page ``/laeden`` (:mod:`server.web.shops`): each shop
with a saved profile (:mod:`server.shopprofiles`), and Hannover's 13
Stadtbezirke with how many shops each has.  A shop's profile is what the shop
chose to publish about itself; nothing here is about a person.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from server import shopprofiles
from server.http.access import public
from server.http.common import call
from server.http.openapi import doc

router = APIRouter(tags=["public"], dependencies=[Depends(public)])


@router.get("/v1/public/shops", **doc(errors=()))
async def get_public_shops(request: Request) -> JSONResponse:
    return JSONResponse(await call(request, shopprofiles.public_shops_json))
