"""The SQLite engine: one file, one connection behind a lock, its migrations.

The embedded default, for one site and for the demo (:mod:`server.storage`
explains the choices: WAL, ``synchronous=FULL``, ``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import ClassVar

from protocol import Reason
from protocol.clock import now_ms
from server.errors import StorageUnavailable
from server.schema import MIGRATIONS, Migration
from server.storage.engine import ReadTx, Storage, Tx

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 10.0  # how long a writer waits for another process's write transaction, then 503
# How often a writer waiting for its turn looks again: a few syscalls per millisecond of waiting.
_TURN_POLL_S = 0.0005
WRITER_LOCK_SUFFIX = "-writer"  # beside ledger.db: the lock file that orders the workers' writers
# Read connections kept per storage; more reads at once than this share the writer's connection.
MAX_READERS = 4

# SQLite's primary result codes for a disk that cannot take a write.
_FULL = {sqlite3.SQLITE_FULL}
_UNAVAILABLE = {sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN}


@contextmanager
def _storage_errors() -> Iterator[None]:
    """Turn SQLite's "the disk cannot take this write" (or "another writer holds it") into 503s."""
    try:
        yield
    except sqlite3.Error as exc:
        primary = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
        name = getattr(exc, "sqlite_errorname", "an I/O error")
        if primary in _FULL:
            raise StorageUnavailable(
                Reason.STORAGE_FULL, "the ledger's disk is full; nothing was written, retry later"
            ) from exc
        if primary == sqlite3.SQLITE_BUSY:  # another process (a server worker) kept the write lock too long
            raise StorageUnavailable(
                Reason.STORAGE_UNAVAILABLE,
                "the ledger is busy with another writer; nothing was written, retry later",
            ) from exc
        if primary in _UNAVAILABLE:
            raise StorageUnavailable(
                Reason.STORAGE_UNAVAILABLE,
                f"the ledger's disk is read-only or failing ({name}); nothing was written, retry later",
            ) from exc
        raise


