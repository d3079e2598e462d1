"""SQLite's dialect as PostgreSQL reads it (server.storage.dialect): pure text, no database."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.storage.dialect import (
    DialectError,
    copy_form,
    create_table,
    numbered_column,
    references,
    to_postgres,
)


def test_placeholders_become_psycopg_ones_outside_string_literals() -> None:
    (sql,) = to_postgres("SELECT '?' || x FROM t WHERE a = ? AND b LIKE 'x%' AND c = 'it''s ?'")
    assert sql == "SELECT '?' || x FROM t WHERE a = %s AND b LIKE 'x%%' AND c = 'it''s ?'"


@given(st.text(alphabet="abc?%' ", max_size=30))
def test_every_placeholder_outside_a_literal_is_translated_and_none_inside(text: str) -> None:
    quoted = text.replace("'", "''")
    (sql,) = to_postgres(f"SELECT ? FROM t WHERE x = '{quoted}' AND y = ?")
    assert sql == f"SELECT %s FROM t WHERE x = '{quoted.replace('%', '%%')}' AND y = %s"


def test_insert_or_ignore_becomes_on_conflict_do_nothing_before_returning() -> None:
    assert to_postgres("INSERT OR IGNORE INTO t (a) VALUES (?)") == (
        "INSERT INTO t (a) VALUES (%s) ON CONFLICT DO NOTHING",
    )
    assert to_postgres("INSERT OR IGNORE INTO t (a) VALUES (?) RETURNING a") == (
        "INSERT INTO t (a) VALUES (%s) ON CONFLICT DO NOTHING RETURNING a",
    )


def test_null_safe_comparison_and_types_and_join_order() -> None:
    assert to_postgres("DELETE FROM s WHERE a = ? AND b IS NOT ?") == (
        "DELETE FROM s WHERE a = %s AND b IS DISTINCT FROM %s",
    )
    assert to_postgres("SELECT 1 WHERE b IS ?") == ("SELECT 1 WHERE b IS NOT DISTINCT FROM %s",)
    assert to_postgres("ALTER TABLE t ADD COLUMN n INTEGER") == ("ALTER TABLE t ADD COLUMN n BIGINT",)
    assert to_postgres("SELECT 1 FROM k CROSS JOIN e ON e.a = k.a") == (
        "SELECT 1 FROM k JOIN e ON e.a = k.a",
    )
    assert to_postgres("SELECT 1 FROM t WHERE a IN () OR b IN (?)") == (
        "SELECT 1 FROM t WHERE a IN (NULL) OR b IN (%s)",
    )
    with pytest.raises(DialectError):
        to_postgres("SELECT 1 FROM t WHERE a NOT IN ()")


def test_a_table_without_an_integer_key_gets_a_numbered_rowid() -> None:
    statements = create_table("CREATE TABLE t (a TEXT PRIMARY KEY, b BLOB NOT NULL, c REAL)")
    assert statements[0] == (
        "CREATE TABLE t (a TEXT PRIMARY KEY, b BYTEA NOT NULL, c DOUBLE PRECISION, "
        "rowid BIGINT NOT NULL UNIQUE)"
    )
    assert "COALESCE(MAX(rowid), 0) + 1" in statements[1]
    assert statements[2].startswith("CREATE TRIGGER t_rowid_next BEFORE INSERT ON t")
    assert numbered_column("CREATE TABLE t (a TEXT PRIMARY KEY)") == "rowid"


def test_an_integer_primary_key_is_the_numbered_column_and_without_rowid_has_none() -> None:
    statements = create_table('CREATE TABLE "s" (\n  id INTEGER PRIMARY KEY, r TEXT REFERENCES other (x))')
    assert statements[0] == (
        'CREATE TABLE "s" (\n  id BIGINT PRIMARY KEY, r TEXT REFERENCES other (x), '
        "rowid BIGINT GENERATED ALWAYS AS (id) STORED)"
    )
    assert "COALESCE(MAX(id), 0) + 1" in statements[1]
    assert references(statements[0]) == {"other"}
    assert create_table("CREATE TABLE w (a TEXT, b INTEGER, PRIMARY KEY (a, b)) WITHOUT ROWID") == (
        "CREATE TABLE w (a TEXT, b BIGINT, PRIMARY KEY (a, b))",
    )
    assert numbered_column("CREATE TABLE w (a TEXT PRIMARY KEY) WITHOUT ROWID") is None


def test_table_info_reads_the_information_schema_and_other_pragmas_are_refused() -> None:
    (sql,) = to_postgres("PRAGMA table_info(cards)")
    assert "information_schema.columns" in sql and "'cards'" in sql
    with pytest.raises(DialectError):
        to_postgres("PRAGMA foreign_keys = ON")


def test_a_plain_insert_of_placeholders_has_a_copy_form_and_nothing_else_does() -> None:
    assert copy_form("INSERT INTO tlog_entries (idx, entry) VALUES (?, ?)") == (
        "COPY tlog_entries (idx, entry) FROM STDIN"
    )
    assert (
        copy_form("INSERT INTO Events(kiosk_id,seq)\n    VALUES (?,?) ")
        == "COPY events (kiosk_id, seq) FROM STDIN"
    )
    for sql in (
        "INSERT OR IGNORE INTO t (a) VALUES (?)",  # ON CONFLICT DO NOTHING: COPY has none
        "INSERT INTO t (a) VALUES (?) ON CONFLICT (a) DO UPDATE SET a = excluded.a",
        "INSERT INTO t (a) VALUES (?) RETURNING a",
        "INSERT INTO t (a, b) VALUES (?, 1)",  # a value of its own
        "INSERT INTO t (a, b) VALUES (?)",  # fewer values than columns: the insert's own error
        "INSERT INTO t (a) SELECT a FROM u WHERE b = ?",
        "INSERT INTO t VALUES (?, ?)",  # no column list: the table's order is the insert's business
        "UPDATE t SET a = ? WHERE b = ?",
    ):
        assert copy_form(sql) is None, sql
