"""Who may call a route: declared once, where the route is declared, as data the app can list.

Every route declares exactly one access, as a FastAPI dependency of its router
or of the route itself (``dependencies=[Depends(...)]``)::

    @router.post("/v1/admin/sites/{site_id}/policy",
                 dependencies=[Depends(require(Permission.MANAGE_SITES, scope=site_of_path))])

* :data:`public`: anyone: the log, its proofs and aggregates, so anyone may
  audit the ledger; never a person's data (``docs/privacy.md``).
* :data:`kiosk_signed`: the body is signed by the kiosk's enrolled key; the
  service checks the signature (it needs the bytes and the stored key).
* :data:`enrolment_code`: the body carries a one-time enrolment code; the
  service checks and spends it, counting misses (:mod:`server.ratelimit`).
* :func:`require`: an admin principal that holds a :class:`Permission` for the
  request's :class:`Scope` (the whole economy, or the site the request is about).
* :func:`card_holder_or`: the volunteer the request is about, proved by their session
  cookie (:mod:`server.sessions`), or else what a :func:`require` admits.  Used by
  the personal routes (a card's balance, shifts and statement).
* :data:`volunteer_session`: a volunteer's live session; the dependency answers
  the :class:`~server.sessions.Holder` (``/v1/me/…``).
* :data:`access_secret`: a volunteer's access secret in the body, which the
  service checks and counts as a guess when wrong (``POST /v1/me/session``).
* :func:`scrape`: ``GET /metrics``: a principal holding ``read_metrics``, or a
  request from the server's own host while no token holds it (:class:`ScrapeAccess`).

The three markers check nothing themselves: they say where the check is, so the
route table (:mod:`server.http.table`) tells the truth.  :func:`undeclared`
lists the routes of an app without exactly one declaration; a test runs it on
the real app, so a route nobody thought about cannot ship.

A route that writes (POST, PUT, PATCH, DELETE) also declares its :func:`quota`:
how much one caller can make the server keep (the service enforces it, see
:mod:`server.quotas`).  :func:`unbounded_writes` lists writing routes without
exactly one, and :func:`public_writes` those anyone may call; a test keeps both empty.

Principals.  The shared admin bearer token is economy-wide with every
permission; named tokens (:mod:`server.tokens`, ``kokreativ server token add``)
carry some permissions, economy-wide or for a set of sites.  :class:`Require`
takes an attempt at the bearer token per request, so wrong tokens are limited
per client and for all clients (:mod:`server.ratelimit`).  A person logged in
to the console (the ``kk_console`` cookie, :mod:`server.accounts`) is a
principal too, whose grants are their teams' (members × scope × permissions,
:mod:`server.principals`); :class:`Require` and :class:`HolderOr` take that
cookie first, then the bearer token, so the routes need no change.  The scope
:data:`anywhere` admits a principal holding the permission at some site; such
a (list) route filters what it shows with :meth:`Principal.sites_for`.

No oracle for people.  A person who holds a route's permission, but not for
the site of the object asked about, gets the scope's ``404`` (the answer for
an object that does not exist); one without the permission in scope gets
``403``.  Tokens keep ``403`` for another site, as before (machines' API).

No oracle on personal routes.  A principal that holds the route's permission,
but not for this volunteer's home site, and a volunteer's session asking about
another's card, get the same ``404`` as for a card that does not exist
(:class:`HolderOr`): a stranger with a site's token cannot learn which card IDs
exist.  A principal without the permission anywhere gets ``403`` whatever the
card, which tells nothing about it either.

This module does not use ``from __future__ import annotations``: FastAPI reads
the dependency's ``__call__`` signature at run time, and a callable instance
has no ``__globals__`` to resolve string annotations against.
"""

import dataclasses
import hmac
import ipaddress
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

import fastapi.routing
from fastapi import Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute

