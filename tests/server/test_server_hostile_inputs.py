"""No input yields a server error: hostile bodies and queries on every route get a 4xx and change nothing.

The routes come from the app itself (:func:`server.http.access.declared_routes`),
so a route added later is covered without touching this file.  Each request is
sent with and without the admin token; path parameters name a real site (so
site routes read their body) and unknown kiosks, cards and keys (so no refused
request can revoke or block anything real).
"""

from __future__ import annotations

import gzip
import http.client
import itertools
import json
import re
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_helpers import T0, Api, World

from protocol import GENESIS_PREV, PrivateKey, ProtocolError
from protocol.encoding import canonical_json
from protocol.evidence import EvidenceReport
from protocol.heartbeat import Heartbeat
from protocol.sealed import seal
from server import admin, cards, coordinator_keys, decisions, enrolment, shops, tlog
from server.app import create_app
from server.context import ServerContext
from server.datadir import InitResult
from server.http.access import DeclaredRoute, Require, declared_routes
from server.web.forms import CSRF_COOKIE
from tests.integration.scale import report_figure

BIG_INT = "9" * 5000

# Raw bodies: not JSON, or JSON of every wrong shape.
HOSTILE_BODIES: tuple[bytes, ...] = (
    b"",
    BIG_INT.encode(),
    b"-" + BIG_INT.encode(),
    b"null",
    b"true",
    b"1.5",
    b"1e400",
    b"NaN",
    b"-Infinity",
    b'"a string"',
    b"[]",
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 5000 + b"1" + b"}" * 5000,
    b"\xff\xfe\x00{",
    b'{"events": "\xc3\x28"}',
    b"{",
    b'{"events": [' + BIG_INT.encode() + b"]}",
    b'{"events": [{"body": ' + BIG_INT.encode() + b', "sig": {}}]}',
    b'{"events": [], "clock": ' + BIG_INT.encode() + b"}",
    b'{"events": [], "clock": {"body": [], "sig": 1e400}}',
)

# Values put in every known field, one field at a time.
HOSTILE_VALUES: tuple[str, ...] = (
    BIG_INT,
    "-" + BIG_INT,
    '{"a": {"b": []}}',
    '[["x"]]',
    "null",
    "true",
    "1.5",
    "1e400",
    "NaN",
    '"\\ud800"',
)

KNOWN_FIELDS: frozenset[str] = (
    admin.SITE_FIELDS
    | admin.POLICY_FIELDS
    | admin.CODE_FIELDS
    | cards.ISSUER_KEY_FIELDS
    | cards.CARD_FIELDS
    | cards.BLOCK_FIELDS
    | cards.COORDINATOR_FIELDS
    | coordinator_keys.COORDINATOR_FIELDS
    | decisions.DECISION_FIELDS
    | enrolment.ENROL_FIELDS
    | shops.SHOP_FIELDS
    | shops.PRESET_FIELDS
    | frozenset({"events", "clock", "body", "sig", "kiosk_id", "seq", "boot_id", "timestamp_ms"})
)

QUERY_NAMES: tuple[str, ...] = (
    "from_ms",
    "to_ms",
    "format",
    "old",
    "new",
    "old_size",
    "new_size",
    "size",
    "index",
    "tree_size",
    "leaf_index",
    "silent_after_s",
    "log_size",
)
QUERY_VALUES: tuple[str, ...] = (BIG_INT, "-" + BIG_INT, "1e400", "NaN", "-1", "", "\x00", "١٢٣", "[]", "{}")
# People's pages (server.web) read their own query names; they render HTML, so a smaller cross suffices.
PAGE_QUERY_NAMES: tuple[str, ...] = ("format", "table", "q", "next", "site", "from", "to", "status")
# Issue 19's pages read these too (a shop's month, an entry to check, a district).
ISSUE_19_PAGES: tuple[str, ...] = ("/console/laden", "/pruefen", "/laeden", "/ich")
ISSUE_19_QUERY_NAMES: tuple[str, ...] = ("month", "index", "bezirk")
PAGE_QUERY_VALUES: tuple[str, ...] = (BIG_INT, "\x00", "١٢٣", "-1")
PAGE_AUDIENCES = frozenset({"console", "pages"})


