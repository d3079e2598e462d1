"""Move an economy's ledger from its SQLite file to PostgreSQL, and prove nothing changed.

``kokreativ server migrate-db --data DATA --to postgresql://…`` is for the day a
single-site installation grows into a city's.  With the server stopped (a folder
that a server or another command has open is refused, ``server_running``:
:mod:`server.folderlock`):

1. The SQLite ledger is opened (and migrated to this version), and held in one
   write transaction for the whole move, so nothing changes it meanwhile.
2. The target database must hold no tables.  It gets the SQLite ledger's schema,
   translated (:mod:`server.storage.dialect`), and then every row of every table,
   row numbers included (a redemption's ledger entries point at its ``rowid``).
3. The move is proved on the copy, read back through PostgreSQL: the log's root
   hash recomputed from every copied entry must equal the SQLite ledger's, and so
   must the latest signed checkpoint, every stored balance, every balance summed
   from the ledger entries, and each table's row count.
4. Only then does the data folder name the new database (``DATA/database``).
   ``ledger.db`` is renamed ``ledger.db.migrated`` and kept: delete it once the
   server ran on PostgreSQL for a while (it holds the same data).

Anything that fails leaves the data folder as it was and says why; the target
database may then hold a partial copy: drop it, fix the cause, run again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from protocol.merkle import leaf_hash, reference_root
from server.datadir import DATABASE, LEDGER, record_database
from server.errors import DataDirError
from server.folderlock import alone_in
from server.keyfiles import fsync_dir
from server.storage import ReadTx, SqliteStorage, is_postgres
from server.storage.postgres import PgConnection, PostgresStorage, copy_ledger, sqlite_tables
from server.storage.sqlite import WRITER_LOCK_SUFFIX
from server.tlog import StoredHashes, latest_checkpoint
from server.tlogtree import Frontier

MIGRATED_SUFFIX: Final = ".migrated"
_READ_CHUNK: Final = 10_000


@dataclass(frozen=True, slots=True)
class LedgerFacts:
    """What must be equal on both sides of a move: the log, its checkpoint, the balances, the row counts."""

    size: int
    root_hex: str  # recomputed from every entry, not read from the stored hashes
    stored_root_hex: str  # from the stored tree hashes, as proofs use them
    checkpoint: bytes
    balances: dict[str, int]
    summed_balances: dict[str, int]
    rows: dict[str, int]


@dataclass(frozen=True, slots=True)
class MigrationResult:
    """The move and its proof, for the command's one line of JSON."""

    database: str
    facts: LedgerFacts
    kept: Path

    def to_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "entries": self.facts.size,
            "root": self.facts.root_hex,
            "balances": len(self.facts.balances),
            "tokens": sum(self.facts.balances.values()),
            "rows": self.facts.rows,
            "equal": True,  # a move that differs raises instead
            "kept": str(self.kept),
        }


def ledger_facts(tx: ReadTx, tables: list[str], count: Any) -> LedgerFacts:
    """The facts of the ledger ``tx`` reads (``count(table)`` gives a table's row count)."""
    size = tx.tlog_size()
    leaves: list[bytes] = []
    for start in range(0, size, _READ_CHUNK):
        leaves.extend(
            leaf_hash(entry) for entry in tx.tlog_entry_range(start, min(size, start + _READ_CHUNK))
        )
    root = reference_root(leaves) if leaves else b""
    stored = Frontier.load(size, StoredHashes(tx)).root() if size else b""
    _, note = latest_checkpoint(tx)
    return LedgerFacts(
        size=size,
        root_hex=root.hex(),
        stored_root_hex=stored.hex(),
        checkpoint=bytes(note),
        balances=tx.balances(),
        summed_balances=tx.summed_balances(),
        rows={table: int(count(table)) for table in tables},
    )


def _differences(before: LedgerFacts, after: LedgerFacts) -> list[str]:
    found = []
    for name in ("size", "root_hex", "stored_root_hex", "checkpoint", "balances", "summed_balances", "rows"):
        if getattr(before, name) != getattr(after, name):
            found.append(name)
    if before.root_hex != before.stored_root_hex:
        found.append("the SQLite ledger's stored tree does not match its entries (run verify-store)")
    return found


def _count(conn: Any, table: str) -> int:
    row = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
    return int(row[0])


def migrate_to_postgres(data_dir: Path, url: str) -> MigrationResult:
    """Move ``data_dir``'s SQLite ledger into the empty PostgreSQL database ``url``; see the module docstring.

    Raises :class:`DataDirError` when the folder has no SQLite ledger, the target
    is not an empty PostgreSQL database, or the copy differs (the folder unchanged).
    """
    data_dir = Path(data_dir)
    if not is_postgres(url):
        raise DataDirError(f"not a PostgreSQL URL: {url!r} (give postgresql://…)", reason="bad_database")
    if (data_dir / DATABASE).exists():
        raise DataDirError(f"{data_dir} already keeps its ledger in PostgreSQL ({data_dir / DATABASE})")
    source_path = data_dir / LEDGER
    if not source_path.is_file():
        raise DataDirError(
            f"{source_path} is missing; is this the server's data folder?", reason="data_dir_missing"
        )
    kept = source_path.with_name(LEDGER + MIGRATED_SUFFIX)
    if kept.exists():
        raise DataDirError(
            f"{kept} exists from an earlier move; move it away first (it is never overwritten)"
        )
    # No server (nor command) has the folder open, and none opens it until the folder names the copy.
    with alone_in(data_dir):
        after, database = _copy_and_prove(source_path, url)
        record_database(data_dir, url)
        os.rename(source_path, kept)
        for suffix in ("-wal", "-shm", WRITER_LOCK_SUFFIX):
            Path(f"{source_path}{suffix}").unlink(missing_ok=True)
        fsync_dir(data_dir)
    return MigrationResult(database=database, facts=after, kept=kept)


def _copy_and_prove(source_path: Path, url: str) -> tuple[LedgerFacts, str]:
    """Copy the SQLite ledger ``source_path`` into the empty database ``url``: the copy's facts, proved equal.

    Also the database's name as it may be shown (without a password).
    """
    with SqliteStorage(source_path) as source, source.write() as locked:  # nobody writes while we copy
        raw = source.raw_connection()
        tables = sqlite_tables(raw)
        names = [name for name, _ in tables]
        before = ledger_facts(
            locked, names, lambda t: raw.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]
        )
        target = PostgresStorage(url, migrate=False)
        try:
            with target.connection() as conn:
                present = conn.execute(
                    "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()"
                ).fetchone()
                if present and present[0]:
                    raise DataDirError(
                        f"{target.database} already holds {present[0]} tables; give an empty database",
                        reason="data_dir_not_empty",
                    )
                with conn.transaction():
                    copy_ledger(raw, PgConnection(conn))
            with target.read() as tx, target.connection() as conn:
                after = ledger_facts(tx, names, lambda t: _count(conn, t))
            differences = _differences(before, after)
            if differences:
                raise DataDirError(
                    f"the copy in {target.database} differs from {source_path} in: {', '.join(differences)}; "
                    "the data folder is unchanged (drop the database and look into it)",
                    reason="migration_differs",
                )
            target.migrate()  # nothing to apply: the source was migrated; records that
        finally:
            target.close()
    return after, target.database
