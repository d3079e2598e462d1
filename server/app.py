"""The HTTP layer: read the request, call a service, translate :class:`ServiceError`.

It decides nothing.  Bodies are read as raw bytes with a hard size limit
(``Content-Length`` is checked before anything is read, then the actual
length as it streams), so no request can make the server buffer more than
1 MiB.  Batches go to :func:`server.ingest.ingest_batch` untouched, because
the signed bytes must never be re-serialised.  Every error, including a wrong
route or a framework validation problem, has the documented shape
``{"error": {"code", "message", ...}}``; only a real bug gives 500
``internal_error``, and is logged with its traceback.

Services are blocking (SQLite, fsync, signature checks), so they run in the
thread pool and the event loop stays free for other requests.

The transparency log's static resources (``/checkpoint``, ``/tile/...``) use
the tlog-tiles content types and caching: the checkpoint is never cached,
tiles are immutable, and entry bundles are gzipped for clients that accept it.
"""

from __future__ import annotations

import gzip
import logging
import os
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, Final, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from protocol import MAX_BATCH_BYTES, Reason
from protocol.version import SOFTWARE_VERSION as __version__
from server import (
    admin,
    cards,
    coordinator_keys,
    decisions,
    enrolment,
    ingest,
    logviews,
    reads,
    shops,
    statements,
    trust,
)
from server import health as kiosk_health  # not `health`: that is the /v1/health view below
from server.context import ServerContext
from server.errors import InputError, ServiceError
from server.inputs import parse_object
from server.verify import verify_ledger

logger = logging.getLogger(__name__)

