"""``/console/laden/{shop_id}/personal``: a shop's till staff, over :mod:`server.tillstaff`.

For ``run_shop`` at that shop only (another shop's ID: ``404`` as an unknown one).
A new PIN (for a new person, or reset) is shown once, on the answer to the form
that made it: the server keeps only its hash, so there is nothing to redirect
to, as with a kiosk's enrolment code.  Names are the shop's own labels (never
in the log); the service logs every change in the activity log.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from protocol import Reason
from protocol.events import MAX_AMOUNT
from server import shoppage, tillstaff
from server.errors import InputError, ServiceError
from server.http.access import Permission, Principal, quota
from server.http.common import runtime
from server.storage.tillstaff import StaffRow
from server.web import web
from server.web.access import console_page, shop_of_path
from server.web.console import tables
from server.web.forms import csrf_protected, read_form
from server.web.nav import N_

router = APIRouter(tags=["console"])

RUN: Final = console_page(Permission.RUN_SHOP, scope=shop_of_path)
ROLES: Final = {"cashier": N_("cashier (redeem only)"), "manager": N_("manager (redeem and void)")}
MAX_DIGITS: Final = 9  # a daily maximum is a count of tokens: never int() of a long string
DEFAULT_DAILY_MAX: Final = 100  # what the form suggests for a new person (the service takes 1 to MAX_AMOUNT)


def _daily_max(text: str) -> int:
    """The form's daily maximum as tokens; ``400 bad_field`` unless digits."""
    text = text.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_DIGITS):
        raise InputError(Reason.BAD_FIELD, "daily_max must be a whole number of tokens")
    return int(text)


def _staff(request: Request, shop_id: str, principal: Principal) -> tuple[str, list[StaffRow]]:
    ctx = runtime(request).context
    shop = shoppage.the_shop(ctx, principal.sites_for(Permission.RUN_SHOP), shop_id)
    return shop.name, tillstaff.list_staff(ctx, shop_id)


def _name_of(request: Request, shop_id: str, staff_id: str, principal: Principal) -> str:
    """The member's name for the answer; the service refuses an unknown member (``unknown_staff``) itself."""
    _shop, staff = _staff(request, shop_id, principal)
    return next((row.name for row in staff if row.staff_id == staff_id), "")


def _pin_page(request: Request, shop_id: str, name: str, pin: str) -> Response:
    return web(request).page(
        request,
        "console/laden/pin.html",
        title=web(request).gettext(request, "PIN for %(name)s", name=name),
        shop_id=shop_id,
        name=name,
        pin=pin,
    )


@router.get("/console/laden/{shop_id}/personal", include_in_schema=False)
async def staff_page(
    shop_id: str, request: Request, principal: Annotated[Principal, Depends(RUN)]
) -> Response:
    name, staff = await run_in_threadpool(_staff, request, shop_id, principal)
    gettext = web(request).gettext
    return web(request).page(
        request,
        "console/laden/staff.html",
        title=gettext(request, "Till staff of %(shop)s", shop=name),
        shop_id=shop_id,
        shop_name=name,
        staff=staff,
        roles=ROLES,
        role_options=[(role, gettext(request, label)) for role, label in ROLES.items()],
        default_daily=str(DEFAULT_DAILY_MAX),
        max_daily=str(MAX_AMOUNT),
        max_name=str(tillstaff.MAX_NAME),
        number=tables.number,
    )


@router.post(
    "/console/laden/{shop_id}/personal",
    include_in_schema=False,
    dependencies=[Depends(csrf_protected), Depends(quota("100 till staff per shop, removed ones included"))],
)
async def add(shop_id: str, request: Request, principal: Annotated[Principal, Depends(RUN)]) -> Response:
    form = await read_form(request)
    ctx = runtime(request).context
    name, role = form.get("name", ""), form.get("role", "")
    daily_max = _daily_max(form.get("daily_max", ""))
    row, pin = await run_in_threadpool(
        lambda: tillstaff.add_staff(ctx, principal, shop_id, name, role, daily_max)
    )
    return _pin_page(request, shop_id, row.name, pin)


@router.post(
    "/console/laden/{shop_id}/personal/{staff_id}/pin",
    include_in_schema=False,
    dependencies=[Depends(csrf_protected), Depends(quota("none: replaces one PIN hash"))],
)
async def reset_pin(
    shop_id: str, staff_id: str, request: Request, principal: Annotated[Principal, Depends(RUN)]
) -> Response:
    ctx = runtime(request).context
    name = await run_in_threadpool(_name_of, request, shop_id, staff_id, principal)
    pin = await run_in_threadpool(lambda: tillstaff.reset_pin(ctx, principal, shop_id, staff_id))
    return _pin_page(request, shop_id, name, pin)


@router.post(
    "/console/laden/{shop_id}/personal/{staff_id}/tagesmax",
    include_in_schema=False,
    dependencies=[Depends(csrf_protected), Depends(quota("none: changes one staff member's maximum"))],
)
async def set_daily_max(
    shop_id: str, staff_id: str, request: Request, principal: Annotated[Principal, Depends(RUN)]
) -> Response:
    form = await read_form(request)
    daily_max = _daily_max(form.get("daily_max", ""))
    ctx = runtime(request).context
    row = await run_in_threadpool(
        lambda: tillstaff.set_daily_max(ctx, principal, shop_id, staff_id, daily_max)
    )
    return web(request).redirect(
        request,
        f"/console/laden/{shop_id}/personal",
        flash=N_("%(name)s may now redeem up to %(tokens)s tokens a day."),
        name=row.name,
        tokens=str(daily_max),
    )


@router.get("/console/laden/{shop_id}/personal/{staff_id}/entfernen", include_in_schema=False)
async def confirm_remove(
    shop_id: str, staff_id: str, request: Request, principal: Annotated[Principal, Depends(RUN)]
) -> Response:
    name = await run_in_threadpool(_name_of, request, shop_id, staff_id, principal)
    if not name:
        raise ServiceError(Reason.UNKNOWN_STAFF, "no such staff member at this shop")
    return web(request).page(
        request,
        "console/laden/remove.html",
        title=web(request).gettext(request, "Remove %(name)s", name=name),
        shop_id=shop_id,
        staff_id=staff_id,
        name=name,
    )


@router.post(
    "/console/laden/{shop_id}/personal/{staff_id}/entfernen",
    include_in_schema=False,
    dependencies=[Depends(csrf_protected), Depends(quota("none: ends one staff member"))],
)
async def remove(
    shop_id: str, staff_id: str, request: Request, principal: Annotated[Principal, Depends(RUN)]
) -> Response:
    ctx = runtime(request).context
    name = await run_in_threadpool(_name_of, request, shop_id, staff_id, principal)
    await run_in_threadpool(lambda: tillstaff.remove_staff(ctx, principal, shop_id, staff_id))
    return web(request).redirect(
        request, f"/console/laden/{shop_id}/personal", flash=N_("%(name)s is removed."), name=name
    )
