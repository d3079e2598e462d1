"""The ledger file opened beside the server's storage, as someone with access to the file would.

A few tests look below the storage interface on purpose: that a name is in no table
but ``personal_data``, which migrations ran, that the schema refuses impossible rows,
that verification notices tampering.  They open the file with their own connection
instead of reaching into :class:`server.storage.Storage`.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import psycopg
import psycopg.errors

from server.storage import SqliteStorage, Storage
from server.storage.postgres import PgConnection, PostgresStorage

# What either engine raises for a row its schema refuses (a CHECK, a key, a foreign key).
INTEGRITY_ERRORS: Final = (sqlite3.IntegrityError, psycopg.errors.IntegrityError)


@contextmanager
def ledger_file(storage: Storage, *, write: bool = False) -> Iterator[Any]:
    """A connection of its own to ``storage``'s file or database: read-only unless ``write``, each
    statement committed.

    Foreign keys are enforced, as in :class:`~server.storage.Storage`, so a write
    here meets the same schema rules as the server's own.  On PostgreSQL it takes
    SQLite's dialect too (:class:`server.storage.postgres.PgConnection`).
    """
    if isinstance(storage, PostgresStorage):
        with psycopg.connect(storage.url, autocommit=True) as raw:
            if not write:
                raw.execute("SET default_transaction_read_only = on")
            yield PgConnection(raw)
        return
    assert isinstance(storage, SqliteStorage)
    uri = storage.path.resolve().as_uri() + ("" if write else "?mode=ro")
    conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        yield conn
    finally:
        conn.close()


def table_names(conn: Any) -> list[str]:
    """Every table of the ledger ``conn`` (from :func:`ledger_file`) is connected to, on either engine."""
    if isinstance(conn, PgConnection):
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    else:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return [str(row[0]) for row in rows]


def ledger_text(storage: Storage) -> str:
    """Every value of every row of every table, as text: to check a secret is stored nowhere."""
    with ledger_file(storage) as conn:
        return "\n".join(
            " ".join(str(value) for value in row)
            for table in table_names(conn)
            for row in conn.execute(f"SELECT * FROM {table}")
        )


def stored_bytes(storage: Storage) -> bytes:
    """What the ledger holds, as bytes: SQLite's file and WAL as on disk; PostgreSQL's every value."""
    if isinstance(storage, SqliteStorage):
        path = storage.path
        return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())
    with ledger_file(storage) as conn:
        return b"\n".join(
            value if isinstance(value, bytes) else str(value).encode()
            for table in table_names(conn)
            for row in conn.execute(f"SELECT * FROM {table}")
            for value in row
        )


@functools.cache
def _migrated() -> Storage:
    return SqliteStorage(Path(":memory:"))  # kept open for the run: what memory_ledger copies


def memory_ledger() -> Storage:
    """A new ledger in memory, as ``SqliteStorage(Path(":memory:"))`` makes it, copied from one migrated once.

    Running every migration takes some 50 ms; the property tests that open a
    ledger per example (hundreds of them) copy the migrated pages instead.
    """
    storage = SqliteStorage(Path(":memory:"), migrate=False)
    _migrated()._conn.backup(storage._conn)
    return storage
