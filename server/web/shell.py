"""The routes every page needs: the static files and the language switch.

Both are public and read-only: the static files are the shell's own CSS and
scripts (only the files present at start-up), and the language switch sets a
preference cookie and goes back to the page it came from (a local path only).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response

from protocol import Reason
from server.errors import ServiceError
from server.http.access import public
from server.web import cookie_secure, local_path, web
from server.web.i18n import LANGUAGE_COOKIE, LANGUAGES

router = APIRouter(tags=["pages"], dependencies=[Depends(public)])

_YEAR_S = 365 * 24 * 3600


@router.get("/static/{name}", include_in_schema=False)
async def static_file(name: str, request: Request) -> Response:
    found = web(request).static(name)
    if found is None:
        raise ServiceError(Reason.NOT_FOUND, "no such file")
    path, media_type = found
    return FileResponse(
        path,
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/lang/{code}", include_in_schema=False)
async def switch_language(code: str, request: Request, next: str = "/console") -> Response:
    if code not in LANGUAGES:
        raise ServiceError(Reason.NOT_FOUND, "no such language")
    response = web(request).redirect(request, local_path(next))
    response.set_cookie(
        LANGUAGE_COOKIE, code, max_age=_YEAR_S, samesite="lax", secure=cookie_secure(request), path="/"
    )
    return response
