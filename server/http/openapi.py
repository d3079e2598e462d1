"""The API description (``/openapi.json``): request bodies, query parameters, answers and reason codes.

Routes read raw bytes (a signed body must never be re-serialised), so FastAPI
cannot infer their bodies.  Each route passes ``**doc(...)`` to its decorator:
the request body as a pydantic ``TypedDict`` used only for its JSON Schema,
the query parameters it reads, its success answers and the statuses it refuses
with.  Nothing here changes what a route does.

Every refusal has the one error shape of :mod:`server.http.errors`,
``{"error": {"code", "message", ...}}``; the description lists, per status,
the :class:`~protocol.Reason` codes that status carries (:func:`codes_for`,
from :data:`server.errors.STATUS` and the few statuses given explicitly), so a
client can switch on ``code`` and a fuzzer can check each answer against it.

Tests keep this honest: each body's fields equal the service's ``*_FIELDS``,
every listed code is a real ``Reason``, and schemathesis checks real answers
against this description.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final, NotRequired

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import ConfigDict, Field, TypeAdapter, with_config
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from protocol import Reason
from protocol.credentials import MAX_VALIDITY_S
from protocol.decisions import MAX_VOID_WINDOW_S
from protocol.events import MAX_AMOUNT
from protocol.trust import MAX_PRESET_LABEL
from server import admin, cards, enrolment, sessions

JSON: Final = "application/json"
TEXT: Final = "text/plain"
CSV: Final = "text/csv"
BINARY: Final = "application/octet-stream"

_FORBID: Final = ConfigDict(extra="forbid")
Name = Annotated[str, Field(min_length=1, max_length=200)]
Id = Annotated[str, Field(min_length=1, max_length=40)]
B64 = Annotated[str, Field(description="base64 (RFC 4648, standard alphabet)")]
Count = Annotated[int, Field(ge=1, le=MAX_AMOUNT)]

# -- request bodies: one TypedDict per body, used only for its JSON Schema ---------------------------


@with_config(_FORBID)
class SiteRequest(TypedDict):
    """``POST /v1/admin/sites`` (:data:`server.admin.SITE_FIELDS`)."""

    name: Name
    tokens_per_hour: Annotated[int, Field(ge=0, le=admin.MAX_TOKENS_PER_HOUR)]
    max_shift_hours: NotRequired[Annotated[int, Field(ge=1, le=7 * 24)]]
    allow_uncredentialed: NotRequired[bool]


@with_config(_FORBID)
class PolicyRequest(TypedDict):
    """``POST /v1/admin/sites/{site_id}/policy`` (:data:`server.admin.POLICY_FIELDS`)."""

    allow_uncredentialed: bool


@with_config(_FORBID)
class Preset(TypedDict):
    """A button on a shop till: a price and its label."""

    amount: Count
    label: Annotated[str, Field(min_length=1, max_length=MAX_PRESET_LABEL)]


@with_config(_FORBID)
class ShopRequest(TypedDict):
    """``POST /v1/admin/shops`` (:data:`server.shops.SHOP_FIELDS`)."""

    name: Name
    max_amount: NotRequired[Count]
    offline_allowance: NotRequired[Annotated[int, Field(ge=0, le=MAX_AMOUNT)]]
    offline_daily_cap: NotRequired[Annotated[int, Field(ge=0, le=MAX_AMOUNT)]]
    void_window_s: NotRequired[Annotated[int, Field(ge=0, le=MAX_VOID_WINDOW_S)]]
    presets: NotRequired[Annotated[list[Preset], Field(max_length=12)]]
    allow_uncredentialed: NotRequired[bool]


@with_config(_FORBID)
class PresetsRequest(TypedDict):
    """``POST /v1/admin/shops/{site_id}/presets`` (:data:`server.shops.PRESET_FIELDS`)."""

    presets: Annotated[list[Preset], Field(max_length=12)]


@with_config(_FORBID)
class CodeRequest(TypedDict):
    """``POST /v1/admin/enrolment-codes`` (:data:`server.admin.CODE_FIELDS`)."""

    site_id: Id
    expires_in_s: NotRequired[Annotated[int, Field(ge=1, le=enrolment.MAX_CODE_TTL_S)]]


@with_config(_FORBID)
class IssuerKeyRequest(TypedDict):
    """``POST /v1/admin/issuer-keys`` (:data:`server.cards.ISSUER_KEY_FIELDS`)."""

    public_key: B64


@with_config(_FORBID)
class CardRequest(TypedDict):
    """``POST /v1/admin/cards`` (:data:`server.cards.CARD_FIELDS`).

    ``name`` registers a new volunteer (with ``site_id``, their home site),
    ``volunteer_id`` a replacement card for one; the three credential fields
    come together or not at all.
    """

    name: NotRequired[Name]
    site_id: NotRequired[Id]
    volunteer_id: NotRequired[Id]
    ehrenamtskarte: NotRequired[
        Annotated[str, Field(min_length=1, max_length=cards.MAX_EHRENAMTSKARTE_CHARS)]
    ]
    uid: NotRequired[Annotated[str, Field(pattern="^([0-9a-fA-F]{2}){4,10}$")]]
    issuer_key_id: NotRequired[Annotated[str, Field(pattern="^i_[0-9a-f]{16}$")]]
    valid_from_s: NotRequired[Annotated[int, Field(ge=0, le=MAX_VALIDITY_S)]]
    valid_until_s: NotRequired[Annotated[int, Field(ge=0, le=MAX_VALIDITY_S)]]


@with_config(_FORBID)
class BlockRequest(TypedDict):
    """``POST /v1/admin/cards/{card_id}/block`` (:data:`server.cards.BLOCK_FIELDS`)."""

    reason: NotRequired[Annotated[str, Field(min_length=1, max_length=cards.MAX_BLOCK_REASON_CHARS)]]


@with_config(_FORBID)
class CardCoordinatorRequest(TypedDict):
    """``POST /v1/admin/cards/{card_id}/coordinator`` (:data:`server.cards.COORDINATOR_FIELDS`)."""

    coordinator: bool


@with_config(_FORBID)
class CoordinatorRequest(TypedDict):
    """``POST /v1/admin/coordinators`` (:data:`server.coordinator_keys.COORDINATOR_FIELDS`)."""

    name: Name
    public_key: B64


@with_config(_FORBID)
class Sealed(TypedDict):
    """A signed document: ``body`` is the base64 of the canonical bytes the signature ``sig`` covers."""

    body: B64
    sig: B64


@with_config(_FORBID)
class SessionRequest(TypedDict):
    """``POST /v1/me/session`` (:data:`server.sessions.SESSION_FIELDS`): the volunteer's access secret."""

    secret: Annotated[str, Field(min_length=1, max_length=sessions.MAX_SECRET_CHARS)]


