"""Run the real uvicorn server: in the foreground under systemd, or in a background thread.

:func:`serve_forever` is ``kokreativ server run``: uvicorn in the foreground,
telling systemd READY once it accepts connections and pinging the watchdog
from a task on the server's own event loop, so a blocked event loop stops the
pings and systemd restarts the server (:mod:`hardware.sdnotify`).

:func:`serve_in_thread` is for tests, the demo and the benchmark.  Example::

    with serve_in_thread(create_app(context)) as base_url:
        requests.get(f"{base_url}/v1/health")

The socket is bound before the thread starts (port 0 picks a free port, with
no race against other tests), the context manager returns only once uvicorn
accepts connections, and on exit it asks uvicorn to stop and joins the
thread, so the server's lifespan shutdown has run when the block ends.
Access logs are off by default: per-request logging costs measurable time in
the ingest benchmark.

uvicorn's own proxy-header handling is off in both: by default it believes
``X-Forwarded-For`` from 127.0.0.1, whatever the server's ``trusted_proxies``
say, and so would let a client behind a local proxy pick its own address for
the guessing limits.  :mod:`server.http.clients` reads the header instead, only
from the configured proxies.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import uvicorn

from hardware.sdnotify import Watchdog
from server.config import Limits
from server.connections import LimitedConfig

log = logging.getLogger(__name__)
STARTUP_FAILURE = 3  # uvicorn's exit code when the server never started (uvicorn.config.STARTUP_FAILURE)


def freeze_startup_heap() -> None:
    """Leave what start-up made (modules, the app and its schemas) out of the collector's full passes.

    It lives as long as the process.  Ingest makes many small objects per event,
    which trigger full collections; unfrozen, each walked the whole start-up heap
    again (about a tenth of a worker's CPU per event, measured with ``make bench``'s ingest).
    Called once the app is made, right before serving (:func:`gc.freeze`).
    """
    gc.collect()
    gc.freeze()


class _NotifyingServer(uvicorn.Server):
    """uvicorn's server, plus READY once it accepts connections and watchdog pings from its event loop."""

    def __init__(self, config: uvicorn.Config, watchdog: Watchdog) -> None:
        super().__init__(config)
        self._watchdog = watchdog
        self._pinger: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.started or self.should_exit:
            return
        self._watchdog.ready()
        if self._watchdog.loop_period_s is not None:
            self._pinger = asyncio.get_running_loop().create_task(self._ping(self._watchdog.loop_period_s))

    async def _ping(self, period_s: float) -> None:
        # A task on the server's loop, never a thread: if a handler blocks the loop, this stops too.
        while True:
            self._watchdog.ping()
            await asyncio.sleep(period_s)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._watchdog.stopping()
        if self._pinger is not None:
            self._pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pinger
            self._pinger = None
        await super().shutdown(sockets=sockets)


def notifying_server(
    app: Any,
    *,
    host: str,
    port: int,
    log_level: str = "info",
    access_log: bool = True,
    watchdog: Watchdog | None = None,
    limits: Limits | None = None,
) -> uvicorn.Server:
    """A uvicorn server for ``app`` telling ``watchdog`` (default: from the environment); not started.

    ``limits`` (default: :class:`Limits`'s defaults) bound slow and numerous clients
    (:mod:`server.connections`).
    """
    config = LimitedConfig(
        app,
        limits=limits or Limits(),
        host=host,
        port=port,
        log_level=log_level,
        access_log=access_log,
        proxy_headers=False,
    )
    return _NotifyingServer(config, watchdog if watchdog is not None else Watchdog())


def serve_forever(
    app: Any,
    *,
    host: str,
    port: int,
    log_level: str = "info",
    access_log: bool = True,
    watchdog: Watchdog | None = None,
    limits: Limits | None = None,
) -> None:
    """Serve ``app`` on ``host``:``port`` until SIGTERM or SIGINT, like ``uvicorn.run``, telling systemd.

    ``watchdog`` (default: from the environment) gets READY once uvicorn
    accepts connections and a ping every :attr:`Watchdog.loop_period_s` from a
    task on the event loop.  Exits with status 3, as uvicorn does, when the
    server never started (e.g. the port is taken).
    """
    server = notifying_server(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=access_log,
        watchdog=watchdog,
        limits=limits,
    )
    freeze_startup_heap()
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)


class _PromptServer(uvicorn.Server):
    """uvicorn's server that stops at once when :meth:`stop` asks, from another thread.

    uvicorn looks at ``should_exit`` only every 0.1 s and then sleeps a fixed
    0.1 s for open connections to close.  The tests start and stop a server
    in a thread per test, well over a thousand times a run, so those ~0.2 s
    were minutes of every suite.  Here :meth:`stop` wakes the main loop, and
    shutdown waits only until the connections have closed (never longer than
    uvicorn's 0.1 s), then finishes as uvicorn does: tasks, lifespan shutdown.
    """

    _TICK_S: Final = 0.1  # uvicorn's main loop period (the Date header's clock)
    _CLOSE_WAIT_S: Final = 0.1  # uvicorn's pause for connections to close

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864_000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._TICK_S)
            should_exit = await self.on_tick(counter)

    def stop(self) -> None:
        """Ask the server to exit now; callable from any thread."""
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already closed
                loop.call_soon_threadsafe(wake.set)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn.Server.shutdown, with its fixed sleep after asking connections to close replaced by
        # waiting (at most as long) until they have.
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._CLOSE_WAIT_S
        while self.server_state.connections and loop.time() < deadline:
            await asyncio.sleep(0.002)
        try:
            async with asyncio.timeout(self.config.timeout_graceful_shutdown):
                await self._wait_tasks_to_complete()
        except TimeoutError:
            log.error("cancelling %s task(s): graceful shutdown timed out", len(self.server_state.tasks))
            for task in self.server_state.tasks:
                task.cancel()
        if not self.force_exit:
            await self.lifespan.shutdown()


@contextmanager
def serve_in_thread(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
    access_log: bool = False,
    startup_timeout_s: float = 15.0,
    limits: Limits | None = None,
) -> Iterator[str]:
    """Serve the ASGI ``app`` on ``host``:``port`` (0 = a free port) and yield its base URL.

    ``limits`` as for :func:`serve_forever`: the same protocol as in production.
    """
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only for that
    # proto, and without it every response waits ~40 ms on Nagle and delayed ACKs.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        bound_port = sock.getsockname()[1]
        config = LimitedConfig(
            app,
            limits=limits or Limits(),
            log_level=log_level,
            access_log=access_log,
            lifespan="on",
            proxy_headers=False,
        )
        server = _PromptServer(config)
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
            server.stop()
            thread.join()
    finally:
        sock.close()
