"""Who may call each route: declared on every route, as data, and the docs' route table made from it."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import APIRouter, Depends, FastAPI
from server_helpers import World

from server.app import create_app
from server.context import ServerContext
from server.errors import ServiceError
from server.http.access import (
    ADMIN_TOKEN,
    Permission,
    Principal,
    Require,
    access_secret,
    authenticate,
    console_login,
    console_session,
    declared_routes,
    economy,
    enrolment_code,
    invitation_link,
    kiosk_signed,
    public,
    public_writes,
    quota,
    require,
    site_of_kiosk,
    site_of_path,
    unbounded_writes,
    undeclared,
    volunteer_session,
)
from server.http.table import BEGIN, END, main, route_table, with_table
from server.ratelimit import ADMIN_TOKEN as ADMIN_TOKEN_GUESSES
from server.ratelimit import GuessLimiter
from server.web.console.confirmations import confirmation_link

ARCHITECTURE = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def _bare_app() -> FastAPI:
    return FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


def test_every_route_of_the_app_declares_exactly_one_access(context: ServerContext) -> None:
    app = create_app(context)
    routes = {str(route): route for route in declared_routes(app.routes)}
    assert undeclared(app.routes) == []
    # The walk sees the routers' routes (not an empty list that passes by default).
    assert routes["POST /v1/kiosks/{kiosk_id}/events"].access == (kiosk_signed,)
    assert routes["GET /checkpoint"].access == (public,)
    assert len(routes) >= 45


def test_the_check_catches_a_route_without_declared_access() -> None:
    """A throwaway app: declared routes pass, an undeclared one (direct or in a router) and a double fail."""
    app = _bare_app()

    @app.get("/declared", dependencies=[Depends(public)])
    async def declared() -> dict[str, str]:
        return {}

    @app.get("/forgotten")
    async def forgotten() -> dict[str, str]:
        return {}

    router = APIRouter(dependencies=[Depends(public)])

    @router.get("/in-a-public-router")
    async def in_a_public_router() -> dict[str, str]:
        return {}

    @router.post("/v1/admin/twice", dependencies=[Depends(require(Permission.AUDIT, scope=economy))])
    async def twice() -> dict[str, str]:
        return {}

    bare = APIRouter()

    @bare.delete("/forgotten-in-a-router")
    async def forgotten_in_a_router() -> dict[str, str]:
        return {}

    app.include_router(router)
    app.include_router(bare)
    assert undeclared(app.routes) == [
        "GET /forgotten",
        "POST /v1/admin/twice",
        "DELETE /forgotten-in-a-router",
    ]
    with pytest.raises(ValueError, match="GET /forgotten"):
        route_table(app.routes)


def test_no_writing_route_is_public_and_each_declares_its_quota(context: ServerContext) -> None:
    routes = declared_routes(create_app(context).routes)
    assert public_writes(create_app(context).routes) == []
    assert unbounded_writes(create_app(context).routes) == []
    writes = {str(route): route for route in routes if route.writes}
    assert len(writes) >= 20  # the walk sees them (not an empty list that passes by default)
    assert writes["POST /v1/kiosks/{kiosk_id}/evidence"].access == (kiosk_signed,)
    for route in writes.values():
        (access,) = route.access
        assert access in (
            kiosk_signed,
            enrolment_code,
            access_secret,
            volunteer_session,
            console_login,
            invitation_link,
            console_session,
            confirmation_link,
        ) or isinstance(access, Require), str(route)
    assert all(not route.quotas for route in routes if not route.writes)


def test_the_checks_catch_a_public_write_and_a_write_without_quota() -> None:
    app = _bare_app()

    @app.post("/open", dependencies=[Depends(public), Depends(quota("1"))])
    async def open_write() -> None: ...

    @app.delete("/noted", dependencies=[Depends(public.noting("why not")), Depends(quota("1"))])
    async def noted_write() -> None: ...

    @app.put("/unbounded", dependencies=[Depends(kiosk_signed)])
    async def unbounded_write() -> None: ...

    @app.get("/read", dependencies=[Depends(public)])
    async def read() -> None: ...

    assert public_writes(app.routes) == ["POST /open", "DELETE /noted"]
    assert unbounded_writes(app.routes) == ["PUT /unbounded"]
    assert (
        "| POST | `/open` |  | public |  | 1 |  |" in route_table(app.routes).splitlines()
    )  # the quota column


def test_the_framework_s_own_pages_would_count_as_undeclared() -> None:
    """FastAPI's default /docs and /openapi.json are routes too: the server turns them off."""
    assert "GET,HEAD /docs" in undeclared(FastAPI().routes)


def test_admin_and_audit_routes_and_only_they_require_a_permission(context: ServerContext) -> None:
    for route in declared_routes(create_app(context).routes):
        (access,) = route.access
        if route.path.startswith("/console"):
            continue  # the console's pages: a person's permission, or their own session (test_web_*)
        audience = route.path.split("/")[2] if route.path.startswith("/v1/") else ""
        assert isinstance(access, Require) == (audience in ("admin", "audit")), str(route)
        assert (route.audience == "admin") == (audience == "admin"), str(route)
        assert (route.audience == "audit") == (audience == "audit"), str(route)


def test_the_docs_route_table_is_up_to_date(context: ServerContext) -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    assert BEGIN in text and END in text
    assert with_table(text, route_table(create_app(context).routes)) == text, (
        "docs/architecture.md's route table is out of date: python -m server.http.table --write "
        "docs/architecture.md"
    )


