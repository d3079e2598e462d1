"""Real NFC readers through nfcpy: the kiosk's polling reader and one-shot reads and writes.

:class:`NfcpyReader` is the kiosk's :class:`~hardware.reader.CardReader` (one
daemon thread, exactly one :class:`~hardware.reader.Tap` per card laid on it);
:func:`read_one_tag` and :func:`write_one_tag` serve ``card inspect`` and
``card issue``.  The reader is an nfcpy path (``tty:AMA0:pn532``,
``usb:054c:06c3``, ``udp:127.0.0.1:PORT`` for :mod:`hardware.emulator`).  nfcpy
is imported only here and in the emulator.  What nfcpy answers for empty,
NDEF-less and vanishing tags, and the error tree (each error's ``code`` is
what the CLI prints): docs/hardware.md, "What nfcpy reports".

A UID is personal data: nothing here logs one.  Do not set the ``nfc`` loggers
to DEBUG in production, they do print UIDs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import nfc
import nfc.clf
import nfc.tag

from hardware.reader import QueueReader, ReaderStatus, Tap

log = logging.getLogger(__name__)

DEFAULT_TARGETS = ("106A",)
"""Technologies to poll.  kokreativ cards (NTAG21x, NTAG 424 DNA) are all NFC-A, and every
extra technology lengthens each poll: with the udp driver by a full second each."""

# What nfcpy raises when a tag stops answering; an OSError instead means the reader itself failed.
_TAG_ERRORS = (nfc.tag.TagCommandError, nfc.clf.CommunicationError)


class NfcError(Exception):
    """Any failure of the one-shot tag helpers; ``code`` is stable, the message is for people."""

    code: ClassVar[str] = "nfc_error"


class ReaderNotFoundError(NfcError):
    """The reader path could not be opened; ``errno`` is nfcpy's (``ENODEV``, ``EACCES``, ``EBUSY``…)."""

    code = "reader_not_found"

    def __init__(self, message: str, *, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


class NoTagError(NfcError, TimeoutError):
    """No tag came to the reader before the timeout."""

    code = "no_tag"


class TagRemovedError(NfcError):
    """The tag left the field before the operation finished; nothing it returned is used."""

    code = "tag_removed"


class NoNdefSupportError(NfcError):
    """The tag is not NDEF formatted (nfcpy cannot format a blank Type 2 tag)."""

    code = "no_ndef_support"


class TagNotWritableError(NfcError):
    """The tag is read-only, by its capability container or its lock bits."""

    code = "tag_not_writable"


class TagTooSmallError(NfcError, ValueError):
    """The NDEF message does not fit the tag's NDEF capacity."""

    code = "tag_too_small"


class WriteFailedError(NfcError):
    """The tag took the command but does not hold what was written (or did not take the lock)."""

    code = "write_failed"


@dataclass(frozen=True, slots=True)
class TagReading:
    """What one connection learnt about a tag.

    ``product`` is nfcpy's product name (``"NXP NTAG215"``) or ``None`` when it
    only knows the tag type; ``ndef`` is the raw NDEF message (``b""`` empty,
    ``None`` no NDEF at all), ``ndef_capacity`` the largest message that fits.
    ``locked`` is only set by :func:`write_one_tag`: ``True`` if it made the
    tag read-only, ``False`` if the tag was left writable (not asked, or nfcpy
    cannot lock this tag type).  ``uid`` stays out of ``repr``: it is personal data.
    """

    uid: bytes = field(repr=False)
    tag_type: str
    product: str | None
    ndef: bytes | None
    ndef_capacity: int | None
    writable: bool
    locked: bool | None = None


def _open(path: str) -> Any:
    try:
        return nfc.ContactlessFrontend(path)
    except OSError as exc:
        message = f"cannot open the NFC reader at {path!r}: {exc.strerror or exc}"
        raise ReaderNotFoundError(message, errno=exc.errno) from exc


def _still_present(tag: Any) -> bool:
    try:
        return bool(tag.is_present)
    except _TAG_ERRORS:
        return False


def _read_ndef(tag: Any) -> Any | None:
    """``tag.ndef`` (nfcpy's NDEF object) or ``None`` for a tag without NDEF.

    Raises :class:`TagRemovedError` when the tag left during the read.  nfcpy
    answers ``None`` both for "no NDEF" and for a read that failed part-way,
    so a ``None`` is read once more and believed only while the tag is still there.
    """
    for _attempt in range(2):
        try:
            ndef = tag.ndef
        except _TAG_ERRORS as exc:
            raise TagRemovedError("the tag left the field during the read") from exc
        if ndef is not None:
            return ndef
        if not _still_present(tag):
            raise TagRemovedError("the tag left the field during the read")
    return None


def _reading(tag: Any, ndef: Any | None) -> TagReading:
    product = str(tag.product)
    return TagReading(
        uid=bytes(tag.identifier),
        tag_type=str(tag.type),
        product=None if product == tag.type else product,
        ndef=None if ndef is None else bytes(ndef.octets),
        ndef_capacity=None if ndef is None else int(ndef.capacity),
        writable=ndef is not None and bool(ndef.is_writeable),
    )


def read_tap(tag: Any) -> Tap:
    """The :class:`Tap` for an activated nfcpy ``tag``: complete, or incomplete with ``ndef=None``.

    ``ndef`` is the raw message exactly as stored: ``b""`` for a formatted but
    empty tag, ``None`` for a tag without NDEF, and any bytes, valid NDEF or
    not, otherwise.  A tag that left before its NDEF was fully read gives
    ``complete=False`` and no NDEF at all, never part of one.
    """
    uid, tag_type = bytes(tag.identifier), str(tag.type)
    try:
        ndef = _read_ndef(tag)
    except TagRemovedError:
        log.info("a %s left the field before its NDEF was read", tag_type)
        return Tap(uid=uid, ndef=None, tag_type=tag_type, complete=False)
    return Tap(uid=uid, ndef=None if ndef is None else bytes(ndef.octets), tag_type=tag_type)


class _QuietRetries(logging.Filter):
    """Drops nfcpy's per-attempt open messages from one thread; that thread logs state changes instead.

    Without it, a kiosk whose reader is unplugged logs nfcpy's "no reader
    available" error every ``retry_s`` for as long as the reader is missing.
    """

    _CHATTER = ("searching for reader on path", "no reader available on path")

    def __init__(self, thread_id: int) -> None:
        super().__init__()
        self._thread_id = thread_id

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread != self._thread_id or not record.getMessage().startswith(self._CHATTER)


class NfcpyReader(QueueReader):
    """A card reader driven by nfcpy, polled in one daemon thread.

    A card held on the reader gives one tap: after reading it the thread waits
    until the card is gone.  The same card seen again within ``debounce_s`` of
    leaving is a bounce at the field's edge and is ignored, unless its last
    tap was incomplete (the kiosk just asked for another tap).  When the
    reader cannot be opened or stops answering, :attr:`status` turns
    ``MISSING`` and the thread reopens it every ``retry_s``; any other error
    turns it ``ERROR`` and is retried the same way.  The thread never dies
    before :meth:`close`, and logs once per change of state, not per retry.

    Example::

        with NfcpyReader("tty:AMA0:pn532") as reader:
            tap = reader.wait_for_tap(timeout=1.0)
    """

    def __init__(
        self,
        path: str,
        *,
        debounce_s: float = 1.0,
        retry_s: float = 2.0,
        poll_interval_s: float = 0.1,
        targets: Sequence[str] = DEFAULT_TARGETS,
    ) -> None:
        super().__init__()
        self._path = path
        self._debounce_s = debounce_s
        self._retry_s = retry_s
        self._poll_interval_s = poll_interval_s
        self._rdwr: dict[str, Any] = {
            "targets": list(targets),
            "on-connect": self._on_connect,
            "on-release": self._on_release,
            "iterations": 1,  # one sense per call; nfcpy's default of 5 blocks for seconds
            "interval": poll_interval_s,
            "beep-on-connect": False,
        }
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.set_status(ReaderStatus.MISSING)  # until the reader is open
        self._reported: ReaderStatus | None = None
        self._holding = False  # a card is on the reader and nfcpy waits for it to leave
        self._last_uid: bytes | None = None  # last card read completely
        self._last_seen = 0.0  # monotonic time that card was last on the reader
        self._open_attempts = 0

    def start(self) -> NfcpyReader:
        """Start the polling thread (once; later calls do nothing)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="nfcpy-reader", daemon=True)
            self._thread.start()
        return self

    @property
    def open_attempts(self) -> int:
        """How often the thread has tried to open the reader (it retries every ``retry_s`` while missing)."""
        return self._open_attempts

    @property
    def polling(self) -> bool:
        """Whether the polling thread is running (it should, from :meth:`start` until :meth:`close`)."""
        return self._thread is not None and self._thread.is_alive()

    def close(self, timeout: float = 3.0) -> None:
        """Stop polling and finish; waits at most ``timeout`` for the current poll to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the NFC polling thread did not stop within %.1f s", timeout)
        self.finish()

    def __enter__(self) -> NfcpyReader:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _report(self, status: ReaderStatus, message: str, *args: object) -> None:
        if status is not self._reported:
            log.log(logging.INFO if status is ReaderStatus.OK else logging.WARNING, message, *args)
            self._reported = status
        self.set_status(status)

    def _run(self) -> None:
        quiet, nfcpy_log = _QuietRetries(threading.get_ident()), logging.getLogger("nfc.clf")
        nfcpy_log.addFilter(quiet)
        try:
            while not self._stop.is_set():
                try:
                    self._session()
                except Exception as exc:  # the thread must outlive any nfcpy or driver failure
                    self._report(ReaderStatus.ERROR, "NFC reader error (%s); retrying", type(exc).__name__)
                self._stop.wait(self._retry_s)
        finally:
            nfcpy_log.removeFilter(quiet)

    def _session(self) -> None:
        """Open the reader and poll it until stopped or the reader is lost."""
        self._open_attempts += 1
        try:
            clf = _open(self._path)
        except ReaderNotFoundError as exc:
            self._report(ReaderStatus.MISSING, "%s; retrying every %g s", exc, self._retry_s)
            return
        try:
            self._report(ReaderStatus.OK, "NFC reader open at %s", self._path)
            while not self._stop.is_set():
                if self._poll(clf) is False:  # nfcpy caught an OSError: the reader is gone
                    self._report(ReaderStatus.MISSING, "NFC reader at %s stopped answering", self._path)
                    return
                self._stop.wait(self._poll_interval_s)
        finally:
            clf.close()

    def _poll(self, clf: Any) -> Any:
        """One sense; if a card is there, read it and wait for it to leave."""
        sensed = False

        def terminate() -> bool:
            nonlocal sensed
            if self._stop.is_set():
                return True
            if self._holding:
                return False
            done, sensed = sensed, True
            return done

        self._holding = False
        return clf.connect(rdwr=self._rdwr, terminate=terminate)

    def _on_connect(self, tag: Any) -> bool:
        self._holding = True
        uid = bytes(tag.identifier)
        if uid == self._last_uid and time.monotonic() - self._last_seen < self._debounce_s:
            log.debug("the same card came back within %g s; not a new tap", self._debounce_s)
            return True
        tap = Tap(uid=uid, ndef=None, tag_type=str(tag.type), complete=False)
        try:
            tap = read_tap(tag)
        finally:  # even if reading raised, the kiosk hears of the tap (incomplete: "tap again")
            self._last_uid = uid if tap.complete else None
            self._last_seen = time.monotonic()
            self.push(tap)
            log.debug("tap: %s, %s", tap.tag_type, "complete" if tap.complete else "incomplete")
        return True  # nfcpy now checks presence until the card leaves, so a held card taps once

    def _on_release(self, tag: Any) -> bool:
        self._last_seen = time.monotonic()
        self._holding = False
        return True


@contextmanager
def _one_tag(path: str, timeout_s: float, targets: Sequence[str]) -> Iterator[Any]:
    clf = _open(path)
    try:
        deadline = time.monotonic() + timeout_s
        rdwr = {
            "targets": list(targets),
            "on-connect": lambda tag: False,  # hand the activated tag back to us instead of waiting
            "iterations": 1,
            "beep-on-connect": False,
        }
        tag = clf.connect(rdwr=rdwr, terminate=lambda: time.monotonic() >= deadline)
        if tag is False:
            raise ReaderNotFoundError(f"the NFC reader at {path!r} stopped answering")
        if tag is None:
            raise NoTagError(f"no tag came to the reader within {timeout_s:g} s")
        yield tag
    finally:
        clf.close()


def read_one_tag(path: str, *, timeout_s: float, targets: Sequence[str] = DEFAULT_TARGETS) -> TagReading:
    """Wait up to ``timeout_s`` for a tag on the reader at ``path`` and read it.

    Raises :class:`ReaderNotFoundError`, :class:`NoTagError` or :class:`TagRemovedError`.

    Example::

        reading = read_one_tag("tty:AMA0:pn532", timeout_s=10)
        print(reading.tag_type, reading.ndef_capacity)
    """
    with _one_tag(path, timeout_s, targets) as tag:
        return _reading(tag, _read_ndef(tag))


def write_one_tag(
    path: str,
    make_message: Callable[[TagReading], bytes],
    *,
    lock: bool,
    timeout_s: float,
    targets: Sequence[str] = DEFAULT_TARGETS,
) -> TagReading:
    """Write the NDEF message ``make_message(reading)`` to the next tag, verify it, optionally lock it.

    Everything happens in one connection, so a message built from the
    reading (a credential bound to the UID) lands on that very tag.  The
    capacity is checked before anything is written.  With ``lock``, the tag
    is made permanently read-only where nfcpy can (NTAG21x and other Type 2
    tags: lock bits and capability container); the result's ``locked`` says
    whether that happened.  Raises the :class:`NfcError` subclasses,
    ``ValueError`` for an empty message, or whatever ``make_message`` raises
    (in both cases nothing was written).

    Example::

        written = write_one_tag(path, lambda reading: credential_for(reading.uid), lock=True, timeout_s=10)
    """
    with _one_tag(path, timeout_s, targets) as tag:
        ndef = _read_ndef(tag)
        if ndef is None:
            raise NoNdefSupportError(f"the {tag.type} is not NDEF formatted")
        if not ndef.is_writeable:
            raise TagNotWritableError(f"the {tag.type} is read-only")
        message = bytes(make_message(_reading(tag, ndef)))
        if not message:  # nfcpy 1.0.4's Type 2 writer fails with UnboundLocalError on b""
            raise ValueError("refusing to write an empty NDEF message")
        if len(message) > ndef.capacity:
            raise TagTooSmallError(f"the message has {len(message)} bytes, the tag holds {ndef.capacity}")
        _write_message(tag, ndef, message)
        written = _verified(tag, message)
        after_lock = _lock(tag) if lock else None
        locked = after_lock is not None
        log.info("wrote %d NDEF bytes to a %s (locked: %s)", len(message), written.tag_type, locked)
        return replace(after_lock or written, locked=locked)


# How often a write that timed out is tried again while the tag is still in the field.  nfcpy
# already sends each command up to three times; a tag that stayed in the field through all of them
# was only slow to answer (a loaded host, a weak coupling), and writing the same bytes again is
# harmless.  Before this, such a glitch cost the coordinator a blocked card and a second tap.
WRITE_ATTEMPTS = 3


def _write_message(tag: Any, ndef: Any, message: bytes) -> None:
    """Write ``message`` as the tag's NDEF message, again while a timeout left the tag in the field."""
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            ndef.octets = message
            return
        except _TAG_ERRORS as exc:
            error = _write_error(exc)
            if not isinstance(error, TagRemovedError) or attempt == WRITE_ATTEMPTS or not _still_present(tag):
                raise error from exc
            log.info("a write to the %s timed out with the tag still there; writing again", tag.type)


def _write_error(exc: Exception) -> NfcError:
    # Positive errnos are the tag's own refusals (a NAK for a locked page, an APDU status word);
    # zero and below are timeouts and transmission errors: the tag went away mid-write.
    if isinstance(exc, nfc.tag.TagCommandError) and exc.errno > 0:
        return TagNotWritableError(f"the tag refused the write ({exc})")
    return TagRemovedError("the tag left the field during the write; its content is undefined, write again")


def _verified(tag: Any, message: bytes) -> TagReading:
    try:
        tag.ndef.has_changed  # noqa: B018 - reading it re-reads the NDEF area from the tag
    except _TAG_ERRORS as exc:
        raise TagRemovedError("the tag left the field before the write was verified") from exc
    ndef = _read_ndef(tag)
    if ndef is None or bytes(ndef.octets) != message:
        raise WriteFailedError("the tag does not read back what was written")
    return _reading(tag, ndef)


def _lock(tag: Any) -> TagReading | None:
    """Make the tag permanently read-only: its reading afterwards, or ``None`` if nfcpy cannot lock it."""
    try:
        status = tag.protect()  # password None: permanent lock bits, not a password
    except _TAG_ERRORS as exc:
        raise TagRemovedError("the tag left the field while being locked; it may be partly locked") from exc
    if status is None:
        log.info("nfcpy cannot make a %s read-only; it stays writable", tag.type)
        return None
    ndef = _read_ndef(tag) if status else None  # protect() dropped nfcpy's cached NDEF: read it afresh
    if ndef is None or ndef.is_writeable:
        raise WriteFailedError("the tag did not take the lock; it may be partly locked")
    return _reading(tag, ndef)
