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

from server.storage import Storage


@contextmanager
def ledger_file(storage: Storage, *, write: bool = False) -> Iterator[sqlite3.Connection]:
    """A connection of its own to ``storage``'s file: read-only unless ``write``, each statement committed.

    Foreign keys are enforced, as in :class:`~server.storage.Storage`, so a write
    here meets the same schema rules as the server's own.
    """
    uri = storage.path.resolve().as_uri() + ("" if write else "?mode=ro")
    conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        yield conn
    finally:
        conn.close()


@functools.cache
def _migrated() -> Storage:
    return Storage(Path(":memory:"))  # kept open for the run: what memory_ledger copies


def memory_ledger() -> Storage:
    """A new ledger in memory, as ``Storage(Path(":memory:"))`` makes it, copied from one migrated once a run.

    Running every migration takes some 50 ms; the property tests that open a
    ledger per example (hundreds of them) copy the migrated pages instead.
    """
    storage = Storage(Path(":memory:"), migrate=False)
    _migrated()._conn.backup(storage._conn)
    return storage