from protocol import Reason
from server import accounts, reads, sessions, tokens
from server.context import ServerContext
from server.errors import ServiceError
from server.http.common import attempt, runtime
from server.principals import ADMIN_TOKEN as ADMIN_TOKEN
from server.principals import Grant as Grant
from server.principals import Permission as Permission
from server.principals import Principal as Principal
from server.principals import known_permissions
from server.ratelimit import ADMIN_TOKEN as ADMIN_TOKEN_GUESSES
from server.ratelimit import Attempt
from server.sessions import Holder

SESSION_COOKIE: Final = "kk_session"


CONSOLE_COOKIE: Final = "kk_console"
CSRF_COOKIE: Final = "kk_csrf"  # server.web.forms sets it; named here too, as server.web imports this module


def authenticate(ctx: ServerContext, authorization: str | None, guess: Attempt) -> Principal:
    """The principal an ``Authorization`` header proves, or ``401 unauthorized``.

    The admin token is :data:`ADMIN_TOKEN`; a named token (:mod:`server.tokens`)
    is a principal with its permissions (those this server knows: a permission
    stored by a newer version is ignored, failing closed) and its sites.
    ``guess`` is the request's attempt at the credential (:mod:`server.ratelimit`):
    ``429 rate_limited`` while its client, or every client, has failed too often.
    Logins (issue 18) take an attempt at the account they name the same way.
    """
    named = tokens.check_token(ctx, authorization, attempt=guess)
    if named is None:
        return ADMIN_TOKEN
    return Principal(
        name=f"token {named.name!r}",
        permissions=known_permissions(named.permissions),
        sites=None if named.sites is None else frozenset(named.sites),
    )


@dataclass(frozen=True, slots=True)
class Scope:
    """How a route finds the site a request is about; ``site_of`` returns ``None`` for the whole economy.

    Only a site-scoped principal makes a route ask: an economy-wide one may act anywhere.
    ``hidden`` is the refusal a person (console) gets for an object outside their
    sites: the route's own "not found" (reason and message), so a coordinator of
    site A cannot tell site B's objects from ones that do not exist.  ``anywhere``
    admits a principal holding the permission for at least one site; the route
    then filters what it shows with :meth:`Principal.sites_for`.
    """

    label: str
    site_of: Callable[[ServerContext, Mapping[str, str]], str | None]
    hidden: tuple[Reason, str] | None = None
    anywhere: bool = False


def _economy(ctx: ServerContext, path_params: Mapping[str, str]) -> None:
    return None


def _site_of_path(ctx: ServerContext, path_params: Mapping[str, str]) -> str:
    return path_params["site_id"]


def _site_of_kiosk(ctx: ServerContext, path_params: Mapping[str, str]) -> str | None:
    try:
        site_id = reads.kiosk_state(ctx, path_params["kiosk_id"])["site_id"]
    except ServiceError:  # an unknown kiosk belongs to no site: only the whole economy may ask
        return None
    return str(site_id)


def _home_site_of_card(ctx: ServerContext, path_params: Mapping[str, str]) -> str | None:
    return reads.home_site_of_card(ctx, path_params["card_id"])


def _home_site_of_volunteer(ctx: ServerContext, path_params: Mapping[str, str]) -> str | None:
    return reads.home_site_of_volunteer(ctx, path_params["volunteer_id"])


economy: Final = Scope("economy", _economy)
anywhere: Final = Scope("any site the principal holds it for", _economy, anywhere=True)
site_of_path: Final = Scope("site in the path", _site_of_path, (Reason.UNKNOWN_SITE, "no such site"))
site_of_kiosk: Final = Scope("the kiosk's site", _site_of_kiosk, (Reason.UNKNOWN_KIOSK, "no such kiosk"))
# A volunteer's home site (set at registration); none for an unknown card or volunteer, or a volunteer
# registered before home sites who never worked a shift: then only economy-wide principals may.
home_site_of_card: Final = Scope(
    "home site of the card's volunteer",
    _home_site_of_card,
    (Reason.UNKNOWN_CARD, reads.UNKNOWN_CARD_MESSAGE),
)
home_site_of_volunteer: Final = Scope(
    "the volunteer's home site", _home_site_of_volunteer, (Reason.UNKNOWN_VOLUNTEER, "no such volunteer")
)


