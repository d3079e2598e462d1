"""``/ich``: a volunteer's own page, phone first, in plain language; installable, and readable offline.

* ``GET /ich``: with a live volunteer session (the ``kk_session`` cookie,
  :mod:`server.sessions`) their balance, shifts, redemptions, hours toward the
  Ehrenamtskarte, certificates, log receipts and export; without one, how to log in.
  The issuing sheet's QR code opens ``/ich#k=<secret>``: ``static/me.js`` takes the
  secret from the fragment, removes it from the address bar at once, exchanges it at
  ``POST /v1/me/session`` and reloads.  Without JavaScript the person pastes the
  code (or the whole link) into the form, ``POST /ich/anmelden``, which does the
  same exchange on the server.
* ``/ich/karte-verloren``: confirm, then every card of theirs not blocked yet is
  blocked at once (:func:`server.selfservice.report_lost`).
* ``POST /ich/nachweis``: a fresh hours certificate of the rolling year, as a PDF.
* ``POST /ich/abmelden``: the session ends; the offline copy goes with it.
* ``/ich/manifest.webmanifest`` and ``/ich/sw.js``: the web app manifest and the
  service worker.  The worker controls ``/ich`` (``Service-Worker-Allowed: /ich``,
  as the page has no trailing slash) and keeps the last page a session showed
  (answers marked ``X-KK-Offline: keep``); when the network fails it shows that
  copy with its "Stand" line revealed.  A login page (``X-KK-Offline: clear``) and
  the logout delete it.  HTTP caches keep nothing (``Cache-Control: no-store``).

Nobody else's data can appear: every read takes the volunteer ID from the
session, and a console login is no volunteer session (a coordinator sees the login form).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response
from starlette.concurrency import run_in_threadpool

from protocol import Reason
from server import selfservice, sessions
from server.certificatepdf import render_certificate
from server.errors import ServiceError
from server.http.access import (
    SESSION_COOKIE,
    Marker,
    access_secret,
    public,
    quota,
    volunteer_session,
)
from server.http.common import attempt, call, runtime
from server.ratelimit import ACCESS_SECRETS
from server.sessions import Holder
from server.web import cookie_secure, web
from server.web.console.tables import number, when
from server.web.forms import csrf_protected, read_form
from server.web.nav import N_
from server.web.verify import messages as verify_texts

router = APIRouter(tags=["pages"])
Me = Annotated[Holder, Depends(volunteer_session)]
PAGE: Final = "/ich"
OFFLINE_HEADER: Final = "X-KK-Offline"
# The secret as printed (43 base64url characters), maybe inside the link from the sheet.
_SECRET_IN_LINK: Final = re.compile(r"#k=([A-Za-z0-9_-]+)")
volunteer_page: Final = Marker(
    "volunteer session, or the login", "without a live session the page shows only how to log in"
)
SHIFT_STATUS: Final = {
    "open": N_("still running"),
    "paid": N_("counted"),
    "review": N_("being checked"),
    "rejected": N_("not counted"),
    "undone": N_("taken back at the kiosk"),
}
STANDING: Final = {
    "qualifies": N_("You have enough hours for the Ehrenamtskarte."),
    "close": N_("You are close to the Ehrenamtskarte."),
    "not_yet": N_("You do not have enough hours for the Ehrenamtskarte yet."),
}
RECEIPT_KIND: Final = {
    "card": N_("Card registered"),
    "event": N_("Tap at a kiosk"),
    "decision": N_("Decision of a coordinator"),
    "block": N_("Card blocked"),
}


def _hours(minutes: int, language: str) -> str:
    return number(round(minutes / 60, 1), language)


def _shown(page: dict[str, Any], language: str, translate: Any) -> dict[str, Any]:
    """The page's data as the template shows it: local times, hours in the person's way, labels."""
    standing = page["standing"]
    return {
        **page,
        "stand": when(page["read_ms"]),
        "active_cards": [card for card in page["cards"] if card["blocked_ms"] is None],
        "shifts": [
            {
                **shift,
                "day": when(shift["start_ms"]),
                "hours": _hours(shift["minutes"], language),
                "status_label": translate(
                    SHIFT_STATUS.get(key := "undone" if shift["undone"] else shift["status"], key)
                ),
            }
            for shift in page["shifts"]
        ],
        "redemptions": [{**line, "day": when(line["at_ms"])} for line in page["redemptions"]],
        "standing": {
            **standing,
            "hours": _hours(standing["minutes"], language),
            "needed_hours": _hours(standing["needed_minutes"], language),
            "label": translate(STANDING[standing["status"]]),
        },
        "certificates": [
            {**row, "hours": _hours(row["minutes"], language), "issued": when(row["issued_ms"])}
            for row in page["certificates"]
        ],
        "receipts": [
            {**item, "label": translate(RECEIPT_KIND.get(item["kind"], item["kind"]))}
            for item in page["receipts"]
        ],
    }


def _login(request: Request, refused: ServiceError | None = None, error: str | None = None) -> Response:
    """The login page; after a refused code with ``error`` (a message ID), the refusal's status and code."""
    pages = web(request)
    response = pages.page(
        request,
        "public/me/login.html",
        status=200 if refused is None else refused.status,
        error=None if error is None else pages.gettext(request, error),
        code=None if refused is None else refused.reason.value,
        verify_js=False,
    )
    response.headers.update(refused.headers if refused is not None else {})
    response.headers[OFFLINE_HEADER] = "clear"
    return response


