"""Coordination: the admin API coordinators' tools call (``kokreativ provision …``).

Each route requires one :class:`~server.http.access.Permission`, the narrowest
that fits, for a scope: the site named in the path, the site of the kiosk in
the path, or the whole economy where the path names no site (the site of an
enrolment code is in its body, and cards, issuer keys and coordinators belong
to the whole economy), or a volunteer's home site (their access secret).  The
admin token holds every permission everywhere; a named token
(:mod:`server.tokens`) may hold a few, for some sites.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from server import (
    admin,
    cards,
    coordinator_keys,
    decisions,
    erasure,
    quotas,
    sessions,
    shops,
    statements,
)
from server import health as kiosk_health
from server.http.access import (
    Permission,
    Principal,
    economy,
    home_site_of_volunteer,
    quota,
    require,
    site_of_kiosk,
    site_of_path,
)
from server.http.common import call, document, export_response, json_body, private, runtime
from server.http.openapi import (
    ADMIN,
    ADMIN_BODY,
    ADMIN_CHANGE,
    CSV_TOO,
    EXPORT,
    PDF_TOO,
    PERIOD,
    SILENT_AFTER,
    VOLUNTEER,
    BlockRequest,
    CardCoordinatorRequest,
    CardRequest,
    CodeRequest,
    CoordinatorRequest,
    CosignRequest,
    DecisionRequest,
    IssuerKeyRequest,
    PolicyRequest,
    PresetsRequest,
    ShopRequest,
    SiteRequest,
    doc,
)
from server.verify import verify_ledger

# The principal who registers a coordinator key (a console person makes it theirs: four eyes).
CoordinatorManager = Annotated[Principal, Depends(require(Permission.MANAGE_COORDINATORS, scope=economy))]

router = APIRouter(tags=["admin"])

# -- sites and shops ---------------------------------------------------------------------------------


@router.post(
    "/v1/admin/sites",
    dependencies=[
        Depends(require(Permission.MANAGE_SITES, scope=economy)),
        Depends(quota(f"{quotas.SITES:,} sites and shops")),
    ],
    **doc(ok={201: "Created"}, body=SiteRequest, errors=ADMIN_BODY),
)
async def post_site(request: Request) -> JSONResponse:
    body = await json_body(request, admin.SITE_FIELDS)
    return JSONResponse(await call(request, admin.create_site, body), status_code=201)


@router.get(
    "/v1/admin/sites",
    dependencies=[Depends(require(Permission.MANAGE_SITES, scope=economy))],
    **doc(errors=ADMIN),
)
async def get_sites(request: Request) -> JSONResponse:
    return JSONResponse(await call(request, admin.list_sites))


@router.post(
    "/v1/admin/sites/{site_id}/policy",
    dependencies=[
        Depends(require(Permission.MANAGE_SITES, scope=site_of_path)),
        Depends(quota("replaces the policy; a change adds one log entry")),
    ],
    **doc(body=PolicyRequest, errors=ADMIN_BODY),
)
async def post_site_policy(site_id: str, request: Request) -> JSONResponse:
    body = await json_body(request, admin.POLICY_FIELDS)
    return JSONResponse(await call(request, admin.set_site_policy, site_id, body))


@router.post(
    "/v1/admin/shops",
    dependencies=[
        Depends(require(Permission.MANAGE_SITES, scope=economy)),
        Depends(quota(f"{quotas.SITES:,} sites and shops")),
    ],
    **doc(ok={201: "Created"}, body=ShopRequest, errors=ADMIN_BODY),
)
async def post_shop(request: Request) -> JSONResponse:
    body = await json_body(request, shops.SHOP_FIELDS)
    return JSONResponse(await call(request, shops.create_shop, body), status_code=201)


@router.post(
    "/v1/admin/shops/{site_id}/presets",
    dependencies=[
        Depends(require(Permission.MANAGE_SITES, scope=site_of_path)),
        Depends(quota("replaces the presets")),
    ],
    **doc(body=PresetsRequest, errors=ADMIN_BODY),
)
async def post_shop_presets(site_id: str, request: Request) -> JSONResponse:
    body = await json_body(request, shops.PRESET_FIELDS)
    return JSONResponse(await call(request, shops.set_presets, site_id, body))


# -- the fleet: enrolment codes and kiosks -----------------------------------------------------------


@router.post(
    "/v1/admin/enrolment-codes",
    dependencies=[
        Depends(require(Permission.MANAGE_FLEET, scope=economy, note="the code's site is in the body")),
        Depends(quota(f"{quotas.UNUSED_CODES_PER_SITE} unused codes per site")),
    ],
    **doc(ok={201: "Created"}, body=CodeRequest, errors=ADMIN_BODY),
)
async def post_code(request: Request) -> JSONResponse:
    body = await json_body(request, admin.CODE_FIELDS)
    return JSONResponse(await call(request, admin.create_enrolment_code, body), status_code=201)


@router.get(
    "/v1/admin/kiosks",
    dependencies=[Depends(require(Permission.MANAGE_FLEET, scope=economy))],
    **doc(query=SILENT_AFTER, errors=ADMIN),
)
async def get_kiosks(request: Request) -> JSONResponse:
    return JSONResponse(await call(request, kiosk_health.list_kiosks, dict(request.query_params)))


@router.post(
    "/v1/admin/kiosks/{kiosk_id}/clear",
    dependencies=[
        Depends(require(Permission.MANAGE_FLEET, scope=site_of_kiosk)),
        Depends(quota("a status change, logged once")),
    ],
    **doc(errors=ADMIN_CHANGE),
)
async def clear_kiosk(kiosk_id: str, request: Request) -> JSONResponse:
    return JSONResponse(await call(request, admin.clear_kiosk, kiosk_id))


@router.post(
    "/v1/admin/kiosks/{kiosk_id}/revoke",
    dependencies=[
        Depends(require(Permission.MANAGE_FLEET, scope=site_of_kiosk)),
        Depends(quota("a status change, logged once")),
    ],
    **doc(errors=ADMIN_CHANGE),
)
async def revoke_kiosk(kiosk_id: str, request: Request) -> JSONResponse:
    return JSONResponse(await call(request, admin.revoke_kiosk, kiosk_id))


# -- issuer keys and cards ---------------------------------------------------------------------------


@router.post(
    "/v1/admin/issuer-keys",
    dependencies=[
        Depends(require(Permission.MANAGE_ISSUERS, scope=economy)),
        Depends(quota(f"{quotas.ISSUER_KEYS} issuer keys")),
    ],
    **doc(ok={201: "Registered", 200: "Registered before"}, body=IssuerKeyRequest, errors=ADMIN_BODY),
)
async def post_issuer_key(request: Request) -> JSONResponse:
    body = await json_body(request, cards.ISSUER_KEY_FIELDS)
    key, created = await call(request, cards.register_issuer_key, body)
    return JSONResponse(key, status_code=201 if created else 200)


@router.get(
    "/v1/admin/issuer-keys",
    dependencies=[Depends(require(Permission.MANAGE_ISSUERS, scope=economy))],
    **doc(errors=ADMIN),
)
async def get_issuer_keys(request: Request) -> JSONResponse:
    return JSONResponse(await call(request, cards.list_issuer_keys))


@router.post(
    "/v1/admin/issuer-keys/{key_id}/retire",
    dependencies=[
        Depends(require(Permission.MANAGE_ISSUERS, scope=economy)),
        Depends(quota("a status change, logged once")),
    ],
    **doc(errors=ADMIN_CHANGE),
)
async def retire_issuer_key(key_id: str, request: Request) -> JSONResponse:
    return JSONResponse(await call(request, cards.retire_issuer_key, key_id))


@router.post(
    "/v1/admin/issuer-keys/{key_id}/revoke",
    dependencies=[
        Depends(require(Permission.MANAGE_ISSUERS, scope=economy)),
        Depends(quota("a status change, logged once")),
    ],
    **doc(errors=ADMIN_CHANGE),
)
async def revoke_issuer_key(key_id: str, request: Request) -> JSONResponse:
    return JSONResponse(await call(request, cards.revoke_issuer_key, key_id))


@router.post(
    "/v1/admin/cards",
    dependencies=[
        Depends(
            require(Permission.MANAGE_CARDS, scope=economy, note="a new volunteer's home site is in the body")
        ),
        Depends(quota(f"{quotas.CARDS:,} cards")),
    ],
    **doc(ok={201: "Created"}, body=CardRequest, errors=ADMIN_BODY),
)
async def post_card(request: Request) -> JSONResponse:
    body = await json_body(request, cards.CARD_FIELDS)
    return JSONResponse(await call(request, cards.create_card, body), status_code=201)


@router.get(
    "/v1/admin/cards",
    dependencies=[Depends(require(Permission.MANAGE_CARDS, scope=economy))],
    **doc(query=VOLUNTEER, errors=ADMIN),
)
async def get_cards(request: Request) -> JSONResponse:
    return JSONResponse(await call(request, cards.list_cards, request.query_params.get("volunteer_id")))


@router.post(
    "/v1/admin/cards/{card_id}/block",
    dependencies=[Depends(require(Permission.MANAGE_CARDS, scope=economy)), Depends(quota("once per card"))],
    **doc(body=BlockRequest, errors=ADMIN_BODY),
)
async def block_card(card_id: str, request: Request) -> JSONResponse:
    body = await json_body(request, cards.BLOCK_FIELDS)
    return JSONResponse(await call(request, cards.block_card, card_id, body))


@router.post(
    "/v1/admin/volunteers/{volunteer_id}/access",
    dependencies=[
        Depends(require(Permission.MANAGE_CARDS, scope=home_site_of_volunteer)),
        Depends(quota("replaces the volunteer's one access secret; ends their sessions")),
    ],
    **doc(errors=ADMIN_CHANGE),
)
async def reissue_access(volunteer_id: str, request: Request) -> Response:
    return private(JSONResponse(await call(request, sessions.reissue_secret, volunteer_id)))


@router.post(
    "/v1/admin/volunteers/{volunteer_id}/access/revoke",
    dependencies=[
        Depends(require(Permission.MANAGE_CARDS, scope=home_site_of_volunteer)),
        Depends(quota("clears the volunteer's one access secret; ends their sessions")),
    ],
    **doc(errors=ADMIN_CHANGE),
)
async def revoke_access(volunteer_id: str, request: Request) -> JSONResponse:
    return JSONResponse(await call(request, sessions.revoke_secret, volunteer_id))


# -- coordinators and their decisions ----------------------------------------------------------------


@router.post(
    "/v1/admin/cards/{card_id}/coordinator",
    dependencies=[
        Depends(require(Permission.MANAGE_COORDINATORS, scope=economy)),
        Depends(quota("replaces a flag of the card")),
    ],
    **doc(body=CardCoordinatorRequest, errors=ADMIN_BODY),
)
async def set_card_coordinator(card_id: str, request: Request) -> JSONResponse:
    body = await json_body(request, cards.COORDINATOR_FIELDS)
    return JSONResponse(await call(request, cards.set_coordinator, card_id, body))


@router.post(
    "/v1/admin/coordinators",
    dependencies=[Depends(quota(f"{quotas.COORDINATORS:,} coordinator keys"))],
    **doc(ok={201: "Registered", 200: "Registered before"}, body=CoordinatorRequest, errors=ADMIN_BODY),
)
async def post_coordinator(request: Request, principal: CoordinatorManager) -> JSONResponse:
    body = await json_body(request, coordinator_keys.COORDINATOR_FIELDS)
    key, created = await call(
        request, coordinator_keys.register_coordinator, body, person_id=principal.person_id
    )
    return JSONResponse(key, status_code=201 if created else 200)


@router.get(
    "/v1/admin/coordinators",
    dependencies=[Depends(require(Permission.MANAGE_COORDINATORS, scope=economy))],
    **doc(errors=ADMIN),
)
async def get_coordinators(request: Request) -> JSONResponse:
    return JSONResponse(await call(request, coordinator_keys.list_coordinators))


@router.post(
    "/v1/admin/coordinators/{coordinator_id}/revoke",
    dependencies=[
        Depends(require(Permission.MANAGE_COORDINATORS, scope=economy)),
        Depends(quota("a status change, logged once")),
    ],
    **doc(errors=ADMIN_CHANGE),
)
async def revoke_coordinator(coordinator_id: str, request: Request) -> JSONResponse:
    return JSONResponse(await call(request, coordinator_keys.revoke_coordinator, coordinator_id))


@router.get(
    "/v1/admin/review", dependencies=[Depends(require(Permission.REVIEW, scope=economy))], **doc(errors=ADMIN)
)
async def get_review(request: Request) -> JSONResponse:
    return JSONResponse(await call(request, admin.review))


@router.post(
    "/v1/admin/decisions",
    dependencies=[
        Depends(require(Permission.DECIDE, scope=economy, note="and a coordinator's signature (service)")),
        Depends(quota("each signed decision once; logged (a coordinator's act, no count cap)")),
    ],
    **doc(
        ok={200: "Applied (or applied before)", 202: "Kept: waits for a cosignature (four_eyes_required)"},
        body=DecisionRequest,
        errors=ADMIN_BODY,
    ),
)
async def post_decision(request: Request) -> JSONResponse:
    body = await json_body(request, decisions.DECISION_FIELDS)
    answer = await call(request, decisions.submit_decision, body)
    return JSONResponse(answer, status_code=202 if answer.get("pending") else 200)


@router.get(
    "/v1/admin/decisions/pending",
    dependencies=[Depends(require(Permission.DECIDE, scope=economy))],
    **doc(errors=ADMIN),
)
async def get_pending_decisions(request: Request) -> JSONResponse:
    return JSONResponse(await call(request, decisions.list_pending))


@router.post(
    "/v1/admin/decisions/pending/{decision}/cosign",
    dependencies=[
        Depends(require(Permission.DECIDE, scope=economy, note="and a second coordinator's cosignature")),
        Depends(quota("each waiting decision once; logged")),
    ],
    **doc(body=CosignRequest, errors=ADMIN_BODY),
)
async def cosign_pending_decision(decision: str, request: Request) -> JSONResponse:
    body = await json_body(request, decisions.COSIGN_FIELDS)
    return JSONResponse(await call(request, decisions.cosign_pending, decision, body))


# -- reports, statements and the audit ---------------------------------------------------------------


@router.get(
    "/v1/admin/report",
    dependencies=[Depends(require(Permission.REPORTS, scope=economy))],
    **doc(errors=ADMIN),
)
async def get_report(request: Request) -> JSONResponse:
    return JSONResponse(await call(request, admin.report))


@router.get(
    "/v1/admin/statements/volunteers/{volunteer_id}",
    dependencies=[Depends(require(Permission.REPORTS, scope=economy))],
    **doc(query=PERIOD, also=CSV_TOO, errors=ADMIN),
)
async def get_volunteer_statement(volunteer_id: str, request: Request) -> Response:
    params = dict(request.query_params)
    return document(await call(request, statements.volunteer_statement, volunteer_id, params))


# -- a volunteer's rights: export (Art. 15/20) and erasure (Art. 17) ----------------------------------
# Both for the volunteer's home site: its coordinators may answer a request for it, others not.


@router.get(
    "/v1/admin/volunteers/{volunteer_id}/export",
    dependencies=[Depends(require(Permission.READ_PERSONAL, scope=home_site_of_volunteer))],
    **doc(query=EXPORT, also=PDF_TOO, errors=ADMIN),
)
async def get_volunteer_export(volunteer_id: str, request: Request) -> Response:
    return await export_response(request, volunteer_id)


@router.post(
    "/v1/admin/volunteers/{volunteer_id}/erase",
    dependencies=[
        Depends(require(Permission.ERASE, scope=home_site_of_volunteer)),
        Depends(quota("deletes; blocks the volunteer's cards, logged once each")),
    ],
    **doc(errors=ADMIN_CHANGE),
)
async def post_volunteer_erase(volunteer_id: str, request: Request) -> JSONResponse:
    return JSONResponse(await call(request, erasure.erase_volunteer, volunteer_id))


@router.get(
    "/v1/admin/statements/shops/{site_id}",
    dependencies=[Depends(require(Permission.SETTLE_SHOPS, scope=site_of_path))],
    **doc(query=PERIOD, also=CSV_TOO, errors=ADMIN_CHANGE),
)
async def get_shop_statement(site_id: str, request: Request) -> Response:
    params = dict(request.query_params)
    return document(await call(request, statements.shop_statement, site_id, params))


@router.get(
    "/v1/admin/verify", dependencies=[Depends(require(Permission.AUDIT, scope=economy))], **doc(errors=ADMIN)
)
async def get_verify(request: Request) -> JSONResponse:
    report = await run_in_threadpool(verify_ledger, runtime(request).context.storage)
    return JSONResponse(report.to_json())
