"""Run the real uvicorn server in a background thread, for tests, the demo and the benchmark.

Example::

    with serve_in_thread(create_app(context)) as base_url:
        requests.get(f"{base_url}/v1/health")

The socket is bound before the thread starts (port 0 picks a free port, with
no race against other tests), the context manager returns only once uvicorn
accepts connections, and on exit it asks uvicorn to stop and joins the
thread, so the server's lifespan shutdown has run when the block ends.
Access logs are off by default: per-request logging costs measurable time in
the ingest benchmark.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


@contextmanager
def serve_in_thread(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
    access_log: bool = False,
    startup_timeout_s: float = 15.0,
) -> Iterator[str]:
    """Serve the ASGI ``app`` on ``host``:``port`` (0 = a free port) and yield its base URL."""
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only for that
    # proto, and without it every response waits ~40 ms on Nagle and delayed ACKs.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        bound_port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level=log_level, access_log=access_log, lifespan="on")
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{bound_port}", daemon=True
        )
        thread.start()
        try:
            deadline = time.monotonic() + startup_timeout_s
            while not server.started:
                if not thread.is_alive():
                    raise RuntimeError("the server thread stopped during start-up")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the server did not start within {startup_timeout_s} s")
                time.sleep(0.01)
            yield f"http://{host}:{bound_port}"
        finally:
            server.should_exit = True
            thread.join()
    finally:
        sock.close()
