"""A volunteer's own routes: exchange the access secret for a session, then read their own data.

The access secret (:mod:`server.sessions`) arrives only in a POST body, never
in a path or query, so it is in no access log; the session is a cookie
``kk_session`` that is ``HttpOnly`` (no script reads it), ``Secure`` (sent over
HTTPS only; browsers treat ``http://localhost`` as secure, so local testing
works without dropping it), ``SameSite=Strict`` (no other site's page makes
the browser send it) and ``Path=/``.  It has no ``Max-Age``: it ends when the
browser closes, and the server ends it after 12 hours idle or 30 days anyway.

Every answer is ``Cache-Control: no-store``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from protocol import Reason
from server import openings, reads, selfservice, sessions
from server.errors import InputError
from server.http.access import SESSION_COOKIE, access_secret, quota, volunteer_session
from server.http.common import attempt, call, document, export_response, json_body, private, runtime
from server.http.openapi import (
    CSV_TOO,
    EXPORT,
    PDF_TOO,
    PERIOD,
    SESSION,
    SESSION_OPEN,
    VOLUNTEER_SESSION,
    SessionRequest,
    doc,
)
from server.ratelimit import ACCESS_SECRETS
from server.sessions import Holder

router = APIRouter(tags=["volunteer"])
Me = Annotated[Holder, Depends(volunteer_session)]
COOKIE_ATTRIBUTES = "HttpOnly; Secure; SameSite=Strict; Path=/"


@router.post(
    "/v1/me/session",
    dependencies=[
        Depends(access_secret),
        Depends(quota(f"{sessions.MAX_SESSIONS} live sessions per volunteer (a new one ends the oldest)")),
    ],
    **doc(ok={204: "Session opened (Set-Cookie)"}, body=SessionRequest, errors=SESSION_OPEN, security=()),
)
async def post_session(request: Request) -> Response:
    # Only a script of our own pages sends JSON here; a form on another site can send a JSON-shaped
    # text/plain body (its last "secret" wins), and the answer would log the browser into that
    # site's chosen account (login CSRF).  No form can send application/json without CORS.
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise InputError(Reason.MALFORMED_REQUEST, "send the secret as application/json")
    body = await json_body(request, sessions.SESSION_FIELDS)
    guess = attempt(request, ACCESS_SECRETS)
    token = await run_in_threadpool(sessions.open_session, runtime(request).context, body, attempt=guess)
    response = private(Response(status_code=204))
    response.headers["set-cookie"] = f"{SESSION_COOKIE}={token}; {COOKIE_ATTRIBUTES}"
    return response


@router.post(
    "/v1/me/logout",
    dependencies=[Depends(volunteer_session), Depends(quota("ends the caller's session"))],
    **doc(ok={204: "Session ended (the cookie is cleared)"}, errors=SESSION, security=VOLUNTEER_SESSION),
)
async def post_logout(request: Request) -> Response:
    await call(request, sessions.close_session, request.cookies.get(SESSION_COOKIE))
    response = private(Response(status_code=204))
    response.headers["set-cookie"] = f"{SESSION_COOKIE}=; Max-Age=0; {COOKIE_ATTRIBUTES}"
    return response


@router.get("/v1/me", **doc(errors=SESSION, security=VOLUNTEER_SESSION))
async def get_me(me: Me, request: Request) -> Response:
    return private(JSONResponse(await call(request, reads.volunteer_overview, me.volunteer_id)))


@router.get("/v1/me/balance", **doc(errors=SESSION, security=VOLUNTEER_SESSION))
async def get_my_balance(me: Me, request: Request) -> Response:
    return private(JSONResponse(await call(request, reads.volunteer_balance, me.volunteer_id)))


@router.get("/v1/me/shifts", **doc(errors=SESSION, security=VOLUNTEER_SESSION))
async def get_my_shifts(me: Me, request: Request) -> Response:
    return private(JSONResponse(await call(request, reads.volunteer_shifts, me.volunteer_id)))


@router.get("/v1/me/statement", **doc(query=PERIOD, also=CSV_TOO, errors=SESSION, security=VOLUNTEER_SESSION))
async def get_my_statement(me: Me, request: Request) -> Response:
    params = dict(request.query_params)
    return private(document(await call(request, reads.own_statement, me.volunteer_id, params)))


@router.get("/v1/me/openings", **doc(errors=SESSION, security=VOLUNTEER_SESSION))
async def get_my_openings(me: Me, request: Request) -> Response:
    """What opens the log entries about the caller's cards, so they can check them against the public log."""
    return private(JSONResponse(await call(request, openings.volunteer_openings, me.volunteer_id)))


@router.get("/v1/me/export", **doc(query=EXPORT, also=PDF_TOO, errors=SESSION, security=VOLUNTEER_SESSION))
async def get_my_export(me: Me, request: Request) -> Response:
    """Everything stored about the caller (Art. 15 and 20 DSGVO), as JSON or as a PDF."""
    return await export_response(request, me.volunteer_id)


@router.post(
    "/v1/me/cards/{card_id}/lost",
    dependencies=[Depends(quota("blocks one of the caller's own cards, once"))],
    **doc(ok={200: "The card is blocked (now or before)"}, errors=SESSION, security=VOLUNTEER_SESSION),
)
async def post_card_lost(card_id: str, me: Me, request: Request) -> Response:
    """The caller's card is lost: block it at once; another's card answers ``404 unknown_card`` like none.

    Idempotent: ``{"blocked": [card_id], "already": []}`` the first time,
    ``{"blocked": [], "already": [card_id]}`` after.  No CSRF token: the session
    cookie is ``SameSite=Strict``, so no other site's page can make a browser send it.
    """
    found = await call(request, selfservice.report_lost, me.volunteer_id, [card_id])
    return private(JSONResponse(found))
