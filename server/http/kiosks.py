"""Kiosks (check-in kiosks and shop terminals alike): enrolment, signed batches, heartbeats, trust lists.

A kiosk proves itself by signing: the services check each batch, heartbeat and report
against the kiosk's enrolled key (only they have the bytes and the key), so
these routes declare :data:`~server.http.access.kiosk_signed` and verify
nothing here.  Batches go to :func:`server.ingest.ingest_batch` untouched,
because the signed bytes must never be re-serialised.

Evidence reports (a kiosk's word that the log was rewritten) are signed the
same way (:mod:`protocol.evidence`).  The reads (a kiosk's state, its trust
list, an event's proof) are public: the trust list is signed by the server and
names random IDs and public keys only.
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from protocol import MAX_BATCH_BYTES, MAX_BATCH_EVENTS, Reason
from protocol.evidence import MAX_EVIDENCE_BYTES
from server import balancequery, enrolment, evidence, ingest, logviews, quotas, reads, trust
from server import health as kiosk_health
from server.errors import ServiceError
from server.http.access import enrolment_code, kiosk_signed, public, quota
from server.http.common import MAX_SMALL_BODY_BYTES, attempt, call, json_body, read_body, runtime
from server.http.metrics import server_metrics
from server.http.openapi import LOG_SIZE, SIGNED, BatchRequest, EnrolRequest, Sealed, doc
from server.ratelimit import ENROLMENT_CODES

router = APIRouter(tags=["kiosks"])
# Events are the ledger: refusing one for a count would jam the kiosk's chain, so only each batch is bounded.
BATCH_QUOTA: Final = (
    f"{MAX_BATCH_BYTES >> 20} MiB, {MAX_BATCH_EVENTS} events a batch; events are ledger, kept"
)
_CLOSE: Final = {"Connection": "close"}  # uvicorn then closes the connection once the answer is sent


@router.post(
    "/v1/enrol",
    dependencies=[
        Depends(enrolment_code),
        Depends(quota(f"one kiosk per code; {quotas.KIOSKS_PER_SITE} kiosks per site")),
    ],
    **doc(body=EnrolRequest, errors=(400, 404, 409, 410, 413, 429, 503)),
)
async def enrol(request: Request) -> JSONResponse:
    body = await json_body(request, enrolment.ENROL_FIELDS)
    guess = attempt(request, ENROLMENT_CODES)
    return JSONResponse(await call(request, enrolment.enrol, body, attempt=guess))


def _poke_alerts(request: Request) -> None:
    """Ask the alerts' background task (:mod:`server.alerts`), if the app runs one, to check now."""
    alerter = getattr(request.app.state, "alerts", None)
    if alerter is not None:
        alerter.poke()


@router.post(
    "/v1/kiosks/{kiosk_id}/events",
    dependencies=[
        Depends(kiosk_signed),
        Depends(quota(BATCH_QUOTA)),
    ],
    **doc(body=BatchRequest, query=LOG_SIZE, errors=SIGNED),
)
async def post_events(kiosk_id: str, request: Request) -> JSONResponse:
    metrics = server_metrics(request)
    data = await read_body(request, MAX_BATCH_BYTES)
    log_size = request.query_params.get("log_size")
    state = runtime(request)
    try:
        answer = await call(
            request, ingest.ingest_batch, kiosk_id, data, verify_pool=state.verify_pool, log_size=log_size
        )
    except ServiceError as exc:  # counted by reason for /metrics, then answered as every refusal is
        metrics.batch_refused(exc.reason.value)
        if exc.reason is Reason.EQUIVOCATION:
            _poke_alerts(request)  # tell the coordinators now; the answer does not wait for it
        raise
    metrics.batch_accepted(answer.get("results", ()))
    # With several workers the next batch comes on a new connection, to whichever worker is free (Runtime).
    return JSONResponse(answer, headers=_CLOSE if state.close_after_batch else None)


@router.get("/v1/kiosks/{kiosk_id}/events/{seq}/proof", dependencies=[Depends(public)], **doc())
async def get_event_proof(kiosk_id: str, seq: str, request: Request) -> JSONResponse:
    return JSONResponse(await call(request, logviews.event_proof, kiosk_id, seq))


@router.post(
    "/v1/kiosks/{kiosk_id}/evidence",
    dependencies=[
        Depends(kiosk_signed),
        Depends(
            quota(f"{quotas.EVIDENCE_PER_KIOSK} reports per kiosk, {MAX_EVIDENCE_BYTES // 1024} KiB each")
        ),
    ],
    **doc(ok={202: "Stored"}, body=Sealed, errors=SIGNED),
)
async def post_evidence(kiosk_id: str, request: Request) -> JSONResponse:
    data = await read_body(request, MAX_SMALL_BODY_BYTES)
    return JSONResponse(await call(request, evidence.record_evidence, kiosk_id, data), status_code=202)


@router.post(
    "/v1/kiosks/{kiosk_id}/heartbeat",
    dependencies=[
        Depends(kiosk_signed),
        Depends(quota(f"one row per kiosk, replaced at most every {kiosk_health.MIN_INTERVAL_MS // 1000} s")),
    ],
    **doc(body=Sealed, errors=SIGNED),
)
async def post_heartbeat(kiosk_id: str, request: Request) -> JSONResponse:
    data = await read_body(request, MAX_SMALL_BODY_BYTES)
    return JSONResponse(await call(request, kiosk_health.record_heartbeat, kiosk_id, data))


@router.post(
    "/v1/kiosks/{kiosk_id}/balance",
    dependencies=[
        Depends(kiosk_signed),
        Depends(quota(f"{balancequery.QUERIES_PER_HOUR} queries per kiosk an hour; nonces kept an hour")),
    ],
    **doc(body=Sealed, errors=SIGNED),
)
async def post_balance_query(kiosk_id: str, request: Request) -> JSONResponse:
    """One card's signed balance for a kiosk holding a fresh tap of it (``server.balancequery``)."""
    data = await read_body(request, MAX_SMALL_BODY_BYTES)
    return JSONResponse(await call(request, balancequery.answer_balance_query, kiosk_id, data))


@router.get("/v1/kiosks/{kiosk_id}/trust", dependencies=[Depends(public)], **doc())
async def get_trust(kiosk_id: str, request: Request) -> JSONResponse:
    return JSONResponse(await call(request, trust.kiosk_trust_list, kiosk_id))


@router.get("/v1/kiosks/{kiosk_id}", dependencies=[Depends(public)], **doc())
async def get_kiosk(kiosk_id: str, request: Request) -> JSONResponse:
    return JSONResponse(await call(request, reads.kiosk_state, kiosk_id))
