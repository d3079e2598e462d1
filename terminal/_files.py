"""Atomic, private file writes for secrets (the kiosk key, the config with the pseudonym key).

The data goes to a temporary file created with mode 0600 from the start (no
window in which another user could read it), is fsynced, then moved into
place; the folder is fsynced too, so after a power cut the file is either
complete or absent.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class TargetExistsError(FileExistsError):
    """``path`` already exists and ``overwrite`` was false; no other error means that."""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def write_private(path: Path, data: bytes, *, overwrite: bool) -> None:
    """Write ``data`` to ``path`` with mode 0600, atomically.

    With ``overwrite=False`` an existing ``path`` raises :class:`TargetExistsError`,
    checked atomically (``link`` fails on an existing name), so two processes
    cannot both create it.  The temporary file gets a fresh random name
    (``mkstemp``), so a leftover from a crashed run never gets in the way.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    tmp = Path(tmp_name)
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError as exc:  # the only failure that means "path exists"
                raise TargetExistsError(exc.errno, exc.strerror, str(path)) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_dir(path.parent)
