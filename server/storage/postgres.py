"""The PostgreSQL engine: a connection pool, the same queries and migrations as SQLite.

For a city or a Land, where several server workers (and several machines) share
one ledger.  What it keeps from SQLite, so the rules need not know the engine:

* **Writers are serialised.**  Every :meth:`PostgresStorage.write` takes one
  transaction-scoped advisory lock first, in every worker: the read-check-write of
  a redemption (no double spend), of an ingest (no duplicate, no gap) and of a
  log append happen one at a time, as under SQLite's ``BEGIN IMMEDIATE``.  Reads
  never wait for it.  Signature checks happen before a write begins
  (:mod:`server.ingest`), so the lock covers database work only.
* **Reads are snapshots.**  :meth:`PostgresStorage.read` is ``REPEATABLE READ READ ONLY``.
* **Commits are durable.**  PostgreSQL's default ``synchronous_commit = on``.
* **Same queries, same migrations.**  Statements go through
  :func:`server.storage.dialect.to_postgres`.  A new database gets the schema
  SQLite has after every migration, translated (:func:`baseline`), so both start
  identical; migrations added after that run on PostgreSQL through the translator.

Connection URLs are libpq's: ``postgresql://user@host/db``, or
``postgresql:///db?host=/run/postgresql`` for a unix socket.  Keep passwords out of
the URL (use ``~/.pgpass`` or ``PGPASSFILE``); :attr:`PostgresStorage.database`
never shows one.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Final

import psycopg
import psycopg.errors
from psycopg.adapt import Dumper, Loader
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

from protocol import Reason
from protocol.clock import now_ms
from server.errors import ServiceError, StorageUnavailable
from server.schema import MIGRATIONS, Migration
from server.storage import dialect
from server.storage.base import Cursor
from server.storage.engine import ReadTx, Storage, Tx

log = logging.getLogger(__name__)

# The advisory lock every write transaction holds: "kokr" as a number, unlikely to meet another app's.
WRITE_LOCK: Final = 0x6B6F6B72
# A write transaction begins by taking the writers' lock, a read one as a read-only snapshot: one round trip.
BEGIN_WRITE: Final = (
    "BEGIN; SET LOCAL lock_timeout = {timeout}; SELECT pg_advisory_xact_lock(" + str(WRITE_LOCK) + ")"
)
BEGIN_READ: Final = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
POOL_MAX: Final = 8
# SQLite's NOCASE (e-mail addresses are unique whatever their case): ICU's case-insensitive comparison.
NOCASE_COLLATION: Final = (
    "CREATE COLLATION IF NOT EXISTS nocase "
    "(provider = icu, locale = 'und-u-ks-level2', deterministic = false)"
)
POOL_TIMEOUT_S: Final = 10.0  # as SQLite's busy_timeout
# A writer waits this long for the writers' lock, then answers 503 (as SQLite's busy_timeout).
LOCK_TIMEOUT_MS: Final = 10_000
# From this many rows, a plain insert goes in as one COPY (dialect.copy_form); fewer are pipelined inserts.
COPY_MIN_ROWS: Final = 8


class _IntegralNumericLoader(Loader):
    """``numeric`` as ``int`` when whole: ``SUM`` of ``BIGINT`` is ``numeric`` here, ``int`` in SQLite."""

    def load(self, data: Any) -> int | float:
        value = Decimal(bytes(data).decode())
        return int(value) if value == value.to_integral_value() else float(value)


class _BoolAsIntDumper(Dumper):
    """``True``/``False`` as ``1``/``0``: the schema's flags are integers, as in SQLite."""

    oid = psycopg.postgres.types["int8"].oid

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.adapters.register_loader("numeric", _IntegralNumericLoader)
    conn.adapters.register_dumper(bool, _BoolAsIntDumper)


def _refuse_nul(values: tuple[Any, ...]) -> None:
    """Refuse text with a NUL character, which PostgreSQL cannot hold (SQLite can): a 400, never a 500.

    Nothing the ledger stores or looks up legitimately has one; a request that
    carries one (a hostile query string) is answered ``bad_encoding``.
    """
    for value in values:
        if isinstance(value, str) and "\x00" in value:
            raise ServiceError(Reason.BAD_ENCODING, "text with a NUL character is not accepted", status=400)


