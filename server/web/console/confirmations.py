"""``/console/confirmations`` and the public ``/bestaetigen/{token}``: hours from places without a kiosk.

The rules are :mod:`server.hoursconfirm`'s.  A coordinator (``review`` for the
list's site) writes the list and gets the link once, as the answer of the
form's POST (the token is stored only as a hash, so it can be shown only
then; it never travels in a redirect's URL or a cookie).  The contact needs no
account: the public page is protected against cross-site posts by the same
double-submit CSRF token as every console form, and the token in the path
(32 random bytes) is the only authority.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from protocol import Reason
from server import hoursconfirm
from server.accounts import record_activity as record
from server.errors import ServiceError
from server.http.access import Marker, Permission, Principal, anywhere, public, quota
from server.http.common import call, runtime
from server.web import web
from server.web.access import console_page
from server.web.console import downloads
from server.web.console.volunteers import sites_of
from server.web.forms import csrf_protected, read_form

router = APIRouter(tags=["console"], include_in_schema=False)
public_router = APIRouter(tags=["pages"], include_in_schema=False)
confirmation_link: Final = Marker(
    "confirmation link",
    "single-use token in the path (32 random bytes, stored hashed), checked by the service",
)

_ANY = console_page(Permission.REVIEW, scope=anywhere, note="lists filter by the principal's sites")
AnyPrincipal = Annotated[Principal, Depends(_ANY)]
FORM_ROWS = 8
_ROW = re.compile(r"(volunteer|day|start|end)_([0-9]{1,2})")


def _who(principal: Principal) -> str:
    return principal.person_id or principal.name


def _form_data(request: Request, principal: Principal) -> dict[str, Any]:
    """Sites and volunteers the coordinator may put on a list (their sites' volunteers, by name)."""
    from server.volunteerviews import search

    ctx = runtime(request).context
    allowed = sites_of(principal, Permission.REVIEW)
    with ctx.storage.read() as tx:
        sites = [(s.site_id, s.name) for s in tx.list_sites() if allowed is None or s.site_id in allowed]
    people = [
        (v["volunteer_id"], v["name"] or v["volunteer_id"]) for v in search(ctx, "", allowed) if v["name"]
    ]
    return {"sites": sites, "people": sorted(people, key=lambda p: p[1].casefold())}


@router.get("/console/confirmations")
async def lists(request: Request, principal: AnyPrincipal) -> Response:
    allowed = sites_of(principal, Permission.REVIEW)
    found = await call(request, hoursconfirm.coordinator_lists, allowed)
    if downloads.wanted(request, ("lists",)):
        columns = ("list_id", "site_id", "contact", "state", "created_ms", "expires_ms", "submitted_ms")
        return downloads.csv_response(request, columns, found, filename="confirmations")
    data = await call(request, lambda _ctx: _form_data(request, principal))
    return web(request).page(
        request, "console/confirmations/list.html", lists=found, rows=range(1, FORM_ROWS + 1), **data
    )


def _lines(form: dict[str, str]) -> list[dict[str, str]]:
    rows: dict[int, dict[str, str]] = {}
    for name, value in form.items():
        match = _ROW.fullmatch(name)
        if match and value.strip():
            rows.setdefault(int(match[2]), {})[match[1]] = value.strip()
    lines = []
    for _, row in sorted(rows.items()):
        lines.append(
            {
                "volunteer_id": row.get("volunteer", ""),
                "day": row.get("day", ""),
                "start": row.get("start", ""),
                "end": row.get("end", ""),
            }
        )
    return lines


@router.post(
    "/console/confirmations",
    dependencies=[
        Depends(csrf_protected),
        Depends(
            quota(
                f"{hoursconfirm.MAX_LISTS_PER_DAY} lists a day per coordinator, "
                f"{hoursconfirm.MAX_LINES} lines each"
            )
        ),
    ],
)
async def create(request: Request, principal: AnyPrincipal) -> Response:
    form = await read_form(request)
    site_id = form.get("site_id", "")
    if not principal.may(Permission.REVIEW, site_id):
        raise ServiceError(Reason.UNKNOWN_SITE, "no such site")
    made = await call(
        request,
        hoursconfirm.create_list,
        site_id=site_id,
        created_by=_who(principal),
        contact_label=form.get("contact", ""),
        lines=_lines(form),
        volunteer_sites=sites_of(principal, Permission.REVIEW),
    )
    await call(request, record, principal, "hours_list.create", made["list_id"], site_id=site_id)
    origin = f"{request.url.scheme}://{request.url.netloc}"
    return web(request).page(
        request, "console/confirmations/created.html", link=origin + made["path"], list_id=made["list_id"]
    )


@router.get("/console/confirmations/{list_id}")
async def answers(list_id: str, request: Request, principal: AnyPrincipal) -> Response:
    found = await call(
        request, hoursconfirm.coordinator_detail, list_id, sites_of(principal, Permission.REVIEW)
    )
    if downloads.wanted(request, ("lines",)):
        columns = (
            "line_no",
            "volunteer_id",
            "name",
            "day",
            "start",
            "end",
            "answer",
            "answer_start",
            "answer_end",
        )
        return downloads.csv_response(
            request, columns, found["lines"], filename=f"confirmation-{found['list_id']}"
        )
    return web(request).page(request, "console/confirmations/detail.html", hours=found)


# -- the contact's page, without an account -------------------------------------------------------


@public_router.get("/bestaetigen/danke", dependencies=[Depends(public)])
async def thanks(request: Request) -> Response:
    return web(request).page(request, "public/thanks.html")


@public_router.get("/bestaetigen/{token}", dependencies=[Depends(confirmation_link)])
async def confirm_page(token: str, request: Request) -> Response:
    view = await call(request, hoursconfirm.public_view, token)
    return web(request).page(request, "public/confirm.html", view=view, token=token)


@public_router.post(
    "/bestaetigen/{token}",
    dependencies=[Depends(confirmation_link), Depends(csrf_protected), Depends(quota("one answer per link"))],
)
async def confirm_submit(token: str, request: Request) -> Response:
    form = await read_form(request)
    answers: dict[int, dict[str, str]] = {}
    for name, value in form.items():
        kind, _, number = name.partition("_")
        if not number.isdigit() or len(number) > 3:
            continue
        line = answers.setdefault(int(number), {})
        if kind == "answer":
            line["answer"] = value
        elif kind in ("start", "end"):
            line[kind] = value
    await call(request, hoursconfirm.submit, token, answers)
    return web(request).redirect(request, "/bestaetigen/danke")