@dataclass(frozen=True, slots=True)
class Marker:
    """An access whose proof, if any, a service checks: the marker only declares it."""

    label: str
    note: str = ""

    @property
    def scope_label(self) -> str:
        return ""

    def noting(self, note: str) -> "Marker":
        """The same access with a note for the route table."""
        return dataclasses.replace(self, note=note)

    async def __call__(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class Require:
    """An admin principal holding ``permission`` for ``scope``; the dependency answers the principal."""

    permission: Permission
    scope: Scope
    note: str = ""

    @property
    def label(self) -> str:
        return f"permission `{self.permission.value}`"

    @property
    def scope_label(self) -> str:
        return self.scope.label

    async def __call__(self, request: Request) -> Principal:
        context = runtime(request).context
        console = request.cookies.get(CONSOLE_COOKIE)
        if console:
            check_console_write(request)
        authorization = request.headers.get("authorization")
        guess = attempt(request, ADMIN_TOKEN_GUESSES)
        return await run_in_threadpool(
            self.check, context, authorization, request.path_params, guess, console=console
        )

    def check(
        self,
        ctx: ServerContext,
        authorization: str | None,
        path_params: Mapping[str, str],
        guess: Attempt,
        *,
        console: str | None = None,
    ) -> Principal:
        """The request's principal if it may; ``401`` without a valid credential, ``403`` without the right.

        A live console session (the ``kk_console`` cookie) is taken first, then the bearer token.
        """
        return self.admit(ctx, principal_of(ctx, console, authorization, guess), path_params)

    def admit(self, ctx: ServerContext, principal: Principal, path_params: Mapping[str, str]) -> Principal:
        """``principal`` if it may, else ``403 forbidden`` (it proved who it is, but lacks the right).

        A person who holds the permission, but not for the object's site, gets the
        scope's ``404`` instead (as for an object that does not exist).  Tokens keep
        ``403``: they are machines' credentials, and their answers are an API.
        """
        if self.allows(ctx, principal, path_params):
            return principal
        hidden = self.scope.hidden
        if principal.person_id is not None and hidden is not None and principal.sites_for(self.permission):
            raise ServiceError(*hidden)
        raise ServiceError(
            Reason.FORBIDDEN, f"{principal.name} may not {self.permission.value} here", status=403
        )

    def allows(self, ctx: ServerContext, principal: Principal, path_params: Mapping[str, str]) -> bool:
        """Whether ``principal`` may; the site is looked up only for a site-scoped principal."""
        if principal.may(self.permission, None):
            return True
        if self.scope.anywhere:
            return bool(principal.sites_for(self.permission))
        return principal.may(self.permission, self.scope.site_of(ctx, path_params))


def check_console_write(request: Request) -> None:
    """A write to the JSON API with the console cookie must carry the page's CSRF token as a header.

    A browser sends ``kk_console`` with every request to this server, so a page
    of another site could make it post to ``/v1/admin/…``; SameSite=Lax stops
    that in current browsers, and this check stops it everywhere: the header
    must equal the ``kk_csrf`` cookie (double submit, :mod:`server.web.forms`),
    which another site can neither read nor set.  Console pages (``/console``)
    check their forms' token themselves (``csrf_protected``, kept by a test).
    """
    if request.method not in WRITE_METHODS or request.url.path.startswith("/console"):
        return
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = request.headers.get("x-csrf-token", "")
    if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise ServiceError(
            Reason.CSRF_FAILED, "a write with the console's cookie needs the page's X-CSRF-Token", status=403
        )


def principal_of(
    ctx: ServerContext, console: str | None, authorization: str | None, guess: Attempt
) -> Principal:
    """The principal of a live console session ``console``, else of the bearer token (``401`` if none).

    An ended or unknown console cookie with no bearer token is ``401`` like no
    credential: a browser whose session timed out is sent to the login page.
    """
    if console:
        principal = accounts.console_principal(ctx, console)
        if principal is not None:
            return principal
        if authorization is None:
            raise ServiceError(Reason.UNAUTHORIZED, "the console session has ended: log in again")
    return authenticate(ctx, authorization, guess)


@dataclass(frozen=True, slots=True)
class HolderOr:
    """The volunteer the path is about, by their live session cookie; or else an admin ``require`` admits.

    ``holds(ctx, volunteer_id, path_params)`` says whether the session's volunteer
    is the one the path is about (for a card: holds that card).  The dependency
    answers the :class:`~server.sessions.Holder` or the :class:`Principal`.
    Refusals (no oracle, see the module docstring):

    * a bearer token: ``401``/``429`` as for :class:`Require`; with the permission
      but not for this volunteer, ``404 hidden`` (as for an unknown card); without
      the permission at all, ``403 forbidden``;
    * else a live session of someone else: ``404 hidden``;
    * else (no credential, or an ended session): ``401 unauthorized``.
    """

    require: Require
    holds: Callable[[ServerContext, str, Mapping[str, str]], bool]
    hidden: Reason
    hidden_message: str  # the very message of the service's own "not found", so the answers are equal
    note: str = ""

    @property
    def label(self) -> str:
        return f"card holder, or {self.require.label}"

    @property
    def scope_label(self) -> str:
        return self.require.scope_label

    async def __call__(self, request: Request) -> Holder | Principal:
        context = runtime(request).context
        cookie = request.cookies.get(SESSION_COOKIE)
        console = request.cookies.get(CONSOLE_COOKIE)
        if console:
            check_console_write(request)
        authorization = request.headers.get("authorization")
        guess = attempt(request, ADMIN_TOKEN_GUESSES)
        return await run_in_threadpool(
            self.check, context, cookie, authorization, request.path_params, guess, console=console
        )

    def check(
        self,
        ctx: ServerContext,
        cookie: str | None,
        authorization: str | None,
        path_params: Mapping[str, str],
        guess: Attempt,
        *,
        console: str | None = None,
    ) -> Holder | Principal:
        """The holder or principal if it may; otherwise the refusal the class docstring lists."""
        holder = sessions.session_holder(ctx, cookie)
        if holder is not None and self.holds(ctx, holder.volunteer_id, path_params):
            return holder
        person = accounts.console_principal(ctx, console) if console else None
        if person is not None or authorization is not None:
            principal = person or authenticate(ctx, authorization, guess)
            if self.require.allows(ctx, principal, path_params):
                return principal
            if self.require.permission in principal.permissions:
                raise ServiceError(self.hidden, self.hidden_message)
            raise ServiceError(
                Reason.FORBIDDEN, f"{principal.name} may not {self.require.permission.value}", status=403
            )
        if holder is not None:
            raise ServiceError(self.hidden, self.hidden_message)
        raise ServiceError(Reason.UNAUTHORIZED, "give the card holder's session or an admin token")


@dataclass(frozen=True, slots=True)
class VolunteerSession:
    """A volunteer's live session cookie; the dependency answers the :class:`~server.sessions.Holder`."""

    note: str = ""

    @property
    def label(self) -> str:
        return "volunteer session"

    @property
    def scope_label(self) -> str:
        return "the volunteer themselves"

    async def __call__(self, request: Request) -> Holder:
        context = runtime(request).context
        holder = await run_in_threadpool(
            sessions.session_holder, context, request.cookies.get(SESSION_COOKIE)
        )
        if holder is None:
            raise ServiceError(Reason.SESSION_REQUIRED, "no live session: open one with the access secret")
        return holder


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """Any person with a live console session (their own account's pages); answers their principal.

    Kept on ``request.state.principal`` too, so the page's layout shows their name and navigation.
    """

    note: str = ""

    @property
    def label(self) -> str:
        return "console session"

    @property
    def scope_label(self) -> str:
        return "the person themselves"

    async def __call__(self, request: Request) -> Principal:
        context = runtime(request).context
        principal = await run_in_threadpool(
            accounts.console_principal, context, request.cookies.get(CONSOLE_COOKIE)
        )
        if principal is None:
            raise ServiceError(Reason.UNAUTHORIZED, "log in to the console first")
        request.state.principal = principal
        return principal


FORWARDING_HEADERS: Final = ("x-forwarded-for", "forwarded", "x-real-ip")


def from_this_host(request: Request) -> bool:
    """Whether ``request`` came from the server's own host directly: a loopback peer, no proxy's header.

    A reverse proxy on the same host connects from loopback too, for everyone;
    it names the client in ``X-Forwarded-For`` (Caddy always, the nginx example
    in systemd/README.md too), so a request carrying any forwarding header is
    not taken as local, whoever sent the header.
    """
    peer = request.client.host if request.client is not None else ""
    try:
        loopback = ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False
    return loopback and not any(name in request.headers for name in FORWARDING_HEADERS)


@dataclass(frozen=True, slots=True)
class ScrapeAccess:
    """``GET /metrics``: what ``require`` admits; or, while no live token holds its permission, this host.

    The figures name kiosks, and show when a small site's kiosk is used, so
    they are not public.  A Prometheus on the server's own host needs no token
    until an operator makes one (``kokreativ server token add --permission
    read_metrics``); from then on, and from anywhere else always, the bearer
    token (or the admin token) is needed.  Refusals are :class:`Require`'s:
    ``401 unauthorized`` without a valid one (wrong ones count as guesses,
    ``429``), ``403 forbidden`` for a token without the permission.  The
    dependency answers the principal, or ``None`` for this host.
    """

    require: Require
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.require.label}, or this host while no token holds it"

    @property
    def scope_label(self) -> str:
        return self.require.scope_label

    async def __call__(self, request: Request) -> Principal | None:
        context = runtime(request).context
        console = request.cookies.get(CONSOLE_COOKIE)
        authorization = request.headers.get("authorization")
        if authorization is None and not console:
            if from_this_host(request) and not await run_in_threadpool(
                tokens.live_token_holds, context.storage, self.require.permission.value
            ):
                return None
            raise ServiceError(
                Reason.UNAUTHORIZED,
                f"give a bearer token holding {self.require.permission.value} "
                "(kokreativ server token add), or ask from the server's own host while no token holds it",
            )
        guess = attempt(request, ADMIN_TOKEN_GUESSES)
        return await run_in_threadpool(
            self.require.check, context, authorization, request.path_params, guess, console=console
        )


