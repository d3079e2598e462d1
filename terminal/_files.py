"""Atomic, private file writes for secrets (the kiosk key, the config with the pseudonym key).

The data goes to a temporary file created with mode 0600 from the start (no
window in which another user could read it), is fsynced, then moved into
place; the folder is fsynced too, so after a power cut the file is either
complete or absent.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_private(path: Path, data: bytes, *, overwrite: bool) -> None:
    """Write ``data`` to ``path`` with mode 0600, atomically.

    With ``overwrite=False`` an existing ``path`` raises ``FileExistsError``,
    checked atomically (``link`` fails on an existing name), so two processes
    cannot both create it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_dir(path.parent)
