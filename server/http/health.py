"""Health: whether the server answers, and its version.  Public, for monitoring and the demo."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from kokreativ import __version__
from server.http.access import public

router = APIRouter(tags=["health"], dependencies=[Depends(public)])


@router.get("/v1/health")
async def health() -> JSONResponse:
    return JSONResponse({"status": "ok", "version": __version__})
