"""The HTTP layer's own duties: documented error shapes everywhere, reads, and the runner."""

from __future__ import annotations

import http.client
import os
import socket
import sys
import threading
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from server_helpers import T0, Api, World, assert_error

from protocol import Reason, encode_batch
from server.app import VERIFY_NICENESS, create_app
from server.runner import serve_in_thread


def test_health(api: Api) -> None:
    assert api.http.get("/v1/health").json() == {"status": "ok", "version": "0.1.0"}


def test_unknown_route_and_wrong_method_use_the_error_shape(api: Api) -> None:
    assert_error(api.http.get("/v1/nothing"), 404, Reason.NOT_FOUND)
    assert_error(api.http.delete("/v1/health"), 405, Reason.MALFORMED_REQUEST)
    assert_error(api.http.get("/redoc"), 404, Reason.NOT_FOUND)  # FastAPI's own pages are off; /docs is ours
    api.assert_serving()


def test_reads_for_unknown_ids(api: Api) -> None:
    for path in ("/v1/kiosks/nonsense", "/v1/kiosks/k_" + "0" * 32):
        assert_error(api.http.get(path), 404, Reason.UNKNOWN_KIOSK)
    for path in ("/v1/cards/nonsense/balance", "/v1/cards/c_" + "0" * 32 + "/shifts"):
        assert_error(api.admin("GET", path), 404, Reason.UNKNOWN_CARD)  # personal: issue 17
        assert_error(api.http.get(path), 401, Reason.UNAUTHORIZED)


def test_kiosk_state_after_sync(api: Api, world: World) -> None:
    k = world.kiosk
    event = k.event("check_in", world.card_id, T0)
    api.send(k.kiosk_id, [event])
    state = api.kiosk_state(k.kiosk_id)
    assert {key: state[key] for key in ("kiosk_id", "site_id", "status", "last_seq", "head")} == {
        "kiosk_id": k.kiosk_id,
        "site_id": world.site["site_id"],
        "status": "active",
        "last_seq": 1,
        "head": event.hash,
    }


def test_many_bad_requests_in_a_row_do_not_break_the_server(api: Api, world: World) -> None:
    junk = [b"", b"\x00" * 100, b"{" * 5000, b'{"events":' * 1000, b"null", b"1e999", '{"é": 1}'.encode()]
    for content in junk:
        for path in (f"/v1/kiosks/{world.kiosk.kiosk_id}/events", "/v1/enrol"):
            response = api.post_raw(path, content)
            assert 400 <= response.status_code < 500, (content[:20], response.text)
            assert "error" in response.json()
    api.assert_serving()


def test_runner_stops_cleanly_and_frees_the_port(context) -> None:
    with serve_in_thread(create_app(context, verify_workers=2)) as base_url:
        assert httpx.get(f"{base_url}/v1/health").status_code == 200
    try:
        httpx.get(f"{base_url}/v1/health", timeout=2)
    except httpx.TransportError:
        pass
    else:
        raise AssertionError("the server still answers after the block")


def test_runner_closes_open_connections_and_shuts_the_app_down_before_the_block_ends() -> None:
    """The runner's own prompt stop (server.runner._PromptServer) still ends as uvicorn does."""
    lifespan: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                step = message["type"].removeprefix("lifespan.")
                lifespan.append(step)
                await send({"type": f"lifespan.{step}.complete"})
                if step == "shutdown":
                    return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    with httpx.Client(timeout=5) as client:
        with serve_in_thread(app) as base_url:
            assert client.get(base_url).text == "ok"  # the connection stays open (keep-alive)
            assert lifespan == ["startup"]
        assert lifespan == ["startup", "shutdown"]
        with pytest.raises(httpx.TransportError):
            client.get(base_url)


def _closed_after_answer(base_url: str, path: str, body: bytes) -> tuple[int, bool]:
    """POST ``body`` on a new connection: the answer's status, and whether the server then closed it."""
    where = urlsplit(base_url)
    assert where.hostname is not None and where.port is not None
    with socket.create_connection((where.hostname, where.port), timeout=10) as sock:
        head = f"POST {path} HTTP/1.1\r\nHost: {where.hostname}\r\nContent-Type: application/json\r\n"
        sock.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        answer.read()
        sock.settimeout(1.0)  # a kept connection stays open far longer: keep_alive_timeout_s
        try:
            return answer.status, sock.recv(1) == b""
        except TimeoutError:
            return answer.status, False


@pytest.mark.parametrize("close_after_batch", [False, True], ids=["one-process", "one-of-several-workers"])
def test_a_worker_of_several_closes_the_connection_after_each_batch_and_one_process_keeps_it(
    api: Api, world: World, close_after_batch: bool
) -> None:
    """A kept-alive connection stays with the worker that accepted it: closing it spreads the batches."""
    kiosk = world.kiosk
    path = f"/v1/kiosks/{kiosk.kiosk_id}/events"
    with serve_in_thread(create_app(api.context, close_after_batch=close_after_batch)) as base_url:
        for minute in range(2):  # the next batch comes on a new connection, and is stored as ever
            batch = encode_batch([kiosk.event("check_in", world.card_id, T0 + minute * 60_000)])
            assert _closed_after_answer(base_url, path, batch) == (200, close_after_batch)
        # A refused batch is cheap (it is refused before its signatures): its connection stays as it is.
        assert _closed_after_answer(base_url, path, b"{}") == (400, False)
    assert api.kiosk_state(kiosk.kiosk_id)["last_seq"] == 2


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own niceness is Linux's")
def test_signature_checks_run_at_the_lowest_priority_and_nothing_else_does(context) -> None:
    # The checks yield the cores to parsing and storing, which hold the GIL and the write turn.
    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    before = niceness()
    app = create_app(context, verify_workers=2)
    with serve_in_thread(app):
        pool = app.state.runtime.verify_pool
        assert pool is not None
        seen = set(pool.map(lambda _: niceness(), range(8)))
    assert seen == {VERIFY_NICENESS}
    assert niceness() == before  # the server's own threads keep theirs