@pytest.fixture
def admin_token(data_dir: tuple[Any, InitResult]) -> str:
    return data_dir[1].admin_token


@pytest.fixture
def client(api: Api) -> httpx.Client:
    return api.http


@dataclass(frozen=True)
class _Answer:
    """What :class:`_Wire` read back: the parts of an ``httpx.Response`` the checks here read."""

    status_code: int
    headers: httpx.Headers
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


class _Wire:
    """The same requests as ``httpx.Client`` sends (its default headers, its query encoding), over one
    kept-alive ``http.client`` connection.

    The two crosses over every route send some 45,000 requests; httpx's own work per
    request was about 0.5 ms of the 1.5 ms each took, some 20 s of the suite.
    """

    _HEADERS: Final = dict(httpx.Client().headers)

    def __init__(self, base_url: str) -> None:
        url = httpx.URL(base_url)
        self._connection = http.client.HTTPConnection(url.host, url.port, timeout=30)

    def close(self) -> None:
        self._connection.close()

    def get(self, path: str, *, params: dict[str, str], headers: dict[str, str]) -> _Answer:
        return self._send("GET", f"{path}?{urllib.parse.urlencode(params)}", None, headers)

    def post(self, path: str, *, content: bytes, headers: dict[str, str]) -> _Answer:
        return self._send("POST", path, content, headers)

    def _send(self, method: str, target: str, body: bytes | None, headers: dict[str, str]) -> _Answer:
        self._connection.request(method, target, body=body, headers={**self._HEADERS, **headers})
        response = self._connection.getresponse()
        content = response.read()
        if response.getheader("content-encoding") == "gzip":
            content = gzip.decompress(content)
        return _Answer(response.status, httpx.Headers(response.getheaders()), content)


@pytest.fixture
def wire(api: Api) -> Iterator[_Wire]:
    made = _Wire(api.base_url)
    yield made
    made.close()


def _log_size(context: ServerContext) -> int:
    """The transparency log's size: every accepted write appends to it."""
    with context.storage.read() as tx:
        return tlog.latest_checkpoint(tx)[0]


def _page(route: DeclaredRoute) -> bool:
    """A page for people: forms, not JSON, and every form's CSRF check comes before its fields."""
    return route.audience in PAGE_AUDIENCES


def _admin(route: DeclaredRoute) -> bool:
    return any(isinstance(access, Require) for access in route.access)


def _paths(route: DeclaredRoute, world: World, shop_id: str | None = None) -> list[str]:
    """``route``'s path with a real site and unknown everything else, with the real kiosk, and huge numbers.

    The real kiosk only on routes no admin guards: its body then reaches the
    kiosk's key and the decoders, and no hostile body can revoke or clear it.
    A shop's pages (``{shop_id}``) get a real shop, so their queries are read.
    """
    path = route.path.replace("{site_id}", world.site["site_id"]).replace("{path:path}", "0/x")
    if shop_id is not None:
        path = path.replace("{shop_id}", shop_id)
    paths = [re.sub(r"\{[^}]+\}", "zz-unknown", path)]
    if "{kiosk_id}" in path and not _admin(route):
        paths.append(re.sub(r"\{[^}]+\}", "zz-unknown", path.replace("{kiosk_id}", world.kiosk.kiosk_id)))
    # Thousands of digits in every path parameter (and a tile index of thousands of digits).
    paths.append(
        re.sub(r"\{[^}]+\}", BIG_INT, route.path.replace("{path:path}", "0/" + "x999/" * 1500 + "000"))
    )
    return paths


_CHECKED: Counter[str] = Counter()  # requests checked by each test, for docs/operations.md ("Reliability")


@pytest.fixture(autouse=True)
def _count_checked(request: pytest.FixtureRequest) -> Iterator[None]:
    before = _CHECKED.total()
    yield
    name = request.node.originalname
    report_figure(f"hostile requests answered below 500 ({name})", _CHECKED.total() - before)


def _assert_refused(response: Any, what: str) -> None:
    """Below 500, and a 4xx in the documented error shape (a page's refusal is a page: below 500 only)."""
    _CHECKED["checked"] += 1
    assert response.status_code < 500, f"{what}: {response.status_code} {response.text[:300]}"
    if response.status_code >= 400 and not response.headers.get("content-type", "").startswith("text/html"):
        body = response.json()
        assert set(body) == {"error"}, what
        assert isinstance(body["error"]["code"], str) and body["error"]["code"], what
        assert isinstance(body["error"]["message"], str), what