def scrape(permission: Permission, *, note: str = "") -> ScrapeAccess:
    """The dependency of ``/metrics``: ``Depends(scrape(Permission.READ_METRICS))``."""
    return ScrapeAccess(require(permission, scope=economy), note)


Access: TypeAlias = Marker | Require | HolderOr | VolunteerSession | ConsoleSession | ScrapeAccess


@dataclass(frozen=True, slots=True)
class Quota:
    """What one caller of a writing route can make the server keep; the route table shows ``text``.

    Like the markers it checks nothing: it declares the bound the service enforces.
    """

    text: str

    async def __call__(self) -> None:
        return None


def quota(text: str) -> Quota:
    """The declaration of a writing route's bound: ``Depends(quota("16 reports per kiosk"))``."""
    return Quota(text)


WRITE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})

public: Final = Marker("public")
kiosk_signed: Final = Marker("kiosk signature", "checked by the service with the kiosk's enrolled key")
enrolment_code: Final = Marker("enrolment code", "one-time code in the body, checked by the service")
access_secret: Final = Marker(
    "access secret", "the volunteer's secret in the body, checked by the service; wrong ones are guesses"
)
volunteer_session: Final = VolunteerSession()
console_login: Final = Marker(
    "console login", "e-mail and password, then a TOTP code, checked by the service; wrong ones are guesses"
)
invitation_link: Final = Marker("invitation link", "a single-use token in the path, checked by the service")
console_session: Final = ConsoleSession()