class PgConnection:
    """A psycopg connection that takes SQLite's dialect (:class:`server.storage.base.Connection`)."""

    def __init__(self, conn: psycopg.Connection[Any], trace: Callable[[str], object] | None = None) -> None:
        self._conn = conn
        self._trace = trace

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor:
        statements = dialect.to_postgres(sql)
        values = tuple(parameters)
        _refuse_nul(values)
        cursor = self._conn.cursor()
        for statement in statements[:-1]:
            self._run(cursor, statement, ())
        self._run(cursor, statements[-1], values)
        return cursor

    def executemany(self, sql: str, parameters: Any, /) -> Cursor:
        rows = [tuple(row) for row in parameters]
        for row in rows:
            _refuse_nul(row)
        copy = dialect.copy_form(sql) if len(rows) >= COPY_MIN_ROWS else None
        if copy is not None:
            statement = copy
        else:
            (statement,) = dialect.to_postgres(sql)
        cursor = self._conn.cursor()
        if self._trace is not None:
            self._trace(statement)
        if copy is not None:
            with cursor.copy(copy) as stream:
                for row in rows:
                    stream.write_row(row)
        elif rows:
            cursor.executemany(statement, rows)
        return cursor

    def _run(self, cursor: psycopg.Cursor[Any], statement: str, parameters: tuple[Any, ...]) -> None:
        if self._trace is not None:
            self._trace(statement)
        cursor.execute(statement, parameters)


@contextmanager
def _storage_errors() -> Iterator[None]:
    """PostgreSQL's "cannot take this write now" as :class:`StorageUnavailable`; other errors pass."""
    try:
        yield
    except psycopg.errors.LockNotAvailable as exc:  # another worker held the writers' lock too long
        raise StorageUnavailable(
            Reason.STORAGE_UNAVAILABLE,
            "the ledger is busy with another writer; nothing was written, retry later",
        ) from exc
    except psycopg.errors.DiskFull as exc:
        raise StorageUnavailable(
            Reason.STORAGE_FULL, "the ledger database's disk is full; nothing was written, retry later"
        ) from exc
    except (
        psycopg.OperationalError,
        psycopg.errors.ReadOnlySqlTransaction,
        psycopg.errors.AdminShutdown,
        PoolTimeout,
    ) as exc:
        raise StorageUnavailable(
            Reason.STORAGE_UNAVAILABLE,
            f"the ledger database is unreachable or read-only ({type(exc).__name__}); "
            "nothing was written, retry later",
        ) from exc


def safe_url(url: str) -> str:
    """``url`` without its password, for logs and pages."""
    params = conninfo_to_dict(url)
    params.pop("password", None)
    return make_conninfo("", **params)


