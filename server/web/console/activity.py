"""The activity log page: who did what, when, filtered by person, action, site and date.

``read_activity`` for some sites shows the rows of those sites; economy-wide
(admins) shows every row, those without a site (logins, teams) included.
The table downloads as CSV with the same filter.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from protocol import Reason
from server import accounts
from server.context import ServerContext
from server.errors import InputError
from server.http.access import Permission, Principal, anywhere
from server.http.common import call
from server.web import web
from server.web.access import console_page
from server.web.console import downloads
from server.web.console.account import when
from server.web.nav import N_

router = APIRouter(tags=["console"])
Reader = Annotated[Principal, Depends(console_page(Permission.READ_ACTIVITY, scope=anywhere))]
COLUMNS: Final = ("when", "actor", "action", "object_id", "site", "data")
LABELS: Final = (
    N_("When"),
    N_("Who"),
    N_("Action"),
    N_("Object"),
    N_("Site"),
    N_("Details"),
)


def _day(text: str, name: str) -> int | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text[:10])
    except ValueError as exc:
        raise InputError(Reason.BAD_FIELD, f"{name} is a date YYYY-MM-DD") from exc
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def _rows(ctx: ServerContext, principal: Principal, filters: dict[str, str]) -> dict[str, Any]:
    to_ms = _day(filters["to"], "to")
    found = accounts.list_activity(
        ctx,
        principal,
        Permission.READ_ACTIVITY,
        person_id=filters["person"] or None,
        action=filters["action"] or None,
        site_id=filters["site"] or None,
        from_ms=_day(filters["from"], "from"),
        to_ms=None if to_ms is None else to_ms + int(timedelta(days=1).total_seconds() * 1000),
    )
    mine = principal.sites_for(Permission.READ_ACTIVITY)
    with ctx.storage.read() as tx:
        sites = [site for site in tx.list_sites() if mine is None or site.site_id in mine]
        persons = tx.persons() if mine is None else []
    names = {site.site_id: site.name for site in sites}
    rows = [
        {
            "when": when(row.at_ms),
            "actor": row.actor,
            "action": row.action,
            "object_id": row.object_id,
            "site": names.get(row.site_id or "", row.site_id),
            "data": ", ".join(f"{k}={v}" for k, v in sorted(row.data.items())) or None,
        }
        for row in found
    ]
    actions = sorted({str(row["action"]) for row in rows})
    return {"rows": rows, "sites": sites, "persons": persons, "actions": actions}


@router.get("/console/activity", include_in_schema=False)
async def activity_page(request: Request, principal: Reader) -> Response:
    query = request.query_params
    filters = {key: query.get(key, "")[:100] for key in ("person", "action", "site", "from", "to")}
    values = await call(request, _rows, principal, filters)
    if query.get("format") == "csv":
        return downloads.csv_response(request, COLUMNS, values["rows"], filename="activity")
    pages = web(request)
    columns = [(key, pages.gettext(request, label)) for key, label in zip(COLUMNS, LABELS, strict=True)]
    csv_url = "/console/activity?" + urlencode({**{k: v for k, v in filters.items() if v}, "format": "csv"})
    return pages.page(
        request, "console/activity/activity.html", columns=columns, csv_url=csv_url, filters=filters, **values
    )
