"""The auditor's routes: what a designated auditor needs beyond the public log, behind ``audit_log``.

The public log names no card and no volunteer (``docs/privacy.md``); to
replay the whole economy an auditor (for example the city's audit office)
needs the openings of its commitments and the server's balances to compare
the replay with.  Both are personal data under pseudonyms, so each route
requires the permission ``audit_log`` for the whole economy.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from server import logviews, openings
from server.http.access import Permission, economy, require
from server.http.common import call
from server.http.openapi import ADMIN, OPENINGS, doc

router = APIRouter(tags=["audit"])


@router.get(
    "/v1/audit/balances",
    dependencies=[Depends(require(Permission.AUDIT_LOG, scope=economy))],
    **doc(errors=ADMIN),
)
async def get_audit_balances(request: Request) -> JSONResponse:
    return JSONResponse(await call(request, logviews.balances))


@router.get(
    "/v1/audit/openings",
    dependencies=[Depends(require(Permission.AUDIT_LOG, scope=economy))],
    **doc(errors=ADMIN, query=OPENINGS),
)
async def get_openings(request: Request) -> JSONResponse:
    return JSONResponse(await call(request, openings.list_openings, dict(request.query_params)))
