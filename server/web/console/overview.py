"""``/console``: the overview of the caller's sites (:mod:`server.overview`).

Open to whoever holds ``review`` for at least one site; everything on it is of
the sites they hold it for (``Principal.sites_for``).  Each table also downloads
as CSV: ``/console?table=anomalies&format=csv``.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from protocol import Reason
from server import charts, overview
from server.errors import InputError
from server.http.access import Permission, Principal, anywhere
from server.http.common import runtime
from server.web import web
from server.web.access import console_page
from server.web.console import tables

router = APIRouter(tags=["console"])

PAGE: Final = console_page(Permission.REVIEW, scope=anywhere, note="only the sites it holds `review` for")


@router.get("/console", include_in_schema=False)
async def overview_page(request: Request, principal: Annotated[Principal, Depends(PAGE)]) -> Response:
    ctx = runtime(request).context
    sites = principal.sites_for(Permission.REVIEW)
    page = await run_in_threadpool(overview.overview, ctx, sites)
    found = overview.tables(page)
    fmt = tables.parse_format(request)
    if fmt != "html":
        name = request.query_params.get("table", "")
        if name not in found:
            raise InputError(Reason.BAD_FIELD, f"table must be one of {', '.join(found)}")
        title = web(request).gettext(request, found[name].title)
        return tables.download(request, found[name], fmt, filename=f"overview-{name}", title=title)
    gettext = web(request).gettext
    month = page["month"]
    chart = charts.bar_chart(
        gettext(request, "Tokens issued and redeemed per day, %(month)s", month=month["month"]),
        [str(day) for day in month["days"]],
        [(gettext(request, "Issued"), month["issued"]), (gettext(request, "Redeemed"), month["redeemed"])],
    )
    return web(request).page(
        request,
        "console/views/overview.html",
        title=gettext(request, "Overview"),
        page=page,
        tables=found,
        chart=chart,
        when=tables.when,
        number=tables.number,
    )
