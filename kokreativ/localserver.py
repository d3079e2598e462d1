"""Run ``kokreativ server run`` as a separate process on loopback.

The benchmark and the crash tests need a server that really is a separate
process: one that can be stopped or killed to simulate an outage or a crash,
and that does not share the client's interpreter lock.  (The demo serves in
its own process instead, on its story's clock: :mod:`kokreativ.demo.ledger`.)
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import requests


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    data_dir: Path,
    port: int,
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    workers: int = 1,
) -> subprocess.Popen[bytes]:
    """Start the server process and wait until ``/v1/health`` answers.

    ``workers`` above 1 runs it with ``--workers`` (the bench's all-cores ingest).

    ``env`` replaces the process's environment (the watchdog tests pass ``NOTIFY_SOCKET``);
    ``cwd`` is where it runs (``-m`` puts it first on the path: the hand-over test runs an old tree).
    """
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kokreativ",
                "server",
                "run",
                "--data",
                str(data_dir),
                "--port",
                str(port),
                *(["--workers", str(workers)] if workers > 1 else []),
            ],
            stdout=log,
            stderr=log,
            env=None if env is None else dict(env),
            cwd=cwd,
        )
    try:
        _wait_until_healthy(process, url, log_path)
    except BaseException:
        # Never leave a server behind: not on a timeout, not on Ctrl-C during start-up.
        process.kill()
        process.wait()
        raise
    return process


def _wait_until_healthy(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}; see {log_path}")
        try:
            if requests.get(url + "/v1/health", timeout=1).ok:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"server did not start within 60 s; see {log_path}")
        time.sleep(0.05)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it does not stop within 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def ledger_server(data_dir: Path, port: int | None = None, *, workers: int = 1) -> Iterator[str]:
    """Run the server on ``data_dir`` (in ``workers`` processes) for the block; yield its base URL."""
    port = port or free_port()
    process = start_server(data_dir, port, data_dir.parent / f"server-{port}.log", workers=workers)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(process)
