"""Forms of the pages: a bounded parser, and CSRF protection by double submit.

Pages post ``application/x-www-form-urlencoded`` forms only (no uploads), read
by :func:`read_form` within :data:`MAX_FORM_BYTES` and :data:`MAX_FORM_FIELDS`.

CSRF: every page sets a random ``kk_csrf`` cookie (HttpOnly, SameSite=Strict)
once, and every form carries the same value in its hidden ``csrf`` field
(scripts send it as ``X-CSRF-Token``).  Another site can make a browser post,
but it can neither read the cookie nor set it, so it cannot send the matching
field: :data:`csrf_protected` refuses such a post with ``403 csrf_failed``
and nothing changes.  Every state-changing console route declares it, and a
test lists those that do not (:func:`unprotected_posts`).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable
from typing import Final
from urllib.parse import parse_qsl

from fastapi import Request
from starlette.routing import BaseRoute

from protocol import Reason
from server.errors import InputError, ServiceError
from server.http.access import declared_routes, dependency_calls, effective_routes
from server.http.common import read_body

MAX_FORM_BYTES: Final = 64 * 1024
MAX_FORM_FIELDS: Final = 400
CSRF_COOKIE: Final = "kk_csrf"
CSRF_FIELD: Final = "csrf"
CSRF_HEADER: Final = "x-csrf-token"
_FORM_TYPES: Final = ("application/x-www-form-urlencoded", "")


def new_csrf_token() -> str:
    """A fresh CSRF secret for a browser's ``kk_csrf`` cookie."""
    return secrets.token_urlsafe(32)


async def read_form(request: Request) -> dict[str, str]:
    """The request's form fields (the last value of a repeated name wins); ``400`` beyond the bounds.

    Parsed once per request and kept on ``request.state``, so the CSRF check
    and the route read the same fields.
    """
    cached = getattr(request.state, "form_fields", None)
    if cached is not None:
        return dict(cached)
    pairs = await read_form_pairs(request)
    fields = dict(pairs)
    request.state.form_fields = fields
    return dict(fields)


async def read_form_pairs(request: Request) -> list[tuple[str, str]]:
    """Every ``(name, value)`` of the form in order, for fields a form repeats (checkbox lists)."""
    cached = getattr(request.state, "form_pairs", None)
    if cached is not None:
        return list(cached)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _FORM_TYPES:
        raise InputError(
            Reason.MALFORMED_REQUEST, "a page's form is sent as application/x-www-form-urlencoded"
        )
    body = await read_body(request, MAX_FORM_BYTES)
    try:
        text = body.decode("utf-8")
        # errors="strict": a %-escape that is not UTF-8 (a lone surrogate's %ED%A0%80) is refused,
        # not stored as U+FFFD in place of what was typed.
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FORM_FIELDS,
            errors="strict",
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(Reason.MALFORMED_REQUEST, "the form is not UTF-8 or has too many fields") from exc
    request.state.form_pairs = pairs
    return list(pairs)


class CsrfProtected:
    """The dependency every state-changing page route declares: the form's token matches the cookie."""

    async def __call__(self, request: Request) -> None:
        cookie = request.cookies.get(CSRF_COOKIE, "")
        sent = request.headers.get(CSRF_HEADER)
        if sent is None:
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            sent = (await read_form(request)).get(CSRF_FIELD, "") if content_type in _FORM_TYPES else ""
        if not cookie or not sent or not hmac.compare_digest(cookie.encode(), sent.encode()):
            raise ServiceError(
                Reason.CSRF_FAILED,
                "this form did not come from our own page; reload the page and send it again",
                status=403,
            )


csrf_protected: Final = CsrfProtected()


def unprotected_posts(routes: Iterable[BaseRoute], prefixes: Iterable[str]) -> list[str]:
    """The writing routes under ``prefixes`` (the pages) that do not declare :data:`csrf_protected`."""
    wanted = tuple(prefixes)
    return [
        str(declared)
        for declared, route in zip(declared_routes(routes), effective_routes(routes), strict=True)
        if declared.writes
        and declared.path.startswith(wanted)
        and not any(call is csrf_protected for call in dependency_calls(route))
    ]