@with_config(_FORBID)
class OpeningBody(TypedDict):
    """What opens a commitment to a card (:mod:`protocol.commitments`): never signed, never logged."""

    card: Id
    salt: Annotated[str, Field(pattern="^[0-9a-f]{32}$")]


@with_config(_FORBID)
class WireEvent(TypedDict):
    """One signed event; a v2 event (a commitment to its card) carries its ``opening`` beside it."""

    body: B64
    sig: B64
    opening: NotRequired[OpeningBody]


@with_config(_FORBID)
class CosigBody(TypedDict):
    """A second coordinator key's signature over the decision's cosign message (four eyes)."""

    coordinator: Id
    sig: B64


@with_config(_FORBID)
class CosignRequest(TypedDict):
    """``POST /v1/admin/decisions/pending/{decision}/cosign`` (:data:`server.decisions.COSIGN_FIELDS`)."""

    coordinator: Id
    sig: B64


@with_config(_FORBID)
class DecisionRequest(TypedDict):
    """``POST /v1/admin/decisions`` (:data:`server.decisions.DECISION_FIELDS`): a signed decision,
    beside a decision v2 ``manual_shift`` the opening of its card reference, and over the four-eyes
    threshold a second key's ``cosig``."""

    body: B64
    sig: B64
    opening: NotRequired[OpeningBody]
    cosig: NotRequired[CosigBody]


@with_config(_FORBID)
class EnrolRequest(TypedDict):
    """``POST /v1/enrol`` (:data:`server.enrolment.ENROL_FIELDS`): the code, signed by the new key."""

    code: Annotated[str, Field(min_length=1, max_length=40)]
    public_key: B64
    signature: B64


@with_config(_FORBID)
class BatchRequest(TypedDict):
    """``POST /v1/kiosks/{kiosk_id}/events``: signed events in chain order, maybe a signed heartbeat."""

    events: list[WireEvent]
    clock: NotRequired[Sealed]


# Each route's body and the service constant that lists its fields (a test compares them).
BODIES: Final[Mapping[str, type]] = {
    "SiteRequest": SiteRequest,
    "PolicyRequest": PolicyRequest,
    "ShopRequest": ShopRequest,
    "PresetsRequest": PresetsRequest,
    "CodeRequest": CodeRequest,
    "IssuerKeyRequest": IssuerKeyRequest,
    "CardRequest": CardRequest,
    "BlockRequest": BlockRequest,
    "CardCoordinatorRequest": CardCoordinatorRequest,
    "CoordinatorRequest": CoordinatorRequest,
    "DecisionRequest": DecisionRequest,
    "HeartbeatRequest": Sealed,
    "EnrolRequest": EnrolRequest,
    "SessionRequest": SessionRequest,
    "BatchRequest": BatchRequest,
}


