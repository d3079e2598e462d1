"""Write the public log as files: the tiles an auditor would fetch, without HTTP.

:func:`export_log` writes, under the paths the server serves them at, the
latest ``checkpoint``, every tile of its tree (c2sp.org/tlog-tiles) and
``v1/log/balances``: byte for byte what ``GET`` answers, because it calls the
same views.  The folder is then a mirror an auditor reads with
``kokreativ verify ledger FOLDER`` (``provisioning.audit.sources.MirrorSource``),
the way an operator hands the log to an auditor without opening the server, and
the way the demo, the bench and the tests audit a data folder.  Full tiles never
change, so an export into an existing mirror writes only what it lacks.

The auditor reads only this published form; comparing the database with its
own log is the server's check (:mod:`server.verify`).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from protocol.tiles import claimed_size, tile_paths
from server import logviews
from server.context import ServerContext
from server.datadir import open_data_dir

CHECKPOINT: Final = "checkpoint"
BALANCES: Final = "v1/log/balances"
_TILE_PREFIX: Final = "tile/"


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What an export wrote: the checkpoint's size and how many tiles were written or already there."""

    folder: str
    size: int
    written: int
    kept: int

    def to_json(self) -> dict[str, Any]:
        return {"folder": self.folder, "size": self.size, "written": self.written, "kept": self.kept}


def _write(folder: Path, path: str, data: bytes) -> None:
    """Write ``folder/path`` whole or not at all (a temporary file renamed into place)."""
    target = folder / path
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_log(ctx: ServerContext, folder: Path) -> ExportResult:
    """Write the log of ``ctx`` into ``folder`` as a tile mirror (see the module docstring)."""
    folder = Path(folder)
    # Balances first, so their size is at most the checkpoint's, as over HTTP.
    balances = json.dumps(logviews.balances(ctx), separators=(",", ":")).encode()
    note = logviews.checkpoint(ctx)
    size = claimed_size(note)
    paths = list(tile_paths(size))
    written = 0
    for path in paths:
        if (folder / path).is_file():
            continue
        _write(folder, path, logviews.read_tile(ctx, path.removeprefix(_TILE_PREFIX)))
        written += 1
    _write(folder, CHECKPOINT, note)  # last: every tile of the checkpoint is there before it
    _write(folder, BALANCES, balances)
    return ExportResult(str(folder), size, written, len(paths) - written)


def export_tiles(data_dir: Path, folder: Path) -> ExportResult:
    """Open the data directory ``data_dir`` and export its log into ``folder`` (:func:`export_log`)."""
    with open_data_dir(data_dir) as ctx:
        return export_log(ctx, folder)
