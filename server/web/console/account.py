"""The console's own pages for people: login (password, then TOTP), logout, my account, invitations.

Routers are thin: each page calls :mod:`server.accounts` and renders.  A
refusal a person can fix (a wrong password, a wrong code) shows the form again
with a plain sentence in their language; anything else is the shell's error
page.  Every POST declares :data:`~server.web.forms.csrf_protected` and its quota.

Cookies: ``kk_console`` (the session: HttpOnly, SameSite=Lax, Secure unless
plain http to this machine) and, between the two login steps, ``kk_login``
(the password step's ticket, :mod:`server.accounts.login`, five minutes,
SameSite=Strict, only sent to ``/console/login``).
"""

from __future__ import annotations

from typing import Annotated, Any, Final
from urllib.parse import quote

import segno
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from protocol import Reason
from protocol.localtime import shown
from server import accounts
from server.accounts import account as own
from server.accounts import invitations
from server.accounts.login import TICKET_MS, issue_ticket, ticket_person
from server.accounts.persons import provisioning_uri
from server.accounts.sessions import live_session
from server.context import ServerContext
from server.errors import ServiceError
from server.http.access import (
    CONSOLE_COOKIE,
    Principal,
    console_login,
    console_session,
    invitation_link,
    quota,
)
from server.http.common import attempt, call, runtime
from server.ratelimit import CONSOLE_LOGINS
from server.web import cookie_secure, local_path, web
from server.web.forms import csrf_protected, read_form
from server.web.nav import N_

router = APIRouter(tags=["console"])
Person = Annotated[Principal, Depends(console_session)]

TICKET_COOKIE: Final = "kk_login"
LOGIN_PATH: Final = "/console/login"

# What a person reads for a refusal they can act on; other refusals get the error page.
MESSAGES: Final = {
    Reason.LOGIN_FAILED: N_("The e-mail address or the password is wrong."),
    Reason.TOTP_INVALID: N_("The code is wrong or was used already. Wait for the next code and try again."),
    Reason.ACCOUNT_LOCKED: N_(
        "Too many failed attempts: this account is locked for a while. Try again later."
    ),
    Reason.ACCOUNT_DISABLED: N_("This account is disabled. Please ask an admin of the console."),
    Reason.RATE_LIMITED: N_("Too many failed attempts from here. Please wait a little and try again."),
    Reason.BAD_FIELD: N_("The new password must have at least 10 characters."),
    Reason.MALFORMED_REQUEST: N_("Please fill in every field."),
    Reason.PERSON_EXISTS: N_("There is an account with this e-mail address already."),
}


def _message(request: Request, error: ServiceError) -> str:
    text = MESSAGES.get(error.reason)
    if text is None:
        raise error
    return web(request).gettext(request, text)


def _flash_for(error: ServiceError) -> str:
    """The message ID to flash for ``error``; an error no form can fix goes to the error page."""
    text = MESSAGES.get(error.reason)
    if text is None:
        raise error
    return text


def when(ms: int) -> str:
    """A moment as a person reads it in a table: ``07.12.2026 14:05 (Europe/Berlin)``."""
    return shown(ms)


def _svg_qr(data: str) -> str:
    """``data`` as an inline SVG QR code (no script, no external file: the CSP allows it)."""
    return str(segno.make(data, error="m").svg_inline(scale=4, dark="#000", light="#fff", omitsize=False))


def _set_session(request: Request, response: Response, cookie: str) -> None:
    response.set_cookie(
        CONSOLE_COOKIE, cookie, httponly=True, samesite="lax", secure=cookie_secure(request), path="/"
    )


# -- login ------------------------------------------------------------------------------------------


@router.get(LOGIN_PATH, dependencies=[Depends(console_login)], include_in_schema=False)
async def login_form(request: Request, next: str = "/console") -> Response:
    return web(request).page(
        request, "console/account/login.html", next=local_path(next), email="", error=None
    )


@router.post(
    LOGIN_PATH,
    dependencies=[Depends(console_login), Depends(csrf_protected), Depends(quota("nothing stored"))],
    include_in_schema=False,
)
async def login_password(request: Request) -> Response:
    form = await read_form(request)
    email, password = form.get("email", "")[:300], form.get("password", "")[:300]
    target = local_path(form.get("next"))
    guess = attempt(request, CONSOLE_LOGINS, email.strip().lower())
    try:
        person_id = await call(request, accounts.check_password, email, password, attempt=guess)
    except ServiceError as error:
        return web(request).page(
            request,
            "console/account/login.html",
            status=error.status,
            next=target,
            email=email,
            error=_message(request, error),
        )
    ticket = await call(request, issue_ticket, person_id)
    response = web(request).redirect(request, f"{LOGIN_PATH}/code?next={quote(target, safe='')}")
    response.set_cookie(
        TICKET_COOKIE,
        ticket,
        httponly=True,
        samesite="strict",
        secure=cookie_secure(request),
        path=LOGIN_PATH,
        max_age=TICKET_MS // 1000,
    )
    return response


