"""``kokreativ server run`` tells systemd READY once it serves and pings from its event loop.

The real server process runs with ``NOTIFY_SOCKET`` (a real unix datagram
socket) and ``WATCHDOG_USEC`` in its environment; a blocked event loop is
checked in-process, with an endpoint that blocks the loop on purpose.
"""

from __future__ import annotations

import os
import threading
import time

import pytest
import requests

from hardware.sdnotify import Watchdog
from kokreativ.localserver import free_port, start_server, stop_server
from server.datadir import init_data_dir
from tests.notify_helpers import PINGS, READY, WATCHDOG, between, notify_listener, pings_since, watchdog_env

WINDOW_S = 1.2  # three watchdog intervals of 400 ms


@pytest.mark.slow
def test_the_server_process_says_ready_once_serving_and_pings_periodically(tmp_path):
    init_data_dir(tmp_path / "server")
    with notify_listener("abstract") as listener:
        env = {**os.environ, **listener.env, "WATCHDOG_USEC": "400000"}  # no WATCHDOG_PID: any process
        port = free_port()
        process = start_server(tmp_path / "server", port, tmp_path / "server.log", env=env)
        try:
            listener.wait_for(lambda m: READY in m)
            listener.mark("WINDOW-START")
            listener.wait_for(lambda m: pings_since(m, "WINDOW-START") >= PINGS)
            listener.mark("WINDOW-END")
            assert requests.get(f"http://127.0.0.1:{port}/v1/health", timeout=5).ok
        finally:
            stop_server(process)
        # uvicorn re-raises the SIGTERM it handled, so the exit status says -15; the log says it finished.
        assert "Finished server process" in (tmp_path / "server.log").read_text()
        listener.mark("END")
        messages = listener.wait_for_mark("END")
    assert messages.index(READY) == 0 and messages.count(READY) == 1
    assert between(messages, "WINDOW-START", "WINDOW-END").count(WATCHDOG) >= PINGS
    assert "STOPPING=1" in between(messages, "WINDOW-END", "END")


def test_a_blocked_event_loop_stops_the_pings():
    from fastapi import FastAPI

    from server.runner import notifying_server

    app = FastAPI()
    port = free_port()
    with notify_listener() as listener:

        @app.get("/block")
        async def block() -> dict[str, bool]:  # async and sleeping: the whole event loop stands still
            listener.mark("BLOCK-START")
            time.sleep(WINDOW_S)
            listener.mark("BLOCK-END")
            return {"ok": True}

        server = notifying_server(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            watchdog=Watchdog(environ=watchdog_env(listener)),
        )
        thread = threading.Thread(target=server.run, name="uvicorn-notify-test")
        thread.start()
        try:
            listener.wait_for(lambda m: READY in m)
            assert requests.get(f"http://127.0.0.1:{port}/block", timeout=30).json() == {"ok": True}
            listener.wait_for_mark("BLOCK-END")
            listener.wait_for(lambda m: m[m.index("BLOCK-END") + 1 :].count(WATCHDOG) >= 1)
        finally:
            server.should_exit = True
            thread.join(30)
        messages = listener.messages()
    assert messages[0] == READY
    assert between(messages, "BLOCK-START", "BLOCK-END") == []
    assert messages[-1] == "STOPPING=1"
