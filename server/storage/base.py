"""What every domain's queries share: the one connection of the open transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Final

# SQLite's default limit on bound parameters is 32766 since 3.32; stay far below it.
_IN_CHUNK: Final = 500


class Queries:
    """The base of every ``…Read``/``…Write`` class: queries on one connection, in one transaction.

    Only valid inside :meth:`server.storage.Storage.write` or ``read()``, which make
    the transaction; the classes themselves never begin or end one.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn


def chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    """``items`` in slices small enough for one ``IN (…)`` list each."""
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start : start + _IN_CHUNK]
