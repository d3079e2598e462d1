"""The data folder's secret files: written once with ``O_EXCL`` and ``fsync``, read with a length check.

Shared by :mod:`server.datadir` (init and open), :mod:`server.keyrotation` and
:mod:`server.backup`, so every key file is made and checked the same way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from server.errors import DataDirError

KEY_BYTES: Final = 32


def write_secret(path: Path, data: bytes) -> None:
    """Create ``path`` (mode 0600) holding ``data``, durably; never replaces an existing file."""
    # O_EXCL: never replace an existing key, even if two writers race.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def read_secret(path: Path) -> bytes:
    """The :data:`KEY_BYTES` bytes in ``path``; :class:`DataDirError` if missing or of another length."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataDirError(f"{path} is missing; is this a data directory made by init?") from None
    if len(data) != KEY_BYTES:
        raise DataDirError(f"{path} must hold exactly {KEY_BYTES} bytes")
    return data


def fsync_dir(path: Path) -> None:
    """Make renames and new files in the folder ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
