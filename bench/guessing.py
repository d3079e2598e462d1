"""How fast can a client guess? Wrong enrolment codes and admin tokens per second, without the limits.

``python -m bench.guessing`` starts the real server in a process of its own on
loopback, with :meth:`server.ratelimit.GuessLimiter.unsafe_unlimited` so that
nothing is refused for guessing, and times a client that sends wrong guesses
over several keep-alive connections at once:

- ``guess_enrol_per_s``: ``POST /v1/enrol`` with a well-formed, correctly
  signed request for a random wrong code (signed beforehand: an attacker's
  signing costs it nothing the server sees), each one a lookup that misses;
- ``guess_admin_per_s``: ``GET /v1/admin/sites`` with a random wrong bearer token.

This is the rate the entropy bound in ``docs/protocol.md`` ("Guessing") must
survive with the limits switched off.  The client shares the machine with the
server, so a dedicated attacker machine gets somewhat more; the docs keep a
margin for that.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from protocol import PrivateKey, b64encode, enrolment_message
from protocol.enrolment import ENROL_CODE_DIGITS


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_unlimited(data: Path, port: int) -> None:
    """Serve ``data`` on loopback like ``kokreativ server run``, but with the guessing limits off."""
    from server.app import create_app
    from server.datadir import open_data_dir
    from server.ratelimit import GuessLimiter
    from server.runner import serve_forever

    with open_data_dir(data) as context:
        app = create_app(context, guesses=GuessLimiter.unsafe_unlimited(context.now_ms))
        serve_forever(app, host="127.0.0.1", port=port, log_level="warning", access_log=True)


@contextlib.contextmanager
def unlimited_server(folder: Path) -> Iterator[tuple[str, str]]:
    """A fresh data folder served by :func:`serve_unlimited` in a child process: its URL and admin token."""
    from server.datadir import init_data_dir

    token = init_data_dir(folder / "server").admin_token
    port = _free_port()
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.guessing", "--serve", str(folder / "server"), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline or child.poll() is not None:
                raise RuntimeError("the benchmark server did not start")
            time.sleep(0.05)
        yield url, token
    finally:
        child.terminate()
        child.wait(timeout=30)


def _rate(url: str, send: Callable[[httpx.Client, int], int], count: int, connections: int) -> float:
    """Requests per second over ``connections`` keep-alive clients; each answer must be the refusal."""
    per_thread = count // connections
    failures: list[str] = []

    def work(offset: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            for i in range(offset, offset + per_thread):
                status = send(client, i)
                if status not in (400, 401):
                    failures.append(f"unexpected status {status}")
                    return

    threads = [threading.Thread(target=work, args=(n * per_thread,)) for n in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(failures[0])
    return per_thread * connections / elapsed


def guessing_rates(folder: Path, *, count: int = 4000, connections: int = 8) -> dict[str, float]:
    """``guess_enrol_per_s`` and ``guess_admin_per_s`` against a fresh unlimited server."""
    key = PrivateKey.generate()
    public = key.public_key.to_b64()
    bodies = []
    for _ in range(count):
        code = "".join(secrets.choice("0123456789") for _ in range(ENROL_CODE_DIGITS))
        signature = b64encode(key.sign(enrolment_message(code, key.public_key)))
        bodies.append({"code": code, "public_key": public, "signature": signature})
    tokens = [secrets.token_urlsafe(32) for _ in range(count)]
    with unlimited_server(folder) as (url, _):

        def enrol(client: httpx.Client, i: int) -> int:
            return client.post("/v1/enrol", json=bodies[i]).status_code

        def admin(client: httpx.Client, i: int) -> int:
            headers = {"Authorization": f"Bearer {tokens[i]}"}
            return client.get("/v1/admin/sites", headers=headers).status_code

        _rate(url, enrol, min(count, 200), connections)  # warm up
        return {
            "guess_enrol_per_s": _rate(url, enrol, count, connections),
            "guess_admin_per_s": _rate(url, admin, count, connections),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.guessing", description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=4000, help="guesses per figure (default: %(default)s)")
    parser.add_argument("--connections", type=int, default=8, help="parallel keep-alive connections")
    parser.add_argument("--serve", nargs=2, metavar=("DATA", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve_unlimited(Path(args.serve[0]), int(args.serve[1]))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, value in guessing_rates(Path(tmp), count=args.count, connections=args.connections).items():
            print(f"{name}: {value:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
