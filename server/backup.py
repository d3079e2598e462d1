"""Back up a live ledger with SQLite's online backup API.

Copying ``ledger.db`` with ``cp`` while the server runs can tear a page or
miss what still sits in ``ledger.db-wal``.  :func:`backup_ledger` instead reads
the ledger through SQLite (:meth:`sqlite3.Connection.backup`), which copies a
consistent snapshot while the server keeps writing, then checks the copy
(``PRAGMA integrity_check``) and switches it out of WAL mode, so the result is
one self-contained file.  It opens the live ledger read-only and writes the
copy next to ``out`` first, renaming it into place only once it checked, so a
half-written backup never carries the final name and an existing file is never
overwritten.

The keys (``server.key``, ``uid-pseudonym.key``) are not in the ledger: back
them up once, offline (docs/operations.md, "Backups").

Example::

    result = backup_ledger(Path("/var/lib/kokreativ-server"), Path("/backup/ledger-2026-11-29.db"))
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from server.datadir import LEDGER
from server.errors import DataDirError
from server.keyfiles import fsync_dir


@dataclass(frozen=True, slots=True)
class BackupResult:
    """What was written: the file, its size and how many pages SQLite copied."""

    path: Path
    bytes: int
    pages: int

    def to_json(self) -> dict[str, object]:
        """The command's output."""
        return {"backup": str(self.path), "bytes": self.bytes, "pages": self.pages, "integrity": "ok"}


def backup_ledger(data_dir: Path, out: Path) -> BackupResult:
    """Copy ``data_dir/ledger.db`` to ``out`` while the server may be writing it.

    Raises :class:`DataDirError` if there is no ledger, ``out`` exists, or the
    copy fails its integrity check (the partial copy is removed).
    """
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
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        try:
            # link, not rename: fails instead of replacing a file that appeared meanwhile.
            os.link(partial, out)
        except FileExistsError:
            raise DataDirError(f"{out} exists; refusing to overwrite a backup") from None
    except sqlite3.Error as exc:
        raise DataDirError(f"backing up {source_path} failed: {exc}") from exc
    finally:
        source.close()
        partial.unlink(missing_ok=True)
        _hand_back(source_path, missing)
    fsync_dir(out.parent)
    return BackupResult(path=out, bytes=out.stat().st_size, pages=int(pages))


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
