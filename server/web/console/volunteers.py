"""``/console/volunteers``: find and register volunteers; prepare, block and replace cards; print the sheet.

Thin: every rule is in :mod:`server.cardissuing` and :mod:`server.volunteerviews`.
A coordinator sees the volunteers whose home site they hold ``manage_cards``
for; a volunteer elsewhere answers 404 as an unknown one.  Card actions are
posted under the volunteer's path, so the scope is the volunteer's home site
for a pending card too (it is not in ``cards`` yet).

The issuing sheet is the one page that answers a POST with a page instead of
a redirect: it shows a fresh access secret (the old one ends), which must not
travel in a URL or a cookie.  Printing it again issues another secret.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from protocol import Reason
from server import cardissuing, cards, quotas, sessions, volunteerviews
from server.accounts import record_activity as record
from server.context import ServerContext
from server.errors import ServiceError
from server.http.access import Permission, Principal, anywhere, home_site_of_volunteer, quota
from server.http.common import call, runtime
from server.web import web
from server.web.access import console_page
from server.web.console import downloads
from server.web.forms import csrf_protected, read_form
from server.web.nav import N_
from server.web.qr import access_sheet_qr

router = APIRouter(tags=["console"], include_in_schema=False)

_ANY = console_page(Permission.MANAGE_CARDS, scope=anywhere, note="lists filter by the principal's sites")
_ONE = console_page(Permission.MANAGE_CARDS, scope=home_site_of_volunteer)
AnyPrincipal = Annotated[Principal, Depends(_ANY)]
OnePrincipal = Annotated[Principal, Depends(_ONE)]
CSV_COLUMNS = ("volunteer_id", "name", "home_site_id", "cards")


def sites_of(principal: Principal, permission: Permission) -> frozenset[str] | None:
    """The sites ``principal`` holds ``permission`` for; ``None`` for the whole economy."""
    return principal.sites_for(permission)


def _who(principal: Principal) -> str:
    return principal.person_id or principal.name


def _site_options(ctx: ServerContext, allowed: frozenset[str] | None) -> list[tuple[str, str]]:
    with ctx.storage.read() as tx:
        sites = tx.list_sites()
    return [
        (s.site_id, s.name)
        for s in sites
        if s.kind.value == "checkin" and (allowed is None or s.site_id in allowed)
    ]


@router.get("/console/volunteers")
async def volunteers(request: Request, principal: AnyPrincipal) -> Response:
    allowed = sites_of(principal, Permission.MANAGE_CARDS)
    query = request.query_params.get("q", "")
    found = await call(request, volunteerviews.search, query, allowed)
    if request.query_params.get("format") == "csv":  # names: never cached (downloads.csv_response)
        return downloads.csv_response(request, CSV_COLUMNS, found, filename="volunteers")
    sites = _site_options(runtime(request).context, allowed)
    return web(request).page(
        request,
        "console/volunteers/list.html",
        volunteers=found,
        q=query,
        sites=sites,
        site_names=dict(sites),
    )


@router.post(
    "/console/volunteers",
    dependencies=[Depends(csrf_protected), Depends(quota(f"{quotas.CARDS:,} cards; one volunteer a post"))],
)
async def register(request: Request, principal: AnyPrincipal) -> Response:
    form = await read_form(request)
    site_id = form.get("site_id", "")
    if not principal.may(Permission.MANAGE_CARDS, site_id):
        raise ServiceError(Reason.UNKNOWN_SITE, "no such site")
    answer = await call(
        request,
        cardissuing.register_volunteer,
        name=form.get("name", ""),
        site_id=site_id,
        ehrenamtskarte=form.get("ehrenamtskarte") or None,
    )
    # The secret made with the registration is not shown: printing the sheet issues the one handed over.
    volunteer_id = answer["volunteer_id"]
    await call(request, record, principal, "volunteer.register", volunteer_id, site_id=site_id)
    return web(request).redirect(
        request,
        f"/console/volunteers/{volunteer_id}",
        flash=N_("Volunteer registered. Now prepare their card."),
    )


@router.get("/console/volunteers/{volunteer_id}")
async def detail(volunteer_id: str, request: Request, principal: OnePrincipal) -> Response:
    allowed = sites_of(principal, Permission.MANAGE_CARDS)
    page = await call(request, volunteerviews.detail, volunteer_id, allowed)
    sites = dict(_site_options(runtime(request).context, None))
    table = downloads.wanted(request, ("shifts", "cards"))
    if table == "cards":
        return downloads.csv_response(
            request, ("card_id", "status"), page["cards"], filename=f"cards-{volunteer_id}"
        )
    if table == "shifts":
        columns = ("start", "site_id", "site", "minutes", "tokens", "status", "source")
        rows = [{**shift, "site": sites.get(shift["site_id"], shift["site_id"])} for shift in page["shifts"]]
        return downloads.csv_response(request, columns, rows, filename=f"shifts-{volunteer_id}")
    return web(request).page(request, "console/volunteers/detail.html", v=page, site_names=sites)


def _card_of(ctx: ServerContext, volunteer_id: str, card_id: str) -> dict[str, Any]:
    with ctx.storage.read() as tx:
        for card in cardissuing.volunteer_cards(ctx, tx, volunteer_id):
            if card["card_id"] == card_id:
                return card
    raise ServiceError(Reason.UNKNOWN_CARD, "no such card")


@router.post(
    "/console/volunteers/{volunteer_id}/cards",
    dependencies=[
        Depends(csrf_protected),
        Depends(quota(f"{cardissuing.MAX_PENDING_PER_VOLUNTEER} pending cards per volunteer")),
    ],
)
async def prepare(volunteer_id: str, request: Request, principal: OnePrincipal) -> Response:
    card = await call(request, cardissuing.prepare_card, volunteer_id, by=_who(principal))
    await call(
        request, record, principal, "card.prepare", card["card_id"], data={"volunteer_id": volunteer_id}
    )
    return web(request).redirect(
        request,
        f"/console/volunteers/{volunteer_id}",
        flash=N_("Card %(card)s prepared. Write it with a reader: provision card issue --prepared %(card)s"),
        card=card["card_id"],
    )


@router.post(
    "/console/volunteers/{volunteer_id}/cards/{card_id}/block",
    dependencies=[Depends(csrf_protected), Depends(quota("once per card"))],
)
async def block(volunteer_id: str, card_id: str, request: Request, principal: OnePrincipal) -> Response:
    card = await call(request, _card_of, volunteer_id, card_id)
    if card["status"] == cardissuing.PENDING:
        await call(request, cardissuing.cancel_prepared, card_id)
        await call(request, record, principal, "card.cancel", card_id)
    else:
        reason = (await read_form(request)).get("reason") or "blocked in the console"
        await call(request, cards.block_card, card_id, {"reason": reason[: cards.MAX_BLOCK_REASON_CHARS]})
        await call(request, record, principal, "card.block", card_id)
    return web(request).redirect(
        request, f"/console/volunteers/{volunteer_id}", flash=N_("Card %(card)s blocked."), card=card_id
    )


@router.post(
    "/console/volunteers/{volunteer_id}/cards/{card_id}/replace",
    dependencies=[Depends(csrf_protected), Depends(quota("blocks one card, prepares one"))],
)
async def replace(volunteer_id: str, card_id: str, request: Request, principal: OnePrincipal) -> Response:
    await call(request, _card_of, volunteer_id, card_id)
    form = await read_form(request)
    new: dict[str, Any] = await call(
        request, cardissuing.replace_card, card_id, by=_who(principal), reason=form.get("reason") or "lost"
    )
    await call(request, record, principal, "card.replace", card_id, data={"new_card_id": new["card_id"]})
    return web(request).redirect(
        request,
        f"/console/volunteers/{volunteer_id}",
        flash=N_("Card %(old)s blocked; card %(card)s prepared to replace it."),
        old=card_id,
        card=new["card_id"],
    )


@router.post(
    "/console/volunteers/{volunteer_id}/sheet",
    dependencies=[Depends(csrf_protected), Depends(quota("replaces the volunteer's one access secret"))],
)
async def sheet(volunteer_id: str, request: Request, principal: OnePrincipal) -> Response:
    allowed = sites_of(principal, Permission.MANAGE_CARDS)
    page = await call(request, volunteerviews.detail, volunteer_id, allowed)
    if page["erased"]:
        raise ServiceError(Reason.VOLUNTEER_ERASED, "this volunteer was erased")
    issued = await call(request, sessions.reissue_secret, volunteer_id)
    await call(request, record, principal, "volunteer.sheet", volunteer_id, site_id=page["home_site_id"])
    origin = f"{request.url.scheme}://{request.url.netloc}"
    link, svg = access_sheet_qr(origin, issued["access_secret"])
    response = web(request).page(request, "console/volunteers/sheet.html", v=page, link=link, qr_svg=svg)
    return response
