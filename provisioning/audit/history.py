"""The auditor's own memory: every checkpoint it has verified, kept to catch a rewritten history.

A log is append-only only if nobody can tell otherwise.  Each ``verify
ledger`` run keeps the checkpoint it verified in a state folder, one file per
``(size, root)``; the next run recomputes the root at each kept size from the
entries it reads and reports ``log_inconsistent`` if one differs or the log
got shorter.  The files are the signed notes, byte for byte, so they are
evidence anyone can check with the verifier key.

The default folder is ``$XDG_DATA_HOME/kokreativ/audit/<origin>/`` (else
``~/.local/share/…``), with the origin made safe as a file name.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from protocol.checkpoint import Checkpoint

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def sanitise_origin(origin: str) -> str:
    """``origin`` as one safe path element: ``ledger.example.org/v1`` → ``ledger.example.org_v1``."""
    name = _UNSAFE.sub("_", origin).strip(".")
    return name or "_"


def default_state_dir(origin: str) -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "kokreativ" / "audit" / sanitise_origin(origin)


@dataclass(frozen=True, slots=True)
class KeptCheckpoint:
    path: Path
    note: bytes


def _name(checkpoint: Checkpoint) -> str:
    return f"checkpoint-{checkpoint.size:012d}-{checkpoint.root_hash.hex()[:16]}"


def load_kept(folder: Path) -> list[KeptCheckpoint]:
    """Every checkpoint kept in ``folder``, smallest size first (none if the folder is new)."""
    if not folder.is_dir():
        return []
    return [KeptCheckpoint(path, path.read_bytes()) for path in sorted(folder.glob("checkpoint-*"))]


def keep(folder: Path, note: bytes, checkpoint: Checkpoint) -> Path:
    """Store ``note`` (already verified as ``checkpoint``) unless the same one is kept; atomic."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / _name(checkpoint)
    if path.exists() and path.read_bytes() == note:
        return path
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(note)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