def _routes(context: ServerContext, method: str) -> list[DeclaredRoute]:
    """The app's routes for ``method``, listed from a fresh app of the same code."""
    return [route for route in declared_routes(create_app(context).routes) if method in route.methods]


def _headers(token: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _bodies(route: DeclaredRoute, path: str, token: str | None) -> Iterator[bytes]:
    """The raw hostile bodies; and each known field's hostile values where the body is read.

    An admin route without the token refuses before reading the body, and a path
    of huge numbers names nothing: the raw bodies are enough there, and the file
    stays fast.
    """
    yield from HOSTILE_BODIES
    if (token is None and _admin(route)) or BIG_INT in path or _page(route):
        return
    for field in sorted(KNOWN_FIELDS):
        for value in HOSTILE_VALUES:
            yield b'{"' + field.encode() + b'": ' + value.encode() + b"}"


def test_every_body_route_refuses_hostile_bodies(
    wire: _Wire, context: ServerContext, world: World, admin_token: str
) -> None:
    routes = _routes(context, "POST")
    assert any(route.path == "/v1/enrol" for route in routes)
    size = _log_size(context)
    for route in routes:
        for path, token in itertools.product(_paths(route, world), (None, admin_token)):
            kinds = ("application/json", "application/x-www-form-urlencoded") if _page(route) else ()
            for body in _bodies(route, path, token):
                for kind in kinds or ("application/json",):
                    headers = {**_headers(token), "Content-Type": kind}
                    response = wire.post(path, content=body, headers=headers)
                    what = f"POST {route.path} token={token is not None} {kind} body={body[:80]!r}"
                    _assert_refused(response, what)
                    now = _log_size(context)
                    assert response.status_code < 400 or now == size, what
                    size = now


@pytest.fixture
def shop_id(api: Api) -> str:
    """A real shop, so a shop's pages read their queries and forms (the admin token runs every shop)."""
    return str(api.admin("POST", "/v1/admin/shops", {"name": "Laden"}, expect=201).json()["site_id"])


def test_every_query_route_refuses_hostile_queries(
    wire: _Wire, context: ServerContext, world: World, admin_token: str, shop_id: str
) -> None:
    routes = _routes(context, "GET")
    size = _log_size(context)
    for route in routes:
        for path, token in itertools.product(_paths(route, world, shop_id), (None, admin_token)):
            quick = (token is None and _admin(route)) or BIG_INT in path  # refused before the query is read
            names, values = (
                (PAGE_QUERY_NAMES, PAGE_QUERY_VALUES) if _page(route) else (QUERY_NAMES, QUERY_VALUES)
            )
            if route.path.startswith(ISSUE_19_PAGES) or route.path == "/":
                names = (*names, *ISSUE_19_QUERY_NAMES)
            for name in names[:1] if quick else names:
                for value in values[:1] if quick else values:
                    response = wire.get(path, params={name: value}, headers=_headers(token))
                    _assert_refused(
                        response, f"GET {route.path} token={token is not None} {name}={value[:20]!r}"
                    )
    assert _log_size(context) == size


# The forms of issue 19's pages, sent past their CSRF check (the crawler above stops at it): every field
# a form there reads, all with the same hostile value (test_server_shop_redteam sends each one alone
# in an otherwise valid form).
FORM_PREFIXES: tuple[str, ...] = ("/console/laden", "/console/places/{site_id}/profil", "/ich", "/laeden")
FORM_FIELDS: tuple[str, ...] = (
    "name", "role", "daily_max", "redemption_id", "street", "postcode", "city", "district", "offer",
    "hours", "website", "secret", "card_id", "confirm",
)  # fmt: skip
FORM_VALUES: tuple[str, ...] = (BIG_INT, "x" * 60_000, "\x00", "\u202e", "\ud800", "١٢٣", "-1", "")
CSRF = "hostile-csrf"


def test_issue_19_forms_refuse_hostile_fields_past_their_csrf_check(
    client: httpx.Client, context: ServerContext, world: World, admin_token: str, shop_id: str
) -> None:
    routes = [
        route for route in _routes(context, "POST") if _page(route) and route.path.startswith(FORM_PREFIXES)
    ]
    assert any(route.path == "/console/laden/{shop_id}/personal" for route in routes)
    headers = {
        **_headers(admin_token),
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": f"{CSRF_COOKIE}={CSRF}",
    }
    size = _log_size(context)
    for route in routes:
        path = route.path.replace("{site_id}", shop_id).replace("{shop_id}", shop_id)
        path = re.sub(r"\{[^}]+\}", "zz-unknown", path)
        for value in FORM_VALUES:
            form = {"csrf": CSRF, **dict.fromkeys(FORM_FIELDS, value)}
            body = urlencode(form, encoding="utf-8", errors="surrogatepass")
            response = client.post(path, content=body, headers=headers)
            what = f"POST {path} {value[:12]!r}"
            _assert_refused(response, what)
            assert response.status_code != 403, what  # past the CSRF check and the access check
            now = _log_size(context)
            assert response.status_code < 400 or now == size, what
            size = now


class _BigInt:
    """An integer of ``digits`` nines, spelled out by :func:`_dumps` (``json.dumps`` refuses past 4300)."""

    def __init__(self, digits: int) -> None:
        self.digits = digits


def _dumps(value: Any) -> str:
    if isinstance(value, _BigInt):
        return "9" * value.digits
    if isinstance(value, list):
        return "[" + ",".join(_dumps(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(key) + ":" + _dumps(item) for key, item in value.items()) + "}"
    return json.dumps(value)


_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=4000, max_value=6000).map(_BigInt)
    | st.floats()
    | st.text(max_size=20)
)
_json = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
_objects = st.dictionaries(st.sampled_from(sorted(KNOWN_FIELDS)) | st.text(max_size=8), _json, max_size=4)
REPRESENTATIVE = (
    "/v1/enrol",
    "/v1/kiosks/zz-unknown/heartbeat",
    "/v1/kiosks/zz-unknown/evidence",
    "/v1/kiosks/zz-unknown/events",
    "/v1/admin/sites",
    "/v1/admin/cards",
    "/v1/admin/decisions",
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=_json | _objects, route=st.sampled_from(REPRESENTATIVE), authorised=st.booleans())
def test_generated_json_is_refused_without_5xx(
    client: httpx.Client, context: ServerContext, admin_token: str, value: Any, route: str, authorised: bool
) -> None:
    size = _log_size(context)
    body = _dumps(value).encode()
    response = client.post(route, content=body, headers=_headers(admin_token if authorised else None))
    _assert_refused(response, f"POST {route} {body[:200]!r}")
    if response.status_code >= 400:
        assert _log_size(context) == size


