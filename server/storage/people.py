"""Sealed personal data, erasures, and the rows other tables keep about a person.

``personal_data`` holds ciphertext only (:mod:`server.vault` opens it).  The
generic ``linked_rows``/``delete_linked`` serve the erasure's and the export's
lists of tables (:mod:`server.erasure`, :mod:`server.personexport`): a table
another part of the server adds (access secrets, sessions, openings) joins
them with one line there, and a table not (yet) in this ledger is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from server.models import Redemption, Shift
from server.storage.base import Queries, chunks
from server.storage.rows import REDEMPTION_COLUMNS, SHIFT_COLUMNS, redemption_from_row, shift_from_row

_NAME = re.compile(r"[a-z][a-z0-9_]*")


def _checked(name: str) -> str:
    """A table or column name from our own constants; never from a request, checked anyway."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"not a plain SQL name: {name!r}")
    return name


class PeopleRead(Queries):
    """Sealed personal data and erasures a transaction can read."""

    def sealed_person(self, volunteer_id: str) -> bytes | None:
        row = self._conn.execute(
            "SELECT sealed FROM personal_data WHERE volunteer_id = ?", (volunteer_id,)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def sealed_people(self) -> list[tuple[str, bytes | None]]:
        """Every volunteer, oldest first, with their sealed data (``None`` once erased)."""
        rows = self._conn.execute(
            "SELECT v.volunteer_id, p.sealed FROM volunteers v "
            "LEFT JOIN personal_data p ON p.volunteer_id = v.volunteer_id ORDER BY v.created_ms, v.rowid"
        )
        return [(row[0], None if row[1] is None else bytes(row[1])) for row in rows]

    def volunteer_created_ms(self, volunteer_id: str) -> int | None:
        row = self._conn.execute(
            "SELECT created_ms FROM volunteers WHERE volunteer_id = ?", (volunteer_id,)
        ).fetchone()
        return None if row is None else int(row[0])

    def erased_ms(self, volunteer_id: str) -> int | None:
        row = self._conn.execute(
            "SELECT erased_ms FROM erasures WHERE volunteer_id = ?", (volunteer_id,)
        ).fetchone()
        return None if row is None else int(row[0])

    def erased_volunteers(self) -> list[str]:
        return [
            row[0] for row in self._conn.execute("SELECT volunteer_id FROM erasures ORDER BY volunteer_id")
        ]

    def volunteer_shifts(self, volunteer_id: str) -> list[Shift]:
        rows = self._conn.execute(
            f"SELECT {SHIFT_COLUMNS} FROM shifts WHERE volunteer_id = ? ORDER BY shift_id", (volunteer_id,)
        )
        return [shift_from_row(row) for row in rows]

    def volunteer_redemptions(self, volunteer_id: str) -> list[Redemption]:
        rows = self._conn.execute(
            f"SELECT {REDEMPTION_COLUMNS}, rowid FROM redemptions WHERE volunteer_id = ? "
            "ORDER BY received_ms, rowid",
            (volunteer_id,),
        )
        return [redemption_from_row(row) for row in rows]

    def table_columns(self, table: str) -> frozenset[str]:
        """The columns of ``table``; empty if this ledger has no such table."""
        rows = self._conn.execute(f"PRAGMA table_info({_checked(table)})").fetchall()
        return frozenset(row[1] for row in rows)

    def legacy_personal_rows(self) -> list[tuple[str, str, str | None]]:
        """``(volunteer_id, name, ehrenamtskarte)`` still in plaintext from before m016."""
        if not self.table_columns("personal_data_m016"):
            return []
        rows = self._conn.execute("SELECT volunteer_id, name, ehrenamtskarte FROM personal_data_m016")
        return [(row[0], row[1], row[2]) for row in rows]

    def _has_linked(self, table: str, column: str) -> bool:
        """Whether ``table`` exists; fails closed if it does without ``column`` (the list is wrong)."""
        columns = self.table_columns(table)
        if columns and column not in columns:
            raise ValueError(f"{table} has no column {column}: fix the erasure and export lists")
        return bool(columns)

    def linked_rows(self, table: str, column: str, values: Sequence[str]) -> list[dict[str, Any]] | None:
        """Rows of ``table`` whose ``column`` is one of ``values``, as dicts; ``None`` if no such table."""
        if not self._has_linked(table, column):
            return None
        found: list[dict[str, Any]] = []
        for chunk in chunks(sorted(set(values))):
            marks = ",".join("?" * len(chunk))
            cursor = self._conn.execute(
                f"SELECT * FROM {_checked(table)} WHERE {_checked(column)} IN ({marks}) ORDER BY rowid",
                tuple(chunk),
            )
            names = [d[0] for d in cursor.description]
            # PostgreSQL's tables carry their row number as a column (server.storage.dialect); not data.
            found.extend(
                {name: value for name, value in zip(names, row, strict=True) if name != "rowid"}
                for row in cursor
            )
        return found


class PeopleWrite(PeopleRead):
    """A :class:`PeopleRead` that also stores sealed data and erases."""

    def insert_sealed(self, volunteer_id: str, sealed: bytes) -> None:
        self._conn.execute(
            "INSERT INTO personal_data (volunteer_id, sealed) VALUES (?, ?)", (volunteer_id, sealed)
        )

    def delete_personal_data(self, volunteer_id: str) -> None:
        self._conn.execute("DELETE FROM personal_data WHERE volunteer_id = ?", (volunteer_id,))

    def record_erasure(self, volunteer_id: str, erased_ms: int) -> int:
        """Record the erasure once; the first time stays.  Returns the recorded ``erased_ms``."""
        self._conn.execute(
            "INSERT OR IGNORE INTO erasures (volunteer_id, erased_ms) VALUES (?, ?)",
            (volunteer_id, erased_ms),
        )
        recorded = self.erased_ms(volunteer_id)
        assert recorded is not None
        return recorded

    def drop_legacy_personal_data(self) -> None:
        self._conn.execute("DROP TABLE IF EXISTS personal_data_m016")

    def delete_linked(self, table: str, column: str, values: Sequence[str]) -> int | None:
        """Delete the rows of ``table`` whose ``column`` is in ``values``: how many (``None``: no table)."""
        if not self._has_linked(table, column):
            return None
        deleted = 0
        for chunk in chunks(sorted(set(values))):
            marks = ",".join("?" * len(chunk))
            cursor = self._conn.execute(
                f"DELETE FROM {_checked(table)} WHERE {_checked(column)} IN ({marks})", tuple(chunk)
            )
            deleted += cursor.rowcount
        return deleted
