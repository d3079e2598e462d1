"""``/console/places``: organisations (Träger), check-in sites and shops (``manage_sites``).

Thin over :mod:`server.places`, which holds the rules: creating needs
``manage_sites`` economy-wide, a site-scoped holder sees and moves only their
own sites.  A refusal a person can fix comes back as a message on the page.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from protocol import Reason
from server import places
from server.errors import ServiceError
from server.http.access import Permission, Principal, anywhere, quota
from server.http.common import runtime
from server.reports import Column, Table
from server.web import web
from server.web.access import console_page
from server.web.console import tables
from server.web.forms import csrf_protected, read_form
from server.web.nav import N_

router = APIRouter(tags=["console"])
Manager = Annotated[
    Principal,
    Depends(console_page(Permission.MANAGE_SITES, scope=anywhere, note="only the sites it holds it for")),
]
COLUMNS: Final = (
    Column("name", "Name"),
    Column("kind", "Kind"),
    Column("organisation", "Organisation"),
    Column("tokens_per_hour", "Tokens per hour"),
    Column("site_id", "ID"),
)
MESSAGES: Final = {
    Reason.FORBIDDEN: N_("Only an admin of the whole economy creates organisations, sites and shops."),
    Reason.MALFORMED_REQUEST: N_(
        "Please fill in the form completely: a name, and a whole number for tokens per hour."
    ),
    Reason.BAD_FIELD: N_("This does not fit: check the name and the numbers."),
    Reason.UNKNOWN_ORGANISATION: N_("There is no such organisation."),
    Reason.QUOTA_EXCEEDED: N_("There are as many sites and shops as the server allows."),
}
KIND_LABELS: Final = {"checkin": N_("Check-in site"), "shop": N_("Shop")}


def _table(rows: list[places.Place], kind_labels: dict[str, str]) -> Table:
    return Table(
        "Places",
        COLUMNS,
        [
            {
                "name": p.name,
                "kind": kind_labels[p.kind],
                "organisation": p.organisation or "–",
                "tokens_per_hour": p.tokens_per_hour if p.kind == "checkin" else None,
                "site_id": p.site_id,
            }
            for p in rows
        ],
    )


@router.get("/console/places", include_in_schema=False)
async def places_page(request: Request, principal: Manager) -> Response:
    ctx = runtime(request).context
    rows, organisations = await run_in_threadpool(places.list_places, ctx, principal)
    gettext = web(request).gettext
    table = _table(rows, {k: gettext(request, v) for k, v in KIND_LABELS.items()})
    fmt = tables.parse_format(request)
    if fmt != "html":
        return tables.download(request, table, fmt, filename="places", title=gettext(request, "Places"))
    return web(request).page(
        request,
        "console/places/places.html",
        table=table,
        places_by_id={p.site_id: p.org_id for p in rows},
        shop_ids={p.site_id for p in rows if p.kind == "shop"},
        organisations=organisations,
        may_create=principal.may(Permission.MANAGE_SITES, None),
        kinds=[(k, gettext(request, v)) for k, v in KIND_LABELS.items()],
        when=tables.when,
        number=tables.number,
    )


def _refused(request: Request, error: ServiceError) -> Response:
    text = MESSAGES.get(error.reason)
    if text is None:
        raise error
    return web(request).redirect(request, "/console/places", flash=text)


def _number(value: str) -> Any:
    """A form's digits as an int (the services check the range); anything else as it came, to be refused."""
    value = value.strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else value


@router.post(
    "/console/places/organisations",
    dependencies=[Depends(csrf_protected), Depends(quota("1,000 organisations"))],
    include_in_schema=False,
)
async def add_organisation(request: Request, principal: Manager) -> Response:
    form = await read_form(request)
    try:
        await run_in_threadpool(
            places.add_organisation, runtime(request).context, principal, form.get("org_name", "")
        )
    except ServiceError as error:
        return _refused(request, error)
    return web(request).redirect(request, "/console/places", flash=N_("Organisation created."))


@router.post(
    "/console/places",
    dependencies=[Depends(csrf_protected), Depends(quota("sites and shops"))],
    include_in_schema=False,
)
async def create_place(request: Request, principal: Manager) -> Response:
    form = await read_form(request)
    kind = form.get("kind", "")
    fields: dict[str, Any] = {"name": form.get("name", "")}
    if kind == "checkin":
        fields["tokens_per_hour"] = _number(form.get("tokens_per_hour", ""))
    try:
        await run_in_threadpool(
            places.create_place,
            runtime(request).context,
            principal,
            kind,
            fields,
            form.get("organisation", ""),
        )
    except ServiceError as error:
        return _refused(request, error)
    return web(request).redirect(request, "/console/places", flash=N_("Place created."))


@router.post(
    "/console/places/{site_id}/organisation",
    dependencies=[Depends(csrf_protected), Depends(quota("a status change"))],
    include_in_schema=False,
)
async def attach(site_id: str, request: Request, principal: Manager) -> Response:
    form = await read_form(request)
    try:
        await run_in_threadpool(
            places.attach, runtime(request).context, principal, site_id, form.get("organisation", "")
        )
    except ServiceError as error:
        return _refused(request, error)
    return web(request).redirect(request, "/console/places", flash=N_("Organisation changed."))