class PostgresStorage(Storage):
    """One ledger in a PostgreSQL database, shared safely by any number of worker processes."""

    engine: ClassVar[str] = "postgresql"

    def __init__(self, url: str, *, migrate: bool = True, max_size: int = POOL_MAX) -> None:
        self.url = url
        self.lock_timeout_ms = LOCK_TIMEOUT_MS
        self._trace: Callable[[str], object] | None = None
        self._trace_lock = threading.Lock()
        try:
            self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
                url,
                min_size=1,
                max_size=max_size,
                kwargs={"autocommit": True},
                configure=_configure,
                timeout=POOL_TIMEOUT_S,
                open=False,
                name="kokreativ-ledger",
            )
            with _storage_errors():
                self._pool.open(wait=True, timeout=POOL_TIMEOUT_S)
        except psycopg.Error as exc:
            raise StorageUnavailable(
                Reason.STORAGE_UNAVAILABLE, f"cannot open the ledger database {self.database}: {exc}"
            ) from exc
        try:
            if migrate:
                self.migrate()
        except BaseException:
            self._pool.close()
            raise

    @property
    def database(self) -> str:
        return safe_url(self.url)

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection in autocommit mode, for tools that work below the interface (backup)."""
        with _storage_errors(), self._pool.connection() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Tx]:
        with (
            _storage_errors(),
            self._pool.connection() as conn,
            self._transaction(conn, BEGIN_WRITE.format(timeout=int(self.lock_timeout_ms))),
        ):
            yield Tx(PgConnection(conn, self._trace))

    @contextmanager
    def read(self) -> Iterator[ReadTx]:
        with _storage_errors(), self._pool.connection() as conn, self._transaction(conn, BEGIN_READ):
            yield ReadTx(PgConnection(conn, self._trace))

    @contextmanager
    def _transaction(self, conn: psycopg.Connection[Any], begin: str) -> Iterator[None]:
        """``begin`` (one round trip), then ``COMMIT`` if the block succeeds, else ``ROLLBACK``."""
        if self._trace is not None:
            self._trace(begin)
        conn.execute(begin)
        try:
            yield
        except BaseException:
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.UNKNOWN:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def traced(self, callback: Callable[[str], object]) -> Iterator[None]:
        with self._trace_lock:
            self._trace = callback
        try:
            yield
        finally:
            with self._trace_lock:
                self._trace = None

    def scrub(self, *, vacuum: bool) -> None:
        """``VACUUM`` the tables, so an erased row's space is reclaimed (``FULL`` rewrites the files).

        PostgreSQL keeps old row versions until a vacuum, and its WAL until a
        checkpoint recycles it; what the operator's base backups and WAL archive
        hold is theirs to expire (``docs/operations.md``).
        """
        with _storage_errors(), self._pool.connection() as conn:
            conn.execute("VACUUM FULL" if vacuum else "VACUUM")

    def migrate(self, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
        """Apply pending migrations; a new database gets every one at once, as :func:`baseline`.

        ``migrations`` (default: all) is for tests that build an older ledger.
        """
        applied: list[str] = []
        with _storage_errors(), self._pool.connection() as conn:
            with conn.transaction():
                conn.execute(
                    "SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,)
                )  # two workers starting at once
                found = conn.execute("SELECT to_regclass('migrations') IS NOT NULL").fetchone()
                if not (found and found[0]):
                    baseline(PgConnection(conn), migrations)
                    return [migration.__name__.lstrip("_") for migration in migrations]
                done = {row[0] for row in conn.execute("SELECT name FROM migrations")}
            for migration in migrations:
                name = migration.__name__.lstrip("_")
                if name in done:
                    continue
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                    if conn.execute("SELECT 1 FROM migrations WHERE name = %s", (name,)).fetchone() is None:
                        migration(PgConnection(conn))
                        conn.execute(
                            "INSERT INTO migrations (name, applied_ms) VALUES (%s, %s)", (name, now_ms())
                        )
                        applied.append(name)
        return applied


def sqlite_tables(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """``(name, CREATE TABLE)`` of every table of a SQLite ledger, referenced tables first."""
    rows = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
    ).fetchall()
    pending = {str(name): str(sql) for name, sql in rows}
    ordered: list[tuple[str, str]] = []
    while pending:
        ready = [
            name
            for name, sql in pending.items()
            if not (dialect.references(sql) - {name.lower()}) & {other.lower() for other in pending}
        ]
        if not ready:
            raise dialect.DialectError(f"foreign keys in a cycle among {sorted(pending)}")
        for name in ready:
            ordered.append((name, pending.pop(name)))
    return ordered


def sqlite_indexes(conn: sqlite3.Connection) -> list[str]:
    """Every ``CREATE INDEX`` of a SQLite ledger (automatic ones, for keys, have no SQL)."""
    rows = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY rowid"
    ).fetchall()
    return [str(row[0]) for row in rows]


def copy_rows(
    source: sqlite3.Connection,
    target: PgConnection,
    tables: Sequence[tuple[str, str]],
    *,
    on_table: Callable[[str, int], object] | None = None,
) -> None:
    """Copy every row of ``tables`` from SQLite to PostgreSQL, row numbers and all (``rowid`` kept)."""
    for name, sql in tables:
        column = dialect.numbered_column(sql)
        cursor = source.execute(f'SELECT * FROM "{name}"')
        names = [d[0] for d in cursor.description]
        if column == dialect.ROWID:
            cursor = source.execute(f'SELECT *, rowid FROM "{name}"')
            names.append(dialect.ROWID)
        marks = ", ".join("?" * len(names))
        insert = f"INSERT INTO {name} ({', '.join(names)}) VALUES ({marks})"
        count = 0
        while batch := cursor.fetchmany(1000):
            target.executemany(insert, batch)
            count += len(batch)
        if on_table is not None:
            on_table(name, count)


def copy_ledger(source: sqlite3.Connection, target: PgConnection) -> list[tuple[str, str]]:
    """Give the empty PostgreSQL database ``target`` the SQLite ledger ``source``: its schema and every row.

    Tables are made referenced ones first, then the indexes, then the rows (row
    numbers kept).  Returns the tables, as :func:`sqlite_tables` lists them.
    """
    tables = sqlite_tables(source)
    target.execute(NOCASE_COLLATION)
    for _name, sql in tables:
        target.execute(sql)
    for sql in sqlite_indexes(source):
        target.execute(sql)
    copy_rows(source, target, tables)
    return tables


def baseline(conn: PgConnection, migrations: Sequence[Migration] = MIGRATIONS) -> None:
    """Give an empty PostgreSQL database the schema and rows SQLite has after every migration.

    The migrations run on a SQLite ledger in memory; its tables (referenced ones
    first) and indexes are translated, and its rows (settings the migrations put
    in) copied.  So the two engines start from the same schema by construction.
    """
    from server.storage.sqlite import SqliteStorage

    with SqliteStorage(Path(":memory:"), migrate=False) as migrated:
        migrated.migrate(migrations)
        copy_ledger(migrated.raw_connection(), conn)
