"""Serving an emulated tag to nfcpy's ``udp`` driver over one UDP socket.

Each frame from the reader is one datagram ``b"106A <hex>"``, answered the same
way to the address it came from; ``b"RFOFF"`` means the reader switched its
field off.  Why this does not use nfcpy's own ``listen()`` is explained in
:mod:`hardware.emulator`.  An answer the reader no longer waits for is not
sent, because nfcpy's udp driver would take it for the answer to its next
frame (docs/hardware.md, "Emulated tags").
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from hardware.emulator.base import _REQA, _WUPA, EmulatedTag

# Every part of the emulator logs as "hardware.emulator", the name it had as a single module.
log = logging.getLogger("hardware.emulator")

# nfcpy's udp driver waits 1 s for an answer to its poll (a real PN53x keeps polling for its whole
# timeout and returns as soon as a card arrives).  A tag that enters the field within this window
# answers the poll still in progress, well inside nfcpy's second, so a late answer is never taken
# for the reply to a later command.
POLL_WINDOW_S = 0.5

# How long a tag told to answer late (``answer_late``) waits for the reader's next frame at most.
LATE_ANSWER_WAIT_S = 5.0


class TagServer:
    """Present one emulated tag on a UDP port, in a daemon thread, until :meth:`stop`.

    The socket is bound on construction (port 0: the system picks a free one,
    with no race), so :attr:`path` is valid at once.  The tag stays presentable
    across any number of reader polls and connections; take it away and bring
    it back with ``server.tag.remove()`` / ``server.tag.present()``.

    ``answer_late``: frames for which the tag's answer is held back until the
    reader has sent its next frame, i.e. until nfcpy gave up waiting for it
    (what a loaded host looks like to nfcpy's 5 ms Type 2 READ timeout).
    """

    def __init__(
        self,
        tag: EmulatedTag,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        answer_late: Callable[[bytes], bool] | None = None,
    ) -> None:
        self.tag = tag
        self._answer_late = answer_late
        self._socket = _bind_for_nfcpy(host, port)
        self._address: tuple[str, int] = self._socket.getsockname()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="emulated-tag", daemon=True)
        self.polls_answered_on_arrival = 0  # polls the tag answered because it arrived while they waited
        self.late_answers_dropped = 0  # answers not sent: the reader had sent its next frame already

    @property
    def port(self) -> int:
        return self._address[1]

    @property
    def path(self) -> str:
        """The nfcpy device path a reader opens to see this tag."""
        return f"udp:{self._address[0]}:{self._address[1]}"

    def start(self) -> TagServer:
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop answering and release the port; returns within about 50 ms."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._socket.close()

    def __enter__(self) -> TagServer:
        return self.start() if not self._thread.is_alive() else self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _serve(self) -> None:
        pending: tuple[bytes, Any, float] | None = None  # a poll the tag was not there to answer
        while not self._stop.is_set():
            if not select.select([self._socket], [], [], 0.002 if pending else 0.05)[0]:
                if pending is not None and time.monotonic() - pending[2] > POLL_WINDOW_S:
                    pending = None
                elif pending is not None and self.tag.in_field:
                    frame, sender, _ = pending
                    pending = None
                    if self._answer(frame, sender):  # the card arrived while the reader was polling
                        self.polls_answered_on_arrival += 1
                continue
            try:
                datagram, sender = self._socket.recvfrom(2048)
            except OSError:  # closed under us by stop()
                return
            pending = None  # the reader moved on
            if datagram.startswith(b"RFOFF"):
                self.tag.field_off()
                continue
            try:
                bitrate, payload = datagram.split()
                frame = bytes.fromhex(payload.decode("ascii"))
            except ValueError:
                log.debug("emulated tag ignores a malformed datagram")
                continue
            if bitrate != b"106A" or not frame:
                continue  # a Type A tag does not hear Type B or F polls
            if not self._answer(frame, sender) and frame in (_REQA, _WUPA):
                pending = (frame, sender, time.monotonic())

    def _answer(self, frame: bytes, sender: Any) -> bool:
        """Let the tag answer ``frame``; ``True`` if it said something."""
        try:
            answer = self.tag.respond(frame)
        except Exception:  # a bug in an emulator must not silently kill the thread
            log.exception("emulated tag failed to answer a frame")
            return False
        if answer is None:
            return False
        if self._answer_late is not None and self._answer_late(frame):
            select.select([self._socket], [], [], LATE_ANSWER_WAIT_S)  # until the reader's next frame
        if self._reader_moved_on():
            # nfcpy sends one frame at a time and the next only once it has the answer or gave up
            # waiting; its udp driver would take this answer for the next frame's and stay one
            # answer behind from then on.  In the air a late answer is lost, so it is here too.
            self.late_answers_dropped += 1
            log.debug("emulated tag drops an answer the reader no longer waits for")
            return True
        self._socket.sendto(b"106A " + answer.hex().encode("ascii"), sender)
        return True

    def _reader_moved_on(self) -> bool:
        """Whether a newer datagram from the reader already waits (checked just before answering)."""
        return bool(select.select([self._socket], [], [], 0)[0])


@contextmanager
def serve_tag(
    tag: EmulatedTag, port: int = 0, *, answer_late: Callable[[bytes], bool] | None = None
) -> Iterator[TagServer]:
    """Serve ``tag`` on ``port`` (0: any free port) for the duration of a ``with`` block."""
    server = TagServer(tag, port, answer_late=answer_late)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that was free a moment ago (prefer ``serve_tag(tag)``, which cannot race)."""
    with _bind_for_nfcpy("127.0.0.1", 0) as probe:
        port: int = probe.getsockname()[1]
        return port


def nfcpy_can_open(host: str, port: int) -> bool:
    """Whether nfcpy's ``udp`` driver can open ``udp:HOST:PORT``.

    nfcpy 1.0.4 resolves the address with ``getnameinfo(..., NI_NUMERICHOST)``
    but not ``NI_NUMERICSERV``, then calls ``int()`` on the port: a port that
    ``/etc/services`` names (60179 is ``fido``) fails with ``ValueError``.
    """
    return socket.getnameinfo((host, port), socket.NI_NUMERICHOST)[1].isdigit()


def _bind_for_nfcpy(host: str, port: int, attempts: int = 64) -> socket.socket:
    """A UDP socket bound to ``host:port``; for port 0, to a free port that nfcpy can open."""
    for _ in range(attempts):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        if port != 0 or nfcpy_can_open(host, sock.getsockname()[1]):
            return sock
        sock.close()  # a named port: ask the system for another
    raise OSError(f"no free UDP port on {host} that nfcpy can open after {attempts} tries")
