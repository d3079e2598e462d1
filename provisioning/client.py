"""A small HTTP client for the server's admin and enrolment endpoints.

Coordinators provision from their own laptop, not on the server, so every
step after ``provision init`` goes over the documented HTTP API.  Errors come
back as :class:`ServerRefused` carrying the server's reason code.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote, urlencode

import requests

from protocol import Reason
from provisioning.errors import ServerRefused, ServerUnreachable

DEFAULT_TIMEOUT_S = 15.0


class ApiClient:
    """JSON over HTTP to one ledger server, optionally with an admin token."""

    def __init__(
        self,
        server_url: str,
        *,
        admin_token: str | None = None,
        session: requests.Session | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.server_url = server_url.rstrip("/")
        self._admin_token = admin_token
        self._session = session or requests.Session()
        self._timeout_s = timeout_s

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _send(self, method: str, path: str, body: dict[str, Any] | None, *, accept: str) -> requests.Response:
        headers = {"Accept": accept}
        if self._admin_token is not None:
            headers["Authorization"] = f"Bearer {self._admin_token}"
        try:
            response = self._session.request(
                method, self.server_url + path, json=body, headers=headers, timeout=self._timeout_s
            )
        except requests.RequestException as exc:
            raise ServerUnreachable(Reason.SERVER_UNREACHABLE, _no_answer(self.server_url, exc)) from exc
        if response.status_code >= 400:
            try:
                payload = response.json()
            except ValueError:
                payload = None
            error = payload.get("error") if isinstance(payload, dict) else None
            error = error if isinstance(error, dict) else {}
            code, message = error.get("code"), error.get("message")
            raise ServerRefused(
                code if isinstance(code, str) else f"http_{response.status_code}",
                message if isinstance(message, str) else (response.reason or "refused"),
            )
        return response

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self._send(method, path, body, accept="application/json")
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise ServerRefused(Reason.MALFORMED_REQUEST, f"{path} did not answer with a JSON object")
        return payload

    def _list(self, path: str, key: str) -> list[dict[str, Any]]:
        items = self.request("GET", path).get(key)
        if not isinstance(items, list):
            raise ServerRefused(Reason.MALFORMED_REQUEST, f"{path} did not answer with a list {key!r}")
        return items

    # Admin calls, one per documented endpoint.

    def add_site(
        self,
        name: str,
        *,
        tokens_per_hour: int,
        max_shift_hours: int = 12,
        allow_uncredentialed: bool = False,
    ) -> dict[str, Any]:
        body = {
            "name": name,
            "tokens_per_hour": tokens_per_hour,
            "max_shift_hours": max_shift_hours,
            "allow_uncredentialed": allow_uncredentialed,
        }
        return self.request("POST", "/v1/admin/sites", body)

    def list_sites(self) -> list[dict[str, Any]]:
        return self._list("/v1/admin/sites", "sites")

    def create_enrolment_code(self, site_id: str, *, expires_in_s: int = 86_400) -> dict[str, Any]:
        body = {"site_id": site_id, "expires_in_s": expires_in_s}
        return self.request("POST", "/v1/admin/enrolment-codes", body)

    def register_card(
        self,
        *,
        name: str | None = None,
        volunteer_id: str | None = None,
        site_id: str | None = None,
        ehrenamtskarte: str | None = None,
        issuer_key_id: str | None = None,
        valid_from_s: int | None = None,
        valid_until_s: int | None = None,
        uid: bytes | None = None,
    ) -> dict[str, Any]:
        """Register a card for a new volunteer (``name`` and their home ``site_id``) or an existing one.

        With ``issuer_key_id`` and the validity window it is a credential card the caller
        is about to write; with ``uid`` an uncredentialed pilot card named by its pseudonym.
        A new volunteer's answer carries their ``access_secret``, shown this once.
        """
        if (name is None) == (volunteer_id is None):
            raise ValueError("give exactly one of name (a new volunteer) or volunteer_id")
        if (site_id is None) != (name is None):
            raise ValueError("a new volunteer (name) needs site_id, their home site; an existing one has one")
        body: dict[str, Any] = (
            {"name": name, "site_id": site_id} if name is not None else {"volunteer_id": volunteer_id}
        )
        if ehrenamtskarte is not None:
            body["ehrenamtskarte"] = ehrenamtskarte
        if issuer_key_id is not None:
            body.update(issuer_key_id=issuer_key_id, valid_from_s=valid_from_s, valid_until_s=valid_until_s)
        if uid is not None:
            body["uid"] = uid.hex()
        return self.request("POST", "/v1/admin/cards", body)

    def reissue_access(self, volunteer_id: str) -> dict[str, Any]:
        """A new access secret for ``volunteer_id`` (the old one and their sessions end); shown once."""
        return self.request("POST", f"/v1/admin/volunteers/{volunteer_id}/access", {})

    def revoke_access(self, volunteer_id: str) -> dict[str, Any]:
        """No access secret works for ``volunteer_id`` until a re-issue; their sessions end."""
        return self.request("POST", f"/v1/admin/volunteers/{volunteer_id}/access/revoke", {})

    def block_card(self, card_id: str, *, reason: str | None = None) -> dict[str, Any]:
        return self.request(
            "POST", f"/v1/admin/cards/{card_id}/block", {} if reason is None else {"reason": reason}
        )

    def prepare_card(self, volunteer_id: str) -> dict[str, Any]:
        """A new card ID for ``volunteer_id``, pending until :meth:`confirm_card` (the console's button)."""
        return self.request("POST", f"/v1/admin/volunteers/{volunteer_id}/cards/prepare")

    def prepared_card(self, card_id: str) -> dict[str, Any]:
        """A prepared card: ``{"card_id","volunteer_id","status",…}``."""
        return self.request("GET", f"/v1/admin/cards/{card_id}/prepared")

    def confirm_card(self, card_id: str, *, uid: bytes, ndef: bytes) -> dict[str, Any]:
        """Confirm a prepared card with the tag's UID and NDEF message as read back after writing."""
        body = {"uid": uid.hex(), "ndef": base64.b64encode(ndef).decode("ascii")}
        return self.request("POST", f"/v1/admin/cards/{card_id}/confirm", body)

    def set_card_coordinator(self, card_id: str, *, coordinator: bool) -> dict[str, Any]:
        """Grant (``True``) or withdraw (``False``) a card's coordinator role; the card as it now is."""
        return self.request("POST", f"/v1/admin/cards/{card_id}/coordinator", {"coordinator": coordinator})

    def list_cards(self, *, volunteer_id: str | None = None) -> list[dict[str, Any]]:
        query = f"?volunteer_id={volunteer_id}" if volunteer_id else ""
        return self._list(f"/v1/admin/cards{query}", "cards")

    def add_issuer_key(self, public_key_b64: str) -> dict[str, Any]:
        return self.request("POST", "/v1/admin/issuer-keys", {"public_key": public_key_b64})

    def list_issuer_keys(self) -> list[dict[str, Any]]:
        return self._list("/v1/admin/issuer-keys", "issuer_keys")

    def set_issuer_key_status(self, key_id: str, action: str) -> dict[str, Any]:
        """``action`` is ``retire`` (no new cards; old ones stay valid) or ``revoke`` (its cards fail)."""
        if action not in ("retire", "revoke"):
            raise ValueError("action is retire or revoke")
        return self.request("POST", f"/v1/admin/issuer-keys/{key_id}/{action}")

    def set_site_policy(self, site_id: str, *, allow_uncredentialed: bool) -> dict[str, Any]:
        body = {"allow_uncredentialed": allow_uncredentialed}
        return self.request("POST", f"/v1/admin/sites/{site_id}/policy", body)

    def list_kiosks(self, *, silent_after_s: int | None = None) -> list[dict[str, Any]]:
        """Every kiosk with its health; ``silent`` judged against ``silent_after_s`` (server default 900)."""
        query = "" if silent_after_s is None else "?" + urlencode({"silent_after_s": silent_after_s})
        return self._list(f"/v1/admin/kiosks{query}", "kiosks")

    def clear_kiosk(self, kiosk_id: str) -> dict[str, Any]:
        return self.request("POST", f"/v1/admin/kiosks/{kiosk_id}/clear")

    def revoke_kiosk(self, kiosk_id: str) -> dict[str, Any]:
        return self.request("POST", f"/v1/admin/kiosks/{kiosk_id}/revoke")

    def get_site(self, site_id: str) -> dict[str, Any]:
        """One site as ``list_sites`` shows it (the admin API lists sites, it has no single-site read)."""
        for site in self.list_sites():
            if site.get("site_id") == site_id:
                return site
        raise ServerRefused(Reason.UNKNOWN_SITE, f"no site {site_id}")

    def add_shop(
        self,
        name: str,
        *,
        max_amount: int | None = None,
        offline_allowance: int | None = None,
        offline_daily_cap: int | None = None,
        void_window_s: int | None = None,
        presets: list[dict[str, Any]] | None = None,
        allow_uncredentialed: bool = False,
    ) -> dict[str, Any]:
        """Create a shop; limits left out take the server's defaults (``docs/economy.md``)."""
        given: dict[str, Any] = {
            "max_amount": max_amount,
            "offline_allowance": offline_allowance,
            "offline_daily_cap": offline_daily_cap,
            "void_window_s": void_window_s,
            "presets": presets,
        }
        body = {"name": name, **{key: value for key, value in given.items() if value is not None}}
        if allow_uncredentialed:
            body["allow_uncredentialed"] = True
        return self.request("POST", "/v1/admin/shops", body)

    def set_shop_presets(self, site_id: str, presets: list[dict[str, Any]]) -> dict[str, Any]:
        """Replace a shop's till presets (``[{"label", "amount"}]``); display only, not logged."""
        return self.request("POST", f"/v1/admin/shops/{site_id}/presets", {"presets": presets})

    def add_coordinator(self, name: str, public_key_b64: str) -> dict[str, Any]:
        """Register a coordinator's public key; the server logs the key, never the name."""
        return self.request("POST", "/v1/admin/coordinators", {"name": name, "public_key": public_key_b64})

    def list_coordinators(self) -> list[dict[str, Any]]:
        return self._list("/v1/admin/coordinators", "coordinators")

    def revoke_coordinator(self, coordinator_id: str) -> dict[str, Any]:
        return self.request("POST", f"/v1/admin/coordinators/{coordinator_id}/revoke")

    def post_decision(self, wire: dict[str, Any]) -> dict[str, Any]:
        """Send a signed decision ``{"body", "sig"}`` (a v2 manual shift adds ``"opening"``).

        The answer names its hash, log index and result.
        """
        return self.request("POST", "/v1/admin/decisions", dict(wire))

    def pending_decisions(self) -> list[dict[str, Any]]:
        """Decisions waiting for a second person's cosignature (four eyes), each with its signed body."""
        return list(self.request("GET", "/v1/admin/decisions/pending")["pending"])

    def cosign_decision(self, decision: str, coordinator: str, sig: str) -> dict[str, Any]:
        """Cosign the waiting decision ``decision``: the server applies it, answering as ``post_decision``."""
        body = {"coordinator": coordinator, "sig": sig}
        return self.request("POST", f"/v1/admin/decisions/pending/{decision}/cosign", body)

    def statement(
        self,
        what: str,
        subject_id: str,
        *,
        from_ms: int | None = None,
        to_ms: int | None = None,
        csv: bool = False,
    ) -> dict[str, Any] | str:
        """A ``volunteers`` or ``shops`` statement for ``[from_ms, to_ms)``: JSON, or the CSV text."""
        if what not in ("volunteers", "shops"):
            raise ValueError("a statement is for volunteers or shops")
        query = {"from_ms": from_ms, "to_ms": to_ms, "format": "csv" if csv else None}
        params = urlencode({key: value for key, value in query.items() if value is not None})
        path = f"/v1/admin/statements/{what}/{subject_id}" + (f"?{params}" if params else "")
        if csv:
            response = self._send("GET", path, None, accept="text/csv")
            response.encoding = "utf-8"
            return response.text
        return self.request("GET", path)

    def erase_volunteer(self, volunteer_id: str) -> dict[str, Any]:
        """Erase a volunteer's personal data for good (Art. 17): blocks their cards, destroys their key."""
        return self.request("POST", f"/v1/admin/volunteers/{quote(volunteer_id, safe='')}/erase")

    def export_volunteer(self, volunteer_id: str, *, pdf: bool = False) -> dict[str, Any] | bytes:
        """Everything stored about a volunteer (Art. 15/20): the JSON document, or the PDF's bytes."""
        path = f"/v1/admin/volunteers/{quote(volunteer_id, safe='')}/export"
        if pdf:
            return self._send("GET", path + "?format=pdf", None, accept="application/pdf").content
        return self.request("GET", path)

    def review(self) -> list[dict[str, Any]]:
        """Shifts and overdrafts waiting for a coordinator's decision (``item`` says which)."""
        return self._list("/v1/admin/review", "items")

    def report(self) -> list[dict[str, Any]]:
        return self._list("/v1/admin/report", "volunteers")

    def verify(self) -> dict[str, Any]:
        return self.request("GET", "/v1/admin/verify")

    # Kiosk calls.

    def enrol(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/v1/enrol", body)

    def trust_list(self, kiosk_id: str) -> dict[str, Any]:
        """The signed trust list the server hands ``kiosk_id`` (verify it before believing it)."""
        return self.request("GET", f"/v1/kiosks/{kiosk_id}/trust")


def _no_answer(server_url: str, exc: requests.RequestException) -> str:
    """One line for a server that did not answer: which URL, what kind of failure, where the URL came from.

    requests' own text (``HTTPConnectionPool(…): Max retries exceeded …``) is
    long and names urllib3's internals; ``--debug`` still shows it in full.
    """
    kinds: tuple[tuple[type[requests.RequestException], str], ...] = (
        (requests.exceptions.SSLError, "TLS failed"),
        (requests.exceptions.Timeout, "timed out"),
        (requests.exceptions.ConnectionError, "could not connect"),
    )
    kind = next((text for cls, text in kinds if isinstance(exc, cls)), type(exc).__name__)
    return (
        f"no answer from {server_url} ({kind}): "
        "is the server running, and do --server or KOKREATIV_SERVER name it?"
    )