def require(permission: Permission, *, scope: Scope, note: str = "") -> Require:
    """The dependency that admits an admin principal holding ``permission`` for ``scope``.

    ``Depends(require(Permission.REVIEW, scope=economy))``
    """
    return Require(permission, scope, note)


def _holds_card(ctx: ServerContext, volunteer_id: str, path_params: Mapping[str, str]) -> bool:
    return reads.holds_card(ctx, volunteer_id, path_params["card_id"])


def card_holder_or(permission: Permission, *, note: str = "") -> HolderOr:
    """The holder of the card in the path, or ``permission`` for the home site of the card's volunteer.

    ``Depends(card_holder_or(Permission.READ_PERSONAL))``; an unknown card and a
    card the caller may not read both answer ``404 unknown_card``.
    """
    return HolderOr(
        require(permission, scope=home_site_of_card),
        _holds_card,
        Reason.UNKNOWN_CARD,
        reads.UNKNOWN_CARD_MESSAGE,
        note,
    )


@dataclass(frozen=True, slots=True)
class DeclaredRoute:
    """A route of an app as the route table shows it: methods, path, audience and declared access."""

    methods: tuple[str, ...]
    path: str
    audience: str  # the router's tags: one router per audience
    access: tuple[Access, ...]
    quotas: tuple[Quota, ...] = ()

    @property
    def writes(self) -> bool:
        return not WRITE_METHODS.isdisjoint(self.methods)

    def __str__(self) -> str:
        return f"{','.join(self.methods)} {self.path}".strip()


