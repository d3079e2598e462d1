"""Audit a server's data folder the way an auditor can: through a mirror of its published tiles.

The auditor never reads the server's database; the server exports what it
serves (``server.logexport``) and the audit reads that folder.  The designated
auditor's material (balances; openings once the log is v2) goes into a private
folder beside it, :func:`auditor_folder`, read with :class:`FolderAuditor`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from protocol.note import NoteVerifier
from provisioning.audit import AuditOptions, AuditReport, MirrorSource, audit_ledger
from provisioning.audit.auditor import FolderAuditor
from server.logexport import export_tiles


def auditor_folder(mirror: Path) -> Path:
    """Where :func:`export_mirror` writes the auditor's material for ``mirror``."""
    return mirror.with_name(mirror.name + "-auditor")


def export_mirror(data_dir: Path, mirror: Path) -> Path:
    """Write the data folder's public log into ``mirror`` and the auditor's beside it; return ``mirror``."""
    export_tiles(data_dir, mirror, auditor=auditor_folder(mirror))
    return mirror


def auditor_of(mirror: Path) -> FolderAuditor:
    """The auditor's material :func:`export_mirror` wrote for ``mirror``."""
    return FolderAuditor(auditor_folder(mirror))


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
            list(verifiers),
            state_dir=work / "audit",
            keep_state=keep_state,
            workers=workers,
            auditor=auditor_of(mirror),
        )
        return audit_ledger(source, options)
    finally:
        source.close()
