"""A real ``NOTIFY_SOCKET`` for the watchdog tests: a unix datagram socket recording what arrives, in order.

Tests assert on order and counts, not on our code's speed: they put their own
markers into the same socket (:meth:`NotifyListener.mark`) around a window or a
deliberate hang, and a unix datagram socket keeps arrival order, so "no
``WATCHDOG=1`` between ``BLOCK-START`` and ``BLOCK-END``" is exact.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from hardware.sdnotify import notify

WATCHDOG = "WATCHDOG=1"
READY = "READY=1"


class NotifyListener:
    """Collects every datagram sent to :attr:`env` ``["NOTIFY_SOCKET"]`` in a background thread."""

    def __init__(self, sock: socket.socket, name: str) -> None:
        self._sock = sock
        self.env = {"NOTIFY_SOCKET": name}
        self._messages: list[str] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._receive, name="notify-listener", daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        self._sock.settimeout(0.02)
        while not self._done.is_set():
            try:
                data = self._sock.recv(4096)
            except TimeoutError:
                continue
            with self._lock:
                self._messages.append(data.decode())

    def messages(self) -> list[str]:
        """Everything received so far, oldest first."""
        with self._lock:
            return list(self._messages)

    def mark(self, text: str) -> None:
        """Put a marker into the stream (from the calling thread), ordered with everything else."""
        assert notify(text, environ=self.env)

    def wait_for(self, predicate: Callable[[list[str]], bool], timeout_s: float = 30.0) -> list[str]:
        """Wait until ``predicate(messages)`` holds; fail after ``timeout_s`` (a guard against hangs)."""
        deadline = time.monotonic() + timeout_s
        while True:
            messages = self.messages()
            if predicate(messages):
                return messages
            assert time.monotonic() < deadline, f"still false after {timeout_s} s: {messages}"
            time.sleep(0.01)

    def wait_for_mark(self, text: str, timeout_s: float = 30.0) -> list[str]:
        return self.wait_for(lambda messages: text in messages, timeout_s)

    def close(self) -> None:
        self._done.set()
        self._thread.join()
        self._sock.close()


def between(messages: list[str], start: str, end: str) -> list[str]:
    """The messages strictly between the markers ``start`` and ``end``."""
    return messages[messages.index(start) + 1 : messages.index(end)]


@contextmanager
def notify_listener(kind: str = "path") -> Iterator[NotifyListener]:
    """A listening socket: ``kind`` ``"path"`` (a file in a short temporary folder) or ``"abstract"``."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    folder: str | None = None
    if kind == "abstract":
        name = f"@kokreativ-test-{os.getpid()}-{os.urandom(6).hex()}"
        sock.bind("\0" + name[1:])
    else:
        folder = tempfile.mkdtemp(prefix="kn-")  # unix socket paths are limited to 108 bytes
        name = os.path.join(folder, "notify")
        sock.bind(name)
    listener = NotifyListener(sock, name)
    try:
        yield listener
    finally:
        listener.close()
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def watchdog_env(listener: NotifyListener, interval_ms: int = 400, pid: int | None = None) -> dict[str, str]:
    """What systemd sets for ``Type=notify`` with ``WatchdogSec=`` (this process's PID by default)."""
    return {
        **listener.env,
        "WATCHDOG_USEC": str(interval_ms * 1000),
        "WATCHDOG_PID": str(os.getpid() if pid is None else pid),
    }


PINGS = 3  # pings a working loop must send after a mark; how often it pings is tests/test_sdnotify.py's


def pings_since(messages: list[str], mark: str) -> int:
    """How many ``WATCHDOG=1`` arrived after the marker ``mark`` (0 before it arrives)."""
    return messages[messages.index(mark) + 1 :].count(WATCHDOG) if mark in messages else 0
