"""The ledger server's ASGI app: the routers of :mod:`server.http`, one per audience, and their runtime.

Each router module declares its routes and who may call them
(:mod:`server.http.access`); this module only mounts them, installs the
documented error shape and runs the signature-check pool for the app's
lifetime.  ``read_body`` and ``accepts_gzip`` are re-exported for callers that
used them from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Final

from fastapi import APIRouter, FastAPI

from protocol.version import SOFTWARE_VERSION as __version__
from server.alerts import Alerter
from server.context import ServerContext
from server.http import admin, archive, audit, cards, docs, health, issuing, kiosks, log, me
from server.http import metrics as http_metrics
from server.http import shops as public_shops
from server.http.clients import TrustedProxies
from server.http.common import Runtime, accepts_gzip, read_body
from server.http.errors import install_error_handlers
from server.metrics import ServerMetrics
from server.ratelimit import GuessLimiter
from server.shopmap import MapLayer, SchematicDistrictMap
from server.web import Web
from server.web import me as web_me
from server.web import public as web_public
from server.web import shell as web_shell
from server.web import shops as web_shops
from server.web import verify as web_verify
from server.web.console import account as console_account
from server.web.console import activity as console_activity
from server.web.console import certificates as console_certificates
from server.web.console import confirmations as console_confirmations
from server.web.console import decisions as console_decisions
from server.web.console import denied as console_denied
from server.web.console import kiosks as console_kiosks
from server.web.console import overview as console_overview
from server.web.console import places as console_places
from server.web.console import reports as console_reports
from server.web.console import review as console_review
from server.web.console import settings as console_settings
from server.web.console import shoppage as console_shoppage
from server.web.console import shopstaff as console_shopstaff
from server.web.console import teams as console_teams
from server.web.console import volunteers as console_volunteers

__all__ = ["ROUTERS", "accepts_gzip", "create_app", "default_verify_workers", "mount_routers", "read_body"]

# In this order: no two routes overlap, so the order only sets the route table's.
ROUTERS: Final[tuple[APIRouter, ...]] = (
    health.router,
    kiosks.router,
    cards.router,
    me.router,
    log.router,
    audit.router,
    admin.router,
    archive.router,
    docs.router,
    web_shell.router,
    console_overview.router,
    console_kiosks.router,
    console_reports.router,
    console_account.router,
    console_teams.router,
    console_activity.router,
    issuing.router,
    console_volunteers.router,
    console_confirmations.router,
    console_confirmations.public_router,
    console_decisions.router,
    console_review.router,
    console_certificates.router,
    console_certificates.pages,
    web_verify.pages,
    console_places.router,
    console_settings.router,
    web_public.router,
    public_shops.router,
    web_shops.pages,
    web_shops.router,
    console_shoppage.router,
    console_shopstaff.router,
    web_me.router,
    http_metrics.router,
    console_denied.router,
    console_denied.api,
)


def default_verify_workers() -> int:
    """Threads for signature checks: one per core up to 4, none on a single core (no gain there)."""
    cores = os.cpu_count() or 1
    return 0 if cores < 2 else min(cores, 4)


VERIFY_NICENESS: Final = 19  # the signature-check threads' CPU priority: the lowest Linux has


def lower_thread_priority(niceness: int = VERIFY_NICENESS) -> None:
    """Run the calling thread at ``niceness``: each signature-check thread calls it as it starts.

    A batch's signatures are checked on these threads while parsing and storing
    run in others (of this worker or of another worker process).  Those hold the
    GIL and, while storing, the ledger's one write turn, so every worker waits on
    them; the checks only need a core.  At equal priority the kernel shares a
    core between them, and the checks' threads take the GIL whenever a write
    lets go of it for SQLite: the store of a 500-event batch took 45 ms of
    which 21 on the CPU (``make bench``'s ingest with two workers).  At the lowest
    priority the checks run on what the other work leaves: the store takes about
    its CPU time, and the bench's ingest stored a sixth to a third more events a
    second (two to four workers, alternated runs).  Linux only: there a thread's
    niceness is its own; elsewhere it would lower the whole process.  A thread
    may always lower its own priority, never raise it back, so this happens
    once, in threads that only check signatures.
    """
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError):  # a sandbox that refuses it: the checks run at normal priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The signature-check pool and the alerts' background task (if any) live as long as the app serves."""
    runtime: Runtime = app.state.runtime
    alerter: Alerter | None = app.state.alerts
    alerting = None if alerter is None else asyncio.get_running_loop().create_task(alerter.run())
    if runtime.verify_workers > 0:
        runtime.verify_pool = ThreadPoolExecutor(
            max_workers=runtime.verify_workers, thread_name_prefix="verify", initializer=lower_thread_priority
        )
    try:
        yield
    finally:
        if alerting is not None:
            alerting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await alerting
        if runtime.verify_pool is not None:
            runtime.verify_pool.shutdown(wait=True)
            runtime.verify_pool = None


def mount_routers(app: FastAPI) -> FastAPI:
    """``app`` with every router of :data:`ROUTERS` mounted."""
    for router in ROUTERS:
        app.include_router(router)
    return app


def create_app(
    context: ServerContext,
    *,
    verify_workers: int | None = None,
    trusted_proxies: Iterable[str] = (),
    guesses: GuessLimiter | None = None,
    map_layer: MapLayer | None = None,
    alerts: Alerter | None = None,
    close_after_batch: bool = False,
) -> FastAPI:
    """The ledger server's ASGI app over ``context``; the caller owns and closes the context.

    ``verify_workers`` threads check a batch's signatures in parallel (libsodium
    releases the GIL); ``None`` picks :func:`default_verify_workers`, 0 checks inline.
    ``trusted_proxies`` (addresses or CIDR blocks) are the reverse proxies whose
    ``X-Forwarded-For`` names the client (:mod:`server.http.clients`); ``ValueError``
    for an entry that is neither.  ``guesses`` limits failed guesses at enrolment
    codes and the admin token (:mod:`server.ratelimit`); the default uses the
    context's clock and the default budgets.  ``map_layer`` draws the map on ``/laeden``
    (:mod:`server.shopmap`; the settings file's ``map_layer``), by default the schematic one.
    ``alerts`` runs as a background task while the app serves (:mod:`server.alerts`).
    ``close_after_batch`` (for one of several workers) closes the connection after
    each ingest answer, so batches spread over the workers (:class:`Runtime`).
    """
    proxies = TrustedProxies.parse(trusted_proxies)
    workers = default_verify_workers() if verify_workers is None else verify_workers
    app = FastAPI(
        title="kokreativ ledger",
        version=__version__,
        # FastAPI's own pages would be undeclared routes loading a CDN; server.http.docs serves them.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=_lifespan,
    )
    # In the ledger: every server worker on it counts the same failures (server.ratelimit).
    limiter = guesses if guesses is not None else GuessLimiter(context.now_ms, storage=context.storage)
    app.state.runtime = Runtime(context, workers, limiter, proxies, close_after_batch=close_after_batch)
    app.state.web = Web.load()
    app.state.map_layer = map_layer if map_layer is not None else SchematicDistrictMap()
    app.state.alerts = alerts
    install_error_handlers(app)
    app.state.metrics = ServerMetrics()  # GET /metrics (server.metrics); shared across processes if set up
    app.add_middleware(http_metrics.RequestTimer, metrics=app.state.metrics)
    return mount_routers(app)
