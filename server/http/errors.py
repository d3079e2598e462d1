"""Every error in the documented shape ``{"error": {"code", "message", ...}}``, whatever raised it.

A service's :class:`~server.errors.ServiceError` keeps its code and status (a
:class:`~server.errors.RateLimited` adds ``Retry-After`` in seconds); a
wrong route or method, or a request FastAPI cannot parse, gets the matching
reason code.  A framework's HTTP error keeps its headers, and a 405's ``Allow``
lists the methods of *every* route on that path (RFC 9110 §15.5.6; the
framework names only the first route's).  A client that hangs up before sending the body it
declared is not a bug: it is refused like any short body, and logged without a
traceback.  Only a real bug gives 500 ``internal_error``, and is logged with
its traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match

from protocol import Reason
from server.errors import ServiceError, StorageUnavailable
from server.web.errors import page_error

logger = logging.getLogger(__name__)

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """The methods some route of ``request``'s app serves on its path (asked route by route)."""
    allowed = []
    for method in _METHODS:
        scope = {
            "type": "http",
            "method": method,
            "path": request.scope["path"],
            "root_path": request.scope.get("root_path", ""),
            "headers": [],
            "query_string": b"",
        }
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error of ``app`` the documented shape."""

    @app.exception_handler(ServiceError)
    async def on_service_error(request: Request, exc: ServiceError) -> Response:
        # A disk the ledger cannot write to is the operator's alarm, not a caller's mistake.
        level = logging.ERROR if isinstance(exc, StorageUnavailable) else logging.INFO
        logger.log(level, "%s %s refused: %s", request.method, request.url.path, exc)
        page = page_error(request, exc.status, exc.reason.value, exc.headers)
        if page is not None:
            return page
        return JSONResponse(exc.to_json(), status_code=exc.status, headers=exc.headers or None)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> Response:
        page = page_error(request, 400, Reason.MALFORMED_REQUEST.value)
        if page is not None:
            return page
        return _error(400, Reason.MALFORMED_REQUEST.value, "the request does not have the documented shape")

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = Reason.NOT_FOUND if exc.status_code == 404 else Reason.MALFORMED_REQUEST
        page = page_error(request, exc.status_code, code.value)
        if page is not None:
            return page
        if exc.status_code == 404:
            return _error(404, Reason.NOT_FOUND.value, "no such resource", exc.headers)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request)) or headers.get("Allow", "")
        return _error(exc.status_code, Reason.MALFORMED_REQUEST.value, str(exc.detail), headers)

    @app.exception_handler(ClientDisconnect)
    async def on_disconnect(request: Request, exc: ClientDisconnect) -> JSONResponse:
        logger.info(
            "%s %s refused: the client hung up before the end of its body", request.method, request.url.path
        )
        return _error(400, Reason.MALFORMED_REQUEST.value, "the body ended before its Content-Length")

    @app.exception_handler(Exception)
    async def on_bug(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("%s %s failed", request.method, request.url.path)
        return _error(500, Reason.INTERNAL_ERROR.value, "internal error; the request was not applied")
