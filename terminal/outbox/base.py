"""What every part of the outbox shares: one connection, one lock, one clock, one kind of transaction.

The parts (:mod:`.events`, :mod:`.receipts`, :mod:`.checkpoints`, :mod:`.trust`,
:mod:`.balances`, :mod:`.status`) are mixins of one :class:`~terminal.outbox.Outbox`
over this state, so a call on the tap path is a plain method call, with no layer
in between, and every transaction still sees the whole file.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator

from protocol import Reason
from terminal.errors import OutboxError

# SQLite's primary result codes for a disk that cannot take a write (sqlite3 exports them from 3.11 on).
_FULL = {sqlite3.SQLITE_FULL}
_UNAVAILABLE = {sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN}


def storage_error(exc: sqlite3.Error) -> OutboxError | None:
    """The clear :class:`OutboxError` for a disk that is full (``storage_full``) or read-only or failing
    (``storage_unavailable``); ``None`` for any other SQLite error.

    Nothing was written when SQLite reports these: the transaction is rolled back whole,
    so the caller can say "not recorded" and the chain stays as it was.
    """
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return None
    # Extended codes (SQLITE_IOERR_WRITE, SQLITE_READONLY_DBMOVED) keep the primary one in the low byte.
    primary = code & 0xFF
    if primary in _FULL:
        return OutboxError(Reason.STORAGE_FULL, "the kiosk's disk is full; nothing was written")
    if primary in _UNAVAILABLE:
        name = getattr(exc, "sqlite_errorname", "an I/O error")
        return OutboxError(
            Reason.STORAGE_UNAVAILABLE,
            f"the kiosk's disk is read-only or failing ({name}); nothing was written",
        )
    return None


@contextlib.contextmanager
def storage_errors() -> Iterator[None]:
    """Raise :func:`storage_error`'s clear error instead of a raw SQLite one inside the block."""
    try:
        yield
    except sqlite3.Error as exc:
        clear = storage_error(exc)
        if clear is None:
            raise
        raise clear from exc


class immediate:
    """One ``BEGIN IMMEDIATE`` transaction: committed if the block ends normally, else rolled back.

    A full, read-only or failing disk raises :class:`OutboxError` (``storage_full``,
    ``storage_unavailable``) after the rollback, never a raw SQLite error.  A class rather
    than a generator (``with immediate(conn):`` all the same): every tap opens one.
    """

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            _raise_clear(exc)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if kind is None:
            try:
                self._conn.execute("COMMIT")
                return
            except sqlite3.Error as failed:
                self._rollback()
                _raise_clear(failed)
        self._rollback()
        if isinstance(exc, sqlite3.Error):
            _raise_clear(exc)
        # any other exception goes on as it is

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the first error is the one to report
                self._conn.execute("ROLLBACK")


def _raise_clear(exc: sqlite3.Error) -> None:
    """Raise :func:`storage_error`'s clear error for ``exc`` (from it), else ``exc`` itself."""
    clear = storage_error(exc)
    if clear is None:
        raise exc
    raise clear from exc


class OutboxBase:
    """The state the parts share; :class:`~terminal.outbox.Outbox` sets it when it opens the file.

    ``_lock`` makes every method thread-safe (the tap loop appends while the sync thread
    reads and applies receipts); it is never held across network I/O.
    """

    _conn: sqlite3.Connection
    _lock: threading.RLock
    _now_ms: Callable[[], int]

    def _synced_seq(self) -> int:
        return int(self._conn.execute("SELECT synced_seq FROM kiosk_state").fetchone()[0])

    def _stored_last_seq(self) -> int:
        # The sync side reads the head from disk: a ``sync`` command in another
        # process must see events the running kiosk appended after it opened.
        return int(self._conn.execute("SELECT last_seq FROM kiosk_state").fetchone()[0])
