"""Slow and numerous clients do not hold the server: a deadline per request, connection limits.

Real sockets against the real uvicorn server on loopback.  No timing
thresholds: a short deadline is configured where the test waits for it, and
every wait is bounded only by a generous socket timeout.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from server_helpers import T0, Api, World

from protocol import EventKind
from server.app import create_app
from server.config import Limits
from server.context import ServerContext
from server.runner import serve_in_thread

GENEROUS_S = 30.0  # only a bound on a test that would otherwise hang; never a threshold
HEAD = b"POST /v1/kiosks/k/heartbeat HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"


@contextmanager
def serving(context: ServerContext, limits: Limits) -> Iterator[tuple[str, int]]:
    with serve_in_thread(create_app(context, verify_workers=0), limits=limits) as base_url:
        host, port = base_url.removeprefix("http://").split(":")
        yield host, int(port)


def _connect(address: tuple[str, int], source: str | None = None) -> socket.socket:
    sock = socket.create_connection(
        address, timeout=GENEROUS_S, source_address=(source, 0) if source else None
    )
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _read_until_closed(sock: socket.socket, dribble: bytes = b"") -> bytes:
    """Everything the server sends until it closes; meanwhile send ``dribble`` a byte at a time."""
    reply = b""
    pending = dribble
    deadline = time.monotonic() + GENEROUS_S
    while time.monotonic() < deadline:
        readable, _, _ = select.select([sock], [], [], 0.05)
        if readable:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                return reply
            if not chunk:
                return reply
            reply += chunk
        elif pending:
            with contextlib.suppress(OSError):
                sock.sendall(pending[:1])
            pending = pending[1:] or b" "  # keep dribbling header bytes
    raise AssertionError("the server kept a slow connection open")


def _health(sock: socket.socket) -> None:
    """Ask for /v1/health on ``sock`` and read the whole 200 answer (head and body)."""
    sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: test\r\n\r\n")
    reply = b""
    while b"\r\n\r\n" not in reply or not reply.endswith(b"}"):
        chunk = sock.recv(65536)
        assert chunk, reply
        reply += chunk
    assert reply.startswith(b"HTTP/1.1 200"), reply


def _assert_timed_out(reply: bytes) -> None:
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), reply[:200]
    assert json.loads(body)["error"]["code"] == "request_timeout"


SHORT = Limits(request_timeout_s=0.5)


def test_a_silent_connection_is_closed_after_the_deadline(context: ServerContext) -> None:
    with serving(context, SHORT) as address, _connect(address) as sock:
        _assert_timed_out(_read_until_closed(sock))


def test_a_dribbling_head_is_closed_after_the_deadline(context: ServerContext) -> None:
    with serving(context, SHORT) as address, _connect(address) as sock:
        # A byte every 50 ms: uvicorn alone resets its only timer on every byte, and waits for ever.
        _assert_timed_out(_read_until_closed(sock, dribble=HEAD + b"X-Slow: " + b"a" * 10_000))


def test_a_half_sent_body_is_closed_after_the_deadline(context: ServerContext) -> None:
    with serving(context, SHORT) as address, _connect(address) as sock:
        sock.sendall(HEAD + b"Content-Length: 1000\r\n\r\n{")
        reply = _read_until_closed(sock)
    _assert_timed_out(reply)


def test_the_deadline_restarts_for_each_request_on_a_connection(context: ServerContext) -> None:
    limits = Limits(request_timeout_s=0.5, keep_alive_timeout_s=60)
    with serving(context, limits) as address, _connect(address) as sock:
        _health(sock)
        # Idle under keep-alive (not timed by the deadline), then a second request that never ends.
        sock.sendall(b"GET /v1/health HTTP/1.1\r\n")
        _assert_timed_out(_read_until_closed(sock))


def _dribble(sockets: list[socket.socket], stop: threading.Event) -> None:
    """Send each socket one more header byte, round after round, until ``stop``."""
    while not stop.is_set():
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.send(b"a")
        stop.wait(0.2)


def test_many_slow_sockets_do_not_stop_a_normal_request(api: Api, world: World) -> None:
    # The default limits: 200 slow sockets are far below max_connections and far within the deadline.
    host, port = api.base_url.removeprefix("http://").split(":")
    dribblers = [_connect((host, int(port))) for _ in range(150)]
    holders = [_connect((host, int(port))) for _ in range(50)]
    stop = threading.Event()
    thread = threading.Thread(target=_dribble, args=(dribblers, stop), daemon=True)
    try:
        for sock in dribblers:
            sock.sendall(HEAD + b"X-Slow: ")
        for sock in holders:
            sock.sendall(HEAD + b"Content-Length: 60000\r\n\r\n{")
        thread.start()
        assert api.http.get("/v1/health").status_code == 200
        kiosk = world.kiosk
        response = api.send(kiosk.kiosk_id, [kiosk.event(EventKind.CHECK_IN, world.card_id, T0)])
        assert response.status_code == 200, response.text
    finally:
        stop.set()
        if thread.is_alive():
            thread.join()
        for sock in dribblers + holders:
            sock.close()


def _keep_alive(address: tuple[str, int], source: str | None = None) -> socket.socket:
    """A connection that has had one answer, so the server has counted it, and stays open."""
    sock = _connect(address, source)
    _health(sock)
    return sock


def _refused(address: tuple[str, int], source: str | None = None) -> bool:
    """Whether the server closes a new connection without answering a request on it."""
    with _connect(address, source) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: test\r\n\r\n")
        try:
            return sock.recv(65536) == b""
        except ConnectionResetError:
            return True


def _eventually_served(address: tuple[str, int], source: str | None = None) -> None:
    """A request succeeds once the server has noticed a closed connection (asynchronously)."""
    deadline = time.monotonic() + GENEROUS_S
    while time.monotonic() < deadline:
        if not _refused(address, source):
            return
        time.sleep(0.05)
    raise AssertionError("the server never served again")


def test_connections_over_the_limit_are_closed_as_they_open(context: ServerContext) -> None:
    limits = Limits(max_connections=3, keep_alive_timeout_s=60)
    with serving(context, limits) as address:
        holders = [_keep_alive(address) for _ in range(3)]
        try:
            assert _refused(address)
            holders.pop().close()
            _eventually_served(address)
        finally:
            for sock in holders:
                sock.close()


def test_connections_over_the_per_peer_limit_are_closed_as_they_open(context: ServerContext) -> None:
    limits = Limits(max_connections_per_peer=2, keep_alive_timeout_s=60)
    with serving(context, limits) as address:
        holders = [_keep_alive(address, "127.0.0.1") for _ in range(2)]
        try:
            assert _refused(address, "127.0.0.1")
            other = _keep_alive(address, "127.0.0.2")  # another address is not limited by these
            other.close()
        finally:
            for sock in holders:
                sock.close()


def test_defaults_serve_a_client_library(context: ServerContext) -> None:
    with serving(context, Limits()) as (host, port):
        assert httpx.get(f"http://{host}:{port}/v1/health", timeout=GENEROUS_S).status_code == 200


@pytest.mark.parametrize("field", ["max_connections", "request_timeout_s"])
def test_limits_reach_the_protocol(context: ServerContext, field: str) -> None:
    # The runner passes the limits through; a refused connection proves max_connections arrived,
    # a 408 the deadline (the two tests above check each in depth).
    limits = Limits(max_connections=1, keep_alive_timeout_s=60, request_timeout_s=0.5)
    with serving(context, limits) as address:
        if field == "max_connections":
            with _keep_alive(address):
                assert _refused(address)
        else:
            with _connect(address) as sock:
                _assert_timed_out(_read_until_closed(sock))
