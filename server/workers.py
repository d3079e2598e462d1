"""``kokreativ server run --workers N``: N server processes on one listening socket.

One Python process verifies signatures on one core at a time (the GIL is let go
inside libsodium, but parsing, hashing and storing hold it), so a server that
must ingest on every core runs several processes.  Here the parent:

1. binds the socket once (so every worker accepts on the same port, and a port
   already taken fails before any worker starts, with uvicorn's exit status 3);
2. forks N workers; each opens its own ledger (its own SQLite connection on
   the same file: WAL lets them read at once, ``BEGIN IMMEDIATE`` makes their
   writes take turns) and serves the shared socket with uvicorn, within the
   same :class:`server.connections.LimitedConfig` limits as a single process;
3. tells systemd READY once every worker accepts connections, and pings the
   watchdog only while every worker's event loop keeps beating (a beat is a
   task on the worker's loop, so a blocked loop stops it, as with one process);
4. on SIGTERM or SIGINT asks every worker to stop (each finishes its requests
   and lifespan as uvicorn does), waits, and exits 0.  A worker that dies on its
   own stops the others and the parent exits 1, so systemd's
   ``Restart=on-failure`` starts the whole server afresh.

Not uvicorn's own ``workers=``: that wants the app as an import string, builds
a plain ``uvicorn.Config`` in each worker (not our limits), pings nobody, and
restarts a dead worker by itself, where a dead worker here is a failure systemd
should see.

The parent opens no ledger and serves nothing: it holds no connection a fork
could share by mistake.  What the workers must agree on lives in the ledger
(sessions, the guessing limits: :mod:`server.ratelimit`) or in the shared
counter files (:mod:`server.metrics`).

Example::

    serve_workers(open_app, workers=2, host="127.0.0.1", port=8080)

where ``open_app()`` is a context manager that opens the ledger and yields an
ASGI app; it runs in each worker, after the fork.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mmap
import multiprocessing
import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Final

import uvicorn

from hardware.sdnotify import Watchdog
from server.config import Limits
from server.connections import LimitedConfig
from server.runner import STARTUP_FAILURE, freeze_startup_heap

log = logging.getLogger(__name__)

MAX_WORKERS: Final = 64
_BEAT_S: Final = 1.0  # a worker's beat period without a systemd watchdog
_STOP_WAIT_S: Final = 30.0  # then a worker that has not stopped is killed
NOT_STARTED: Final = 0.0
FAILED: Final = -1.0

AppOpener = Callable[[], AbstractContextManager[Any]]


class Beat:
    """One worker's last beat (monotonic seconds) in memory the parent shares with it.

    An anonymous shared mapping made before the fork: no file, so nothing the
    unit's sandbox could refuse.  :data:`NOT_STARTED` until the worker serves,
    :data:`FAILED` if it could not start.
    """

    def __init__(self) -> None:
        self._map = mmap.mmap(-1, 8)  # MAP_SHARED | MAP_ANONYMOUS: the same page after the fork
        self.value = NOT_STARTED

    @property
    def value(self) -> float:
        return float(struct.unpack_from("d", self._map)[0])

    @value.setter
    def value(self, seconds: float) -> None:
        struct.pack_into("d", self._map, 0, seconds)


class _WorkerServer(uvicorn.Server):
    """uvicorn's server in a worker: it beats on ``beat`` (monotonic seconds) from its own event loop."""

    def __init__(self, config: uvicorn.Config, beat: Beat, period_s: float) -> None:
        super().__init__(config)
        self._beat = beat
        self._period_s = period_s
        self._task: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.started or self.should_exit:
            return
        self._beat.value = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._beats())

    async def _beats(self) -> None:
        while True:
            self._beat.value = time.monotonic()
            await asyncio.sleep(self._period_s)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await super().shutdown(sockets=sockets)


