"""The API description at /openapi.json and its docs page at /docs: served, offline, and true.

True means: every route of the app is described, each request body lists
exactly the fields its service accepts (the services' ``*_FIELDS``), and every
reason code it documents is a real :class:`~protocol.Reason` at the status the
server gives it.  Whether real answers match the description is the fuzz test's
job (``test_server_fuzz.py``).
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from server_helpers import Api, assert_error

from protocol import Reason
from server import admin, cards, coordinator_keys, decisions, enrolment, sessions, shops
from server.app import create_app
from server.context import ServerContext
from server.errors import STATUS
from server.http.access import declared_routes
from server.http.openapi import EXPLICIT, codes_for

# The services' own field sets, by the operation whose body they check.
FIELDS: dict[tuple[str, str], frozenset[str]] = {
    ("post", "/v1/admin/sites"): admin.SITE_FIELDS,
    ("post", "/v1/admin/sites/{site_id}/policy"): admin.POLICY_FIELDS,
    ("post", "/v1/admin/enrolment-codes"): admin.CODE_FIELDS,
    ("post", "/v1/admin/shops"): shops.SHOP_FIELDS,
    ("post", "/v1/admin/shops/{site_id}/presets"): shops.PRESET_FIELDS,
    ("post", "/v1/admin/issuer-keys"): cards.ISSUER_KEY_FIELDS,
    ("post", "/v1/admin/cards"): cards.CARD_FIELDS,
    ("post", "/v1/admin/cards/{card_id}/block"): cards.BLOCK_FIELDS,
    ("post", "/v1/admin/cards/{card_id}/coordinator"): cards.COORDINATOR_FIELDS,
    ("post", "/v1/admin/coordinators"): coordinator_keys.COORDINATOR_FIELDS,
    ("post", "/v1/admin/decisions"): decisions.DECISION_FIELDS,
    ("post", "/v1/admin/decisions/pending/{decision}/cosign"): decisions.COSIGN_FIELDS,
    ("post", "/v1/enrol"): enrolment.ENROL_FIELDS,
    ("post", "/v1/me/session"): sessions.SESSION_FIELDS,
    # The signed bodies: protocol.batches' envelope, and protocol.sealed's {body, sig}.
    ("post", "/v1/kiosks/{kiosk_id}/events"): frozenset({"events", "clock"}),
    ("post", "/v1/kiosks/{kiosk_id}/heartbeat"): frozenset({"body", "sig"}),
    ("post", "/v1/kiosks/{kiosk_id}/balance"): frozenset({"body", "sig"}),
}
DOCS_ROUTES = {"/openapi.json", "/docs", "/docs/assets/{name}"}


@pytest.fixture
def description(api: Api) -> dict[str, Any]:
    response = api.http.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    return dict(response.json())


def _operations(description: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, operations in description["paths"].items()
        for method, operation in operations.items()
    }


# People's pages (server.web) are HTML for browsers, not API operations: the route table lists them.
PAGE_AUDIENCES = {"pages", "console"}


def test_every_api_route_is_described(description: dict[str, Any], context: ServerContext) -> None:
    described = set(_operations(description))
    routes = {
        (method.lower(), route.path.replace("{path:path}", "{path}"))
        for route in declared_routes(create_app(context).routes)
        if route.path not in DOCS_ROUTES and route.audience not in PAGE_AUDIENCES
        for method in route.methods
        if method != "HEAD"
    }
    assert described == routes
    assert description["openapi"].startswith("3.1")


def test_each_request_body_lists_exactly_the_fields_its_service_accepts(description: dict[str, Any]) -> None:
    operations = _operations(description)
    with_body = {key for key, operation in operations.items() if "requestBody" in operation}
    # Every body is described (the evidence body only as an object: it is being redesigned).
    assert with_body == {*FIELDS, ("post", "/v1/kiosks/{kiosk_id}/evidence")}
    for key, fields in FIELDS.items():
        schema = operations[key]["requestBody"]["content"]["application/json"]["schema"]
        assert set(schema["properties"]) == fields, key
        assert schema["additionalProperties"] is False, key  # the services refuse unknown fields


def test_every_documented_reason_code_is_real_and_at_its_status(description: dict[str, Any]) -> None:
    documented: set[str] = set()
    for key, operation in _operations(description).items():
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            schema = response["content"]["application/json"]["schema"]
            codes = schema["properties"]["error"]["properties"]["code"]["enum"]
            assert codes, key
            for code in codes:
                reason = Reason(code)  # raises for a code that is not a Reason
                statuses = EXPLICIT.get(reason, {STATUS.get(reason, 400)})
                assert int(status) in statuses, (key, status, code)
            documented.update(codes)
        assert "422" not in operation["responses"], key  # FastAPI's; this server answers 400
    # Each refusal status the server maps a reason to is documented somewhere.
    assert {reason.value for reason in STATUS} <= documented


def test_codes_per_status_come_from_the_server_s_mapping() -> None:
    assert "unauthorized" in codes_for(401) and "unauthorized" not in codes_for(400)
    assert "forbidden" in codes_for(403) and "forbidden" not in codes_for(400)
    assert "unknown_coordinator" in codes_for(403) and "unknown_coordinator" in codes_for(404)
    assert "malformed_request" in codes_for(400)
    assert codes_for(500) == ["internal_error"]


def test_admin_operations_name_the_bearer_token(description: dict[str, Any]) -> None:
    assert description["components"]["securitySchemes"]["adminToken"]["scheme"] == "bearer"
    for (_, path), operation in _operations(description).items():
        schemes = {name for requirement in operation.get("security", []) for name in requirement}
        assert ("adminToken" in schemes) == path.startswith(("/v1/admin/", "/v1/audit/", "/v1/cards/")), path
        # Personal routes (issue 17): the card holder's session, or an admin token; /v1/me/… the session.
        assert ("volunteerSession" in schemes) == (
            path.startswith("/v1/cards/") or (path.startswith("/v1/me") and path != "/v1/me/session")
        ), path


class _Assets(HTMLParser):
    """The URLs a page makes the browser fetch: script sources and linked stylesheets and icons."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and values.get("src"):
            self.urls.append(str(values["src"]))
        if tag == "link" and values.get("href"):
            self.urls.append(str(values["href"]))


def test_the_docs_page_loads_only_same_origin_assets(api: Api) -> None:
    page = api.http.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    parser = _Assets()
    parser.feed(page.text)
    assert len(parser.urls) == 3  # the script, the stylesheet and the icon
    for url in parser.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and url.startswith("/"), url
        asset = api.http.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 0, url
    assert "'/openapi.json'" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing outside the machine


def test_an_unknown_asset_is_a_404_in_the_error_shape(api: Api) -> None:
    for name in ("index.html", "..%2Fcore.py", "swagger-ui-bundle.js.map"):
        assert_error(api.http.get(f"/docs/assets/{name}"), 404, "not_found")


def test_the_description_is_served_again_unchanged(api: Api, description: dict[str, Any]) -> None:
    again: httpx.Response = api.http.get("/openapi.json")
    assert again.json() == description
