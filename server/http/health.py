"""Health: whether the server answers, and its version.  Public, for monitoring and the demo."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from server.http.access import public
from server.http.openapi import HEALTH, doc

router = APIRouter(tags=["health"], dependencies=[Depends(public)])


@router.get("/v1/health", **doc(errors=(), ok_schema=HEALTH))
async def health(request: Request) -> JSONResponse:
    # The version create_app gave the app, so the package's version is imported in one place.
    return JSONResponse({"status": "ok", "version": request.app.version})