# Values in the signed bodies' fields: a kiosk that was stolen can sign anything.
SIGNED_VALUES: tuple[Any, ...] = ({"a": {}}, [["x"]], None, True, False, -1, 2**70, "", "\u202e")
SIGNED_BIG_INT = "9" * 5000


def _signed_variants(body: bytes) -> Iterator[bytes]:
    """``body`` (canonical JSON) with each field, in turn, given each hostile value."""
    obj = json.loads(body)
    for name in obj:
        for value in SIGNED_VALUES:
            yield canonical_json({**obj, name: value}) if _canonical_ok(value) else b""
        # Past int()'s digit limit: not encodable by json.dumps, so spliced into the canonical bytes.
        marker = canonical_json({**obj, name: "@@"})
        yield marker.replace(b'"@@"', SIGNED_BIG_INT.encode())


def _canonical_ok(value: Any) -> bool:
    try:
        canonical_json({"x": value})
    except ProtocolError:
        return False
    return True


def test_hostile_fields_signed_by_the_kiosk_are_refused(
    client: httpx.Client, context: ServerContext, world: World
) -> None:
    kiosk = world.kiosk
    size = _log_size(context)
    beat = Heartbeat(
        kiosk=kiosk.kiosk_id,
        sent_ms=T0,
        boot=kiosk.boot,
        mono_ms=1,
        synced=True,
        version="1.0",
        pending=0,
        reader="ok",
        last_seq=0,
    )
    for body in _signed_variants(beat.to_bytes()):
        response = client.post(f"/v1/kiosks/{kiosk.kiosk_id}/heartbeat", json=seal(body, kiosk.key))
        _assert_refused(response, f"heartbeat {body[:120]!r}")
    for version in (1, 2):  # a v2 event's opening is sent beside it, so only its signed fields are hostile
        kiosk.seq, kiosk.head = 0, GENESIS_PREV
        event = kiosk.event("check_in", world.card_id, T0, version=version)
        beside = {} if event.opening is None else {"opening": event.opening.to_json()}
        for body in _signed_variants(event.body):
            batch = {"events": [{**seal(body, kiosk.key), **beside}]}
            response = client.post(f"/v1/kiosks/{kiosk.kiosk_id}/events", json=batch)
            _assert_refused(response, f"event {body[:120]!r}")
            assert response.status_code >= 400, f"event {body[:120]!r}"
    report = EvidenceReport(
        kiosk=kiosk.kiosk_id,
        number=1,
        kind="log_inconsistent",
        old_checkpoint="old",
        new_checkpoint="new",
        consistency=("AA==",),
        detail="",
        detected_ms=T0,
    )
    for body in _signed_variants(report.to_bytes()):
        response = client.post(f"/v1/kiosks/{kiosk.kiosk_id}/evidence", json=seal(body, kiosk.key))
        _assert_refused(response, f"evidence {body[:120]!r}")
    assert _log_size(context) == size


