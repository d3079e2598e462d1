"""Write the public log as files: the tiles an auditor would fetch, without HTTP.

:func:`export_log` writes, under the paths the server serves them at, the
latest ``checkpoint``, every tile of its tree (c2sp.org/tlog-tiles) and
``v1/log/totals``: byte for byte what ``GET`` answers, because it calls the
same views.  Nothing in it is about one person.  The folder is then a mirror an auditor reads with
``kokreativ verify ledger FOLDER`` (``provisioning.audit.sources.MirrorSource``),
the way an operator hands the log to an auditor without opening the server, and
the way the demo, the bench and the tests audit a data folder.  Full tiles never
change, so an export into an existing mirror writes only what it lacks.

The auditor reads only this published form; comparing the database with its
own log is the server's check (:mod:`server.verify`).

:func:`export_auditor` writes the designated auditor's material, what
``GET /v1/audit/balances`` and ``GET /v1/audit/openings`` answer, into a private folder (``0700``, files
``0600``): an operator hands it to the audit office beside the mirror
(``kokreativ verify ledger MIRROR --auditor-data DIR``).  It is personal data
under pseudonyms and never goes into the public mirror.
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
from server.openings import openings_jsonl
from server.totals import public_totals

CHECKPOINT: Final = "checkpoint"
TOTALS: Final = "v1/log/totals"
AUDITOR_BALANCES: Final = "balances.json"  # in the auditor's folder: GET /v1/audit/balances
AUDITOR_OPENINGS: Final = "openings.jsonl"  # and GET /v1/audit/openings' items, one per line
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


def _write(folder: Path, path: str, data: bytes, *, private: bool = False) -> None:
    """Write ``folder/path`` whole or not at all (a temporary file renamed into place).

    ``private``: the folder ``0700`` and the file ``0600`` (mkstemp's mode), for personal data.
    """
    target = folder / path
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700 if private else 0o777)
    if private:
        target.parent.chmod(0o700)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")  # mode 0600
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
    # Totals first, so their size is at most the checkpoint's, as over HTTP.
    totals = json.dumps(public_totals(ctx), separators=(",", ":")).encode()
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
    _write(folder, TOTALS, totals)
    (folder / "v1/log/balances").unlink(missing_ok=True)  # public before issue 17; personal data
    return ExportResult(str(folder), size, written, len(paths) - written)


def export_auditor(ctx: ServerContext, folder: Path) -> Path:
    """Write the auditor's material of ``ctx`` into the private ``folder``; return the balances' path.

    The openings first: a log only grows, so every entry the balances' size covers has its opening.
    """
    folder = Path(folder)
    _write(folder, AUDITOR_OPENINGS, openings_jsonl(ctx), private=True)
    _write(folder, AUDITOR_BALANCES, json.dumps(logviews.balances(ctx)).encode(), private=True)
    return folder / AUDITOR_BALANCES


def export_tiles(data_dir: Path, folder: Path, *, auditor: Path | None = None) -> ExportResult:
    """Open ``data_dir`` and export its log into ``folder`` (:func:`export_log`).

    With ``auditor``, also the auditor's material into that folder (:func:`export_auditor`),
    written first, so its size is at most the mirror's checkpoint's.
    """
    with open_data_dir(data_dir) as ctx:
        if auditor is not None:
            export_auditor(ctx, auditor)
        return export_log(ctx, folder)
