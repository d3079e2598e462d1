"""Every error in the documented shape ``{"error": {"code", "message", ...}}``, whatever raised it.

A service's :class:`~server.errors.ServiceError` keeps its code and status; a
wrong route or method, or a request FastAPI cannot parse, gets the matching
reason code.  Only a real bug gives 500 ``internal_error``, and is logged with
its traceback.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from protocol import Reason
from server.errors import ServiceError

logger = logging.getLogger(__name__)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error of ``app`` the documented shape."""

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
