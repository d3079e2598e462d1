"""SQLite's SQL, as PostgreSQL reads it: the one place the two engines' dialects differ.

The queries of :mod:`server.storage` are written once, in the SQL both engines
share, with SQLite's ``?`` placeholders.  :func:`to_postgres` rewrites the few
things PostgreSQL spells differently, once per distinct statement (cached):

* ``?`` becomes ``%s`` (and a literal ``%`` becomes ``%%``), outside string literals;
* ``INSERT OR IGNORE INTO …`` becomes ``INSERT INTO … ON CONFLICT DO NOTHING``;
* ``IN ()`` (an empty list) becomes ``IN (NULL)``, true for no row, as in SQLite;
* ``CROSS JOIN t ON …`` (SQLite's way to fix the join order) becomes ``JOIN t ON …``;
* ``a IS ?`` / ``a IS NOT ?`` become ``IS [NOT] DISTINCT FROM`` (SQLite's null-safe ``=``);
* the types ``INTEGER``, ``BLOB`` and ``REAL`` become ``BIGINT``, ``BYTEA`` and
  ``DOUBLE PRECISION`` (SQLite's integers are 64-bit; PostgreSQL's ``INTEGER`` is not);
* ``PRAGMA table_info(t)`` becomes a query on ``information_schema``;
* ``CREATE TABLE`` gets SQLite's row numbering (below).

SQLite numbers the rows of every table: ``rowid``, which an ``INTEGER PRIMARY
KEY`` column is another name for, and which is ``max(rowid) + 1`` when an insert
leaves it out.  The ledger relies on it (a redemption's ledger entries point at its
``rowid``; lists are ordered by it).  :func:`create_table` gives each PostgreSQL
table the same: a ``rowid`` column (or the ``INTEGER PRIMARY KEY`` column itself)
filled by a trigger with ``max + 1`` when an insert leaves it out.  Writers are
serialised (:mod:`server.storage.postgres`), so ``max + 1`` is as safe as in SQLite,
and a copied ledger keeps its row numbers (``kokreativ server migrate-db``).

Anything else a query needs must be written in the shared dialect; the test suite
runs every storage test on both engines to hold that.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Final

_TYPES: Final = {"INTEGER": "BIGINT", "BLOB": "BYTEA", "REAL": "DOUBLE PRECISION"}
_TYPE_WORD: Final = re.compile(r"\b(INTEGER|BLOB|REAL)\b")
_INSERT_OR_IGNORE: Final = re.compile(r"^\s*INSERT\s+OR\s+IGNORE\s+INTO\b", re.IGNORECASE)
_RETURNING: Final = re.compile(r"\sRETURNING\s", re.IGNORECASE)
_CROSS_JOIN_ON: Final = re.compile(r"\bCROSS\s+JOIN(\s+\w+(?:\s+\w+)?\s+ON\b)", re.IGNORECASE)
_EMPTY_IN: Final = re.compile(r"\b(NOT\s+)?IN\s*\(\s*\)", re.IGNORECASE)
_IS_PARAM: Final = re.compile(r"\bIS\s+(NOT\s+)?\?", re.IGNORECASE)
_TABLE_INFO: Final = re.compile(r"^\s*PRAGMA\s+table_info\((\w+)\)\s*$", re.IGNORECASE)
_CREATE_TABLE: Final = re.compile(
    r"^\s*CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?\"?(\w+)\"?\s*\(", re.IGNORECASE
)
_WITHOUT_ROWID: Final = re.compile(r"\)\s*WITHOUT\s+ROWID\s*$", re.IGNORECASE)
_INTEGER_PRIMARY_KEY: Final = re.compile(
    r"(?:^|[(,])\s*\"?(\w+)\"?\s+INTEGER\s+PRIMARY\s+KEY\b", re.IGNORECASE
)
_REFERENCES: Final = re.compile(r"\bREFERENCES\s+\"?(\w+)\"?", re.IGNORECASE)
# A plain insert of one row of placeholders: ``INSERT INTO t (a, b) VALUES (?, ?)``, nothing after it.
_PLAIN_INSERT: Final = re.compile(
    r"^\s*INSERT\s+INTO\s+(\w+)\s*\(\s*(\w+(?:\s*,\s*\w+)*)\s*\)\s*VALUES\s*\(\s*(\?(?:\s*,\s*\?)*)\s*\)\s*$",
    re.IGNORECASE,
)

ROWID: Final = "rowid"


class DialectError(ValueError):
    """A statement that has no PostgreSQL form here: write it in the shared dialect."""


def _outside_strings(sql: str) -> Iterable[tuple[bool, str]]:
    """``sql`` in pieces, each marked whether it is code (``True``) or a string literal."""
    piece: list[str] = []
    code, i = True, 0
    while i < len(sql):
        char = sql[i]
        if char == "'":
            if code:
                if piece:
                    yield True, "".join(piece)
                piece, code = [char], False
            elif i + 1 < len(sql) and sql[i + 1] == "'":  # an escaped quote inside the literal
                piece.append("''")
                i += 1
            else:
                piece.append(char)
                yield False, "".join(piece)
                piece, code = [], True
        else:
            piece.append(char)
        i += 1
    if piece:
        yield code, "".join(piece)


def _code(sql: str) -> str:
    """The code of ``sql`` rewritten: placeholders, ``%``, null-safe comparison, types."""
    out = []
    for is_code, piece in _outside_strings(sql):
        piece = piece.replace("%", "%%")
        if is_code:
            piece = _CROSS_JOIN_ON.sub(r"JOIN\1", piece)
            piece = _EMPTY_IN.sub(_empty_in, piece)
            piece = _IS_PARAM.sub(
                lambda m: "IS DISTINCT FROM ?" if m.group(1) else "IS NOT DISTINCT FROM ?", piece
            )
            piece = _TYPE_WORD.sub(lambda m: _TYPES[m.group(1).upper()], piece)
            piece = piece.replace("?", "%s")
        out.append(piece)
    return "".join(out)


def _empty_in(match: re.Match[str]) -> str:
    """``IN ()``, which SQLite allows and PostgreSQL does not: ``IN (NULL)`` is true for no row."""
    if match.group(1):
        raise DialectError("NOT IN () is true for every row in SQLite and has no safe rewrite: leave it out")
    return "IN (NULL)"


@functools.lru_cache(maxsize=4096)
def to_postgres(sql: str) -> tuple[str, ...]:
    """The PostgreSQL statements that do what the SQLite statement ``sql`` does (usually one)."""
    info = _TABLE_INFO.match(sql)
    if info:
        return (
            "SELECT ordinal_position - 1, column_name FROM information_schema.columns "
            f"WHERE table_schema = current_schema() AND table_name = '{info.group(1).lower()}' "
            "ORDER BY ordinal_position",
        )
    if re.match(r"^\s*PRAGMA\b", sql, re.IGNORECASE):
        raise DialectError(f"SQLite's PRAGMA has no PostgreSQL form: {sql.strip()[:80]}")
    if _CREATE_TABLE.match(sql):
        return create_table(sql)
    if _INSERT_OR_IGNORE.match(sql):
        sql = _INSERT_OR_IGNORE.sub("INSERT INTO", sql, count=1)
        returning = _RETURNING.search(sql)
        if returning:
            sql = f"{sql[: returning.start()]} ON CONFLICT DO NOTHING{sql[returning.start() :]}"
        else:
            sql = f"{sql.rstrip()} ON CONFLICT DO NOTHING"
    return (_code(sql),)


@functools.lru_cache(maxsize=256)
def copy_form(sql: str) -> str | None:
    """``COPY t (a, b) FROM STDIN`` for the plain insert ``sql``; ``None`` for any other statement.

    Many rows of one table (a batch's events, openings, shifts, log entries and
    hashes) go in as one ``COPY``, not one ``INSERT`` each: on PostgreSQL each
    inserted row is a statement executed of its own, even pipelined.  ``COPY``
    checks every constraint, fires every trigger and fails whole, as the inserts
    would.  Only an insert of placeholders with nothing after them qualifies:
    ``OR IGNORE``, ``ON CONFLICT``, ``RETURNING`` or a computed value need the
    statement.  ``COPY`` reads each value as text for its column, so a value of
    another Python type than its column's (a float for an integer) is refused
    where an insert would convert it; the ledger binds ``int``, ``str``,
    ``bytes`` and ``None``, as SQLite's schema has them.
    """
    match = _PLAIN_INSERT.match(sql)
    if match is None:
        return None
    table, columns, values = match.groups()
    names = [name.strip().lower() for name in columns.split(",")]
    if len(names) != values.count("?"):
        return None
    return f"COPY {table.lower()} ({', '.join(names)}) FROM STDIN"


def create_table(sql: str) -> tuple[str, ...]:
    """A SQLite ``CREATE TABLE`` as PostgreSQL statements: the table, and its row numbering.

    A table without an ``INTEGER PRIMARY KEY`` gets a ``rowid`` column (unique, so
    ``WHERE rowid = ?`` is an index lookup), unless SQLite made it ``WITHOUT ROWID``.
    """
    match = _CREATE_TABLE.match(sql)
    if match is None:
        raise DialectError(f"not a CREATE TABLE: {sql.strip()[:80]}")
    table = match.group(2).lower()
    without_rowid = _WITHOUT_ROWID.search(sql)
    body = sql[: without_rowid.start() + 1] if without_rowid else sql.rstrip()
    key = _INTEGER_PRIMARY_KEY.search(body)
    statements: list[str] = []
    if key is not None:
        column = key.group(1).lower()
        # ``rowid`` names the key too, as in SQLite (``ORDER BY rowid`` on any table).
        statements.append(_code(f"{body[:-1]}, {ROWID} INTEGER GENERATED ALWAYS AS ({column}) STORED)"))
    elif without_rowid is None:
        column = ROWID
        if not body.endswith(")"):
            raise DialectError(f"cannot find the end of the column list: {sql.strip()[:80]}")
        statements.append(_code(f"{body[:-1]}, {ROWID} INTEGER NOT NULL UNIQUE)"))
    else:
        return (_code(body),)
    statements.extend(_numbering(table, column))
    return tuple(statements)


def _numbering(table: str, column: str) -> tuple[str, ...]:
    """A trigger that fills ``column`` with ``max + 1`` when an insert leaves it out, as SQLite does."""
    function = f"{table}_{column}_next"
    return (
        f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN IF NEW.{column} IS NULL THEN "
        f"SELECT COALESCE(MAX({column}), 0) + 1 INTO NEW.{column} FROM {table}; "
        "END IF; RETURN NEW; END $$",
        f"CREATE TRIGGER {function} BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION {function}()",
    )


def references(sql: str) -> set[str]:
    """The tables a ``CREATE TABLE`` statement's foreign keys point at (for creating them in order)."""
    return {name.lower() for name in _REFERENCES.findall(sql)}


def numbered_column(sql: str) -> str | None:
    """The column that numbers this ``CREATE TABLE``'s rows on PostgreSQL (``None``: ``WITHOUT ROWID``)."""
    key = _INTEGER_PRIMARY_KEY.search(sql)
    if key is not None:
        return key.group(1).lower()
    return None if _WITHOUT_ROWID.search(sql) else ROWID
