"""Kiosks (check-in kiosks and shop terminals alike): enrolment, signed batches, heartbeats, trust lists.

A kiosk proves itself by signing: the services check each batch and heartbeat
against the kiosk's enrolled key (only they have the bytes and the key), so
these routes declare :data:`~server.http.access.kiosk_signed` and verify
nothing here.  Batches go to :func:`server.ingest.ingest_batch` untouched,
because the signed bytes must never be re-serialised.

The reads (a kiosk's state, its trust list, an event's proof) are public: the
trust list is signed by the server and names random IDs and public keys only.
Evidence reports are public too, but not on purpose: nothing proves yet that a
kiosk sent them (issue 16 adds the kiosk's signature).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from protocol import MAX_BATCH_BYTES
from server import enrolment, ingest, logviews, reads, trust
from server import health as kiosk_health
from server.http.access import enrolment_code, kiosk_signed, public
from server.http.common import MAX_SMALL_BODY_BYTES, call, json_body, read_body, runtime
from server.http.openapi import LOG_SIZE, OBJECT, SIGNED, BatchRequest, EnrolRequest, Sealed, doc

router = APIRouter(tags=["kiosks"])


@router.post(
    "/v1/enrol",
    dependencies=[Depends(enrolment_code)],
    **doc(body=EnrolRequest, errors=(400, 404, 409, 410, 413)),
)
async def enrol(request: Request) -> JSONResponse:
    body = await json_body(request, enrolment.ENROL_FIELDS)
    return JSONResponse(await call(request, enrolment.enrol, body))


@router.post(
    "/v1/kiosks/{kiosk_id}/events",
    dependencies=[Depends(kiosk_signed)],
    **doc(body=BatchRequest, query=LOG_SIZE, errors=SIGNED),
)
async def post_events(kiosk_id: str, request: Request) -> JSONResponse:
    data = await read_body(request, MAX_BATCH_BYTES)
    log_size = request.query_params.get("log_size")
    pool = runtime(request).verify_pool
    return JSONResponse(
        await call(request, ingest.ingest_batch, kiosk_id, data, verify_pool=pool, log_size=log_size)
    )


@router.get("/v1/kiosks/{kiosk_id}/events/{seq}/proof", dependencies=[Depends(public)], **doc())
async def get_event_proof(kiosk_id: str, seq: str, request: Request) -> JSONResponse:
    return JSONResponse(await call(request, logviews.event_proof, kiosk_id, seq))


@router.post(
    "/v1/kiosks/{kiosk_id}/evidence",
    dependencies=[Depends(public.noting("unauthenticated today; issue 16 adds the kiosk's signature"))],
    **doc(ok={202: "Stored"}, body_schema=OBJECT, errors=(400, 404, 413)),
)
async def post_evidence(kiosk_id: str, request: Request) -> JSONResponse:
    data = await read_body(request, MAX_SMALL_BODY_BYTES)
    return JSONResponse(await call(request, logviews.store_evidence, kiosk_id, data), status_code=202)


@router.post(
    "/v1/kiosks/{kiosk_id}/heartbeat", dependencies=[Depends(kiosk_signed)], **doc(body=Sealed, errors=SIGNED)
)
async def post_heartbeat(kiosk_id: str, request: Request) -> JSONResponse:
    data = await read_body(request, MAX_SMALL_BODY_BYTES)
    return JSONResponse(await call(request, kiosk_health.record_heartbeat, kiosk_id, data))


@router.get("/v1/kiosks/{kiosk_id}/trust", dependencies=[Depends(public)], **doc())
async def get_trust(kiosk_id: str, request: Request) -> JSONResponse:
    return JSONResponse(await call(request, trust.kiosk_trust_list, kiosk_id))


@router.get("/v1/kiosks/{kiosk_id}", dependencies=[Depends(public)], **doc())
async def get_kiosk(kiosk_id: str, request: Request) -> JSONResponse:
    return JSONResponse(await call(request, reads.kiosk_state, kiosk_id))
