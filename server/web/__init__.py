"""The web pages for people: templates, languages, forms, static files, built once at start-up.

The console (``/console``) and the public pages share this shell.  A
:class:`Web` is made in :func:`server.app.create_app` and kept on the app's
state; routes find it with :func:`web`.  A page route renders with
:meth:`Web.page`, which adds what every page needs: the request's language,
the logged-in principal, the CSRF token and the navigation.  After a
successful form it answers :meth:`Web.redirect` (303, post/redirect/get) with
an optional flash message shown once on the next page.

Pages are plain HTML rendered on the server; the little JavaScript there is
(signing, a copy button) lives in ``static/`` and the Content-Security-Policy
allows scripts and styles from this server only, so no inline script can run.
"""

from __future__ import annotations

import functools
import json
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast
from urllib.parse import quote, unquote

from babel.support import Translations
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from server.principals import Principal
from server.web.forms import CSRF_COOKIE, CSRF_FIELD, new_csrf_token
from server.web.i18n import LANGUAGE_COOKIE, LANGUAGES, load_translations, negotiate
from server.web.nav import NAV, PUBLIC_NAV, NavItem

__all__ = ["HOME_PAGE", "PAGE_PREFIXES", "Web", "cookie_secure", "local_path", "web"]

TEMPLATE_DIR: Final = Path(__file__).parent / "templates"
STATIC_DIR: Final = Path(__file__).parent / "static"
FLASH_COOKIE: Final = "kk_flash"
# Paths whose errors are pages, not JSON: what a person opens in a browser.
PAGE_PREFIXES: Final = (
    "/console",
    "/bestaetigen",
    "/nachweis",
    "/lang/",
    "/ich",
    "/laeden",
    "/so-gehts",
    "/pruefen",
    "/anzeige",
)
HOME_PAGE: Final = "/"  # the public economy page; a page path, though no prefix of the others
SECURITY_HEADERS: Final[Mapping[str, str]] = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    # Invitation and confirmation links carry secrets in their path: never send them on.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def cookie_secure(request: Request) -> bool:
    """Whether cookies get ``Secure``: always, except over plain http to this machine (tests, the demo).

    Behind the TLS proxy of a real deployment the browser speaks https, so it
    keeps and sends ``Secure`` cookies; only a browser on the same machine may
    use plain http (``docs/operations.md``, "TLS").
    """
    return not (request.url.scheme == "http" and (request.url.hostname or "") in _LOOPBACK)


