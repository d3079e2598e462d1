"""The review queue (held shifts and redemptions), the four-eyes queue, the rules and hours by hand.

Each page is a template over :mod:`server.console_review`; the forms on them
are signed in the browser (``data-sign``, ``static/sign.js``) and go through
:mod:`server.web.console.decisions`.  Cosigning a waiting decision has its own
prepare and submit routes here: the browser signs the decision's cosign
message, not a new decision.
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from server import accounts, console_decisions, console_review
from server.http.access import Permission, anywhere, quota
from server.http.common import call, json_body
from server.web import web
from server.web.access import console_page
from server.web.console import downloads
from server.web.console.decisions import decided, key_id, principal, record
from server.web.forms import csrf_protected
from server.web.nav import N_

router = APIRouter(tags=["console"], include_in_schema=False)  # pages, not API operations

COSIGN_FIELDS: Final = frozenset({"body", "sig", "public_key"})
PENDING_PATH: Final = "/console/review/pending"

# Why an item waits, in plain words (message IDs; German in locale/de/decisions.po).
HELD_REASONS: Final = {
    "missing_check_out": N_("No check-out: probably forgotten"),
    "shift_too_long": N_("Longer than the site's longest plausible shift"),
    "day_too_long": N_("More hours on one day than is plausible"),
    "clock_unsynced": N_("The kiosk's clock was not set when the card was tapped"),
    "clock_inconsistent": N_("The kiosk's clock jumped between the two taps"),
    "clock_out_of_range": N_("The kiosk's clock was far off"),
    "backdated": N_("Recorded long after the shift"),
    "uncredentialed_card": N_("A pilot card the site no longer accepts"),
    "overdraft": N_("The purchase took the balance below zero"),
    "redeem_backdated": N_("A purchase the till recorded long after it happened"),
    "offline_over_allowance": N_("An offline purchase above the till's offline limit"),
    "offline_over_daily_cap": N_("Offline purchases above the till's daily limit"),
}
KIND_NAMES: Final = {
    "manual_shift": N_("Hours by hand"),
    "review": N_("Reviewed shift"),
    "site_rules": N_("Earning rules"),
    "kiosk_limits": N_("Kiosk limits"),
}


@router.get("/console/review", dependencies=[Depends(console_page(Permission.REVIEW, scope=anywhere))])
async def review_page(request: Request) -> Response:
    who = principal(request)
    view = await call(request, console_review.review_view, who)
    pending = await call(request, console_decisions.pending_for, who) if _decides(request) else []
    return web(request).page(
        request,
        "console/decisions/review.html",
        title=N_("Review"),
        held_reasons=HELD_REASONS,
        pending_count=len(pending),
        **view,
    )


def _decides(request: Request) -> bool:
    return bool(principal(request).sites_for(Permission.DECIDE) != frozenset())


@router.get(PENDING_PATH, dependencies=[Depends(console_page(Permission.DECIDE, scope=anywhere))])
async def pending_page(request: Request) -> Response:
    pending = await call(request, console_decisions.pending_for, principal(request))
    for item in pending:
        item["when"] = console_review.local(item["created_ms"])
        item["hours"] = f"{item['minutes'] / 60:.1f}"
        data = item["data"]
        item["period"] = " – ".join(
            console_review.local(data.get(k)) for k in ("start_ms", "end_ms") if data.get(k)
        )
    return web(request).page(
        request, "console/decisions/pending.html", title=N_("Four eyes"), pending=pending, kinds=KIND_NAMES
    )


@router.post(
    PENDING_PATH + "/{decision}/prepare",
    dependencies=[
        Depends(console_page(Permission.DECIDE, scope=anywhere, note="and the decision's site")),
        Depends(csrf_protected),
        Depends(quota("builds bytes to sign; stores nothing")),
    ],
)
async def prepare_cosign(decision: str, request: Request) -> JSONResponse:
    await json_body(request, frozenset({"public_key", "fields"}))
    return JSONResponse(await call(request, console_decisions.prepare_cosign, principal(request), decision))


@router.post(
    PENDING_PATH + "/{decision}/cosign",
    dependencies=[
        Depends(console_page(Permission.DECIDE, scope=anywhere, note="another person, own device key")),
        Depends(csrf_protected),
        Depends(quota("each waiting decision once; logged")),
    ],
)
async def cosign(decision: str, request: Request) -> Response:
    body = await json_body(request, COSIGN_FIELDS)
    coordinator = key_id(body.get("public_key"))
    answer = await call(
        request, console_decisions.cosign, principal(request), decision, coordinator, body.get("sig")
    )
    await record(request, "decision.cosign", answer)
    return decided(request, answer)


@router.post(
    PENDING_PATH + "/{decision}/discard",
    dependencies=[
        Depends(console_page(Permission.DECIDE, scope=anywhere, note="and the decision's site")),
        Depends(csrf_protected),
        Depends(quota("removes one waiting decision")),
    ],
)
async def discard(decision: str, request: Request) -> Response:
    dropped = await call(request, console_decisions.discard_pending, principal(request), decision)
    await call(
        request,
        accounts.record_activity,
        principal(request),
        "decision.discard",
        decision,
        site_id=dropped["site_id"],
    )
    return web(request).redirect(
        request, PENDING_PATH, flash=N_("The decision was discarded; nothing changed.")
    )


@router.get("/console/rules", dependencies=[Depends(console_page(Permission.DECIDE, scope=anywhere))])
async def rules_page(request: Request, site: str | None = None) -> Response:
    view = await call(request, console_review.rules_view, principal(request), site)
    if downloads.wanted(request, ("history",)):
        columns = ("when", "kind", "changes", "coordinator", "log_index")
        return downloads.csv_response(request, columns, view["history"], filename="rules")
    return web(request).page(
        request, "console/decisions/rules.html", title=N_("Rules"), kinds=KIND_NAMES, **view
    )


@router.get("/console/hours/new", dependencies=[Depends(console_page(Permission.DECIDE, scope=anywhere))])
async def hours_page(request: Request) -> Response:
    view = await call(request, console_review.hours_form, principal(request), dict(request.query_params))
    return web(request).page(request, "console/decisions/hours.html", title=N_("Hours by hand"), **view)