def test_the_command_checks_and_writes_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check", str(ARCHITECTURE)]) == 0
    stale = tmp_path / "architecture.md"
    stale.write_text(f"# Title\n\n{BEGIN}\n| old |\n{END}\n\nAfter.\n", encoding="utf-8")
    assert main(["--check", str(stale)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert main(["--write", str(stale)]) == 0
    assert main(["--check", str(stale)]) == 0
    text = stale.read_text(encoding="utf-8")
    assert text.startswith(f"# Title\n\n{BEGIN}\n| method | path |") and text.endswith(f"{END}\n\nAfter.\n")
    assert "| POST | `/v1/admin/decisions` | admin | permission `decide` | economy |" in text


def test_the_admin_token_is_an_economy_wide_principal_with_every_permission(
    context: ServerContext, data_dir
) -> None:
    guesses = GuessLimiter(context.now_ms)
    guess = guesses.attempt(ADMIN_TOKEN_GUESSES, "test")
    assert authenticate(context, f"Bearer {data_dir[1].admin_token}", guess) == ADMIN_TOKEN
    assert ADMIN_TOKEN.permissions == frozenset(Permission) and ADMIN_TOKEN.sites is None
    for authorization in (None, "Bearer wrong", f"Basic {data_dir[1].admin_token}"):
        with pytest.raises(ServiceError) as refused:
            authenticate(context, authorization, guesses.attempt(ADMIN_TOKEN_GUESSES, "test"))
        assert (refused.value.status, refused.value.reason.value) == (401, "unauthorized")


def test_a_named_token_is_a_principal_with_its_permissions_and_sites(context: ServerContext, world) -> None:
    from server.tokens import add_token

    site_id = world.site["site_id"]
    token = add_token(
        context.storage, name="café", permissions=["read_personal", "review"], sites=[site_id], now_ms=1
    )
    wide = add_token(context.storage, name="auditor", permissions=["audit"], sites=None, now_ms=1)
    guesses = GuessLimiter(context.now_ms)
    principal = authenticate(context, f"Bearer {token}", guesses.attempt(ADMIN_TOKEN_GUESSES, "t"))
    assert principal.permissions == {Permission.READ_PERSONAL, Permission.REVIEW}
    assert principal.sites == {site_id} and "café" in principal.name
    assert authenticate(context, f"bearer {wide}", guesses.attempt(ADMIN_TOKEN_GUESSES, "t")).sites is None
    with context.storage.write() as tx:  # a permission a newer version stored: ignored, failing closed
        tx.insert_token("0" * 64, "future", ["read_personal", "time_travel"], None, 1)
    assert principal.may(Permission.READ_PERSONAL, site_id) and not principal.may(Permission.REVIEW, None)
    with pytest.raises(ServiceError) as unknown_site:
        add_token(context.storage, name="x", permissions=["review"], sites=["s_" + "0" * 32], now_ms=1)
    assert unknown_site.value.reason.value == "unknown_site"
    with pytest.raises(ServiceError) as taken:
        add_token(context.storage, name="café", permissions=["review"], sites=None, now_ms=1)
    assert taken.value.reason.value == "bad_field"


def test_a_site_scoped_principal_is_held_to_its_sites(api, world: World) -> None:
    """The step issue 17 takes: a principal for one site may act there, and nowhere else."""
    context, site_id, kiosk_id = api.context, world.site["site_id"], world.kiosk.kiosk_id
    site_admin = Principal(
        "site admin",
        frozenset({Permission.MANAGE_FLEET, Permission.MANAGE_SITES}),
        sites=frozenset({site_id}),
    )
    policy = require(Permission.MANAGE_SITES, scope=site_of_path)
    assert policy.allows(context, site_admin, {"site_id": site_id})
    assert not policy.allows(context, site_admin, {"site_id": "s_" + "0" * 32})
    revoke = require(Permission.MANAGE_FLEET, scope=site_of_kiosk)
    assert revoke.allows(context, site_admin, {"kiosk_id": kiosk_id})
    assert not revoke.allows(context, site_admin, {"kiosk_id": "k_" + "0" * 32})  # unknown: no site
    assert not require(Permission.MANAGE_SITES, scope=economy).allows(context, site_admin, {})
    assert not require(Permission.REVIEW, scope=site_of_path).allows(
        context, site_admin, {"site_id": site_id}
    )
    # The economy-wide token may act anywhere, and nothing is looked up for it.
    assert revoke.allows(context, ADMIN_TOKEN, {"kiosk_id": "k_" + "0" * 32})


def test_a_principal_without_the_right_is_refused_with_forbidden(api, world: World) -> None:
    context, site_id = api.context, world.site["site_id"]
    site_admin = Principal("site admin", frozenset({Permission.MANAGE_SITES}), sites=frozenset({site_id}))
    policy = require(Permission.MANAGE_SITES, scope=site_of_path)
    assert policy.admit(context, site_admin, {"site_id": site_id}) is site_admin
    for refused_request in (
        (policy, {"site_id": "s_" + "0" * 32}),  # another site
        (require(Permission.REVIEW, scope=site_of_path), {"site_id": site_id}),  # another permission
    ):
        check, path_params = refused_request
        with pytest.raises(ServiceError) as refused:
            check.admit(context, site_admin, path_params)
        assert (refused.value.status, refused.value.reason.value) == (403, "forbidden")
        assert "site admin may not" in str(refused.value)
