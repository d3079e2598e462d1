"""What every domain's queries share: the one connection of the open transaction."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Final, Protocol

# SQLite's default limit on bound parameters is 32766 since 3.32; stay far below it.
_IN_CHUNK: Final = 500


class Cursor(Protocol):
    """The part of a DB-API cursor the queries use: what ``sqlite3`` and psycopg both give."""

    @property
    def rowcount(self) -> int: ...

    @property
    def description(self) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """The connection a transaction's queries run on.

    ``sqlite3.Connection`` is one; :class:`server.storage.postgres.PgConnection` is
    the other, which translates each statement (``?`` placeholders and all) into
    PostgreSQL's dialect (:mod:`server.storage.dialect`).  So the SQL is written once.
    """

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Any, /) -> Cursor: ...


class Queries:
    """The base of every ``…Read``/``…Write`` class: queries on one connection, in one transaction.

    Only valid inside :meth:`server.storage.Storage.write` or ``read()``, which make
    the transaction; the classes themselves never begin or end one.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn


def chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    """``items`` in slices small enough for one ``IN (…)`` list each."""
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start : start + _IN_CHUNK]
