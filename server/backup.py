"""Back up a live ledger (SQLite's online backup API, or ``pg_dump``), and restore one.

Copying ``ledger.db`` with ``cp`` while the server runs can tear a page or
miss what still sits in ``ledger.db-wal``.  :func:`backup_ledger` instead reads
the ledger through SQLite (:meth:`sqlite3.Connection.backup`), which copies a
consistent snapshot while the server keeps writing, then checks the copy
(``PRAGMA integrity_check``) and switches it out of WAL mode, so the result is
one self-contained file.  It opens the live ledger read-only and writes the
copy next to ``out`` first, renaming it into place only once it checked, so a
half-written backup never carries the final name and an existing file is never
overwritten.

A ledger kept in PostgreSQL (``DATA/database``) is backed up with ``pg_dump``
in its custom format, from one snapshot while the server keeps writing, then
checked by ``pg_restore --list``; the same rules apply (written beside ``out``,
0600, never overwriting).  :func:`restore_ledger` puts either kind back into a
new data folder (the drill, ``docs/operations.md``).

The keys (``server.key``, ``uid-pseudonym.key``) are not in the ledger: back
them up once, offline (docs/operations.md, "Backups").

The ledger copy holds personal data only as ciphertext (:mod:`server.vault`).
The per-person keys that open it (``person-keys/``) are backed up apart, by
:func:`backup_person_keys`, into dated folders that :func:`prune_key_backups`
deletes once older than the retention (:data:`KEY_RETENTION_DAYS` by default).
So a person erased today is unreadable in every backup, old ledger copies
included, once the retention has passed: the copies hold their ciphertext, and
no key to it is left anywhere.

Example::

    result = backup_ledger(Path("/var/lib/kokreativ-server"), Path("/backup/ledger-2026-11-29.db"))
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from server.datadir import LEDGER, ledger_database, record_database
from server.errors import DataDirError
from server.keyfiles import fsync_dir
from server.storage import is_postgres
from server.vault import PERSON_KEYS, PersonVault

KEY_RETENTION_DAYS: Final = 30
KEY_BACKUP_PREFIX: Final = "person-keys-"
_STAMP: Final = "%Y%m%dT%H%M%S%fZ"
_DAY_MS: Final = 86_400_000


@dataclass(frozen=True, slots=True)
class BackupResult:
    """What was written: the file, its size and how many pages SQLite copied (``None``: a ``pg_dump``)."""

    path: Path
    bytes: int
    pages: int | None
    engine: str = "sqlite"

    def to_json(self) -> dict[str, object]:
        """The command's output."""
        return {
            "backup": str(self.path),
            "engine": self.engine,
            "bytes": self.bytes,
            "pages": self.pages,
            "integrity": "ok",
        }


