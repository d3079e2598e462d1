"""Ehrenamtskarte pages: who qualifies, hours certificates (Nachweis), prior engagement, the public check.

* ``/console/eligibility``: who qualifies and who is close (``reports``, filtered
  to the sites the person holds it for), hours in the rolling year and years kept
  up; CSV with ``?format=csv``.
* ``/console/certificates/{volunteer_id}``: the issuing form; its POST answers the
  PDF itself rather than redirecting, because the salt printed on it is kept
  nowhere else (``reports`` for the volunteer's home site).
* ``/console/certificates/{volunteer_id}/prior``: the prior engagement form, a
  ``prior_hours`` decision signed in the browser (``data-sign``, ``static/sign.js``);
  its fields are named as the decision's data (``card``, ``site``, ``from_ms``,
  ``to_ms`` as local date-times, ``minutes``, ``reason``) for the generic prepare step.
* ``/nachweis``: public and read-only; an employer or the card office pastes the
  QR payload (or opens the QR's URL), types the printed name and Prüfcode, and
  reads a plain German verdict.  The services are :mod:`server.eligibility` and
  :mod:`server.certificates`.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from protocol import Reason
from protocol.certificates import PAYLOAD_PARAMETER
from server import certificates, eligibility, people, statements
from server.certificatepdf import render_certificate
from server.context import ServerContext
from server.errors import ServiceError
from server.http.access import Permission, Principal, anywhere, home_site_of_volunteer, public, quota
from server.http.common import call
from server.web import web
from server.web.access import console_page
from server.web.console import downloads
from server.web.forms import csrf_protected, read_form
from server.web.nav import N_

router = APIRouter(tags=["console"])
pages = APIRouter(tags=["pages"], dependencies=[Depends(public)])
Reporter = Annotated[Principal, Depends(console_page(Permission.REPORTS, scope=anywhere))]
Issuer = Annotated[Principal, Depends(console_page(Permission.REPORTS, scope=home_site_of_volunteer))]
Decider = Annotated[Principal, Depends(console_page(Permission.DECIDE, scope=home_site_of_volunteer))]
COLUMNS: Final = ("volunteer", "status", "hours_this_year", "weekly_average", "years_kept", "home_site")
LABELS: Final = (
    N_("Volunteer"),
    N_("Status"),
    N_("Hours in the rolling year"),
    N_("Hours a week (average)"),
    N_("Years kept up"),
    N_("Home site"),
)
STATUS_LABELS: Final = {"qualifies": N_("qualifies"), "close": N_("close"), "not_yet": N_("not yet")}
MAX_TEXT: Final = 4096


def _listing(ctx: ServerContext, principal: Principal, day: datetime.date | None) -> dict[str, Any]:
    sites = principal.sites_for(Permission.REPORTS)
    report = eligibility.eligibility(ctx, day=day, sites=sites)
    with ctx.storage.read() as tx:
        names = {site.site_id: site.name for site in tx.list_sites()}
        rows = []
        for row in report.listed():
            person = people.person(ctx, tx, row.volunteer_id)
            named = (
                person is not None and person.name and principal.may(Permission.READ_PERSONAL, row.home_site)
            )
            rows.append(
                {
                    "volunteer_id": row.volunteer_id,
                    "volunteer": person.name if named and person is not None else row.volunteer_id,
                    "status": row.status.value,
                    "hours_this_year": round(row.minutes_this_year / 60, 1),
                    "weekly_average": round(row.minutes_this_year / 60 * 7 / eligibility.YEAR_DAYS, 1),
                    "years_kept": row.years_kept,
                    "home_site": names.get(row.home_site or "", row.home_site),
                }
            )
    return {"rows": rows, "day": report.day, "thresholds": report.thresholds}


def _day_param(text: str) -> datetime.date | None:
    return certificates.parse_day(text[:10], "day") if text else None


@router.get("/console/eligibility", include_in_schema=False)
async def eligibility_page(request: Request, principal: Reporter) -> Response:
    day = _day_param(request.query_params.get("day", ""))
    values = await call(request, _listing, principal, day)
    pages_ = web(request)
    if request.query_params.get("format") == "csv":
        rows = [{**row, "status": row["status"]} for row in values["rows"]]
        return Response(
            statements.to_csv(COLUMNS, rows),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": 'attachment; filename="ehrenamtskarte.csv"',
                "Cache-Control": "no-store",
            },
        )
    columns = [(key, pages_.gettext(request, label)) for key, label in zip(COLUMNS, LABELS, strict=True)]
    statuses = {key: pages_.gettext(request, label) for key, label in STATUS_LABELS.items()}
    csv_url = "/console/eligibility?format=csv" + (f"&day={day.isoformat()}" if day else "")
    return pages_.page(
        request,
        "console/certificates/eligibility.html",
        columns=columns,
        statuses=statuses,
        csv_url=csv_url,
        **values,
    )


def _volunteer(ctx: ServerContext, volunteer_id: str) -> dict[str, Any]:
    with ctx.storage.read() as tx:
        person = people.person(ctx, tx, volunteer_id)
        if person is None:
            raise ServiceError(Reason.UNKNOWN_VOLUNTEER, "no such volunteer")
        cards = [card for card in tx.list_cards() if card.volunteer_id == volunteer_id]
        sites = [site for site in tx.list_sites() if site.shop is None]
        issued = tx.certificates_of(volunteer_id)
        prior = tx.prior_hours_of(volunteer_id)
    return {"person": person, "cards": cards, "sites": sites, "issued": issued, "prior": prior}


@router.get("/console/certificates/{volunteer_id}", include_in_schema=False)
async def certificate_form(volunteer_id: str, request: Request, principal: Issuer) -> Response:
    values = await call(request, _volunteer, volunteer_id)
    if downloads.wanted(request, ("issued",)):
        rows = [
            {
                "log_index": c.log_index,
                "from_day": c.from_day,
                "to_day": c.to_day,
                "hours": round(c.minutes / 60, 1),
            }
            for c in values["issued"]
        ]
        return downloads.csv_response(
            request,
            ("log_index", "from_day", "to_day", "hours"),
            rows,
            filename=f"certificates-{volunteer_id}",
        )
    today = eligibility.local_today(int(datetime.datetime.now(datetime.UTC).timestamp() * 1000))
    start = today - datetime.timedelta(days=eligibility.YEAR_DAYS - 1)
    return web(request).page(
        request,
        "console/certificates/issue.html",
        volunteer_id=volunteer_id,
        from_day=start.isoformat(),
        to_day=today.isoformat(),
        **values,
    )


def _issue(
    ctx: ServerContext, volunteer_id: str, form: dict[str, str], by: Principal, base_url: str
) -> bytes:
    from_day = certificates.parse_day(form.get("from_day", "")[:10], "from_day")
    to_day = certificates.parse_day(form.get("to_day", "")[:10], "to_day")
    issued = certificates.issue_certificate(
        ctx, volunteer_id=volunteer_id, from_day=from_day, to_day=to_day, by=by
    )
    return render_certificate(issued, base_url=base_url)


@router.post(
    "/console/certificates/{volunteer_id}",
    dependencies=[Depends(csrf_protected), Depends(quota("one log entry per certificate"))],
    include_in_schema=False,
)
async def issue_certificate(volunteer_id: str, request: Request, principal: Issuer) -> Response:
    form = await read_form(request)
    base_url = str(request.base_url).rstrip("/")
    pdf = await call(request, _issue, volunteer_id, form, principal, base_url)
    response = Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": 'attachment; filename="nachweis.pdf"',
            "Cache-Control": "no-store",
        },
    )
    return web(request).finish(request, response)


@router.get("/console/certificates/{volunteer_id}/prior", include_in_schema=False)
async def prior_form(volunteer_id: str, request: Request, principal: Decider) -> Response:
    values = await call(request, _volunteer, volunteer_id)
    # The decision's site: only where this person decides (others are refused anyway, and not shown).
    values["sites"] = [s for s in values["sites"] if principal.may(Permission.DECIDE, s.site_id)]
    if downloads.wanted(request, ("prior",)):
        rows = [
            {"log_index": p.log_index, "hours": round(p.minutes / 60, 1), "reason": p.reason}
            for p in values["prior"]
        ]
        return downloads.csv_response(
            request, ("log_index", "hours", "reason"), rows, filename=f"prior-{volunteer_id}"
        )
    return web(request).page(request, "console/certificates/prior.html", volunteer_id=volunteer_id, **values)


def _check(ctx: ServerContext, params: dict[str, str]) -> dict[str, Any]:
    """The verdict for the public page: ``{"ok": bool, "reason", "certificate"}``; never raises a refusal."""
    try:
        answer = certificates.check_certificate(ctx, params)
    except ServiceError as error:
        return {"ok": False, "reason": error.reason.value}
    facts = answer["certificate"]
    hours, rest = divmod(int(facts["minutes"]), 60)
    shown = {
        "index": facts["index"],
        "hours": f"{hours}" if not rest else f"{hours},{round(rest / 60 * 100):02d}".rstrip("0"),
        "from_day": datetime.date.fromisoformat(facts["from_day"]).strftime("%d.%m.%Y"),
        "to_day": datetime.date.fromisoformat(facts["to_day"]).strftime("%d.%m.%Y"),
    }
    return {"ok": True, "reason": None, "certificate": shown}


@pages.get("/nachweis", include_in_schema=False)
async def check_page(request: Request) -> Response:
    """The public check: a form, and once payload, name and Prüfcode are there, the verdict."""
    query = request.query_params
    payload = (query.get(PAYLOAD_PARAMETER) or "").strip()[:MAX_TEXT]
    name = (query.get("name") or "")[: certificates.MAX_CHECK_NAME_CHARS]
    salt = (query.get("salt") or "").strip()[:64]
    verdict = None
    if payload and name and salt:
        verdict = await call(request, _check, {"payload": payload, "name": name, "salt": salt})
    elif payload and (name or salt):
        verdict = {"ok": False, "reason": "name_and_salt"}
    return web(request).page(
        request, "public/nachweis.html", payload=payload, name=name, salt=salt, verdict=verdict
    )
