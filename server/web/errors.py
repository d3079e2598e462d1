"""Errors on pages: a page in the person's language instead of JSON, and a login for a missing session.

:mod:`server.http.errors` asks :func:`page_error` first; for a path a person
opens in a browser (:data:`server.web.PAGE_PREFIXES`) it answers:

* ``401`` on a ``GET``: a redirect to the login page, which comes back here after;
  under ``/ich`` (any method) a redirect to ``/ich``, where a volunteer logs in;
* anything else: ``error.html`` with a plain heading and explanation per status,
  the reason code (for support) and the same status code as the API would give.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from server.web import HOME_PAGE, PAGE_PREFIXES, web
from server.web.nav import N_

LOGIN_PATH: Final = "/console/login"
VOLUNTEER_PAGE: Final = "/ich"  # a volunteer logs in there, with their access secret (server.web.me)

_HEADINGS: Final = {
    400: (N_("This input does not fit"), N_("Please check what you entered and try again.")),
    401: (N_("Please log in"), N_("This page is only for people with an account.")),
    403: (N_("Not allowed"), N_("Your account may not do this here. Ask an administrator if you need it.")),
    404: (N_("Not found"), N_("There is nothing here, or it is outside what your account covers.")),
    405: (N_("Not possible"), N_("This page cannot be used like that.")),
    409: (N_("Already changed"), N_("Someone changed this in the meantime. Reload the page and look again.")),
    413: (N_("Too much at once"), N_("The form was too large. Send less at once.")),
    429: (N_("Too many tries"), N_("Please wait a little and try again.")),
}
_FALLBACK: Final = (N_("Something went wrong"), N_("Nothing was changed. Please try again later."))


def is_page(request: Request) -> bool:
    """Whether ``request`` is for a page a person opens, rather than for the API."""
    path = request.url.path
    is_page = path == HOME_PAGE or path.startswith(PAGE_PREFIXES)
    return is_page and getattr(request.app.state, "web", None) is not None


def page_error(
    request: Request, status: int, code: str, headers: dict[str, str] | None = None
) -> Response | None:
    """The page for an error of a page route, or ``None`` for an API route (it keeps its JSON)."""
    if not is_page(request):
        return None
    pages = web(request)
    if status == 401 and (request.url.path + "/").startswith(VOLUNTEER_PAGE + "/"):
        return pages.finish(request, RedirectResponse(VOLUNTEER_PAGE, status_code=303))
    if status == 401 and request.method in ("GET", "HEAD"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.url.path == LOGIN_PATH:
            target = "/console"
        return pages.finish(
            request, RedirectResponse(f"{LOGIN_PATH}?next={quote(target, safe='')}", status_code=303)
        )
    heading, explanation = _HEADINGS.get(status, _FALLBACK)
    back = "/console" if request.url.path.startswith("/console") else "/"
    response = pages.page(
        request,
        "error.html",
        status=status,
        heading=pages.gettext(request, heading),
        explanation=pages.gettext(request, explanation),
        code=code,
        back=back,
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
