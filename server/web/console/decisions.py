"""Browser-signed decisions: prepare and submit (JSON for ``sign.js``), and this browser's device key.

The routes are thin: :mod:`server.console_decisions` decides.  ``sign.js``
sends the browser's public key with each request; the route turns it into the
coordinator ID the key signs as (:func:`protocol.coordinator_id`), and the
service checks that it is a device key of the logged-in person.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from protocol import ProtocolError, PublicKey, Reason, coordinator_id
from server import accounts, console_decisions, quotas
from server.errors import InputError
from server.http.access import Permission, Principal, anywhere, quota
from server.http.common import call, json_body
from server.web import web
from server.web.access import console_page
from server.web.forms import csrf_protected, read_form
from server.web.nav import N_

router = APIRouter(tags=["console"], include_in_schema=False)  # pages, not API operations

PREPARE_FIELDS: Final = frozenset({"public_key", "fields"})
SUBMIT_FIELDS: Final = frozenset({"body", "sig", "opening", "public_key"})
MAX_FIELDS: Final = 40
DEVICE_PATH: Final = "/console/account/device"


def principal(request: Request) -> Principal:
    """The principal :func:`console_page` admitted for this request."""
    found: Principal = request.state.principal
    return found


def key_id(value: object) -> str:
    """The coordinator ID of a base64 raw Ed25519 public key (``400 bad_field`` if it is none)."""
    try:
        return coordinator_id(PublicKey.from_b64(value))
    except ProtocolError as exc:
        raise InputError(Reason.BAD_FIELD, "public_key is this browser's raw Ed25519 key, base64") from exc


def form_fields(value: object) -> dict[str, Any]:
    """``fields`` of a prepare request: an object of at most :data:`MAX_FIELDS` text values."""
    if not isinstance(value, dict) or len(value) > MAX_FIELDS:
        raise InputError(Reason.BAD_FIELD, "fields is an object of the form's fields")
    if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value.values()):
        raise InputError(Reason.BAD_FIELD, "each field is text")
    return dict(value)


def flash(request: Request, response: Response, message: str, **params: str) -> Response:
    """``response`` with a flash message for the page ``sign.js`` goes to next (as a redirect sets it)."""
    carrier = web(request).redirect(request, "/console", flash=message, **params)
    for name, value in carrier.headers.items():
        if name.lower() == "set-cookie":
            response.headers.append("set-cookie", value)
    return response


async def record(request: Request, action: str, answer: dict[str, Any]) -> None:
    """The activity log's line for a signed decision or cosignature: its hash, kind and site."""
    result = answer.get("result") or {}
    site = result.get("site_id") if isinstance(result, dict) else None
    await call(
        request,
        accounts.record_activity,
        principal(request),
        action,
        str(answer.get("decision", "")),
        site_id=site if isinstance(site, str) else None,
        data={"kind": answer.get("kind"), "pending": bool(answer.get("pending"))},
    )


def decided(request: Request, answer: dict[str, Any]) -> Response:
    """The JSON answer to ``sign.js`` after a decision: what happened, and a flash for the next page."""
    body = dict(answer)
    if answer.get("pending"):
        return flash(
            request,
            JSONResponse(body, status_code=202),
            N_("Signed. It credits %(hours)s hours, so a second person must cosign it before it counts."),
            hours=f"{answer['minutes'] / 60:.1f}",
        )
    result = answer.get("result") or {}
    if isinstance(result.get("minutes"), int) and isinstance(result.get("tokens"), int):
        return flash(
            request,
            JSONResponse(body),
            N_("Signed and recorded: %(hours)s hours worked, %(tokens)s tokens credited."),
            hours=f"{result['minutes'] / 60:.1f}",
            tokens=str(result["tokens"]),
        )
    return flash(request, JSONResponse(body), N_("Signed and recorded."))


@router.post(
    "/console/decisions/prepare",
    dependencies=[
        Depends(console_page(Permission.DECIDE, scope=anywhere, note="and the site of the decision")),
        Depends(csrf_protected),
        Depends(quota("builds bytes to sign; stores nothing")),
    ],
)
async def prepare(request: Request) -> JSONResponse:
    body = await json_body(request, PREPARE_FIELDS)
    fields = form_fields(body.get("fields"))
    kind = str(fields.pop("kind", ""))
    answer = await call(
        request,
        console_decisions.prepare_decision,
        principal(request),
        key_id(body.get("public_key")),
        kind,
        fields,
    )
    return JSONResponse(answer)


@router.post(
    "/console/decisions/submit",
    dependencies=[
        Depends(console_page(Permission.DECIDE, scope=anywhere, note="own device key; the decision's site")),
        Depends(csrf_protected),
        Depends(quota("each signed decision once; logged")),
    ],
)
async def submit(request: Request) -> Response:
    body = await json_body(request, SUBMIT_FIELDS)
    answer = await call(request, console_decisions.submit_prepared, principal(request), body)
    await record(request, "decision.sign", answer)
    return decided(request, answer)


# -- this browser's device key -------------------------------------------------------------------------


@router.get(DEVICE_PATH, dependencies=[Depends(console_page(Permission.DECIDE, scope=anywhere))])
async def device_page(request: Request) -> Response:
    who = principal(request)
    keys = await call(request, console_decisions.list_device_keys, who)
    return web(request).page(
        request, "console/decisions/device.html", title=N_("Signing key of this browser"), keys=keys
    )


@router.post(
    DEVICE_PATH,
    dependencies=[
        Depends(console_page(Permission.DECIDE, scope=anywhere)),
        Depends(csrf_protected),
        Depends(quota(f"{quotas.COORDINATORS:,} coordinator keys")),
    ],
)
async def register_device(request: Request) -> Response:
    form = await read_form(request)
    request_fields = {"public_key": form.get("public_key", ""), "label": form.get("label", "")[:80]}
    key = await call(request, console_decisions.register_device_key, principal(request), request_fields)
    await call(
        request, accounts.record_activity, principal(request), "device_key.register", key["coordinator_id"]
    )
    return web(request).redirect(request, DEVICE_PATH, flash=N_("This browser can now sign your decisions."))


@router.post(
    DEVICE_PATH + "/{coordinator_id}/revoke",
    dependencies=[
        Depends(console_page(Permission.DECIDE, scope=anywhere, note="own key, or manage_teams")),
        Depends(csrf_protected),
        Depends(quota("a status change, logged once")),
    ],
)
async def revoke_device(coordinator_id: str, request: Request) -> Response:
    await call(request, console_decisions.revoke_device_key, principal(request), coordinator_id)
    await call(request, accounts.record_activity, principal(request), "device_key.revoke", coordinator_id)
    return web(request).redirect(request, DEVICE_PATH, flash=N_("The key is revoked: it signs nothing more."))
