"""``/console/reports`` and ``/console/settlements``: the reports of :mod:`server.reports`.

* ``/console/reports`` (``reports``, any site it is held for): hours and tokens per site
  and month of a year, and the shop settlements of a month, of the sites and shops it is
  held for.  ``?table=hours|shops&format=csv|pdf`` downloads one table.
* ``/console/settlements`` (``settle_shops``): a shop owner's settlements of a month,
  of their own shops only; ``?format=csv|pdf`` downloads it.
"""

from __future__ import annotations

from typing import Annotated, Final, NamedTuple

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from protocol import Reason
from server import reports
from server.context import ServerContext
from server.errors import InputError
from server.http.access import Permission, Principal, anywhere
from server.http.common import runtime
from server.visibility import Sites
from server.web import web
from server.web.access import console_page
from server.web.console import tables

router = APIRouter(tags=["console"])

REPORTS: Final = console_page(Permission.REPORTS, scope=anywhere, note="only the sites it holds it for")
SETTLE: Final = console_page(Permission.SETTLE_SHOPS, scope=anywhere, note="only the shops it holds it for")


class _Found(NamedTuple):
    year: int
    month: str
    hours: reports.Table
    shops: reports.Table


def _reports(ctx: ServerContext, sites: Sites, request: Request) -> _Found:
    now = ctx.now_ms()
    year = reports.parse_year(request.query_params.get("year"), now_ms=now)
    month, first, after = reports.parse_month(request.query_params.get("month"), now_ms=now)
    return _Found(
        year,
        month,
        reports.hours_by_site(ctx, sites, year),
        reports.shop_settlements(ctx, sites, month, first, after),
    )


def _query(**values: object) -> str:
    return "&".join(f"{key}={value}" for key, value in values.items())


@router.get("/console/reports", include_in_schema=False)
async def reports_page(request: Request, principal: Annotated[Principal, Depends(REPORTS)]) -> Response:
    ctx = runtime(request).context
    found = await run_in_threadpool(_reports, ctx, principal.sites_for(Permission.REPORTS), request)
    fmt = tables.parse_format(request)
    if fmt != "html":
        name = request.query_params.get("table", "")
        if name not in ("hours", "shops"):
            raise InputError(Reason.BAD_FIELD, "table must be hours or shops")
        table = found.hours if name == "hours" else found.shops
        period = found.year if name == "hours" else found.month
        title = f"{web(request).gettext(request, table.title)}, {period}"
        return await run_in_threadpool(
            tables.download, request, table, fmt, filename=f"{name}-{period}", title=title
        )
    return web(request).page(
        request,
        "console/views/reports.html",
        title=web(request).gettext(request, "Reports"),
        year=found.year,
        month=found.month,
        hours=found.hours,
        shops=found.shops,
        hours_query=_query(year=found.year),
        shops_query=_query(month=found.month),
        when=tables.when,
        number=tables.number,
    )


@router.get("/console/settlements", include_in_schema=False)
async def settlements_page(request: Request, principal: Annotated[Principal, Depends(SETTLE)]) -> Response:
    ctx = runtime(request).context
    sites = principal.sites_for(Permission.SETTLE_SHOPS)
    month, first, after = reports.parse_month(request.query_params.get("month"), now_ms=ctx.now_ms())
    table = await run_in_threadpool(reports.shop_settlements, ctx, sites, month, first, after)
    fmt = tables.parse_format(request)
    if fmt != "html":
        title = f"{web(request).gettext(request, table.title)}, {month}"
        return await run_in_threadpool(
            tables.download, request, table, fmt, filename=f"settlements-{month}", title=title
        )
    return web(request).page(
        request,
        "console/views/settlements.html",
        title=web(request).gettext(request, "Settlements"),
        month=month,
        shops=table,
        shops_query=_query(month=month),
        when=tables.when,
        number=tables.number,
    )