def _open_turn_file(path: Path) -> int | None:
    """The writers' lock file beside the ledger, opened; ``None`` for an in-memory ledger or where none opens.

    Without it (a folder where it cannot be made or opened) writers are ordered by SQLite's
    busy handler alone, as before this file existed; that is logged.
    """
    if _in_memory(path):
        return None
    turn = path.with_name(path.name + WRITER_LOCK_SUFFIX)
    reasons: list[str] = []
    for flags in (os.O_RDWR | os.O_CREAT, os.O_RDONLY):
        try:
            return os.open(turn, flags | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            reasons.append(exc.strerror or type(exc).__name__)
    log.warning("cannot open %s (%s): writers wait in SQLite's busy handler instead", turn, reasons[-1])
    return None


def _in_memory(path: Path) -> bool:
    return str(path) == ":memory:" or str(path).startswith("file:")


class SqliteStorage(Storage):
    """One SQLite ledger file.  Thread-safe: a write transaction holds the writer's connection and
    this process's turn (``ledger.db-writer``); a read runs on a read connection of its own.

    Example::

        storage = SqliteStorage(path)    # opens, and applies pending migrations
        with storage.write() as tx:
            tx.set_setting("k", "v")     # committed when the block ends, rolled back on error
        storage.close()
    """

    engine: ClassVar[str] = "sqlite"

    def __init__(self, path: Path, *, migrate: bool = True) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._writer = threading.Lock()  # one writer of this process waits for its turn at a time
        self.busy_timeout_s = BUSY_TIMEOUT_S  # a writer's wait for another process, then 503
        self._turn_fd = _open_turn_file(path)
        self._pooled = not _in_memory(path)  # another connection to ":memory:" would be another database
        self._readers_lock = threading.Condition()
        self._idle_readers: list[sqlite3.Connection] = []
        self._reader_count = 0
        self._reading = 0  # reads under way on read connections
        self._paused = False  # scrub() waits for reads to end, and keeps new ones off the pool
        self._closed = False
        self._trace: Callable[[str], object] | None = None
        try:
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except BaseException:
            if self._turn_fd is not None:
                os.close(self._turn_fd)
            raise
        try:
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = FULL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            # A deleted row's bytes are zeroed, not left in a free page (erasure, server.erasure).
            self._conn.execute("PRAGMA secure_delete = ON")
            if migrate:
                self.migrate()
        except BaseException:
            self._conn.close()
            if self._turn_fd is not None:
                os.close(self._turn_fd)
            raise

    @property
    def database(self) -> str:
        return str(self.path)

    def raw_connection(self) -> sqlite3.Connection:
        """The connection itself, for tools that copy a whole ledger (``migrate-db``); not for services."""
        return self._conn

    def close(self) -> None:
        # The writer's lock first, as a write takes them: a write under way (or waiting for its turn)
        # ends before the lock file is closed, so its late unlock never reaches a reused descriptor.
        with self._writer, self._lock:
            self._conn.close()
            if self._turn_fd is not None:
                os.close(self._turn_fd)
                self._turn_fd = None
        with self._readers_lock:
            self._closed = True
            for reader in self._idle_readers:
                reader.close()
            self._idle_readers.clear()

    @contextmanager
    def _writers_turn(self) -> Iterator[None]:
        """Wait for this process's turn to write, without holding the connection's lock meanwhile.

        Several server workers write one file.  Left to SQLite, a writer that finds
        another's transaction open sleeps in its busy handler (1, 2, 5, 10, 15, 20,
        25 ms …), holding this process's connection lock, so the process's reads
        wait too and the lock is often free long before the sleeper looks again.
        An ``flock`` on ``ledger.db-writer`` orders the writers instead: the waiter
        holds no connection and looks again every half millisecond, and
        ``BEGIN IMMEDIATE`` then finds the file free.  Another program that writes
        the file without the lock (the backup, a migration) is still waited for by
        SQLite's busy handler, as before; ``busy_timeout_s`` bounds both waits.
        """
        with self._writer:
            fd = self._turn_fd
            if fd is None:  # an in-memory ledger, or a folder where no lock file can be opened
                yield
                return
            deadline = time.monotonic() + self.busy_timeout_s
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise StorageUnavailable(
                            Reason.STORAGE_UNAVAILABLE,
                            "the ledger is busy with another writer; nothing was written, retry later",
                        ) from None
                    time.sleep(_TURN_POLL_S)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def migrate(self, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
        """Apply pending migrations, each in its own transaction with its record; return their names.

        ``migrations`` (default: all) is for tests that build an older ledger.
        """
        applied: list[str] = []
        with self._lock:
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_ms INTEGER NOT NULL)"
            )
            for migration in migrations:
                name = migration.__name__.lstrip("_")
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    done = self._conn.execute("SELECT 1 FROM migrations WHERE name = ?", (name,)).fetchone()
                    if done is None:
                        migration(self._conn)
                        self._conn.execute(
                            "INSERT INTO migrations (name, applied_ms) VALUES (?, ?)",
                            (name, now_ms()),
                        )
                        applied.append(name)
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
        return applied

    def scrub(self, *, vacuum: bool) -> None:
        """Leave no old page image behind: checkpoint the WAL into the file and truncate it to zero bytes.

        With ``vacuum`` the file is rebuilt too, so no free page keeps what a
        dropped table held (the plaintext of :func:`server.people.seal_legacy`).
        This process's reads are held off meanwhile: the reads under way end first
        (waited for up to ``busy_timeout_s``) and new ones wait, as they did when every
        read took the writer's connection.  Best effort against other processes'
        readers: one that holds a snapshot keeps its frames until it ends, the next
        call truncates them.
        """
        with self._readers_paused(), self._lock, _storage_errors():
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            if vacuum:
                self._conn.execute("VACUUM")
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @contextmanager
    def _readers_paused(self) -> Iterator[None]:
        """No read on a read connection in the block: those under way end first, new ones take ``_lock``."""
        with self._readers_lock:
            self._paused = True
            if not self._readers_lock.wait_for(lambda: self._reading == 0, timeout=self.busy_timeout_s):
                log.warning("a read held its snapshot through a scrub; the next scrub truncates the rest")
        try:
            yield
        finally:
            with self._readers_lock:
                self._paused = False

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on success, rolled back on any error.

        A full, read-only or failing disk raises :class:`~server.errors.StorageUnavailable`
        (503, ``storage_full`` or ``storage_unavailable``) once the transaction is rolled back:
        nothing was written, and the same request succeeds when the disk is back.
        """
        with self._writers_turn(), self._lock, _storage_errors():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self._conn)
                self._conn.execute("COMMIT")
            except BaseException:
                # SQLite may have rolled back already (a full disk does): then there is nothing to undo,
                # and the first error is the one to report.
                if self._conn.in_transaction:
                    with suppress(sqlite3.Error):
                        self._conn.execute("ROLLBACK")
                raise

    @contextmanager
    def read(self) -> Iterator[ReadTx]:
        """A read transaction: one consistent snapshot for several queries.

        On a connection of its own where one is free (WAL lets readers and the
        writer work at once), so a read never waits for this process's write
        transaction, nor for a writer waiting for its turn; with ``MAX_READERS``
        reads under way already, on the writer's connection, taking turns with it.
        """
        reader = self._take_reader()
        if reader is None:
            with self._lock:
                self._conn.execute("BEGIN")
                try:
                    yield ReadTx(self._conn)
                finally:
                    self._conn.execute("ROLLBACK")
            return
        try:
            reader.execute("BEGIN")
            try:
                yield ReadTx(reader)
            finally:
                reader.execute("ROLLBACK")
        except sqlite3.Error:  # the connection may be in any state: a later read opens a fresh one
            self._drop_reader(reader)
            raise
        except BaseException:  # the caller's refusal: the read itself ended cleanly
            self._give_back(reader)
            raise
        self._give_back(reader)

    def _take_reader(self) -> sqlite3.Connection | None:
        """An idle read connection, a new one while fewer than ``MAX_READERS`` exist, else ``None``."""
        if not self._pooled:
            return None
        with self._readers_lock:
            if self._closed or self._paused:
                return None
            if self._idle_readers:
                reader = self._idle_readers.pop()
                reader.set_trace_callback(self._trace)
                self._reading += 1
                return reader
            if self._reader_count >= MAX_READERS:
                return None
            self._reader_count += 1
            self._reading += 1
        try:
            return self._open_reader()
        except BaseException:
            with self._readers_lock:
                self._reader_count -= 1
                self._reading -= 1
                self._readers_lock.notify_all()
            raise

    def _open_reader(self) -> sqlite3.Connection:
        reader = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            reader.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            reader.execute("PRAGMA query_only = ON")  # a ReadTx has no method that writes; this makes sure
            reader.set_trace_callback(self._trace)
        except BaseException:
            reader.close()
            raise
        return reader

    def _give_back(self, reader: sqlite3.Connection) -> None:
        with self._readers_lock:
            self._reading -= 1
            self._readers_lock.notify_all()
            if not self._closed:
                self._idle_readers.append(reader)
                return
        reader.close()

    def _drop_reader(self, reader: sqlite3.Connection) -> None:
        """Close a read connection that failed, and count it no more."""
        with self._readers_lock:
            self._reader_count -= 1
            self._reading -= 1
            self._readers_lock.notify_all()
        with suppress(sqlite3.Error):
            reader.close()

    @contextmanager
    def traced(self, callback: Callable[[str], object]) -> Iterator[None]:
        """Call ``callback`` with every SQL statement this storage runs until the block ends.

        For tests that check which statements a request costs, and for debugging; the
        services never need it.
        """
        self._set_trace(callback)
        try:
            yield
        finally:
            self._set_trace(None)

    def _set_trace(self, callback: Callable[[str], object] | None) -> None:
        with self._readers_lock:
            self._trace = callback
            for reader in self._idle_readers:  # a reader under way gets it when it is given back and taken
                reader.set_trace_callback(callback)
        self._conn.set_trace_callback(callback)