def declared_routes(routes: Iterable[BaseRoute]) -> list[DeclaredRoute]:
    """Every route of ``routes`` (an app's ``app.routes``), included routers flattened, in match order."""
    return [_declared(route) for route in effective_routes(routes)]


def effective_routes(routes: Iterable[BaseRoute]) -> list[Any]:
    """``routes`` as they serve: included routers flattened, each route with its inclusion's dependencies.

    FastAPI 0.165 keeps an included router as one entry of ``app.routes`` and
    builds each route's effective form (with the inclusion's dependencies)
    lazily; ``iter_route_contexts`` yields those.  Older versions copied the
    routes into ``app.routes`` already.
    """
    iter_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    return list(routes) if iter_contexts is None else list(iter_contexts(list(routes)))


def dependency_calls(route: Any) -> list[Any]:
    """The callables of every dependency of an effective ``route``, its routers' and nested ones included."""
    if not isinstance(getattr(route, "original_route", route), APIRoute):
        return []
    calls = []
    pending = list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop(0)
        calls.append(dependant.call)
        pending.extend(dependant.dependencies)
    return calls


def _declared(route: Any) -> DeclaredRoute:
    methods = tuple(sorted(getattr(route, "methods", None) or ()))
    path = str(getattr(route, "path", None) or repr(getattr(route, "original_route", route)))
    audience = ", ".join(str(tag) for tag in getattr(route, "tags", None) or ())
    calls = dependency_calls(route)
    found = [
        call
        for call in calls
        if isinstance(call, Marker | Require | HolderOr | VolunteerSession | ConsoleSession | ScrapeAccess)
    ]
    bounds = [call for call in calls if isinstance(call, Quota)]
    return DeclaredRoute(methods, path, audience, tuple(found), tuple(bounds))


def undeclared(routes: Iterable[BaseRoute]) -> list[str]:
    """The routes that do not declare exactly one access (none, or a contradiction of two)."""
    return [str(route) for route in declared_routes(routes) if len(route.access) != 1]


def unbounded_writes(routes: Iterable[BaseRoute]) -> list[str]:
    """The writing routes that do not declare exactly one :func:`quota`."""
    return [str(route) for route in declared_routes(routes) if route.writes and len(route.quotas) != 1]


def public_writes(routes: Iterable[BaseRoute]) -> list[str]:
    """The writing routes anyone may call: each must need a signature, a code or a permission."""
    return [
        str(route)
        for route in declared_routes(routes)
        if route.writes and any(access is public or access.label == public.label for access in route.access)
    ]