@router.get(f"{LOGIN_PATH}/code", dependencies=[Depends(console_login)], include_in_schema=False)
async def code_form(request: Request, next: str = "/console") -> Response:
    person_id = await call(request, ticket_person, request.cookies.get(TICKET_COOKIE))
    if person_id is None:
        return web(request).redirect(request, f"{LOGIN_PATH}?next={quote(local_path(next), safe='')}")
    return web(request).page(request, "console/account/login_code.html", next=local_path(next), error=None)


@router.post(
    f"{LOGIN_PATH}/code",
    dependencies=[Depends(console_login), Depends(csrf_protected), Depends(quota("one session per login"))],
    include_in_schema=False,
)
async def login_code(request: Request) -> Response:
    form = await read_form(request)
    target = local_path(form.get("next"))
    person_id = await call(request, ticket_person, request.cookies.get(TICKET_COOKIE))
    if person_id is None:
        return web(request).redirect(
            request, f"{LOGIN_PATH}?next={quote(target, safe='')}", flash=N_("Please log in again.")
        )
    guess = attempt(request, CONSOLE_LOGINS, person_id)
    try:
        await call(request, accounts.check_totp, person_id, form.get("code", "")[:20], attempt=guess)
    except ServiceError as error:
        return web(request).page(
            request,
            "console/account/login_code.html",
            status=error.status,
            next=target,
            error=_message(request, error),
        )
    agent = request.headers.get("user-agent", "")
    cookie = await call(request, accounts.open_console_session, person_id, user_agent=agent)
    principal = await call(request, accounts.console_principal, cookie)
    await call(request, accounts.record_activity, principal, "login", person_id)
    if target == "/console":  # no page asked for: the person's own first page
        target = web(request).home(principal)
    response = web(request).redirect(request, target)
    _set_session(request, response, cookie)
    response.delete_cookie(TICKET_COOKIE, path=LOGIN_PATH)
    return response


@router.post(
    "/console/logout",
    dependencies=[Depends(csrf_protected), Depends(quota("nothing stored"))],
    include_in_schema=False,
)
async def logout(request: Request, principal: Person) -> Response:
    await call(request, accounts.record_activity, principal, "logout", principal.person_id or "")
    await call(request, accounts.close_console_session, request.cookies.get(CONSOLE_COOKIE))
    response = web(request).redirect(request, LOGIN_PATH, flash=N_("You are logged out."))
    response.delete_cookie(CONSOLE_COOKIE, path="/")
    return response


# -- my account -------------------------------------------------------------------------------------


def _person_id(principal: Principal) -> str:
    if principal.person_id is None:  # a bearer token on a person's page: nothing to show
        raise ServiceError(Reason.FORBIDDEN, "this page is for people with an account", status=403)
    return principal.person_id


@router.get("/console/account", include_in_schema=False)
async def account_page(request: Request, principal: Person) -> Response:
    person_id = _person_id(principal)
    ctx = runtime(request).context
    current = await call(request, _current_session_id, request.cookies.get(CONSOLE_COOKIE))
    sessions = [
        {
            "session_id": row.session_id,
            "user_agent": row.user_agent,
            "created": when(row.created_ms),
            "last_used": when(row.last_used_ms),
        }
        for row in await call(request, accounts.sessions_of, person_id)
    ]
    pending = await call(request, own.pending_totp, person_id)
    with ctx.storage.read() as tx:
        person = tx.person(person_id)
        keys = [
            {"coordinator_id": cid, "status": status, "created": when(created)}
            for cid, status, created in tx.device_keys_of(person_id)
        ]
    values: dict[str, Any] = {
        "person": person,
        "keys": keys,
        "sessions": sessions,
        "current": current,
        "pending": pending,
        "qr": None,
        "uri": None,
    }
    if pending is not None and person is not None:
        values["uri"] = provisioning_uri(pending, person.email)
        values["qr"] = _svg_qr(values["uri"])
    return web(request).page(request, "console/account/account.html", **values)


def _current_session_id(ctx: ServerContext, cookie: str | None) -> str | None:
    session = live_session(ctx, cookie)
    return None if session is None else session.session_id