def local_path(target: str | None, default: str = "/console") -> str:
    """``target`` if it is a path on this server, else ``default``: no open redirect through ``next=``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if any(ord(char) < 0x20 for char in target):
        return default
    return target


@dataclass(frozen=True, slots=True)
class Web:
    """Templates per language and the static files, loaded once; shared by every request."""

    environments: Mapping[str, Environment]
    translations: Mapping[str, Translations]
    static_files: Mapping[str, Path]

    @classmethod
    def load(cls, template_dir: Path = TEMPLATE_DIR, static_dir: Path = STATIC_DIR) -> Web:
        """Read every catalogue and list the static files (only these are ever served).

        The files ship with the code and do not change while it runs, so one
        process reads them once: every app made later (a test makes hundreds)
        shares the same immutable :class:`Web`.
        """
        return _loaded(template_dir, static_dir)

    @classmethod
    def read(cls, template_dir: Path, static_dir: Path) -> Web:
        """A :class:`Web` freshly read from ``template_dir``, ``static_dir`` and the catalogues."""
        translations = {language: load_translations(language) for language in LANGUAGES}
        environments = {}
        for language, catalogue in translations.items():
            environment = Environment(
                loader=FileSystemLoader(template_dir),
                autoescape=select_autoescape(default=True, default_for_string=True),
                undefined=StrictUndefined,
                extensions=["jinja2.ext.i18n"],
                trim_blocks=True,
                lstrip_blocks=True,
            )
            environment.install_gettext_translations(catalogue, newstyle=True)  # type: ignore[attr-defined]
            environment.globals["languages"] = LANGUAGES
            environments[language] = environment
        static = {path.name: path for path in sorted(static_dir.iterdir()) if path.is_file()}
        return cls(environments, translations, static)

    def language(self, request: Request) -> str:
        """The request's language (the ``kk_lang`` cookie, the browser's wish, or German)."""
        return negotiate(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))

    def gettext(self, request: Request, message: str, **params: Any) -> str:
        """``message`` (an English message ID) in the request's language, with ``%(name)s`` filled in."""
        text = self.translations[self.language(request)].ugettext(message)
        return text % params if params else text

    def render(self, request: Request, template: str, **values: Any) -> str:
        """The text of ``template`` for ``request``: what :meth:`page` sends, without the response."""
        environment = self.environments[self.language(request)]
        context = {**self._common(request), **values}
        return environment.get_template(template).render(context)

    def page(self, request: Request, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
        """``template`` rendered for ``request`` with ``values``, with the page's cookies and headers."""
        response = HTMLResponse(self.render(request, template, status=status, **values), status_code=status)
        self.finish(request, response)
        return response

    def finish(self, request: Request, response: Response) -> Response:
        """Add what every page answer carries: security headers, the CSRF cookie, a spent flash."""
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.cookies.get(CSRF_COOKIE):
            response.set_cookie(
                CSRF_COOKIE,
                _csrf_token(request),
                httponly=True,
                samesite="strict",
                secure=cookie_secure(request),
                path="/",
            )
        if FLASH_COOKIE in request.cookies:
            response.delete_cookie(FLASH_COOKIE, path="/")
        return response

    def redirect(self, request: Request, url: str, *, flash: str | None = None, **params: str) -> Response:
        """303 to ``url`` (a local path); ``flash`` (a message ID with ``params``) shows once there."""
        response = RedirectResponse(local_path(url), status_code=303)
        if flash is not None:
            response.set_cookie(
                FLASH_COOKIE,
                quote(json.dumps([flash, params], ensure_ascii=False, separators=(",", ":"))[:1500]),
                httponly=True,
                samesite="lax",
                secure=cookie_secure(request),
                path="/",
                max_age=120,
            )
        return self.finish(request, response)

    def nav(self, principal: Principal | None) -> list[NavItem]:
        """The navigation entries ``principal`` may open (those it holds the permission for somewhere)."""
        if principal is None:
            return []
        return [
            item
            for item in NAV
            if item.permission is None
            or any(
                principal.may(permission, None)
                if item.economy_wide
                else principal.sites_for(permission) != frozenset()
                for permission in item.permissions()
            )
        ]

    def home(self, principal: Principal | None) -> str:
        """Where ``principal`` lands after logging in: the first page of the navigation it may open.

        A shop owner or an auditor holds no ``review``, so the overview would
        only answer 403; they land on their shop's page or their account instead.
        """
        allowed = self.nav(principal)
        return allowed[0].path if allowed else "/console/account"

    def _common(self, request: Request) -> dict[str, Any]:
        principal = getattr(request.state, "principal", None)
        language = self.language(request)
        return {
            "request": request,
            "path": request.url.path,
            "full_path": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            "lang": language,
            "principal": principal,
            "csrf": _csrf_token(request),
            "csrf_field": CSRF_FIELD,
            "nav": self.nav(principal),
            "public_nav": () if request.url.path.startswith("/console") else PUBLIC_NAV,
            "flash": self._flash(request),
        }

    def _flash(self, request: Request) -> str | None:
        raw = request.cookies.get(FLASH_COOKIE)
        if not raw:
            return None
        try:
            message, params = json.loads(unquote(raw))
            if not isinstance(message, str) or not isinstance(params, dict):
                return None
            return self.gettext(request, message, **{str(k): str(v) for k, v in params.items()})
        except (ValueError, TypeError, KeyError):
            return None

    def static(self, name: str) -> tuple[Path, str] | None:
        """The file called ``name`` in ``static/`` and its media type, or ``None``."""
        path = self.static_files.get(name)
        if path is None:
            return None
        media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if name.endswith(".js"):
            media_type = "text/javascript"
        return path, media_type


@functools.cache
def _loaded(template_dir: Path, static_dir: Path) -> Web:
    return Web.read(template_dir, static_dir)


def _csrf_token(request: Request) -> str:
    """The browser's CSRF cookie, or the fresh one this answer sets (kept for the rest of the request)."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if token is None:
        token = new_csrf_token()
        request.state.new_csrf = token
    return cast(str, token)


def web(request: Request) -> Web:
    """The :class:`Web` of the app that received ``request``."""
    return cast(Web, request.app.state.web)
