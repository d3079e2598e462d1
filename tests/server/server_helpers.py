"""Helpers for the ledger server tests: a movable clock, a signing kiosk and an API client.

Nothing here is a mock: :class:`FakeKiosk` signs real events with :mod:`protocol`,
and :class:`Api` talks HTTP to a real server on loopback.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from protocol import (
    GENESIS_PREV,
    ClockEvidence,
    Event,
    EventKind,
    PrivateKey,
    SignedEvent,
    b64encode,
    encode_batch,
    enrolment_message,
    sign_event,
)
from protocol.events import COMMITTED_VERSION, committed_event
from server import enrolment
from server.context import ServerContext
from server.ratelimit import ENROLMENT_CODES, GuessLimiter

T0 = 1_764_400_000_000  # 2025-11-29, a plausible "now" for the server clock
HOUR = 3_600_000
MINUTE = 60_000
# Kiosks enrol this long before the clock's "now" unless a test says when, so that shifts dated in the
# hours before T0 are not held as dated before their kiosk's enrolment (protocol.economy.kiosklimits).
ENROLLED_BEFORE = 24 * HOUR


class FakeClock:
    """The server's clock, in ms; tests set or advance it."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@dataclass
class FakeKiosk:
    """A kiosk's signing side: its key, its chain position, and helpers to make events.

    It signs v2 events (a commitment to the card, the opening beside) unless
    ``version`` is 1, as a kiosk from before issue 17 does.
    """

    key: PrivateKey
    kiosk_id: str = ""
    seq: int = 0
    head: str = GENESIS_PREV
    boot: str = field(default_factory=lambda: str(uuid.uuid4()))
    enrolment: dict[str, Any] = field(default_factory=dict)
    version: int = COMMITTED_VERSION

    def event(
        self,
        kind: EventKind | str,
        card: str,
        wall_ms: int,
        *,
        data: dict[str, Any] | None = None,
        mono_ms: int | None = None,
        synced: bool = True,
        version: int | None = None,
    ) -> SignedEvent:
        """The next event in this kiosk's chain (advances seq and head).

        By default the clock runs true and synced: ``mono_ms`` is ``wall_ms`` (never below 0), so
        the monotonic length of a shift in one boot is its wall-clock length.  Give ``mono_ms``
        and ``synced`` to model a stale or jumping clock, and :meth:`reboot` for a new boot.
        ``version`` overrides the kiosk's :attr:`version` for this event.
        """
        kind = EventKind(kind)
        if data is None:
            data = {"reason": "unknown_card"} if kind is EventKind.DENIED else {}
        clock = ClockEvidence(
            wall_ms=wall_ms,
            synced=synced,
            boot_id=self.boot,
            mono_ms=max(0, wall_ms) if mono_ms is None else mono_ms,
        )
        where = {"kiosk": self.kiosk_id, "seq": self.seq + 1, "prev": self.head}
        if (self.version if version is None else version) == 1:
            event = Event(**where, kind=kind, card=card, clock=clock, data=data)
            signed = sign_event(event, self.key)
        else:
            event, opening = committed_event(**where, kind=kind, card=card, clock=clock, data=data)
            signed = sign_event(event, self.key, opening)
        self.seq, self.head = signed.event.seq, signed.hash
        return signed

    def reboot(self) -> None:
        """Start a new boot: later events carry a new boot ID (their ``mono_ms`` is not comparable)."""
        self.boot = str(uuid.uuid4())


def enrol_fake_kiosk(ctx: ServerContext, site_id: str) -> FakeKiosk:
    """A kiosk's signing side, enrolled at ``site_id`` through the enrolment service (no HTTP).

    With a :class:`FakeClock` it enrols :data:`ENROLLED_BEFORE` before the clock's now.
    """
    kiosk = FakeKiosk(key=PrivateKey.generate())
    clock = ctx.now_ms
    saved = clock.now if isinstance(clock, FakeClock) else None
    code = enrolment.create_enrolment_code(ctx, site_id, 3600)["code"]
    signature = kiosk.key.sign(enrolment_message(enrolment.normalise_code(code), kiosk.key.public_key))
    request = {"code": code, "public_key": kiosk.key.public_key.to_b64(), "signature": b64encode(signature)}
    if isinstance(clock, FakeClock) and saved is not None:
        clock.now = saved - ENROLLED_BEFORE
    try:
        attempt = GuessLimiter(ctx.now_ms).attempt(ENROLMENT_CODES, "test")
        kiosk.kiosk_id = enrolment.enrol(ctx, request, attempt=attempt)["kiosk_id"]
    finally:
        if isinstance(clock, FakeClock) and saved is not None:
            clock.now = saved
    return kiosk


