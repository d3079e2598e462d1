"""The PostgreSQL engine's own mechanics: its schema, its migrations, and a move from SQLite.

Everything else about it (the rules, the answers) is the rest of tests/server,
which runs on both engines.  Here: the schema PostgreSQL gets is SQLite's after
every migration; a migration added later runs on PostgreSQL through the
translator and ends at the same schema; ``server migrate-db`` moves a ledger
that has a history and proves it; and a data folder refuses what it must.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest
from server_helpers import MINUTE, T0, Api, FakeClock
from server_shop_helpers import create_shop

from kokreativ.cli import main
from kokreativ.localserver import ledger_server
from kokreativ.pgcluster import PgCluster
from protocol import EventKind
from provisioning.client import ApiClient
from server.app import create_app
from server.datadir import DATABASE, LEDGER, init_data_dir, open_data_dir
from server.errors import DataDirError, ServiceError
from server.folderlock import alone_in
from server.migratedb import migrate_to_postgres
from server.runner import serve_in_thread
from server.schema import MIGRATIONS
from server.storage import SqliteStorage, open_storage
from server.storage.postgres import COPY_MIN_ROWS, PgConnection, PostgresStorage
from server.verify import verify_ledger, verify_store


def _pg_schema(url: str) -> dict[str, list[str]]:
    """``table -> its columns`` and ``index name -> []`` of a PostgreSQL ledger (``rowid`` left out)."""
    with psycopg.connect(url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND column_name <> 'rowid' "
            "ORDER BY table_name, column_name"
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
            "AND indexname NOT LIKE '%_pkey' AND indexname NOT LIKE '%_key' AND indexname NOT LIKE '%_key1'"
        ).fetchall()
    schema: dict[str, list[str]] = {}
    for table, column in columns:
        schema.setdefault(table, []).append(column)
    schema.update({f"index {name}": [] for (name,) in indexes})
    return schema


def _sqlite_schema() -> dict[str, list[str]]:
    with SqliteStorage(Path(":memory:")) as storage:
        conn = storage.raw_connection()
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        schema = {t: sorted(row[1] for row in conn.execute(f"PRAGMA table_info({t})")) for t in tables}
        indexes = conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        schema.update({f"index {name}": [] for (name,) in indexes})
    return schema


def test_a_new_database_gets_sqlites_schema_after_every_migration(postgres_cluster: PgCluster) -> None:
    url = postgres_cluster.empty_database()
    with PostgresStorage(url) as storage, storage.read() as tx:
        assert tx.get_setting("log_origin") is not None  # rows the migrations put in came along
    assert _pg_schema(url) == _sqlite_schema()
    with PostgresStorage(url) as again:
        assert again.migrate() == []  # nothing pending, and opening twice changes nothing


@pytest.mark.parametrize("later", [1, 2, 3])
def test_migrations_added_later_run_on_postgresql_to_the_same_schema(
    postgres_cluster: PgCluster, later: int
) -> None:
    """A database made at an older version, upgraded: the newest migrations go through the translator."""
    url = postgres_cluster.empty_database()
    older = MIGRATIONS[:-later]
    with PostgresStorage(url, migrate=False) as storage:
        assert storage.migrate(older) == [m.__name__.lstrip("_") for m in older]
        applied = storage.migrate()
    assert applied == [m.__name__.lstrip("_") for m in MIGRATIONS[-later:]]
    assert _pg_schema(url) == _pg_schema(postgres_cluster.new_database())


def _history(data: Path, clock: FakeClock) -> dict[str, Any]:
    """A ledger with a past: a site, a shop, shifts paid, a redemption; closed again.  Its balances."""
    with open_data_dir(data, now_ms=clock) as ctx, serve_in_thread(create_app(ctx)) as base_url:
        token = json.loads((data / "admin-token.json").read_text())["token"]
        api = Api(base_url, token, ctx, clock)
        try:
            site = api.create_site(tokens_per_hour=60)
            kiosk = api.enrol_kiosk(site["site_id"])
            shop = create_shop(api)
            till = api.enrol_kiosk(shop["site_id"])
            cards = [api.create_card(f"Person {n}")["card_id"] for n in range(3)]
            for n, card in enumerate(cards):
                start = T0 - (n + 2) * 60 * MINUTE
                batch = [
                    kiosk.event(EventKind.CHECK_IN, card, start),
                    kiosk.event(EventKind.CHECK_OUT, card, start + 45 * MINUTE),
                ]
                assert api.send(kiosk.kiosk_id, batch).status_code == 200
            redeem = till.event(
                EventKind.REDEEM, cards[0], T0, data={"amount": 20, "id": "r_" + "a" * 32, "online": True}
            )
            assert api.send(till.kiosk_id, [redeem]).status_code == 200
            with ctx.storage.read() as tx:
                return dict(tx.balances())
        finally:
            api.close()


def test_migrate_db_moves_a_ledger_with_a_history_and_proves_it(
    tmp_path: Path, postgres_cluster: PgCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    data, clock = tmp_path / "data", FakeClock()
    made = init_data_dir(data, now_ms=clock)
    (data / "admin-token.json").write_text(json.dumps({"token": made.admin_token}))
    balances = _history(data, clock)
    assert sorted(balances.values()) == [25, 45, 45]  # 45 minutes at 60 an hour, one spent 20
    with SqliteStorage(data / LEDGER) as before, before.read() as tx:
        size = tx.tlog_size()

    url = postgres_cluster.empty_database()
    assert main(["server", "migrate-db", "--data", str(data), "--to", url]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (
        printed["equal"] is True
        and printed["entries"] == size
        and printed["tokens"] == sum(balances.values())
    )
    assert printed["rows"]["events"] == 7 and "password" not in printed["database"]
    assert not (data / LEDGER).exists() and (data / f"{LEDGER}.migrated").is_file()
    assert (data / DATABASE).read_text() == url and (data / DATABASE).stat().st_mode & 0o777 == 0o600

    with open_data_dir(data, now_ms=clock) as ctx:  # the folder now opens on PostgreSQL
        assert ctx.storage.engine == "postgresql"
        with ctx.storage.read() as tx:
            assert tx.balances() == balances and tx.tlog_size() == size
        assert verify_store(ctx.storage).ok and verify_ledger(ctx.storage).ok
        with ctx.storage.write() as tx:  # and goes on: new rows are numbered after the copied ones
            tx.set_setting("after_the_move", "yes")


def test_migrate_db_refuses_a_database_in_use_and_leaves_the_folder(
    tmp_path: Path, postgres_cluster: PgCluster
) -> None:
    data = tmp_path / "data"
    init_data_dir(data)
    in_use = postgres_cluster.new_database()  # holds a ledger already
    with pytest.raises(DataDirError, match="already holds"):
        migrate_to_postgres(data, in_use)
    assert (data / LEDGER).is_file() and not (data / DATABASE).exists()
    with pytest.raises(DataDirError, match="not a PostgreSQL URL"):
        migrate_to_postgres(data, str(tmp_path / "other.db"))
    with sqlite3.connect(data / LEDGER) as conn:
        assert conn.execute("SELECT COUNT(*) FROM settings").fetchone()[0] > 0


def _tables(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_migrate_db_refuses_a_folder_a_running_server_has_open(
    tmp_path: Path, postgres_cluster: PgCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server still running would write on into the renamed file: redemptions lost to the move."""
    data = tmp_path / "data"
    token = init_data_dir(data).admin_token
    url = postgres_cluster.empty_database()
    with ledger_server(data, workers=2) as base_url:
        assert main(["server", "migrate-db", "--data", str(data), "--to", url]) == 2
        refused = capsys.readouterr().err
        assert refused.startswith("kokreativ: error: server_running:"), refused
        assert "systemctl stop" in refused
        assert (data / LEDGER).is_file() and not (data / DATABASE).exists() and _tables(url) == 0
        # The server never noticed: it still serves and writes its ledger.
        with ApiClient(base_url, admin_token=token) as admin:
            assert admin.add_site("Stadtteilzentrum", tokens_per_hour=60)["site_id"]
    # Stopped, the server let go of the folder (each worker held it): the same move goes through.
    assert main(["server", "migrate-db", "--data", str(data), "--to", url]) == 0
    assert json.loads(capsys.readouterr().out)["equal"] is True
    with open_data_dir(data) as ctx, ctx.storage.read() as tx:
        assert ctx.storage.engine == "postgresql"
        assert [site.name for site in tx.list_sites()] == ["Stadtteilzentrum"]


