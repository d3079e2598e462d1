"""Audit a server's data folder the way an auditor can: through a mirror of its published tiles.

The auditor never reads the server's database; the server exports what it
serves (``server.logexport``) and the audit reads that folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from protocol.note import NoteVerifier
from provisioning.audit import AuditOptions, AuditReport, MirrorSource, audit_ledger
from server.logexport import export_tiles


def export_mirror(data_dir: Path, mirror: Path) -> Path:
    """Write the data folder's public log into ``mirror`` (created or refreshed); return it."""
    export_tiles(data_dir, mirror)
    return mirror


def audit_data_folder(
    data_dir: Path,
    verifiers: Sequence[NoteVerifier],
    work: Path,
    *,
    workers: int = 1,
    keep_state: bool = True,
) -> AuditReport:
    """Export ``data_dir``'s log into ``work/mirror`` and audit it, keeping checkpoints in ``work/audit``."""
    mirror = export_mirror(data_dir, work / "mirror")
    source = MirrorSource(mirror)
    try:
        options = AuditOptions(
            list(verifiers), state_dir=work / "audit", keep_state=keep_state, workers=workers
        )
        return audit_ledger(source, options)
    finally:
        source.close()