MAX_SMALL_BODY_BYTES: Final = 64 * 1024
TEXT: Final = "text/plain; charset=utf-8"
BINARY: Final = "application/octet-stream"
IMMUTABLE: Final = "public, max-age=31536000, immutable"
T = TypeVar("T")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes before and while reading it."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isascii() or not declared.isdigit():
            raise InputError(Reason.MALFORMED_REQUEST, "Content-Length is not a number")
        if int(declared) > limit:
            raise InputError(Reason.BODY_TOO_LARGE, f"{declared} bytes, limit {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise InputError(Reason.BODY_TOO_LARGE, f"more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an ``Accept-Encoding`` header allows gzip (and does not refuse it with ``q=0``)."""
    for item in (accept_encoding or "").split(","):
        name, _, params = item.strip().partition(";")
        if name.strip().lower() == "gzip":
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def default_verify_workers() -> int:
    """Threads for signature checks: one per core up to 4, none on a single core (no gain there)."""
    cores = os.cpu_count() or 1
    return 0 if cores < 2 else min(cores, 4)


def create_app(context: ServerContext, *, verify_workers: int | None = None) -> FastAPI:
    """The ledger server's ASGI app over ``context``; the caller owns and closes the context.

    ``verify_workers`` threads check a batch's signatures in parallel (libsodium
    releases the GIL); ``None`` picks :func:`default_verify_workers`, 0 checks inline.
    """
    workers = default_verify_workers() if verify_workers is None else verify_workers
    pool: ThreadPoolExecutor | None = None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        nonlocal pool
        if workers > 0:
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="verify")
        try:
            yield
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
                pool = None

    app = FastAPI(
        title="kokreativ ledger",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )

    async def call(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await run_in_threadpool(func, context, *args, **kwargs)

    async def json_body(request: Request, allowed: frozenset[str]) -> dict[str, Any]:
        return parse_object(await read_body(request, MAX_SMALL_BODY_BYTES), allowed=allowed)

    async def authorise(request: Request) -> None:
        await call(admin.check_admin_token, request.headers.get("authorization"))

    @app.exception_handler(ServiceError)
    async def on_service_error(request: Request, exc: ServiceError) -> JSONResponse:
        logger.info("%s %s refused: %s", request.method, request.url.path, exc)
        return JSONResponse(exc.to_json(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(400, Reason.MALFORMED_REQUEST.value, "the request does not have the documented shape")

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return _error(404, Reason.NOT_FOUND.value, "no such resource")
        return _error(exc.status_code, Reason.MALFORMED_REQUEST.value, str(exc.detail))

    @app.exception_handler(Exception)
    async def on_bug(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("%s %s failed", request.method, request.url.path)
        return _error(500, Reason.INTERNAL_ERROR.value, "internal error; the request was not applied")

    # -- kiosks ------------------------------------------------------------------------------------
    @app.get("/v1/health")
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__})

    @app.post("/v1/enrol")
    async def enrol(request: Request) -> JSONResponse:
        body = await json_body(request, enrolment.ENROL_FIELDS)
        return JSONResponse(await call(enrolment.enrol, body))

    @app.post("/v1/kiosks/{kiosk_id}/events")
    async def post_events(kiosk_id: str, request: Request) -> JSONResponse:
        data = await read_body(request, MAX_BATCH_BYTES)
        log_size = request.query_params.get("log_size")
        return JSONResponse(
            await call(ingest.ingest_batch, kiosk_id, data, verify_pool=pool, log_size=log_size)
        )

    @app.get("/v1/kiosks/{kiosk_id}/events/{seq}/proof")
    async def get_event_proof(kiosk_id: str, seq: str) -> JSONResponse:
        return JSONResponse(await call(logviews.event_proof, kiosk_id, seq))

    @app.post("/v1/kiosks/{kiosk_id}/evidence")
    async def post_evidence(kiosk_id: str, request: Request) -> JSONResponse:
        data = await read_body(request, MAX_SMALL_BODY_BYTES)
        return JSONResponse(await call(logviews.store_evidence, kiosk_id, data), status_code=202)

    @app.post("/v1/kiosks/{kiosk_id}/heartbeat")
    async def post_heartbeat(kiosk_id: str, request: Request) -> JSONResponse:
        data = await read_body(request, MAX_SMALL_BODY_BYTES)
        return JSONResponse(await call(kiosk_health.record_heartbeat, kiosk_id, data))

    @app.get("/v1/kiosks/{kiosk_id}/trust")
    async def get_trust(kiosk_id: str) -> JSONResponse:
        return JSONResponse(await call(trust.kiosk_trust_list, kiosk_id))

    @app.get("/v1/kiosks/{kiosk_id}")
    async def get_kiosk(kiosk_id: str) -> JSONResponse:
        return JSONResponse(await call(reads.kiosk_state, kiosk_id))

    @app.get("/v1/cards/{card_id}/balance")
    async def get_balance(card_id: str) -> JSONResponse:
        return JSONResponse(await call(reads.card_balance, card_id))

    @app.get("/v1/cards/{card_id}/shifts")
    async def get_shifts(card_id: str) -> JSONResponse:
        return JSONResponse(await call(reads.card_shifts, card_id))

    # -- the transparency log ----------------------------------------------------------------------
    @app.get("/checkpoint")
    async def get_checkpoint() -> Response:
        note = await call(logviews.checkpoint)
        return Response(note, media_type=TEXT, headers={"Cache-Control": "no-store"})

    @app.get("/tile/{path:path}")
    async def get_tile(path: str, request: Request) -> Response:
        data = await call(logviews.read_tile, path)
        headers = {"Cache-Control": IMMUTABLE}
        if path.startswith("entries/"):
            headers["Vary"] = "Accept-Encoding"
            if accepts_gzip(request.headers.get("accept-encoding")):
                data = gzip.compress(data, compresslevel=6, mtime=0)
                headers["Content-Encoding"] = "gzip"
        return Response(data, media_type=BINARY, headers=headers)

    @app.get("/v1/server-keys")
    async def get_server_keys() -> JSONResponse:
        return JSONResponse(await call(logviews.server_keys))

    @app.get("/v1/log/key")
    async def get_log_key() -> JSONResponse:
        return JSONResponse(await call(logviews.log_key))

    @app.get("/v1/log/consistency")
    async def get_consistency(request: Request) -> JSONResponse:
        return JSONResponse(await call(logviews.consistency, dict(request.query_params)))

    @app.get("/v1/log/inclusion")
    async def get_inclusion(request: Request) -> JSONResponse:
        return JSONResponse(await call(logviews.inclusion, dict(request.query_params)))

    @app.get("/v1/log/entries/{index}/proof")
    async def get_entry_proof(index: str) -> Response:
        return Response(await call(logviews.entry_proof, index), media_type=TEXT)

    @app.get("/v1/log/balances")
    async def get_log_balances() -> JSONResponse:
        return JSONResponse(await call(logviews.balances))

    # -- coordinators ------------------------------------------------------------------------------
    @app.post("/v1/admin/sites")
    async def post_site(request: Request) -> JSONResponse:
        await authorise(request)
        body = await json_body(request, admin.SITE_FIELDS)
        return JSONResponse(await call(admin.create_site, body), status_code=201)

    @app.get("/v1/admin/sites")
    async def get_sites(request: Request) -> JSONResponse:
        await authorise(request)
        return JSONResponse(await call(admin.list_sites))

    @app.post("/v1/admin/sites/{site_id}/policy")
    async def post_site_policy(site_id: str, request: Request) -> JSONResponse:
        await authorise(request)
        body = await json_body(request, admin.POLICY_FIELDS)
        return JSONResponse(await call(admin.set_site_policy, site_id, body))

    @app.post("/v1/admin/enrolment-codes")
    async def post_code(request: Request) -> JSONResponse:
        await authorise(request)
        body = await json_body(request, admin.CODE_FIELDS)
        return JSONResponse(await call(admin.create_enrolment_code, body), status_code=201)

    @app.post("/v1/admin/issuer-keys")
    async def post_issuer_key(request: Request) -> JSONResponse:
        await authorise(request)
        body = await json_body(request, cards.ISSUER_KEY_FIELDS)
        key, created = await call(cards.register_issuer_key, body)
        return JSONResponse(key, status_code=201 if created else 200)

    @app.get("/v1/admin/issuer-keys")
    async def get_issuer_keys(request: Request) -> JSONResponse:
        await authorise(request)
        return JSONResponse(await call(cards.list_issuer_keys))

    @app.post("/v1/admin/issuer-keys/{key_id}/retire")
    async def retire_issuer_key(key_id: str, request: Request) -> JSONResponse:
        await authorise(request)
        return JSONResponse(await call(cards.retire_issuer_key, key_id))

    @app.post("/v1/admin/issuer-keys/{key_id}/revoke")
    async def revoke_issuer_key(key_id: str, request: Request) -> JSONResponse:
        await authorise(request)
        return JSONResponse(await call(cards.revoke_issuer_key, key_id))

    @app.post("/v1/admin/cards")
    async def post_card(request: Request) -> JSONResponse:
        await authorise(request)
        body = await json_body(request, cards.CARD_FIELDS)
        return JSONResponse(await call(cards.create_card, body), status_code=201)

    @app.get("/v1/admin/cards")
    async def get_cards(request: Request) -> JSONResponse:
        await authorise(request)
        return JSONResponse(await call(cards.list_cards, request.query_params.get("volunteer_id")))

    @app.post("/v1/admin/cards/{card_id}/block")
    async def block_card(card_id: str, request: Request) -> JSONResponse:
        await authorise(request)
        body = await json_body(request, cards.BLOCK_FIELDS)
        return JSONResponse(await call(cards.block_card, card_id, body))

    @app.post("/v1/admin/cards/{card_id}/coordinator")
    async def set_card_coordinator(card_id: str, request: Request) -> JSONResponse:
        await authorise(request)
        body = await json_body(request, cards.COORDINATOR_FIELDS)
        return JSONResponse(await call(cards.set_coordinator, card_id, body))

    @app.get("/v1/admin/kiosks")
    async def get_kiosks(request: Request) -> JSONResponse:
        await authorise(request)
        return JSONResponse(await call(kiosk_health.list_kiosks, dict(request.query_params)))

    @app.post("/v1/admin/kiosks/{kiosk_id}/clear")
    async def clear_kiosk(kiosk_id: str, request: Request) -> JSONResponse:
        await authorise(request)
        return JSONResponse(await call(admin.clear_kiosk, kiosk_id))

    @app.post("/v1/admin/kiosks/{kiosk_id}/revoke")
    async def revoke_kiosk(kiosk_id: str, request: Request) -> JSONResponse:
        await authorise(request)
        return JSONResponse(await call(admin.revoke_kiosk, kiosk_id))

    @app.get("/v1/admin/review")
    async def get_review(request: Request) -> JSONResponse:
        await authorise(request)
        return JSONResponse(await call(admin.review))

    @app.get("/v1/admin/report")
    async def get_report(request: Request) -> JSONResponse:
        await authorise(request)
        return JSONResponse(await call(admin.report))

    @app.get("/v1/admin/verify")
    async def get_verify(request: Request) -> JSONResponse:
        await authorise(request)
        report = await run_in_threadpool(verify_ledger, context.storage)
        return JSONResponse(report.to_json())

    # -- shops, redemptions and statements ---------------------------------------------------------
    def document(doc: statements.Document) -> Response:
        if isinstance(doc.content, str):
            return Response(doc.content, media_type=doc.media_type)
        return JSONResponse(doc.content)

    @app.post("/v1/admin/shops")
    async def post_shop(request: Request) -> JSONResponse:
        await authorise(request)
        body = await json_body(request, shops.SHOP_FIELDS)
        return JSONResponse(await call(shops.create_shop, body), status_code=201)

    @app.post("/v1/admin/shops/{site_id}/presets")
    async def post_shop_presets(site_id: str, request: Request) -> JSONResponse:
        await authorise(request)
        body = await json_body(request, shops.PRESET_FIELDS)
        return JSONResponse(await call(shops.set_presets, site_id, body))

    @app.get("/v1/admin/statements/volunteers/{volunteer_id}")
    async def get_volunteer_statement(volunteer_id: str, request: Request) -> Response:
        await authorise(request)
        params = dict(request.query_params)
        return document(await call(statements.volunteer_statement, volunteer_id, params))

    @app.get("/v1/admin/statements/shops/{site_id}")
    async def get_shop_statement(site_id: str, request: Request) -> Response:
        await authorise(request)
        return document(await call(statements.shop_statement, site_id, dict(request.query_params)))

    @app.get("/v1/cards/{card_id}/statement")
    async def get_card_statement(card_id: str, request: Request) -> Response:
        return document(await call(reads.card_statement, card_id, dict(request.query_params)))

    # -- coordinator keys and decisions ------------------------------------------------------------
    @app.post("/v1/admin/coordinators")
    async def post_coordinator(request: Request) -> JSONResponse:
        await authorise(request)
        body = await json_body(request, coordinator_keys.COORDINATOR_FIELDS)
        key, created = await call(coordinator_keys.register_coordinator, body)
        return JSONResponse(key, status_code=201 if created else 200)

    @app.get("/v1/admin/coordinators")
    async def get_coordinators(request: Request) -> JSONResponse:
        await authorise(request)
        return JSONResponse(await call(coordinator_keys.list_coordinators))

    @app.post("/v1/admin/coordinators/{coordinator_id}/revoke")
    async def revoke_coordinator(coordinator_id: str, request: Request) -> JSONResponse:
        await authorise(request)
        return JSONResponse(await call(coordinator_keys.revoke_coordinator, coordinator_id))

    @app.post("/v1/admin/decisions")
    async def post_decision(request: Request) -> JSONResponse:
        await authorise(request)
        body = await json_body(request, decisions.DECISION_FIELDS)
        return JSONResponse(await call(decisions.submit_decision, body))

    return app