def test_a_folder_being_moved_is_not_opened_and_an_open_one_is_not_moved(tmp_path: Path) -> None:
    data = tmp_path / "data"
    init_data_dir(data)
    with alone_in(data):  # what migrate-db holds while it copies
        with pytest.raises(DataDirError) as busy:
            open_data_dir(data)
        assert busy.value.reason == "data_dir_busy"
    # With the folder open (a token command, say), the move is refused.
    with open_data_dir(data), pytest.raises(DataDirError) as running, alone_in(data):
        pass
    assert running.value.reason == "server_running"
    with alone_in(data):  # closed, the folder is free again; so is one whose opening failed above
        pass


def test_init_on_postgresql_refuses_a_database_that_holds_a_ledger(
    tmp_path: Path, postgres_cluster: PgCluster
) -> None:
    url = postgres_cluster.empty_database()
    init_data_dir(tmp_path / "first", database=url)
    with pytest.raises(DataDirError, match="already holds a ledger"):
        init_data_dir(tmp_path / "second", database=url)
    with open_storage(url) as storage, storage.read() as tx:
        assert tx.get_setting("admin_token_sha256") is not None


_AWKWARD_TEXT = "tab\there, newline\n, backslash \\N, quote ' \" and ü€😀"
_BINDS = "INSERT INTO copied (n, text, blob, flag, share, nothing) VALUES (?, ?, ?, ?, ?, ?)"