def json_schema(body: type) -> dict[str, Any]:
    """The JSON Schema of ``body`` with nested definitions inlined (an operation has no ``$defs``)."""
    schema = TypeAdapter(body).json_schema()
    defs = schema.pop("$defs", {})
    inlined: dict[str, Any] = _inline(schema, defs)
    return inlined


def _inline(node: Any, defs: Mapping[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {key: _inline(value, defs) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    return node


# -- the error shape and its reason codes per status ---------------------------------------------------

# Statuses given explicitly where a reason is raised, besides server.errors.STATUS (400 when absent).
EXPLICIT: Final[Mapping[Reason, frozenset[int]]] = {
    Reason.FORBIDDEN: frozenset({403}),  # server.http.access.Require.admit
    Reason.UNKNOWN_COORDINATOR: frozenset({403, 404}),  # 404 when an admin revokes an unknown key
    Reason.INTERNAL_ERROR: frozenset({500}),  # server.http.errors: a bug, never a refusal
}


def codes_for(status: int) -> list[str]:
    """The reason codes an error answer of ``status`` may carry, sorted."""
    from server.errors import STATUS

    codes = []
    for reason in Reason:
        statuses = EXPLICIT.get(reason, frozenset({STATUS.get(reason, 400)}))
        if status in statuses:
            codes.append(reason.value)
    return sorted(codes)


_DESCRIPTIONS: Final[Mapping[int, str]] = {
    400: "Malformed or refused request",
    401: "No valid credential (admin token, access secret or session)",
    403: "Authenticated, but not allowed (or the kiosk or key is revoked)",
    404: "No such resource",
    409: "Conflicts with the ledger's state",
    410: "Expired",
    413: "Body over the limit",
    423: "Kiosk suspended until a coordinator clears it",
    408: "The request's head and body did not arrive in time",
    429: "Too many failed guesses (Retry-After), or the caller's quota is full",
    503: "The ledger's disk cannot take a write now (Retry-After); nothing was written",
}


def error_schema(status: int) -> dict[str, Any]:
    """``{"error": {"code", "message", ...}}`` with ``code`` one of :func:`codes_for` ``(status)``."""
    return {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "enum": codes_for(status)},
                    "message": {"type": "string"},
                },
                "additionalProperties": True,
            }
        },
    }


@dataclass(frozen=True, slots=True)
class Query:
    """A query parameter a route reads from ``request.query_params`` itself."""

    name: str
    description: str
    required: bool = False
    schema: Mapping[str, Any] | None = None

    def to_openapi(self) -> dict[str, Any]:
        schema = dict(self.schema) if self.schema is not None else {"type": "string", "pattern": "^[0-9]+$"}
        return {
            "name": self.name,
            "in": "query",
            "required": self.required,
            "description": self.description,
            "schema": schema,
        }


PERIOD: Final = (
    Query("from_ms", "start of the period, ms since the epoch (inclusive)"),
    Query("to_ms", "end of the period, ms since the epoch (exclusive)"),
    Query("format", "`json` (default) or `csv`", schema={"type": "string", "enum": ["json", "csv"]}),
)

CONSISTENCY: Final = (
    Query("from", "the older tree size", required=True),
    Query("to", "the newer tree size", required=True),
)
CONSISTENCY_IN: Final = (
    *CONSISTENCY,
    Query("origin", "an archived log's origin: the proof is in that log (default: the current one)"),
)
ARCHIVED: Final = (
    Query("origin", "the archived log's origin (GET /v1/log/handover names it)", required=True),
)
INCLUSION: Final = (
    Query("index", "the entry's index in the log", required=True),
    Query("size", "the tree size the proof is for", required=True),
)
CERTIFICATE_CHECK: Final = (
    Query("payload", "an hours certificate's QR payload, or the /nachweis URL holding it", required=True),
    Query("name", "the name printed on the certificate (with salt: checks the holder too)"),
    Query("salt", "the salt printed on the certificate (32 hex digits)"),
)
LOG_SIZE: Final = (Query("log_size", "the log size the kiosk knows: the answer adds a consistency proof"),)
OPENINGS: Final = (
    Query("after", "only openings of entries after this log index (default: from entry 0)"),
    Query("limit", "at most this many openings, 1 to 1000 (default 1000)"),
)
SILENT_AFTER: Final = (Query("silent_after_s", "list as silent a kiosk not heard from for this long"),)
EXPORT: Final = (
    Query("format", "`json` (default) or `pdf`", schema={"type": "string", "enum": ["json", "pdf"]}),
)
PDF_TOO: Final[Mapping[str, Mapping[str, Any]]] = {
    "application/pdf": {"schema": {"type": "string", "format": "binary"}}
}
VOLUNTEER: Final = (
    Query("volunteer_id", "only this volunteer's cards", schema={"type": "string", "maxLength": 40}),
)

