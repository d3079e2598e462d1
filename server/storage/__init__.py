"""Every SQL statement of the ledger server, behind a small transactional interface.

Services never see SQL: they open a transaction with :meth:`Storage.write` (a
:class:`Tx`) or :meth:`Storage.read` (a :class:`ReadTx`, which has no method that
writes) and call methods that speak in :mod:`server.models` records.  A
PostgreSQL backend is therefore one more set of classes with the same methods,
and the rules do not change.

The methods live in one module per domain, each with a read class and a write
class that extends it: :mod:`~server.storage.cards`, :mod:`~server.storage.shifts`,
:mod:`~server.storage.redemptions`, :mod:`~server.storage.log`,
:mod:`~server.storage.fleet`, :mod:`~server.storage.events` and
:mod:`~server.storage.coordination`; :mod:`~server.storage.rows` maps records to
columns and :mod:`~server.storage.engine` holds the connection and composes them.

The SQLite choices are deliberate:

* WAL with ``synchronous=FULL``: a committed batch survives power loss and
  ``SIGKILL``; a receipt is only ever issued after its commit.
* ``BEGIN IMMEDIATE`` for writes, so a transaction never fails half-way on a
  lock upgrade, and one connection behind a lock: the server is one process
  with one writer, and SQLite serialises writers anyway.
* Migrations are a list of functions.  Each runs in one transaction together
  with the row that records it, so a crash leaves a migration either fully
  applied or not at all (as ``sqlite_utils/migrations.py`` does).
* The ledger tables hold IDs only.  A volunteer's name lives in
  ``personal_data`` and nowhere else, so erasing a person is one ``DELETE``.
"""

from server.storage.engine import ReadTx, Storage, Tx
from server.storage.rows import decode_flags, encode_flags

__all__ = ["ReadTx", "Storage", "Tx", "decode_flags", "encode_flags"]
