"""The statement's and the reports' queries read by index, never by a scan (m029, ``make bench-scale``).

SQLite's own mechanics: each query the services run is captured as SQLite ran
it (``Storage.traced``) and its plan read with ``EXPLAIN QUERY PLAN`` on a
connection of its own.  A scan of the ledger, the shifts or the redemptions
would make statements and reports slow down as the log grows.
"""

from __future__ import annotations

from pathlib import Path

from ledger_file import ledger_file

from server.storage import SqliteStorage, Storage

BIG_TABLES = ("ledger_entries", "shifts", "redemptions")


def _plans(storage: Storage, run: object) -> list[tuple[str, list[str]]]:
    statements: list[str] = []
    with storage.traced(statements.append), storage.read() as tx:
        assert callable(run)
        run(tx)
    reads = [sql for sql in statements if sql.lstrip().upper().startswith("SELECT")]
    assert reads, "the query ran no SELECT"
    with ledger_file(storage) as conn:
        return [(sql, [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]) for sql in reads]


def _scans(plan: list[str]) -> list[str]:
    return [line for line in plan if line.startswith("SCAN") and any(t in line for t in BIG_TABLES)]


def test_a_statement_seeks_the_volunteers_period_and_needs_no_sort(tmp_path: Path) -> None:
    with SqliteStorage(tmp_path / "ledger.db") as storage:
        for sql, plan in _plans(storage, lambda tx: tx.balance_before("v_1", 5)) + _plans(
            storage, lambda tx: tx.ledger_lines("v_1", 5, 10)
        ):
            assert not _scans(plan), (sql, plan)
            assert any("ledger_volunteer_created" in line for line in plan), (sql, plan)
            # In index order; at most entries made in the same millisecond are sorted ("RIGHT PART").
            assert "USE TEMP B-TREE FOR ORDER BY" not in plan, (sql, plan)


def test_the_reports_read_the_period_by_index(tmp_path: Path) -> None:
    with SqliteStorage(tmp_path / "ledger.db") as storage:
        hours = _plans(storage, lambda tx: tx.paid_hours_by_period([0, 10, 20]))
        settlements = _plans(storage, lambda tx: tx.shop_redemptions("s_1", 0, 10))
    for sql, plan in hours + settlements:
        assert not _scans(plan), (sql, plan)
    assert any("shifts_status_start" in line for _, plan in hours for line in plan)
    assert any("redemptions_site" in line for _, plan in settlements for line in plan)
