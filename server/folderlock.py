"""Who has a data folder open: the server and its commands share it; a move must be alone in it.

``server migrate-db`` copies ``ledger.db`` into PostgreSQL and then renames it.
A server still running on the folder would go on writing into the renamed file
(its connection keeps the file open), so a redemption it approved after the
copy, or a shift it paid, would be missing from the moved ledger without
anyone noticing.  So every process that opens the folder's ledger through
:func:`server.datadir.open_data_dir` (each server worker, ``server token add``,
``export-log`` …) holds a *shared* ``flock`` on ``DATA/in-use.lock`` for as long
as it has the folder open, and the move takes it *exclusively*, without waiting:

* a move while anything has the folder open is refused, ``server_running``;
* opening the folder while a move is under way is refused, ``data_dir_busy``.

An ``flock`` belongs to the open file: the kernel drops it when the process
ends, however it ends, so a crashed server never leaves the folder locked.
Where the lock file cannot be made (a read-only folder) a shared lock is
skipped (a process that cannot write there writes no ledger there either),
but the exclusive one is refused.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from server.errors import DataDirError

log = logging.getLogger(__name__)
IN_USE_LOCK: Final = "in-use.lock"


class FolderLock:
    """A shared hold on a data folder (:func:`hold_shared`), released by :meth:`release`."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    def release(self) -> None:
        """Let go of the folder; closing the file drops the lock.  Idempotent."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _open_lock_file(data_dir: Path) -> int:
    return os.open(data_dir / IN_USE_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def hold_shared(data_dir: Path) -> FolderLock:
    """Mark ``data_dir`` as open by this process; refused (``data_dir_busy``) while a move holds it."""
    try:
        fd = _open_lock_file(data_dir)
    except OSError as exc:
        log.debug("no %s in %s (%s); opening without it", IN_USE_LOCK, data_dir, exc.strerror or exc)
        return FolderLock(None)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DataDirError(
            f"{data_dir} is being moved (server migrate-db runs); start again once it has finished",
            reason="data_dir_busy",
        ) from None
    return FolderLock(fd)


@contextmanager
def alone_in(data_dir: Path) -> Iterator[None]:
    """Hold ``data_dir`` alone for the block; refused (``server_running``) while anything has it open."""
    try:
        fd = _open_lock_file(data_dir)
    except OSError as exc:
        raise DataDirError(
            f"cannot make {data_dir / IN_USE_LOCK} ({exc.strerror or exc}), so cannot tell whether a server "
            "has the folder open; run as the server's user"
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataDirError(
                f"a server (or another kokreativ command) has {data_dir} open; stop it first "
                "(sudo systemctl stop kokreativ-server) and run this again",
                reason="server_running",
            ) from None
        yield
    finally:
        os.close(fd)
