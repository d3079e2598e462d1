"""``GET /metrics`` for Prometheus, and the middleware that times every request by its route template.

The figures are :mod:`server.metrics`'s; who may scrape is declared on the
route (:func:`server.http.access.scrape`).  :class:`RequestTimer` labels a
request with the template of the route that served it (FastAPI puts the route
in the ASGI scope), so no ID from a path ever becomes a label.
"""

from __future__ import annotations

import time
from typing import cast

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.http.access import Permission, scrape
from server.http.common import call
from server.http.openapi import TEXT, doc
from server.metrics import CONTENT_TYPE, ServerMetrics, exposition

router = APIRouter(tags=["monitoring"])


def server_metrics(request: Request) -> ServerMetrics:
    """The :class:`ServerMetrics` of the app that received ``request`` (``create_app`` makes it)."""
    return cast(ServerMetrics, request.app.state.metrics)


@router.get(
    "/metrics",
    dependencies=[Depends(scrape(Permission.READ_METRICS))],
    **doc(errors=(401, 403, 429), media=TEXT, security=["metricsToken"]),
)
async def get_metrics(request: Request) -> Response:
    text = await call(request, exposition, server_metrics(request))
    return Response(text, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})


class RequestTimer:
    """ASGI middleware: each HTTP request's time to the end of its answer, by method, route and status.

    A request that raises (a bug, answered 500 further out) counts as 500.
    """

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            route = getattr(scope.get("route"), "path", None)
            self.metrics.observe_request(
                scope.get("method", ""), route, status, time.perf_counter() - started
            )
