"""The designated auditor's routes (permission ``audit_log``): what the public log commits to.

The public log names no card (entry v2); the auditor, for example the city's
audit office, reads the openings kept off it and replays the whole economy
(``docs/privacy.md``, ``kokreativ verify`` in auditor mode).  Nothing here is
public: every route requires ``audit_log`` for the whole economy.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from server import openings
from server.http.access import Permission, economy, require
from server.http.common import call
from server.http.openapi import ADMIN, OPENINGS, doc

router = APIRouter(tags=["audit"])


@router.get(
    "/v1/audit/openings",
    dependencies=[Depends(require(Permission.AUDIT_LOG, scope=economy))],
    **doc(errors=ADMIN, query=OPENINGS),
)
async def get_openings(request: Request) -> JSONResponse:
    return JSONResponse(await call(request, openings.list_openings, dict(request.query_params)))