@router.get(PAGE, include_in_schema=False, dependencies=[Depends(volunteer_page)])
async def my_page(request: Request) -> Response:
    ctx = runtime(request).context
    holder = await run_in_threadpool(sessions.session_holder, ctx, request.cookies.get(SESSION_COOKIE))
    if holder is None:
        return _login(request)
    pages = web(request)
    found = await call(request, selfservice.my_page, holder.volunteer_id)
    language = pages.language(request)
    shown = _shown(found, language, lambda message: pages.gettext(request, message))
    response = pages.page(
        request,
        "public/me/home.html",
        me=shown,
        verify_js=True,
        verify_messages=verify_texts(request),
    )
    response.headers[OFFLINE_HEADER] = "keep"
    return response


def secret_of(text: str) -> str:
    """The access secret in what a person pasted: the code itself, or the sheet's whole link."""
    text = text.strip()
    found = _SECRET_IN_LINK.search(text)
    return found.group(1) if found else text


@router.post(
    f"{PAGE}/anmelden",
    include_in_schema=False,
    dependencies=[
        Depends(access_secret),
        Depends(csrf_protected),
        Depends(quota(f"{sessions.MAX_SESSIONS} live sessions per volunteer (a new one ends the oldest)")),
    ],
)
async def log_in(request: Request) -> Response:
    """The no-JavaScript login: the pasted code for a session cookie, as ``POST /v1/me/session`` does."""
    form = await read_form(request)
    guess = attempt(request, ACCESS_SECRETS)
    secret = secret_of(form.get("code", ""))[: sessions.MAX_SECRET_CHARS + 1]
    try:
        token = await call(request, sessions.open_session, {"secret": secret}, attempt=guess)
    except ServiceError as error:
        if error.reason is Reason.ACCESS_SECRET_INVALID:
            return _login(request, error, N_("This code does not work. Please check it."))
        if error.reason is Reason.RATE_LIMITED:
            return _login(request, error, N_("Too many wrong codes. Please wait and try again later."))
        raise
    response = web(request).redirect(request, PAGE)
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, secure=cookie_secure(request), samesite="strict", path="/"
    )
    return response


@router.post(
    f"{PAGE}/abmelden",
    include_in_schema=False,
    dependencies=[Depends(csrf_protected), Depends(quota("ends the caller's session"))],
)
async def log_out(request: Request, me: Me) -> Response:
    await call(request, sessions.close_session, request.cookies.get(SESSION_COOKIE))
    response = web(request).redirect(request, PAGE, flash=N_("You are logged out."))
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.headers[OFFLINE_HEADER] = "clear"
    return response


@router.get(f"{PAGE}/karte-verloren", include_in_schema=False)
async def lost_form(request: Request, me: Me) -> Response:
    found = await call(request, selfservice.my_page, me.volunteer_id)
    active = [card for card in found["cards"] if card["blocked_ms"] is None]
    return web(request).page(request, "public/me/lost.html", active_cards=active, verify_js=False)


@router.post(
    f"{PAGE}/karte-verloren",
    include_in_schema=False,
    dependencies=[Depends(csrf_protected), Depends(quota("blocks the caller's own cards, once each"))],
)
async def lost_submit(request: Request, me: Me) -> Response:
    form = await read_form(request)
    chosen = form.get("card", "all")
    cards = None if chosen == "all" else [chosen[:64]]
    found = await call(request, selfservice.report_lost, me.volunteer_id, cards)
    message = N_("Your card is blocked now.") if found["blocked"] else N_("Your card was already blocked.")
    return web(request).redirect(request, PAGE, flash=message)


@router.post(
    f"{PAGE}/nachweis",
    include_in_schema=False,
    dependencies=[
        Depends(csrf_protected),
        Depends(quota(f"{selfservice.CERTIFICATES_PER_DAY} certificates per volunteer a day")),
    ],
)
async def own_certificate(request: Request, me: Me) -> Response:
    """A new hours certificate of the rolling year, answered as the PDF itself (its salt is kept nowhere)."""
    issued = await call(request, selfservice.issue_own_certificate, me.volunteer_id)
    base_url = str(request.base_url).rstrip("/")
    pdf = await run_in_threadpool(render_certificate, issued, base_url=base_url)
    response = Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": 'attachment; filename="nachweis.pdf"', "Cache-Control": "no-store"},
    )
    return web(request).finish(request, response)


@router.get(f"{PAGE}/manifest.webmanifest", include_in_schema=False, dependencies=[Depends(public)])
async def manifest(request: Request) -> Response:
    return _file(request, "me.webmanifest", "application/manifest+json", {})


@router.get(f"{PAGE}/sw.js", include_in_schema=False, dependencies=[Depends(public)])
async def service_worker(request: Request) -> Response:
    """The service worker; served under ``/ich`` and allowed to control ``/ich`` itself."""
    return _file(request, "me-sw.js", "text/javascript", {"Service-Worker-Allowed": PAGE})


def _file(request: Request, name: str, media_type: str, headers: dict[str, str]) -> Response:
    found = web(request).static(name)
    if found is None:  # shipped with the code; missing only in a broken install
        raise ServiceError(Reason.NOT_FOUND, "no such file")
    return FileResponse(
        found[0],
        media_type=media_type,
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", **headers},
    )