def _worker_main(
    open_app: AppOpener,
    sock: socket.socket,
    beat: Beat,
    period_s: float,
    options: dict[str, Any],
) -> None:
    """One worker: open the ledger, serve ``sock`` until SIGTERM/SIGINT (uvicorn's own handlers)."""
    # The parent's handlers came along with the fork; until uvicorn installs its own, a SIGTERM
    # must end this worker, not set the parent's flag in a copy nobody reads.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)
    started = False
    try:
        with open_app() as app:
            server = _WorkerServer(LimitedConfig(app, proxy_headers=False, **options), beat, period_s)
            freeze_startup_heap()
            server.run(sockets=[sock])
            started = server.started
    finally:
        if not started:
            beat.value = FAILED
    if not started:
        raise SystemExit(STARTUP_FAILURE)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket every worker accepts on; :class:`OSError` if the address is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only for that proto (server.runner).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)  # uvicorn's backlog
        sock.set_inheritable(True)
    except BaseException:
        sock.close()
        raise
    return sock


def serve_workers(
    open_app: AppOpener,
    *,
    workers: int,
    host: str,
    port: int,
    log_level: str = "info",
    access_log: bool = True,
    watchdog: Watchdog | None = None,
    limits: Limits | None = None,
) -> int:
    """Serve ``open_app()``'s app in ``workers`` forked processes on ``host``:``port`` until SIGTERM.

    Returns the exit status: 0 after SIGTERM or SIGINT, 1 when a worker died on
    its own (the others are stopped first).  Raises ``SystemExit(3)``, as uvicorn
    does, when the port is taken or a worker never started.
    """
    if not 1 <= workers <= MAX_WORKERS:
        raise ValueError(f"workers must be 1 to {MAX_WORKERS}")
    watchdog = watchdog if watchdog is not None else Watchdog()
    try:
        sock = bind(host, port)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", host, port, exc.strerror or exc)
        raise SystemExit(STARTUP_FAILURE) from None
    period_s = watchdog.loop_period_s or _BEAT_S
    options = {
        "limits": limits or Limits(),
        "log_level": log_level,
        "access_log": access_log,
    }
    context = multiprocessing.get_context("fork")
    stop = threading.Event()
    previous = {
        signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGTERM, signal.SIGINT)
    }
    beats: list[Beat] = []
    processes: list[multiprocessing.process.BaseProcess] = []
    try:
        for index in range(workers):
            beat = Beat()
            process = context.Process(
                target=_worker_main,
                args=(open_app, sock, beat, period_s, options),
                name=f"kokreativ-worker-{index}",
                daemon=False,
            )
            process.start()
            beats.append(beat)
            processes.append(process)
        status = _supervise(processes, beats, watchdog, stop, period_s)
    finally:
        watchdog.stopping()
        _stop_all(processes)
        sock.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if status == STARTUP_FAILURE:
        raise SystemExit(STARTUP_FAILURE)
    return status


def _supervise(
    processes: list[multiprocessing.process.BaseProcess],
    beats: list[Beat],
    watchdog: Watchdog,
    stop: threading.Event,
    period_s: float,
) -> int:
    """READY once every worker serves; then watchdog pings while all beat; the exit status."""
    ready = False
    while not stop.wait(min(period_s, 0.05) if not ready else period_s):
        if any(beat.value == FAILED for beat in beats):
            log.error("a server worker could not start; stopping")
            return STARTUP_FAILURE
        dead = [process for process in processes if not process.is_alive()]
        if dead:
            log.error(
                "server worker %s exited with status %s; stopping the others",
                dead[0].name,
                dead[0].exitcode,
            )
            return STARTUP_FAILURE if not ready else 1
        if not ready:
            if all(beat.value > NOT_STARTED for beat in beats):
                ready = True
                log.info("%d server workers accept connections (pid %d)", len(processes), os.getpid())
                watchdog.ready()
            continue
        # A worker whose loop has not beaten for half the watchdog interval is hanging: stop pinging,
        # and systemd restarts the service when the interval runs out.
        interval = watchdog.interval_s
        oldest = min(beat.value for beat in beats)
        if interval is None or time.monotonic() - oldest < interval / 2:
            watchdog.ping()
    return 0


def _stop_all(processes: list[multiprocessing.process.BaseProcess]) -> None:
    """SIGTERM every live worker, wait for them, then SIGKILL what is left."""
    for process in processes:
        if process.is_alive() and process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + _STOP_WAIT_S
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            log.error("server worker %s did not stop in time; killing it", process.name)
            process.kill()
            process.join()
