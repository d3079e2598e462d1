"""``/console/kiosks``: the fleet (:mod:`server.fleet`), enrolment codes, and revoking a kiosk or till.

For whoever holds ``manage_fleet`` for at least one site, and only of those sites.
A new enrolment code is shown once, on the answer to the form that made it: the
server keeps only its hash, so there is nothing to redirect to (a reload asks
the browser to send the form again, which makes another code).
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from protocol import Reason
from server import fleet
from server.errors import InputError, ServiceError
from server.http.access import Permission, Principal, anywhere, quota, site_of_kiosk
from server.http.common import runtime
from server.reports import Column, Table
from server.web import web
from server.web.access import console_page
from server.web.console import tables
from server.web.forms import csrf_protected, read_form

router = APIRouter(tags=["console"])

LIST: Final = console_page(Permission.MANAGE_FLEET, scope=anywhere, note="only the sites it holds it for")
ONE: Final = console_page(Permission.MANAGE_FLEET, scope=site_of_kiosk)
# What a new code may be valid for, in hours: the form offers these and nothing else.
CODE_HOURS: Final = (1, 24, 72, 168)
FLEET_COLUMNS: Final = (
    Column("kiosk_id", "Kiosk"),
    Column("terminal", "Type"),
    Column("site_name", "Site"),
    Column("status", "Status"),
    Column("last_heartbeat_ms", "Last heartbeat"),
    Column("pending", "Backlog"),
    Column("clock", "Clock"),
    Column("version", "Version"),
    Column("alarms", "Alarms"),
)


def _sites(principal: Principal) -> frozenset[str] | None:
    return principal.sites_for(Permission.MANAGE_FLEET)


@router.get("/console/kiosks", include_in_schema=False)
async def fleet_page(request: Request, principal: Annotated[Principal, Depends(LIST)]) -> Response:
    ctx = runtime(request).context
    rows = await run_in_threadpool(fleet.fleet, ctx, _sites(principal))
    table = Table("Kiosks and tills", FLEET_COLUMNS, rows)
    fmt = tables.parse_format(request)
    if fmt != "html":
        title = web(request).gettext(request, table.title)
        return tables.download(request, table, fmt, filename="kiosks", title=title)
    sites = await run_in_threadpool(fleet.enrolment_sites, ctx, _sites(principal))
    gettext = web(request).gettext
    shop = gettext(request, "shop")
    return web(request).page(
        request,
        "console/views/kiosks.html",
        title=web(request).gettext(request, "Kiosks and tills"),
        table=table,
        rows=rows,
        sites=sites,
        site_options=[
            (s["site_id"], s["name"] + (f" ({shop})" if s["kind"] == "shop" else "")) for s in sites
        ],
        hour_options=[(str(h), gettext(request, "%(hours)s hours", hours=str(h))) for h in CODE_HOURS],
        when=tables.when,
        number=tables.number,
    )


@router.post(
    "/console/kiosks/code",
    include_in_schema=False,
    dependencies=[
        Depends(csrf_protected),
        Depends(quota("1000 valid codes economy-wide, 20 unused per site")),
    ],
)
async def make_code(request: Request, principal: Annotated[Principal, Depends(LIST)]) -> Response:
    form = await read_form(request)
    site_id = form.get("site_id", "")
    hours = form.get("hours", "24")
    if hours not in {str(choice) for choice in CODE_HOURS}:  # a string compare: no int() of 5,000 digits
        raise InputError(Reason.BAD_FIELD, f"hours must be one of {CODE_HOURS}")
    ctx = runtime(request).context
    sites = _sites(principal)
    made = await run_in_threadpool(
        lambda: fleet.create_code(ctx, sites, site_id, expires_in_s=int(hours) * 3600, by=principal)
    )
    found = await run_in_threadpool(fleet.enrolment_sites, ctx, sites)
    site = next(s for s in found if s["site_id"] == site_id)
    return web(request).page(
        request,
        "console/views/code.html",
        title=web(request).gettext(request, "Enrolment code"),
        made=made,
        site=site,
        expires=tables.when(made["expires_ms"]),
    )


def _kiosk(request: Request, principal: Principal, kiosk_id: str) -> dict[str, object]:
    rows = fleet.fleet(runtime(request).context, _sites(principal))
    found = next((row for row in rows if row["kiosk_id"] == kiosk_id), None)
    if found is None:
        raise ServiceError(Reason.UNKNOWN_KIOSK, "no such kiosk")
    return found


@router.get("/console/kiosks/{kiosk_id}/revoke", include_in_schema=False)
async def confirm_revoke(
    kiosk_id: str, request: Request, principal: Annotated[Principal, Depends(ONE)]
) -> Response:
    kiosk = await run_in_threadpool(_kiosk, request, principal, kiosk_id)
    return web(request).page(
        request,
        "console/views/revoke.html",
        title=web(request).gettext(request, "Revoke %(kiosk)s", kiosk=kiosk_id),
        kiosk=kiosk,
    )


@router.post(
    "/console/kiosks/{kiosk_id}/revoke",
    include_in_schema=False,
    dependencies=[Depends(csrf_protected), Depends(quota("none: changes a kiosk's status"))],
)
async def revoke(kiosk_id: str, request: Request, principal: Annotated[Principal, Depends(ONE)]) -> Response:
    ctx = runtime(request).context
    await run_in_threadpool(lambda: fleet.revoke(ctx, _sites(principal), kiosk_id, by=principal))
    return web(request).redirect(request, "/console/kiosks", flash="%(kiosk)s is revoked.", kiosk=kiosk_id)