def backup_ledger(data_dir: Path, out: Path) -> BackupResult:
    """Copy ``data_dir/ledger.db`` to ``out`` while the server may be writing it.

    Raises :class:`DataDirError` if there is no ledger, ``out`` exists, or the
    copy fails its integrity check (the partial copy is removed).  A ledger in
    PostgreSQL is dumped instead (:func:`_dump_postgres`).
    """
    database = ledger_database(Path(data_dir))
    if is_postgres(database):
        return _dump_postgres(database, Path(out))
    source_path = Path(data_dir) / LEDGER
    if not source_path.is_file():
        raise DataDirError(f"{source_path} is missing; is this the server's data folder?")
    out = Path(out)
    if out.exists():
        raise DataDirError(f"{out} exists; refusing to overwrite a backup")
    if not out.parent.is_dir():
        raise DataDirError(f"{out.parent} is not a directory")
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    sidecars = [Path(f"{source_path}{suffix}") for suffix in ("-wal", "-shm")]
    missing = [path for path in sidecars if not path.exists()]
    # mode=ro: a backup never writes to the live ledger (and never leaves root-owned files in it).
    source = sqlite3.connect(f"{source_path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        source.execute("PRAGMA busy_timeout = 10000")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # it holds personal data
        os.close(fd)
        target = sqlite3.connect(partial)
        try:
            # All pages in one step, inside one read transaction: in WAL mode that never blocks the
            # server's writes. Copying in several steps would restart after every write by the server,
            # and might never finish on a busy ledger.
            source.backup(target)
            # One file, no -wal beside it: the copy is complete on its own.
            target.execute("PRAGMA journal_mode = DELETE")
            (check,) = target.execute("PRAGMA integrity_check").fetchone()
            if check != "ok":
                raise DataDirError(f"the copy of {source_path} failed its integrity check: {check}")
            (pages,) = target.execute("PRAGMA page_count").fetchone()
        finally:
            target.close()
        _publish(partial, out)
    except sqlite3.Error as exc:
        raise DataDirError(f"backing up {source_path} failed: {exc}") from exc
    finally:
        source.close()
        partial.unlink(missing_ok=True)
        _hand_back(source_path, missing)
    fsync_dir(out.parent)
    return BackupResult(path=out, bytes=out.stat().st_size, pages=int(pages))


def _pg_tool(name: str) -> str:
    """The path of PostgreSQL's ``pg_dump``/``pg_restore``; :class:`DataDirError` if it is not installed."""
    found = shutil.which(name)
    if found is None:
        raise DataDirError(
            f"{name} is missing: install PostgreSQL's client tools (apt-get install postgresql-client)"
        )
    return found


def _dump_postgres(url: str, out: Path) -> BackupResult:
    """``pg_dump`` the ledger database ``url`` to ``out`` (custom format), checked by ``pg_restore``."""
    if out.exists():
        raise DataDirError(f"{out} exists; refusing to overwrite a backup")
    if not out.parent.is_dir():
        raise DataDirError(f"{out.parent} is not a directory")
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # it holds personal data
    os.close(fd)
    try:
        # One snapshot (pg_dump's own REPEATABLE READ transaction): never blocks the server's writes.
        _run(
            [
                _pg_tool("pg_dump"),
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--file={partial}",
                url,
            ]
        )
        _run([_pg_tool("pg_restore"), "--list", str(partial)])  # the archive reads back whole
        _publish(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    fsync_dir(out.parent)
    return BackupResult(path=out, bytes=out.stat().st_size, pages=None, engine="postgresql")


def _run(command: list[str]) -> None:
    """Run a PostgreSQL tool; its error as :class:`DataDirError` (without the URL: it may hold a password)."""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        message = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        raise DataDirError(f"{Path(command[0]).name} failed: {message[0]}")


SQLITE_MAGIC: Final = b"SQLite format 3\x00"
PG_DUMP_MAGIC: Final = b"PGDMP"


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """Where a backup was restored to."""

    data_dir: Path
    engine: str
    database: str

    def to_json(self) -> dict[str, object]:
        return {"data_dir": str(self.data_dir), "engine": self.engine, "database": self.database}


def restore_ledger(backup: Path, data_dir: Path, *, database: str | None = None) -> RestoreResult:
    """Put the ledger backup ``backup`` into the data folder ``data_dir`` (its keys copied in already).

    A SQLite copy becomes ``data_dir/ledger.db``; a ``pg_dump`` archive is restored
    into ``database``, an empty PostgreSQL database, in one transaction, and the
    folder records it.  Refuses a folder that has a ledger already.  Check the
    result with ``kokreativ verify ledger`` and ``server verify-store`` before use.
    """
    backup, data_dir = Path(backup), Path(data_dir)
    if not data_dir.is_dir():
        raise DataDirError(f"{data_dir} is not a directory; make it and copy the keys in first")
    if (data_dir / LEDGER).exists() or is_postgres(ledger_database(data_dir)):
        raise DataDirError(
            f"{data_dir} has a ledger already; restore into a new folder", reason="data_dir_not_empty"
        )
    with open(backup, "rb") as handle:
        magic = handle.read(len(SQLITE_MAGIC))
    if magic.startswith(PG_DUMP_MAGIC):
        if database is None or not is_postgres(database):
            raise DataDirError("a pg_dump backup restores into PostgreSQL: give --database postgresql://…")
        _run(
            [
                _pg_tool("pg_restore"),
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                f"--dbname={database}",
                str(backup),
            ]
        )
        record_database(data_dir, database)
        return RestoreResult(data_dir=data_dir, engine="postgresql", database=database)
    if magic != SQLITE_MAGIC:
        raise DataDirError(f"{backup} is neither a SQLite ledger copy nor a pg_dump archive")
    target = data_dir / LEDGER
    partial = data_dir / f".{LEDGER}.partial-{os.getpid()}"
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out, open(backup, "rb") as source:
            shutil.copyfileobj(source, out)
            out.flush()
            os.fsync(out.fileno())
        conn = sqlite3.connect(partial)
        try:
            (check,) = conn.execute("PRAGMA integrity_check").fetchone()
        finally:
            conn.close()
        if check != "ok":
            raise DataDirError(f"{backup} failed its integrity check: {check}")
        os.link(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    fsync_dir(data_dir)
    return RestoreResult(data_dir=data_dir, engine="sqlite", database=str(target))


def _publish(partial: Path, out: Path) -> None:
    """Make the checked copy ``partial`` durable and give it its final name ``out``, never replacing one."""
    with open(partial, "rb") as handle:
        os.fsync(handle.fileno())
    try:
        # link, not rename: fails instead of replacing a file that appeared meanwhile.
        os.link(partial, out)
    except FileExistsError:
        raise DataDirError(f"{out} exists; refusing to overwrite a backup") from None


def _hand_back(ledger: Path, created: list[Path]) -> None:
    """Give ``-wal``/``-shm`` files this backup created to the ledger's owner.

    Even a read-only connection creates them when the server is stopped. Made
    by root (``sudo kokreativ server backup``), they would stop the server's
    own user from opening its ledger.
    """
    if os.geteuid() != 0:
        return
    owner = ledger.stat()
    for path in created:
        with contextlib.suppress(FileNotFoundError):  # SQLite removed it again
            os.chown(path, owner.st_uid, owner.st_gid)


@dataclass(frozen=True, slots=True)
class KeyBackupResult:
    """A key backup: its folder, how many keys it holds, and the older ones pruned."""

    path: Path
    keys: int
    pruned: tuple[Path, ...]

    def to_json(self) -> dict[str, object]:
        return {"key_backup": str(self.path), "keys": self.keys, "pruned": [str(p) for p in self.pruned]}


def _stamp(now_ms: int) -> str:
    return datetime.fromtimestamp(now_ms / 1000, UTC).strftime(_STAMP)


def _stamped_ms(folder: Path) -> int | None:
    """When a key backup folder was made, from its name; ``None`` for anything else."""
    if not folder.name.startswith(KEY_BACKUP_PREFIX):
        return None
    try:
        made = datetime.strptime(folder.name.removeprefix(KEY_BACKUP_PREFIX), _STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(made.timestamp() * 1000)


def backup_person_keys(
    data_dir: Path, out_dir: Path, *, now_ms: int, retention_days: int = KEY_RETENTION_DAYS
) -> KeyBackupResult:
    """Copy ``data_dir/person-keys`` into a new ``out_dir/person-keys-<UTC time>/``, then prune.

    Each key is copied with mode 0600 into a folder of mode 0700, fsynced, and the
    folder appears under its final name only when complete.  Key backups older than
    ``retention_days`` are then destroyed (:func:`prune_key_backups`), so an erased
    person's key outlives the erasure in backups by at most that long.
    """
    source = PersonVault(Path(data_dir) / PERSON_KEYS)
    if not source.folder.is_dir():
        raise DataDirError(f"{source.folder} is missing; is this the server's data folder?")
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise DataDirError(f"{out_dir} is not a directory")
    final = out_dir / f"{KEY_BACKUP_PREFIX}{_stamp(now_ms)}"
    if final.exists():
        raise DataDirError(f"{final} exists; refusing to overwrite a backup")
    partial = out_dir / f".{final.name}.partial-{os.getpid()}"
    partial.mkdir(mode=0o700)
    target = PersonVault(partial)
    count = 0
    try:
        for volunteer_id in source.key_ids():
            try:
                key = source.key_path(volunteer_id).read_bytes()
            except FileNotFoundError:  # erased meanwhile: good, leave it out
                continue
            fd = os.open(target.key_path(volunteer_id), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(key)
                handle.flush()
                os.fsync(handle.fileno())
            count += 1
        fsync_dir(partial)
        os.rename(partial, final)
    except BaseException:
        _destroy_folder(partial)
        raise
    fsync_dir(out_dir)
    pruned = prune_key_backups(out_dir, now_ms=now_ms, retention_days=retention_days)
    return KeyBackupResult(path=final, keys=count, pruned=tuple(pruned))


def prune_key_backups(out_dir: Path, *, now_ms: int, retention_days: int = KEY_RETENTION_DAYS) -> list[Path]:
    """Destroy the key backups in ``out_dir`` made more than ``retention_days`` before ``now_ms``."""
    if retention_days < 0:
        raise ValueError("retention_days must be 0 or more")
    cutoff = now_ms - retention_days * _DAY_MS
    pruned = []
    for folder in sorted(Path(out_dir).iterdir()):
        made = _stamped_ms(folder)
        if made is not None and folder.is_dir() and made < cutoff:
            _destroy_folder(folder)
            pruned.append(folder)
    if pruned:
        fsync_dir(Path(out_dir))
    return pruned


def _destroy_folder(folder: Path) -> None:
    """Overwrite and unlink every key in ``folder`` (as an erasure does), then remove it."""
    vault = PersonVault(folder)
    for volunteer_id in vault.key_ids():
        vault.destroy(volunteer_id)
    for leftover in folder.iterdir():
        leftover.unlink()
    folder.rmdir()
