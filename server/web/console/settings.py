"""``/console/settings``: the tunable figures (timeouts, lockout, invitations, four eyes, Ehrenamtskarte).

Thin over :mod:`server.consolesettings`, which holds the bounds and rules;
``manage_teams`` for the whole economy, since these figures apply to everyone.
A value that does not fit is refused with the 400 error page (nothing of the
form is stored); a change is logged as ``settings.change``.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from server import consolesettings
from server.http.access import Permission, Principal, economy, quota
from server.http.common import runtime
from server.web import web
from server.web.access import console_page
from server.web.forms import csrf_protected, read_form
from server.web.nav import N_

router = APIRouter(tags=["console"])
Admin = Annotated[Principal, Depends(console_page(Permission.MANAGE_TEAMS, scope=economy))]

# Each setting's label, unit and help (English message IDs), in the page's order.
TEXTS: Final[dict[str, tuple[str, str, str]]] = {
    "console_idle_minutes": (
        N_("Session idle timeout"),
        N_("minutes"),
        N_("A console session ends after this long without use. At most the session lifetime."),
    ),
    "console_lifetime_minutes": (
        N_("Session lifetime"),
        N_("minutes"),
        N_("A console session ends this long after login, however it is used."),
    ),
    "login_lockout_failures": (
        N_("Failed logins before lockout"),
        N_("attempts"),
        N_("After this many wrong passwords or codes in a row the account is locked."),
    ),
    "login_lockout_minutes": (
        N_("Lockout duration"),
        N_("minutes"),
        N_("How long a locked account stays locked, even for the right password."),
    ),
    "invitation_valid_hours": (
        N_("Invitation validity"),
        N_("hours"),
        N_("How long an invitation link works; applies to invitations sent from now on."),
    ),
    "four_eyes_minutes": (
        N_("Four-eyes threshold"),
        N_("minutes"),
        N_("A decision crediting or correcting more than this needs a second person's cosignature. 0: all."),
    ),
    "eligibility_hours_per_week": (
        N_("Ehrenamtskarte: hours per week"),
        N_("hours"),
        N_("Average over the rolling year. 0: this way does not count."),
    ),
    "eligibility_hours_per_year": (
        N_("Ehrenamtskarte: hours per year"),
        N_("hours"),
        N_("Hours in a rolling year. 0: this way does not count (one of the two ways must count)."),
    ),
    "eligibility_years_required": (
        N_("Ehrenamtskarte: years required"),
        N_("years"),
        N_("How many rolling years in a row must be kept up (2 or 3, depending on the source)."),
    ),
    "eligibility_close_percent": (
        N_("Ehrenamtskarte: close at"),
        N_("percent"),
        N_("A volunteer is listed as close when each required year reached this share of the threshold."),
    ),
}


@router.get("/console/settings", include_in_schema=False)
async def settings_page(request: Request, principal: Admin) -> Response:
    listed = await run_in_threadpool(consolesettings.list_settings, runtime(request).context)
    return web(request).page(request, "console/settings/settings.html", settings=listed, texts=TEXTS)


@router.post(
    "/console/settings",
    dependencies=[Depends(csrf_protected), Depends(quota("overwrites 10 settings"))],
    include_in_schema=False,
)
async def change_settings(request: Request, principal: Admin) -> Response:
    form = await read_form(request)
    changes = {key: value for key, value in form.items() if key in consolesettings.BOUNDS}
    changed = await run_in_threadpool(
        consolesettings.set_settings, runtime(request).context, principal, changes
    )
    if not changed:
        return web(request).redirect(request, "/console/settings", flash=N_("Nothing changed."))
    return web(request).redirect(
        request, "/console/settings", flash=N_("Settings saved: %(n)s changed."), n=str(len(changed))
    )
