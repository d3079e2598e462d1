"""The API's own description: ``/openapi.json``, and Swagger UI at ``/docs`` with its assets served here.

Public, like the ledger's reads.  FastAPI's built-in pages are off
(:func:`server.app.create_app`) because they would be routes without a declared
access, and because their page loads Swagger UI from a CDN: a server on a
site's network may reach nothing outside.  The assets come from the
``fastapi-offline`` package (Swagger UI 5, which reads OpenAPI 3.1; the
``swagger-ui-bundle`` package ships Swagger UI 4, which cannot), and only the
files named in :data:`ASSETS` are served.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Final

import fastapi_offline
from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response

from protocol import Reason
from server.errors import ServiceError
from server.http import openapi
from server.http.access import public

router = APIRouter(tags=["docs"], dependencies=[Depends(public)])

STATIC: Final = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS: Final = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}
ASSET_PREFIX: Final = "/docs/assets/"


def description(request: Request) -> dict[str, Any]:
    """The app's OpenAPI document, built once per app (the routes never change after start-up)."""
    state = request.app.state
    cached: dict[str, Any] | None = getattr(state, "openapi", None)
    if cached is None:
        cached = state.openapi = openapi.build(request.app)
    return cached


@router.get("/openapi.json", include_in_schema=False)
async def get_openapi(request: Request) -> JSONResponse:
    return JSONResponse(description(request))


@router.get("/docs", include_in_schema=False)
async def get_docs(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title=f"{request.app.title}: API",
        swagger_js_url=ASSET_PREFIX + "swagger-ui-bundle.js",
        swagger_css_url=ASSET_PREFIX + "swagger-ui.css",
        swagger_favicon_url=ASSET_PREFIX + "favicon.png",
        # No badge that asks validator.swagger.io about the document: nothing outside is reachable.
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get("/docs/assets/{name}", include_in_schema=False)
async def get_asset(name: str) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise ServiceError(Reason.NOT_FOUND, "no such asset")
    # Not "immutable": the name carries no version, and an upgraded package must reach browsers.
    return Response(_asset(name), media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})


@functools.cache
def _asset(name: str) -> bytes:
    """A file of :data:`ASSETS`, read once: a fixed name inside the package, never a request's path."""
    return (STATIC / name).read_bytes()
