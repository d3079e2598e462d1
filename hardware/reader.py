"""The card reader interface the kiosk core depends on, and a queue-backed base for readers.

The kiosk core (:mod:`terminal`) only ever calls :meth:`CardReader.wait_for_tap`;
it never learns which reader is attached.  Every concrete reader is a
:class:`QueueReader`: something (a polling thread talking to an nfcpy
``ContactlessFrontend``, a thread reading a script, a test calling
``present_card``) pushes :class:`Tap` objects into a thread-safe queue, and
the tap loop takes them out with a timeout, so the loop can notice a stop
request even while nobody taps.  An nfcpy adapter therefore only has to
subclass :class:`QueueReader`, poll in its own thread, debounce a card that is
held on the reader, and call :meth:`QueueReader.push`.

A raw UID is personal data: it must never be logged or stored, so it is kept
out of :class:`Tap`'s ``repr``.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Tap:
    """One card presented to the reader: its UID and the raw NDEF message, if it had one.

    ``tag_type`` is the reader's name for the tag family (``"Type2Tag"``,
    ``"Type4Tag"``, …) where it knows one.  ``complete`` is ``False`` when the
    card left the field before its NDEF could be read: the kiosk then asks for
    another tap and records nothing, because a half-read card proves nothing.

    ``uid`` is left out of ``repr`` so that logging a tap never leaks it.
    """

    uid: bytes = field(repr=False)
    ndef: bytes | None = None
    tag_type: str | None = None
    complete: bool = True


class ReaderStatus(StrEnum):
    """Health of a reader, for a status screen or ``doctor`` command."""

    OK = "ok"
    MISSING = "missing"
    ERROR = "error"


@runtime_checkable
class CardReader(Protocol):
    """Where taps come from.

    ``wait_for_tap`` blocks at most ``timeout`` seconds (``None``: until a tap
    or the reader is exhausted) and returns ``None`` when nothing came.  A
    reader that will never produce another tap (end of a script) says so with
    ``exhausted``, which lets the tap loop end cleanly.
    """

    def wait_for_tap(self, timeout: float | None) -> Tap | None: ...

    @property
    def status(self) -> ReaderStatus: ...

    @property
    def exhausted(self) -> bool: ...

    def close(self) -> None: ...


_END = object()  # queued after the last tap: wakes a waiting consumer at once


class QueueReader:
    """A reader fed through a thread-safe queue; the base of every concrete reader.

    Producers call :meth:`push` (from any thread) and :meth:`finish` once no
    tap can follow.  The consumer calls :meth:`wait_for_tap`.  One lock orders
    ``push`` and ``finish``, so every accepted tap is queued before the end
    marker and reaches the consumer; a tap pushed after ``finish`` is refused
    (``push`` returns ``False`` and logs it), never silently lost.
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[object] = queue.Queue()
        self._lock = threading.Lock()
        self._finished = False
        self._drained = False
        self._status = ReaderStatus.OK

    def push(self, tap: Tap) -> bool:
        """Hand one tap to the consumer; thread-safe and non-blocking.

        Returns ``False`` (and logs a warning) if the reader is already finished.
        """
        with self._lock:
            if self._finished:
                log.warning("a tap arrived after the reader was finished; it is not recorded")
                return False
            self._queue.put(tap)
            return True

    def finish(self) -> None:
        """Declare that no more taps will come; ``exhausted`` turns true once all are taken."""
        with self._lock:
            if not self._finished:
                self._finished = True
                self._queue.put(_END)

    def set_status(self, status: ReaderStatus) -> None:
        """Report reader health (called by the producing side, e.g. when a USB reader vanishes)."""
        self._status = status

    @property
    def status(self) -> ReaderStatus:
        return self._status

    @property
    def exhausted(self) -> bool:
        return self._drained

    def wait_for_tap(self, timeout: float | None) -> Tap | None:
        if self._drained:
            return None
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _END:
            self._drained = True
            return None
        assert isinstance(item, Tap)
        return item

    def close(self) -> None:
        self.finish()