def _awkward_rows(count: int, start: int) -> list[tuple[Any, ...]]:
    """Rows of integers, text, bytes, bools, floats and NULL, with what COPY's text format must escape."""
    return [
        (start + i, f"{_AWKWARD_TEXT} {i}", bytes(range(256)) + bytes([i]), i % 2 == 0, i / 3, None)
        for i in range(count)
    ]


def test_many_rows_go_in_as_one_copy_and_are_stored_as_the_inserts_store_them(postgres_database: str) -> None:
    seen: list[str] = []
    with PostgresStorage(postgres_database) as storage, storage.connection() as raw:
        conn = PgConnection(raw, seen.append)
        conn.execute(
            "CREATE TABLE copied (n INTEGER PRIMARY KEY, text TEXT NOT NULL, blob BLOB NOT NULL, "
            "flag INTEGER NOT NULL, share REAL NOT NULL, nothing TEXT)"
        )
        few, many = _awkward_rows(COPY_MIN_ROWS - 1, 0), _awkward_rows(COPY_MIN_ROWS, 2**62)
        conn.executemany(_BINDS, few)
        conn.executemany(_BINDS, many)
        assert [statement.split()[0] for statement in seen[-2:]] == ["INSERT", "COPY"]
        stored = conn.execute("SELECT n, text, blob, flag, share, nothing FROM copied ORDER BY n").fetchall()
    expected = [(n, text, blob, int(flag), share, None) for n, text, blob, flag, share, _ in few + many]
    assert [tuple(row) for row in stored] == expected


def test_a_copy_fails_whole_as_the_inserts_would_and_text_with_nul_is_refused_first(
    postgres_database: str,
) -> None:
    with PostgresStorage(postgres_database) as storage, storage.connection() as raw:
        conn = PgConnection(raw)
        conn.execute("CREATE TABLE copied (n INTEGER PRIMARY KEY, text TEXT NOT NULL)")
        rows = [(i, "x") for i in range(COPY_MIN_ROWS)]
        with pytest.raises(psycopg.errors.UniqueViolation):  # the error the inserts raise
            conn.executemany("INSERT INTO copied (n, text) VALUES (?, ?)", [*rows, (0, "again")])
        with pytest.raises(ServiceError) as refused:
            conn.executemany("INSERT INTO copied (n, text) VALUES (?, ?)", [*rows, (99, "a\x00b")])
        assert refused.value.reason.value == "bad_encoding" and refused.value.status == 400
        assert conn.execute("SELECT COUNT(*) FROM copied").fetchone()[0] == 0
