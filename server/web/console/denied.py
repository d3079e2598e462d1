"""``/console/denied`` and ``GET /v1/admin/denied``: denied attempts per day, site, kiosk and reason.

For whoever holds ``review`` for at least one site, and only of those sites
(:mod:`server.denials`): a coordinator of another site sees nothing of these.
The page filters by site, reason and a range of days, highlights a burst of
``uid_mismatch`` ("someone may be trying copied cards") and downloads as CSV;
the JSON route answers the same for a named token.  No card is shown.
"""

from __future__ import annotations

from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from server import denials
from server.http.access import Permission, Principal, anywhere, require
from server.http.common import call
from server.http.openapi import ADMIN, Query, doc
from server.web import web
from server.web.access import console_page
from server.web.console import downloads
from server.web.nav import N_

router = APIRouter(tags=["console"])
api = APIRouter(tags=["admin"])
NOTE: Final = "only the sites it holds it for"
Reader = Annotated[Principal, Depends(console_page(Permission.REVIEW, scope=anywhere, note=NOTE))]
ApiReader = Annotated[Principal, Depends(require(Permission.REVIEW, scope=anywhere, note=NOTE))]
COLUMNS: Final = ("day", "site_name", "kiosk_id", "reason", "count", "burst")
LABELS: Final = (N_("Day"), N_("Site"), N_("Kiosk"), N_("Reason"), N_("Denied"), N_("Burst"))
_DAY: Final = {"type": "string", "format": "date"}
FILTERS: Final = (
    Query("from", "first local day (Europe/Berlin), default 13 days before `to`", schema=_DAY),
    Query("to", "last local day (Europe/Berlin), default today", schema=_DAY),
    Query("site", "only this site", schema={"type": "string", "maxLength": 64}),
    Query("reason", "only this reason code", schema={"type": "string", "pattern": "^[a-z][a-z0-9_]{0,39}$"}),
)


def _sites(principal: Principal) -> frozenset[str] | None:
    return principal.sites_for(Permission.REVIEW)


def _params(request: Request) -> dict[str, str]:
    return {key: request.query_params.get(key, "")[:100] for key in ("from", "to", "site", "reason")}


@api.get("/v1/admin/denied", **doc(query=FILTERS, errors=ADMIN))
async def get_denied(request: Request, principal: ApiReader) -> JSONResponse:
    """Denied attempts at the caller's sites, counted per day, site, kiosk and reason (``server.denials``)."""
    return JSONResponse(await call(request, denials.denied_attempts, _sites(principal), _params(request)))


def _page_values(ctx: Any, principal: Principal, params: dict[str, str]) -> dict[str, Any]:
    found = denials.denied_attempts(ctx, _sites(principal), params)
    mine = _sites(principal)
    with ctx.storage.read() as tx:
        sites = [s for s in tx.list_sites() if mine is None or s.site_id in mine]
    return {"found": found, "sites": sorted(sites, key=lambda s: s.name.casefold())}


@router.get("/console/denied", include_in_schema=False)
async def denied_page(request: Request, principal: Reader) -> Response:
    params = _params(request)
    values = await call(request, _page_values, principal, params)
    found = values["found"]
    if request.query_params.get("format") == "csv":
        return downloads.csv_response(request, COLUMNS, found["rows"], filename="denied")
    pages = web(request)
    columns = [(key, pages.gettext(request, label)) for key, label in zip(COLUMNS, LABELS, strict=True)]
    shown = {
        "from": found["from"],
        "to": found["to"],
        "site": found["site"] or "",
        "reason": found["reason"] or "",
    }
    csv_url = "/console/denied?" + urlencode({**{k: v for k, v in shown.items() if v}, "format": "csv"})
    return pages.page(
        request,
        "console/denied/denied.html",
        title=pages.gettext(request, "Denied attempts"),
        columns=columns,
        csv_url=csv_url,
        filters=shown,
        burst_count=denials.BURST_COUNT,
        burst_minutes=denials.BURST_WINDOW_MS // 60_000,
        **values,
    )
