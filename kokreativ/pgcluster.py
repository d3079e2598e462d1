"""A throwaway PostgreSQL server for the tests and ``make bench``: from the local binaries, on a unix socket.

One cluster a test session or bench run (``initdb`` takes about a second), in a
temporary folder that :meth:`PgCluster.stop` removes again.  The ledger's
schema is made once, in a template database; each test gets its own database
copied from it (``CREATE DATABASE … TEMPLATE``), which is cheaper than migrating.

Where it runs as root (CI, these sessions), ``initdb`` and ``postgres`` refuse
uid 0, so they run as the ``postgres`` user through ``runuser``.  ``fsync`` is
off unless asked for (``durable=True``, as ``make bench`` does): the tests check
the ledger's rules, not the disk's, and PostgreSQL's durability is PostgreSQL's.
Without the binaries (``apt-get install postgresql``), :func:`find_binaries`
returns ``None`` and the PostgreSQL half of the suite is skipped with that reason.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Final

import psycopg

from server.storage.postgres import PostgresStorage

TEMPLATE: Final = "kokreativ_template"
MISSING: Final = (
    "PostgreSQL's server binaries are missing: apt-get install postgresql (or set KOKREATIV_PG_BIN)"
)


def find_binaries() -> Path | None:
    """The folder with ``initdb`` and ``pg_ctl``: ``$KOKREATIV_PG_BIN``, else the newest Debian install."""
    given = os.environ.get("KOKREATIV_PG_BIN")
    if given:
        return Path(given) if (Path(given) / "initdb").is_file() else None
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


class PgCluster:
    """A throwaway PostgreSQL cluster in a temporary folder, reachable only through its unix socket."""

    def __init__(self, binaries: Path, *, durable: bool = False) -> None:
        self.binaries = binaries
        self.durable = durable
        self.root = Path(tempfile.mkdtemp(prefix="kokreativ-pg-"))
        self.port = 5432  # only names the socket file: nothing listens on TCP
        self._as_postgres = os.geteuid() == 0
        self._names = itertools.count(1)

    def _run(self, *args: str) -> None:
        command = [str(self.binaries / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, text=True)

    def start(self) -> None:
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        data = self.root / "data"
        self._run("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        options = f"-k {self.root} -p {self.port} -c listen_addresses=''"
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(data), "-o", options, "-l", str(self.root / "log"), "-w", "start")
        self._admin(f"CREATE DATABASE {TEMPLATE}")
        PostgresStorage(self.url(TEMPLATE)).close()  # the schema, once; then it is only copied

    def url(self, database: str) -> str:
        return f"postgresql://postgres@/{database}?host={self.root}&port={self.port}"

    def new_database(self) -> str:
        """A new database holding a freshly migrated, empty ledger; its URL."""
        return self._create("ledger", f" TEMPLATE {TEMPLATE}")

    def empty_database(self) -> str:
        """A new database with nothing in it (for tests of what ``migrate`` and ``migrate-db`` make)."""
        return self._create("empty", "")

    def _create(self, prefix: str, options: str) -> str:
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        self._admin(f"CREATE DATABASE {name}{options}")
        return self.url(name)

    def drop(self, url: str) -> None:
        """Drop the database ``url`` names (its connections are closed first, as a test may leave one)."""
        name = url.split("/")[3].split("?")[0]
        self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def _admin(self, statement: str) -> None:
        """Run ``statement`` outside a transaction on the cluster's ``postgres`` database."""
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(statement)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
