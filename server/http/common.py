"""What every router module shares: the app's runtime, calling a service off the event loop, bodies.

Routers are declared once, at import time, and mounted by :func:`server.app.create_app`
into as many apps as a process wants (tests run several).  So a route finds the
state of *its* app through the request: :func:`runtime` reads the
:class:`Runtime` that ``create_app`` put on ``app.state``.  There is no
module-level state.

Services are blocking (SQLite, fsync, signature checks), so :func:`call` runs
them in the thread pool and the event loop stays free for other requests.

Bodies are read as raw bytes with a hard size limit (``Content-Length`` is
checked before anything is read, then the actual length as it streams), so no
request can make the server buffer more than 1 MiB.

Most malformed ``Content-Length`` values never reach this code: uvicorn's HTTP
parser (h11) answers them itself with a plain-text 400 and closes the
connection (``docs/protocol.md``, HTTP API).  What does reach the app (a value
over the limit, or a body shorter than declared because the client hung up)
gets the JSON error shape like every other error.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, TypeVar, cast

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from protocol import Reason
from server import personexport, statements
from server.context import ServerContext
from server.errors import InputError
from server.http.clients import TrustedProxies, client_of
from server.inputs import parse_object
from server.ratelimit import ALL, Attempt, Guarded, GuessLimiter

MAX_SMALL_BODY_BYTES: Final = 64 * 1024
TEXT: Final = "text/plain; charset=utf-8"
BINARY: Final = "application/octet-stream"
IMMUTABLE: Final = "public, max-age=31536000, immutable"
T = TypeVar("T")


@dataclass(slots=True)
class Runtime:
    """One app's state: the services' context, the guessing limits, and the signature-check pool.

    ``verify_pool`` is created and shut down by the app's lifespan (``server.app``);
    it stays ``None`` when ``verify_workers`` is 0 (checks run inline).
    ``guesses`` counts failed guesses (in the ledger, shared by every worker; in memory for a test), per
    client as ``trusted_proxies`` lets :mod:`server.http.clients` tell them apart.
    ``close_after_batch`` is set when several worker processes share the socket
    (:mod:`server.workers`): then each ingest answer closes its connection.  A
    kept-alive connection stays with the worker that accepted it, so four kiosks
    draining a backlog could leave three of their connections on one worker and
    the other worker half idle; a kiosk's next batch on a new connection is
    accepted by whichever worker is free.  One reconnect per batch of up to 500
    events costs little; behind the reverse proxy, only the proxy reconnects.
    """

    context: ServerContext
    verify_workers: int
    guesses: GuessLimiter
    trusted_proxies: TrustedProxies
    verify_pool: ThreadPoolExecutor | None = None
    close_after_batch: bool = False


def runtime(request: Request) -> Runtime:
    """The :class:`Runtime` of the app that received ``request``."""
    return cast(Runtime, request.app.state.runtime)


def attempt(request: Request, guarded: Guarded, target: str = ALL) -> Attempt:
    """A try at ``guarded`` by the client that sent ``request``, as :mod:`server.http.clients` names it."""
    state = runtime(request)
    return state.guesses.attempt(guarded, client_of(request, state.trusted_proxies), target)


async def call(request: Request, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``func(context, *args, **kwargs)`` in the thread pool, with the context of ``request``'s app."""
    return await run_in_threadpool(func, runtime(request).context, *args, **kwargs)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes before and while reading it."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isascii() or not declared.isdigit():
            raise InputError(Reason.MALFORMED_REQUEST, "Content-Length is not a number")
        # The length check first: int() of thousands of digits raises (and is slow).
        if len(declared) > len(str(limit)) or int(declared) > limit:
            raise InputError(Reason.BODY_TOO_LARGE, f"{declared[:20]} bytes, limit {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise InputError(Reason.BODY_TOO_LARGE, f"more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request: Request, allowed: frozenset[str]) -> dict[str, Any]:
    """A small JSON object body with only the ``allowed`` fields (``400`` otherwise)."""
    return parse_object(await read_body(request, MAX_SMALL_BODY_BYTES), allowed=allowed)


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an ``Accept-Encoding`` header allows gzip (and does not refuse it with ``q=0``)."""
    for item in (accept_encoding or "").split(","):
        name, _, params = item.strip().partition(";")
        if name.strip().lower() == "gzip":
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def private(response: Response) -> Response:
    """``response`` marked ``Cache-Control: no-store``: personal data, kept by no cache on the way."""
    response.headers["cache-control"] = "no-store"
    return response


def document(doc: statements.Document) -> Response:
    """A statement as asked for: JSON, or CSV text with its media type."""
    if isinstance(doc.content, str):
        return Response(doc.content, media_type=doc.media_type)
    return JSONResponse(doc.content)


async def export_response(request: Request, volunteer_id: str) -> Response:
    """The export of ``volunteer_id`` as JSON or, with ``?format=pdf``, as a PDF to download; never cached."""
    fmt = personexport.parse_export_format(dict(request.query_params))
    exported = await call(request, personexport.export_file, volunteer_id, fmt)
    if isinstance(exported, bytes):
        disposition = f'attachment; filename="auskunft-{volunteer_id}.pdf"'
        pdf = Response(exported, media_type="application/pdf", headers={"Content-Disposition": disposition})
        return private(pdf)
    return private(JSONResponse(exported))
