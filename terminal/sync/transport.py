"""The sync client's HTTP: one session for a round's requests, its timeouts, and a till's deadline."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import requests

from terminal.config import KioskConfig
from terminal.sync.result import NETWORK_ERROR, SERVER_ERROR, TIMEOUT, StopRound, error_of


def kiosk_url(config: KioskConfig) -> str:
    """Where the server keeps this kiosk's resources: events, trust list, evidence, heartbeats."""
    return f"{config.server_url}/v1/kiosks/{config.kiosk_id}"


class Transport:
    """Requests to ``server_url`` for one client; owns its session unless given one.

    ``timeout`` is requests' ``(connect, read)`` pair.  A request that fails
    ends the round (:class:`StopRound`), except where a method says otherwise.
    """

    def __init__(
        self, server_url: str, *, session: requests.Session | None, timeout: tuple[float, float]
    ) -> None:
        self.server_url = server_url
        self._own_session = session is None
        self._session = session or requests.Session()
        self._timeout = timeout
        self._deadline: float | None = None  # set only while a till's round runs

    @contextlib.contextmanager
    def deadline(self, deadline: float) -> Iterator[None]:
        """Cut every request's timeouts to ``deadline`` (``time.monotonic``) inside the block."""
        self._deadline = deadline
        try:
            yield
        finally:
            self._deadline = None

    def timeouts(self) -> tuple[float, float]:
        """requests' ``(connect, read)`` timeouts: the configured ones, cut to a till's deadline."""
        if self._deadline is None:
            return self._timeout
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise StopRound(TIMEOUT, "the till's deadline passed")
        return min(self._timeout[0], remaining), min(self._timeout[1], remaining)

    def get(self, url: str, *, what: str) -> bytes:
        """``GET url``; a network error or any answer but ``200`` ends the round (it is no evidence)."""
        try:
            response = self._session.get(url, timeout=self.timeouts())
        except requests.RequestException as exc:
            raise StopRound(NETWORK_ERROR, f"{type(exc).__name__} fetching the {what}") from exc
        if response.status_code != 200:
            try:
                body = response.json()
            except ValueError:
                body = None
            code, message, _ = error_of(body)
            fallback = SERVER_ERROR if response.status_code >= 500 else f"http_{response.status_code}"
            raise StopRound(code or fallback, f"{what}: {message}")
        return response.content

    def post_batch(self, url: str, data: bytes, *, log_size: int) -> tuple[int, Any]:
        """POST an encoded batch; ``(status, JSON body or None)``.  Only a network error ends the round."""
        try:
            response = self._session.post(
                url,
                params={"log_size": str(log_size)},
                data=data,
                headers={"Content-Type": "application/json"},
                timeout=self.timeouts(),
            )
        except requests.RequestException as exc:
            raise StopRound(NETWORK_ERROR, f"{type(exc).__name__} talking to {self.server_url}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        return response.status_code, body

    def post_json(self, url: str, body: object) -> requests.Response:
        """POST ``body`` as JSON with the round's session and timeouts; raises whatever requests raises."""
        return self._session.post(url, json=body, timeout=self.timeouts())

    def post_json_aside(self, url: str, body: object) -> requests.Response:
        """POST ``body`` as JSON outside the rounds, with the configured timeouts (no deadline).

        Not the round's session: a till's round may use that one meanwhile (requests' sessions
        are not thread-safe), unless the caller handed one in (tests, on loopback).
        """
        post = requests.post if self._own_session else self._session.post
        return post(url, json=body, timeout=self._timeout)

    def end_round(self) -> None:
        """Drop pooled connections between rounds (an owned session only).

        A kiosk syncs every few seconds at most, and an idle keep-alive socket would otherwise
        outlive a client that nobody closes.
        """
        if self._own_session:
            self._session.close()

    def close(self) -> None:
        if self._own_session:
            self._session.close()