# A valid body for each admin route that reads one; each field in turn gets each hostile value, so
# the field is read with every other field valid (a wrong type past the first field is reached too).
def _templates(world: World) -> dict[str, list[dict[str, Any]]]:
    site = world.site["site_id"]
    key = PrivateKey.generate().public_key.to_b64()
    return {
        "/v1/admin/sites": [
            {"name": "S", "tokens_per_hour": 1, "max_shift_hours": 2, "allow_uncredentialed": True}
        ],
        f"/v1/admin/sites/{site}/policy": [{"allow_uncredentialed": True}],
        "/v1/admin/shops": [
            {
                "name": "Shop",
                "max_amount": 5,
                "offline_allowance": 5,
                "offline_daily_cap": 5,
                "void_window_s": 60,
                "presets": [{"amount": 1, "label": "x"}],
                "allow_uncredentialed": False,
            }
        ],
        f"/v1/admin/shops/{site}/presets": [{"presets": [{"amount": 1, "label": "x"}]}],
        "/v1/admin/enrolment-codes": [{"site_id": site, "expires_in_s": 60}],
        "/v1/admin/issuer-keys": [{"public_key": key}],
        "/v1/admin/cards": [
            {"name": "N", "site_id": site, "ehrenamtskarte": "E1", "uid": "04a1b2c3"},
            {
                "volunteer_id": world.volunteer_id,
                "issuer_key_id": "i_0123456789abcdef",
                "valid_from_s": 1,
                "valid_until_s": 2,
            },
        ],
        "/v1/admin/coordinators": [{"name": "C", "public_key": key}],
        "/v1/admin/decisions": [{"body": "AAAA", "sig": "AAAA"}],
        "/v1/enrol": [{"code": "123-456-789", "public_key": key, "signature": "AAAA"}],
    }


FIELD_VALUES: tuple[Any, ...] = (
    {"a": {}},
    [["x"]],
    [],
    None,
    True,
    -1,
    1.5,
    2**70,
    "",
    "\ud800",
    "x" * 10_000,
)


def _field_variants(template: dict[str, Any]) -> Iterator[bytes]:
    for name in template:
        for value in FIELD_VALUES:
            yield _dumps({**template, name: value}).encode()
        yield _dumps({**template, name: _BigInt(5000)}).encode()


def test_each_field_of_a_valid_admin_body_refuses_a_wrong_type(
    client: httpx.Client, context: ServerContext, world: World, admin_token: str
) -> None:
    for path, templates in _templates(world).items():
        for template in templates:
            for body in _field_variants(template):
                size = _log_size(context)
                response = client.post(path, content=body, headers=_headers(admin_token))
                what = f"POST {path} {body[:160]!r}"
                _assert_refused(response, what)
                assert response.status_code < 400 or _log_size(context) == size, what
