"""``/console/laden``: a shop owner's page (:mod:`server.shoppage`), made for a phone.

* ``/console/laden`` (``settle_shops`` or ``run_shop`` at some shop): the shops the
  person may see; with just one, straight to its page.
* ``/console/laden/{shop_id}`` (either permission for that shop): today's and a month's
  redemptions with their status and totals, and each till's heartbeat, backlog and
  offline use.  ``?format=csv&table=today|month`` downloads a table.
* ``/console/laden/{shop_id}/abrechnung?month=YYYY-MM&format=csv|pdf``: the month's
  settlement statement (:func:`server.statements.shop_statement`).

Another shop's ID, a check-in site's and an unknown one all answer the same ``404``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from protocol import Reason
from protocol.earning import ZONE
from server import reports, shoppage, statements, voidrequests
from server.errors import InputError
from server.http.access import Permission, Principal, anywhere, quota
from server.http.common import runtime
from server.web import web
from server.web.access import EitherPage, console_page, shop_of_path, shop_page
from server.web.console import downloads, tables
from server.web.forms import csrf_protected, read_form
from server.web.nav import N_

router = APIRouter(tags=["console"])

ANY_SHOP: Final = EitherPage(
    Permission.SETTLE_SHOPS, anywhere, "only the shops it holds either for", Permission.RUN_SHOP
)
ONE_SHOP: Final = shop_page()
RUN: Final = console_page(Permission.RUN_SHOP, scope=shop_of_path)
SHORT_ID: Final = 10  # "k_" and 8 hex digits
LINE_COLUMNS: Final = ("redemption_id", "wall_ms", "kiosk_id", "amount", "online", "status")
# The page's words for a redemption's status (server.models.RedemptionStatus and the page's own).
STATUS_LABELS: Final = {
    "debited": N_("paid"),
    "declined": N_("declined"),
    "held": N_("held for review"),
    "rejected": N_("rejected"),
    "voided": N_("voided"),
    shoppage.VOID_PENDING: N_("waiting for the till"),
}


def clock(ms: int) -> str:
    """``ms`` as the local time of day (Europe/Berlin), for today's list."""
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(ZONE).strftime("%H:%M")


def short(kiosk_id: str) -> str:
    """The first characters of a till's ID, enough to tell a shop's few tills apart on a phone."""
    return kiosk_id if len(kiosk_id) <= SHORT_ID else kiosk_id[:SHORT_ID] + "…"


@router.get("/console/laden", include_in_schema=False)
async def shops_page(request: Request, principal: Annotated[Principal, Depends(ANY_SHOP)]) -> Response:
    ctx = runtime(request).context
    shops = await run_in_threadpool(shoppage.my_shops, ctx, shoppage.shop_sites(principal))
    if len(shops) == 1:
        return web(request).redirect(request, f"/console/laden/{shops[0]['shop_id']}")
    return web(request).page(
        request, "console/laden/index.html", title=web(request).gettext(request, "My shop"), shops=shops
    )


@router.get("/console/laden/{shop_id}", include_in_schema=False)
async def shop(
    shop_id: str, request: Request, principal: Annotated[Principal, Depends(ONE_SHOP)]
) -> Response:
    ctx = runtime(request).context
    sites = shoppage.shop_sites(principal)
    month = request.query_params.get("month")

    def read() -> shoppage.ShopPage:
        pending = (
            voidrequests.pending_voids(ctx, shop_id) if principal.may(Permission.RUN_SHOP, shop_id) else {}
        )
        return shoppage.shop_page(ctx, sites, shop_id, month=month, pending_voids=pending)

    found = await run_in_threadpool(read)
    table = downloads.wanted(request, ("today", "month"))
    if table is not None:
        rows = found.today if table == "today" else found.month_lines
        name = "today" if table == "today" else found.month
        return downloads.csv_response(request, LINE_COLUMNS, rows, filename=f"{shop_id}-{name}")
    return web(request).page(
        request,
        "console/laden/shop.html",
        title=found.name,
        shop=found,
        month=found.month,
        may_run=principal.may(Permission.RUN_SHOP, shop_id),
        voids=True,
        statuses=STATUS_LABELS,
        when=tables.when,
        clock=clock,
        short=short,
        number=tables.number,
    )


@router.get("/console/laden/{shop_id}/abrechnung", include_in_schema=False)
async def statement(
    shop_id: str, request: Request, principal: Annotated[Principal, Depends(ONE_SHOP)]
) -> Response:
    ctx = runtime(request).context
    sites = shoppage.shop_sites(principal)
    fmt = request.query_params.get("format", "")
    if fmt not in ("csv", "pdf"):
        raise InputError(Reason.BAD_FIELD, "format must be csv or pdf")
    month = request.query_params.get("month")
    found = await run_in_threadpool(shoppage.statement, ctx, sites, shop_id, month)
    filename = f"abrechnung-{shop_id}-{found.month}"
    if fmt == "csv":
        response = Response(found.csv, media_type=statements.CSV)
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
        return web(request).finish(request, response)
    gettext = web(request).gettext
    title = gettext(request, "Settlement of %(shop)s, %(month)s", shop=found.name, month=found.month)
    note = gettext(request, _NOTE, **{k: str(found.document[k]) for k in _NOTE_FIGURES})
    labels = tables.labels(request, found.table)
    pdf = await run_in_threadpool(
        lambda: reports.render_pdf(found.table, title=title, labels=labels, note=note)
    )
    response = Response(pdf, media_type=tables.PDF)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}.pdf"'
    return web(request).finish(request, response)


_NOTE: Final = N_(
    "%(count)s redemptions, %(redeemed)s tokens redeemed, %(voided)s voided: "
    "%(to_settle)s tokens owed to the shop. Held for review (owed once approved): %(held)s."
)
_NOTE_FIGURES: Final = ("count", "redeemed", "voided", "to_settle", "held")


@router.post(
    "/console/laden/{shop_id}/storno",
    include_in_schema=False,
    dependencies=[
        Depends(csrf_protected),
        Depends(quota("one pending request per redemption, bounded by server.voidrequests")),
    ],
)
async def ask_void(shop_id: str, request: Request, principal: Annotated[Principal, Depends(RUN)]) -> Response:
    form = await read_form(request)
    redemption_id = form.get("redemption_id", "")
    ctx = runtime(request).context
    await run_in_threadpool(lambda: voidrequests.request_void(ctx, principal, shop_id, redemption_id))
    return web(request).redirect(
        request,
        f"/console/laden/{shop_id}",
        flash=N_("The till voids it at its next sync: %(id)s"),
        id=redemption_id,
    )


@router.post(
    "/console/laden/{shop_id}/storno/zuruecknehmen",
    include_in_schema=False,
    dependencies=[Depends(csrf_protected), Depends(quota("none: ends one pending request"))],
)
async def take_back_void(
    shop_id: str, request: Request, principal: Annotated[Principal, Depends(RUN)]
) -> Response:
    form = await read_form(request)
    redemption_id = form.get("redemption_id", "")
    ctx = runtime(request).context
    await run_in_threadpool(lambda: voidrequests.cancel_void(ctx, principal, shop_id, redemption_id))
    return web(request).redirect(
        request,
        f"/console/laden/{shop_id}",
        flash=N_("The void request is taken back: %(id)s"),
        id=redemption_id,
    )