@router.post(
    "/console/account/password",
    dependencies=[Depends(csrf_protected), Depends(quota("one password per person"))],
    include_in_schema=False,
)
async def change_password(request: Request, principal: Person) -> Response:
    person_id = _person_id(principal)
    form = await read_form(request)
    new = form.get("new", "")[:300]
    if new != form.get("repeat", "")[:300]:
        return web(request).redirect(request, "/console/account", flash=N_("The two new passwords differ."))
    guess = attempt(request, CONSOLE_LOGINS, person_id)
    try:
        ended = await call(
            request,
            own.change_password,
            person_id,
            form.get("current", "")[:300],
            new,
            keep_cookie=request.cookies.get(CONSOLE_COOKIE),
            attempt=guess,
        )
    except ServiceError as error:
        return web(request).redirect(request, "/console/account", flash=_flash_for(error))
    await call(request, accounts.record_activity, principal, "account.password", person_id)
    return web(request).redirect(
        request,
        "/console/account",
        flash=N_("Password changed. Other sessions ended: %(count)s."),
        count=str(ended),
    )


@router.post(
    "/console/account/sessions/{session_id}/end",
    dependencies=[Depends(csrf_protected), Depends(quota("deletes only"))],
    include_in_schema=False,
)
async def end_session(session_id: str, request: Request, principal: Person) -> Response:
    person_id = _person_id(principal)
    if not await call(request, accounts.end_session, person_id, session_id[:40]):
        raise ServiceError(Reason.NOT_FOUND, "no such session of yours")
    await call(request, accounts.record_activity, principal, "account.session_end", session_id[:40])
    return web(request).redirect(request, "/console/account", flash=N_("The session was ended."))


@router.post(
    "/console/account/totp",
    dependencies=[Depends(csrf_protected), Depends(quota("one pending secret per person"))],
    include_in_schema=False,
)
async def begin_totp(request: Request, principal: Person) -> Response:
    await call(request, own.begin_totp, _person_id(principal))
    return web(request).redirect(request, "/console/account#totp")


@router.post(
    "/console/account/totp/confirm",
    dependencies=[Depends(csrf_protected), Depends(quota("one secret per person"))],
    include_in_schema=False,
)
async def confirm_totp(request: Request, principal: Person) -> Response:
    person_id = _person_id(principal)
    form = await read_form(request)
    try:
        await call(
            request,
            own.confirm_totp,
            person_id,
            form.get("code", "")[:20],
            form.get("totp_password", "")[:1024],
            attempt=attempt(request, CONSOLE_LOGINS, person_id),
        )
    except ServiceError as error:
        return web(request).redirect(request, "/console/account#totp", flash=_flash_for(error))
    await call(request, accounts.record_activity, principal, "account.totp", person_id)
    return web(request).redirect(request, "/console/account", flash=N_("The new second factor is active."))


# -- invitations ------------------------------------------------------------------------------------


@router.get("/console/invite/{token}", dependencies=[Depends(invitation_link)], include_in_schema=False)
async def invitation_form(token: str, request: Request) -> Response:
    invitation = await call(request, invitations.show_invitation, token)
    secret = accounts.new_totp_secret()
    return _invitation_page(request, token, invitation, secret, invitation.display_name, None)


def _invitation_page(
    request: Request,
    token: str,
    invitation: Any,
    secret: str,
    name: str,
    error: str | None,
    status: int = 200,
) -> Response:
    uri = provisioning_uri(secret, invitation.email)
    return web(request).page(
        request,
        "console/account/invite.html",
        status=status,
        token=token,
        invitation=invitation,
        secret=secret,
        uri=uri,
        qr=_svg_qr(uri),
        name=name,
        error=error,
    )


@router.post(
    "/console/invite/{token}",
    dependencies=[
        Depends(invitation_link),
        Depends(csrf_protected),
        Depends(quota("one account per invitation")),
    ],
    include_in_schema=False,
)
async def accept_invitation(token: str, request: Request) -> Response:
    form = await read_form(request)
    invitation = await call(request, invitations.show_invitation, token)
    secret = form.get("secret", "")[:64]
    name = form.get("name", "")[:200]
    password = form.get("password", "")[:300]
    if password != form.get("repeat", "")[:300]:
        error = web(request).gettext(request, N_("The two passwords differ."))
        return _invitation_page(request, token, invitation, secret, name, error, 400)
    try:
        person_id = await call(
            request,
            invitations.accept_invitation,
            token,
            display_name=name,
            password=password,
            totp_secret=secret,
            code=form.get("code", "")[:20],
        )
    except ServiceError as error:
        if error.reason is Reason.INVITATION_INVALID:
            raise
        return _invitation_page(
            request, token, invitation, secret, name, _message(request, error), error.status
        )
    agent = request.headers.get("user-agent", "")
    cookie = await call(request, accounts.open_console_session, person_id, user_agent=agent)
    principal = await call(request, accounts.console_principal, cookie)
    await call(request, accounts.record_activity, principal, "invitation.accept", invitation.invitation_id)
    response = web(request).redirect(
        request, web(request).home(principal), flash=N_("Welcome! Your account is ready.")
    )
    _set_session(request, response, cookie)
    return response