class Api:
    """An HTTP client for one running server, with the admin token at hand."""

    def __init__(self, base_url: str, admin_token: str, context: ServerContext, clock: FakeClock) -> None:
        self.base_url = base_url
        self.admin_token = admin_token
        self.context = context
        self.clock = clock
        self.http = httpx.Client(base_url=base_url, timeout=30)

    def close(self) -> None:
        self.http.close()

    def admin(self, method: str, path: str, json: Any = None, *, expect: int | None = None) -> httpx.Response:
        response = self.http.request(
            method, path, json=json, headers={"Authorization": f"Bearer {self.admin_token}"}
        )
        if expect is not None:
            assert response.status_code == expect, response.text
        return response

    def create_site(
        self,
        tokens_per_hour: int = 10,
        max_shift_hours: int | None = None,
        *,
        allow_uncredentialed: bool | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"name": "Repair café", "tokens_per_hour": tokens_per_hour}
        if max_shift_hours is not None:
            body["max_shift_hours"] = max_shift_hours
        if allow_uncredentialed is not None:
            body["allow_uncredentialed"] = allow_uncredentialed
        return self.admin("POST", "/v1/admin/sites", body, expect=201).json()

    def create_code(self, site_id: str, expires_in_s: int | None = None) -> str:
        body: dict[str, Any] = {"site_id": site_id}
        if expires_in_s is not None:
            body["expires_in_s"] = expires_in_s
        return self.admin("POST", "/v1/admin/enrolment-codes", body, expect=201).json()["code"]

    def create_card(
        self, name: str = "Ada", volunteer_id: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Register a card; a new volunteer's home site is ``site_id`` or :meth:`home_site`."""
        body: dict[str, Any] = {"volunteer_id": volunteer_id} if volunteer_id else {"name": name}
        if not volunteer_id and "site_id" not in fields:
            body["site_id"] = self.home_site()
        return self.admin("POST", "/v1/admin/cards", {**body, **fields}, expect=201).json()

    def home_site(self) -> str:
        """A site for new volunteers: the first one there is, else a new one (issue 17: each needs one)."""
        sites = self.admin("GET", "/v1/admin/sites", expect=200).json()["sites"]
        return str(sites[0]["site_id"]) if sites else str(self.create_site()["site_id"])

    def add_issuer_key(self, key: PrivateKey | None = None) -> tuple[PrivateKey, dict[str, Any]]:
        """Register a (new) issuer key's public half, as the coordinator's tool does."""
        key = key or PrivateKey.generate()
        response = self.admin("POST", "/v1/admin/issuer-keys", {"public_key": key.public_key.to_b64()})
        assert response.status_code in (200, 201), response.text
        return key, response.json()

    def block(self, card_id: str, reason: str | None = None) -> dict[str, Any]:
        body = {} if reason is None else {"reason": reason}
        return self.admin("POST", f"/v1/admin/cards/{card_id}/block", body, expect=200).json()

    def trust(self, kiosk_id: str) -> httpx.Response:
        return self.http.get(f"/v1/kiosks/{kiosk_id}/trust")

    def enrol_request(self, code: str, key: PrivateKey) -> httpx.Response:
        digits = code.replace("-", "").replace(" ", "")
        signature = key.sign(enrolment_message(digits, key.public_key))
        return self.http.post(
            "/v1/enrol",
            json={"code": code, "public_key": key.public_key.to_b64(), "signature": b64encode(signature)},
        )

    def enrol_kiosk(self, site_id: str, *, enrolled_ms: int | None = None) -> FakeKiosk:
        """Enrol a kiosk at ``enrolled_ms`` by the server's clock (default: :data:`ENROLLED_BEFORE` ago)."""
        kiosk = FakeKiosk(key=PrivateKey.generate())
        code = self.create_code(site_id)
        saved = self.clock.now
        self.clock.now = saved - ENROLLED_BEFORE if enrolled_ms is None else enrolled_ms
        try:
            response = self.enrol_request(code, kiosk.key)
        finally:
            self.clock.now = saved
        assert response.status_code == 200, response.text
        kiosk.enrolment = response.json()
        kiosk.kiosk_id = kiosk.enrolment["kiosk_id"]
        return kiosk

    def send(self, kiosk_id: str, events: list[SignedEvent]) -> httpx.Response:
        return self.post_raw(f"/v1/kiosks/{kiosk_id}/events", encode_batch(events))

    def post_raw(self, path: str, content: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.http.post(
            path, content=content, headers={"Content-Type": "application/json", **(headers or {})}
        )

    def kiosk_state(self, kiosk_id: str) -> dict[str, Any]:
        response = self.http.get(f"/v1/kiosks/{kiosk_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def balance(self, card_id: str) -> int:
        """The card's balance, read as an economy-wide admin (the route is personal: issue 17)."""
        response = self.admin("GET", f"/v1/cards/{card_id}/balance")
        assert response.status_code == 200, response.text
        return int(response.json()["balance"])

    def shifts(self, card_id: str) -> list[dict[str, Any]]:
        response = self.admin("GET", f"/v1/cards/{card_id}/shifts")
        assert response.status_code == 200, response.text
        return list(response.json()["shifts"])

    def snapshot(self) -> dict[str, Any]:
        """Everything a refused request must leave unchanged."""
        report = self.admin("GET", "/v1/admin/report", expect=200).json()
        kiosks = self.admin("GET", "/v1/admin/kiosks", expect=200).json()["kiosks"]
        with self.context.storage.read() as tx:
            events = tx.count_events()
        return {"kiosks": kiosks, "events": events, "volunteers": report["volunteers"]}

    def assert_serving(self) -> None:
        response = self.http.get("/v1/health")
        assert response.status_code == 200
        assert response.json()["status"] == "ok"


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Check the documented error shape; return the error object."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return dict(body["error"])


@dataclass
class World:
    """A site with one enrolled kiosk and one registered card."""

    site: dict[str, Any]
    kiosk: FakeKiosk
    card_id: str
    volunteer_id: str
