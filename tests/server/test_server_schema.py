"""Migrations: a ledger made by an older release upgrades in place and keeps its data."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from server.models import Card, CardKind, Site
from server.schema import MIGRATIONS, _m001_initial, _m002_card_credentials, _m003_transparency_log
from server.storage import Storage


def _m001_ledger(path: Path) -> None:
    """A ledger as release m001 left it: one site, one volunteer with one card."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_ms INTEGER NOT NULL)")
    _m001_initial(conn)
    conn.execute("INSERT INTO migrations VALUES ('m001_initial', 1)")
    conn.execute("INSERT INTO sites VALUES ('s_1', 'Café', 10, 12, 1)")
    conn.execute("INSERT INTO volunteers VALUES ('v_1', 1)")
    conn.execute("INSERT INTO personal_data VALUES ('v_1', 'Ada')")
    conn.execute("INSERT INTO cards VALUES ('c_1', 'v_1', 5)")
    conn.close()


def test_m002_upgrades_an_m001_ledger(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    _m001_ledger(path)
    with Storage(path, migrate=False) as storage:
        assert storage.migrate() == [
            "m002_card_credentials",
            "m003_transparency_log",
            "m004_coordinator_cards",
            "m005_economy",
        ]
        assert storage.migrate() == []
        with storage.read() as tx:
            assert tx.list_sites() == [Site("s_1", "Café", 10, 12, allow_uncredentialed=False)]
            assert tx.list_cards() == [Card("c_1", "v_1", CardKind.CREDENTIAL, 5)]
            assert [(v.name, v.ehrenamtskarte) for v in tx.volunteers()] == [("Ada", None)]
            assert tx.list_issuer_keys() == [] and tx.blocked_card_ids() == []
            assert tx.coordinator_card_ids() == []


def test_m004_upgrades_an_m003_ledger_with_no_coordinator_cards(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    _m001_ledger(path)
    conn = sqlite3.connect(path, isolation_level=None)
    for migration in (_m002_card_credentials, _m003_transparency_log):
        migration(conn)
        conn.execute("INSERT INTO migrations VALUES (?, 1)", (migration.__name__.lstrip("_"),))
    conn.execute("UPDATE cards SET blocked_ms = 7")
    conn.close()
    with Storage(path, migrate=False) as storage:
        assert storage.migrate() == ["m004_coordinator_cards", "m005_economy"]
        with storage.read() as tx:
            assert tx.list_cards() == [Card("c_1", "v_1", CardKind.CREDENTIAL, 5, blocked_ms=7)]
            assert tx.coordinator_card_ids() == []


def test_every_migration_is_recorded_once(tmp_path: Path) -> None:
    with Storage(tmp_path / "ledger.db") as storage, storage.read() as tx:
        names = [row[0] for row in tx._conn.execute("SELECT name FROM migrations ORDER BY rowid")]
    assert [m.__name__.lstrip("_") for m in MIGRATIONS] == names
    assert names == [
        "m001_initial",
        "m002_card_credentials",
        "m003_transparency_log",
        "m004_coordinator_cards",
        "m005_economy",
    ]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE cards SET kind = 'magic'",
        "UPDATE sites SET allow_uncredentialed = 2",
        "INSERT INTO issuer_keys VALUES ('i_1', x'00', 'lost', 1, 1)",
        "UPDATE cards SET issuer_key_id = 'i_missing'",
    ],
)
def test_schema_refuses_impossible_values(tmp_path: Path, statement: str) -> None:
    path = tmp_path / "ledger.db"
    _m001_ledger(path)
    with Storage(path) as storage, pytest.raises(sqlite3.IntegrityError), storage.write() as tx:
        tx._conn.execute(statement)
