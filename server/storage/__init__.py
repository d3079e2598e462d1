"""Every SQL statement of the ledger server, behind a small transactional interface.

Services never see SQL: they open a transaction with :meth:`Storage.write` (a
:class:`Tx`) or :meth:`Storage.read` (a :class:`ReadTx`, which has no method that
writes) and call methods that speak in :mod:`server.models` records.  Two engines
implement :class:`Storage`, chosen once at start-up by :func:`open_storage`:

* :class:`SqliteStorage`, the embedded default for one site and for the demo;
* :class:`~server.storage.postgres.PostgresStorage`, for a city or a Land: several
  server workers on one PostgreSQL database.

The queries are written once, in SQLite's dialect; :mod:`~server.storage.dialect`
translates what PostgreSQL spells otherwise.

The methods live in one module per domain, each with a read class and a write
class that extends it: :mod:`~server.storage.cards`, :mod:`~server.storage.shifts`,
:mod:`~server.storage.redemptions`, :mod:`~server.storage.log`,
:mod:`~server.storage.fleet`, :mod:`~server.storage.events` and
:mod:`~server.storage.coordination`, and more; :mod:`~server.storage.rows` maps records to
columns and :mod:`~server.storage.engine` composes them.

The choices are deliberate:

* SQLite: WAL with ``synchronous=FULL``: a committed batch survives power loss and
  ``SIGKILL``; a receipt is only ever issued after its commit.  PostgreSQL: its
  default ``synchronous_commit = on`` gives the same.
* Writers are serialised: ``BEGIN IMMEDIATE`` on SQLite, one transaction-scoped
  advisory lock on PostgreSQL.  So a transaction never fails half-way on a lock
  upgrade or a serialisation conflict, and what a write transaction read still
  holds when it commits, in every worker process.
* Migrations are a list of functions.  Each runs in one transaction together
  with the row that records it, so a crash leaves a migration either fully
  applied or not at all (as ``sqlite_utils/migrations.py`` does).
* The ledger tables hold IDs only.  A volunteer's name lives in
  ``personal_data`` and nowhere else, so erasing a person is one ``DELETE``.
"""

from __future__ import annotations

from pathlib import Path

from server.storage.engine import ReadTx, Storage, Tx
from server.storage.rows import decode_flags, encode_flags
from server.storage.sqlite import SqliteStorage

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(database: str | Path) -> bool:
    """Whether ``database`` names a PostgreSQL database (a URL) rather than a SQLite file."""
    return str(database).startswith(POSTGRES_SCHEMES)


def open_storage(database: str | Path, *, migrate: bool = True) -> Storage:
    """The ledger at ``database``: a SQLite file's path, or a ``postgresql://`` URL."""
    if is_postgres(database):
        from server.storage.postgres import PostgresStorage  # psycopg is needed only here

        storage: Storage = PostgresStorage(str(database), migrate=migrate)
        return storage
    return SqliteStorage(Path(database), migrate=migrate)


__all__ = [
    "ReadTx",
    "SqliteStorage",
    "Storage",
    "Tx",
    "decode_flags",
    "encode_flags",
    "is_postgres",
    "open_storage",
]