# The statuses routes refuse with, by kind of route.
READ: Final = (400, 404)
SIGNED: Final = (400, 403, 404, 409, 413, 423, 429, 503)
ADMIN: Final = (400, 401, 403, 404, 429)
ADMIN_CHANGE: Final = (*ADMIN, 409, 503)
ADMIN_BODY: Final = (*ADMIN_CHANGE, 413)
PERSONAL: Final = (400, 401, 403, 404, 429)  # a card's holder (session) or an admin token
SESSION: Final = (400, 401, 404)  # a volunteer's session cookie
SESSION_OPEN: Final = (400, 401, 413, 429, 503)  # the access secret, a guess when wrong
HOLDER_OR_ADMIN: Final = ("volunteerSession", "adminToken")
VOLUNTEER_SESSION: Final = ("volunteerSession",)

OBJECT: Final[Mapping[str, Any]] = {"type": "object"}
HEALTH: Final[Mapping[str, Any]] = {
    "type": "object",
    "required": ["status", "version"],
    "properties": {"status": {"const": "ok"}, "version": {"type": "string"}},
}
CSV_TOO: Final[Mapping[str, Mapping[str, Any]]] = {CSV: {"schema": {"type": "string"}}}


def doc(
    *,
    ok: Mapping[int, str] | None = None,
    errors: Iterable[int] = READ,
    body: type | None = None,
    body_schema: Mapping[str, Any] | None = None,
    query: Sequence[Query] = (),
    media: str = JSON,
    ok_schema: Mapping[str, Any] = OBJECT,
    also: Mapping[str, Mapping[str, Any]] | None = None,
    security: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The decorator arguments that describe a route: ``@router.get(path, **doc(...))``.

    ``ok`` maps each success status to its description (default ``{200: "OK"}``);
    the answer is ``ok_schema`` in ``media``, and ``also`` adds other media types
    (a statement's CSV).  ``errors`` lists the refusal statuses (401 marks an admin route,
    unless ``security`` names the schemes: ``adminToken``, ``volunteerSession``).  ``body`` is a
    TypedDict of this module, ``body_schema`` a schema for a body not modelled
    in detail.
    """
    ok = ok or {200: "OK"}
    errors = tuple(errors)
    responses: dict[int | str, Any] = {}
    for status, description in ok.items():
        if status == 204:
            responses[status] = {"description": description}
            continue
        content = {media: {"schema": dict(ok_schema)} if media == JSON else {"schema": {"type": "string"}}}
        content.update({name: dict(value) for name, value in (also or {}).items()})
        responses[status] = {"description": description, "content": content}
    for status in errors:
        responses[status] = {
            "description": _DESCRIPTIONS[status],
            "content": {JSON: {"schema": error_schema(status)}},
        }
    extra: dict[str, Any] = {}
    if body is not None or body_schema is not None:
        schema = json_schema(body) if body is not None else dict(body_schema or {})
        extra["requestBody"] = {"required": True, "content": {JSON: {"schema": schema}}}
    if security is not None:
        if security:
            extra["security"] = [{name: []} for name in security]
    elif 401 in errors:
        extra["security"] = [{"adminToken": []}]
    if query:
        extra["parameters"] = [item.to_openapi() for item in query]
    return {"responses": responses, "openapi_extra": extra or None, "status_code": min(ok)}


# -- the document ---------------------------------------------------------------------------------------


def build(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document of ``app``: FastAPI's, without the 422 answers the server never gives.

    Path parameters make FastAPI add a ``422 Validation Error`` to every
    operation; this server answers a request it cannot parse with ``400
    malformed_request`` (:mod:`server.http.errors`), already listed.
    """
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=DESCRIPTION,
        routes=app.routes,
    )
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    if "components" in document and not schemas:
        document["components"].pop("schemas", None)
        if not document["components"]:
            document.pop("components")
    document["components"] = {
        **document.get("components", {}),
        "securitySchemes": {
            "adminToken": {"type": "http", "scheme": "bearer"},
            "volunteerSession": {"type": "apiKey", "in": "cookie", "name": "kk_session"},
            # A named token holding read_metrics (or the admin token); GET /metrics, docs/operations.md.
            "metricsToken": {"type": "http", "scheme": "bearer"},
        },
    }
    return document


DESCRIPTION: Final = (
    "The kokreativ ledger server.  Every refusal is a 4xx with the body "
    '`{"error": {"code": <reason>, "message": <text>, ...}}`; `code` is a stable reason code '
    "(docs/protocol.md lists them).  Admin routes need `Authorization: Bearer <admin token>`; "
    "kiosk routes need a body signed with the kiosk's enrolled key."
)
