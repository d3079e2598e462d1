"""``kokreativ server run`` as a real process on loopback, for tests that kill, restart or run two of it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
RUNNER = (
    "import argparse, sys\n"
    "from server import cli\n"
    "parser = argparse.ArgumentParser(prog='kokreativ server')\n"
    "cli.configure(parser)\n"
    "args = parser.parse_args(sys.argv[1:])\n"
    "sys.exit(args.func(args))\n"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    data: Path, port: int, log: Path, env: Mapping[str, str] | None = None, *, extra: Sequence[str] = ()
) -> subprocess.Popen[bytes]:
    """``server run --data DATA --port PORT``, its output appended to ``log``; ``env`` adds variables.

    ``extra`` are more flags (``--workers 2``).

    prometheus_client's multiprocess variable of the test process is not passed on:
    each server chooses its own shared folder.
    """
    environ = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    environ.update({"PYTHONPATH": str(REPO), **(env or {})})
    args = ["run", "--data", str(data), "--port", str(port), "--log-level", "warning", *extra]
    with log.open("ab") as log_file:
        return subprocess.Popen(
            [sys.executable, "-c", RUNNER, *args], cwd=REPO, env=environ, stdout=log_file, stderr=log_file
        )


def wait_ready(
    client: httpx.Client, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 60
) -> None:
    """Until ``/v1/health`` answers 200; fails with the server's log if the process ended."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if client.get("/v1/health").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("server did not start")
