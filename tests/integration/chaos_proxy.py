"""A chaos proxy for HTTP/1.1 on loopback: it drops, delays, truncates, duplicates and reorders requests.

It stands between the kiosk's real sync client and the real server, takes one
request per client connection, and applies one fault to it, drawn from a seeded
:class:`random.Random`, so a failing run repeats exactly with the same seed::

    with ChaosProxy(("127.0.0.1", server_port), seed=16, fault_rate=0.3) as proxy:
        config = dataclasses.replace(config, server_url=proxy.url)
        ...
    proxy.counts  # Counter of every fault applied, by name

The faults, each as a network really produces it:

- ``drop_request``: the request never reaches the server; the client's connection closes.
- ``drop_response``: the server applies the request; its answer is lost.
- ``delay``: the request waits a random moment before it goes on.
- ``truncate_request``: the server gets the request cut short, then the connection closes.
- ``truncate_response``: the client gets the answer cut short, then the connection closes.
- ``duplicate``: the server gets the request twice; the client sees the second answer.
- ``reorder``: the request is held back (the client's connection closes) and reaches the
  server later, after one to three newer requests.

It is a test tool we own (a seam at the network), not a model of any library.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections import Counter
from types import TracebackType
from typing import Final

FAULTS: Final = (
    "drop_request",
    "drop_response",
    "delay",
    "truncate_request",
    "truncate_response",
    "duplicate",
    "reorder",
)
_MAX_HEAD: Final = 64 * 1024
_TIMEOUT_S: Final = 60.0


class _Held:
    """A request held back by ``reorder``, and how many newer requests must pass it first."""

    def __init__(self, request: bytes, after: int) -> None:
        self.request = request
        self.after = after


def _read_request(conn: socket.socket) -> bytes | None:
    """One whole request (head and ``Content-Length`` body) from ``conn``; ``None`` at a clean EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
        if len(data) > _MAX_HEAD and b"\r\n\r\n" not in data:
            return None
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    return _with_connection_close(head) + b"\r\n\r\n" + body


def _with_connection_close(head: bytes) -> bytes:
    """``head`` with its ``Connection`` header replaced by ``close``: one exchange per connection."""
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
    return b"\r\n".join([*lines, b"Connection: close"])


def _response_with_connection_close(response: bytes) -> bytes:
    head, sep, body = response.partition(b"\r\n\r\n")
    if not sep:
        return response
    return _with_connection_close(head) + b"\r\n\r\n" + body


class ChaosProxy:
    """A threaded TCP proxy that applies seeded faults to each HTTP request between client and upstream.

    ``fault_rate`` is the chance that a request gets a fault, drawn uniformly from ``faults``;
    it may be changed while the proxy runs (0 lets everything through, for the final sync).
    """

    def __init__(
        self,
        upstream: tuple[str, int],
        *,
        seed: int,
        fault_rate: float = 0.3,
        faults: tuple[str, ...] = FAULTS,
        max_delay_s: float = 0.05,
    ) -> None:
        self.upstream = upstream
        self.fault_rate = fault_rate
        self.counts: Counter[str] = Counter()
        self._faults = faults
        self._max_delay_s = max_delay_s
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._held: list[_Held] = []
        self._deck: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, name="chaos-proxy", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._listener.getsockname()[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> ChaosProxy:
        self._acceptor.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._acceptor.join()
        for thread in self._threads:
            thread.join(timeout=_TIMEOUT_S)
        self._listener.close()

    def flush(self) -> int:
        """Deliver every request still held back by ``reorder`` now; returns how many."""
        with self._lock:
            held, self._held = self._held, []
        for item in held:
            self._forward(item.request)
        return len(held)

    # -- the proxy ------------------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
            thread.start()

    def _draw(self) -> tuple[str, float]:
        """The fault for the next request (``pass`` for none) and a fraction for where to cut or how long.

        Faults are dealt from a shuffled deck of all of them, so even a short run applies each one.
        """
        with self._lock:
            fault = "pass"
            if self._rng.random() < self.fault_rate:
                if not self._deck:
                    self._deck = list(self._faults)
                    self._rng.shuffle(self._deck)
                fault = self._deck.pop()
            self.counts[fault] += 1
            return fault, self._rng.random()

    def _due(self) -> list[bytes]:
        """Held requests whose turn has come: one more request has passed each of them."""
        with self._lock:
            due = []
            for item in self._held:
                item.after -= 1
            due = [item.request for item in self._held if item.after <= 0]
            self._held = [item for item in self._held if item.after > 0]
            return due

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(_TIMEOUT_S)
        try:
            request = _read_request(conn)
            if request is None:
                return
            fault, fraction = self._draw()
            late = self._due()
            if fault == "drop_request":
                return
            if fault == "reorder":
                with self._lock:
                    self._held.append(_Held(request, after=1 + int(fraction * 3)))
                return
            if fault == "truncate_request":
                self._forward(request[: max(1, int(len(request) * fraction))], half_close=True)
                return
            if fault == "delay":
                time.sleep(self._max_delay_s * fraction)
            response = self._forward(request)
            if fault == "duplicate":
                response = self._forward(request)
            for stale in late:  # the older requests arrive after this newer one
                self._forward(stale)
            if fault == "drop_response" or response is None:
                return
            response = _response_with_connection_close(response)
            if fault == "truncate_response":
                response = response[: int(len(response) * fraction)]
            conn.sendall(response)
        except OSError:
            pass  # the client hung up: that is the kind of thing this proxy is for
        finally:
            conn.close()

    def _forward(self, request: bytes, *, half_close: bool = False) -> bytes | None:
        """Send ``request`` upstream and read the answer to EOF; ``None`` when the upstream fails."""
        try:
            with socket.create_connection(self.upstream, timeout=_TIMEOUT_S) as upstream:
                upstream.sendall(request)
                if half_close:
                    upstream.shutdown(socket.SHUT_WR)
                chunks = []
                while chunk := upstream.recv(65536):
                    chunks.append(chunk)
                return b"".join(chunks)
        except OSError:
            return None
