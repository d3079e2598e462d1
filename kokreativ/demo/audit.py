"""The demo's auditors: one with only the public log and its verifier key, and the designated auditor.

The public auditor sees the totals move when a forger pays someone in the
database; the designated auditor (the city's audit office, with the
auditor's material) also names whose balance it is.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from protocol.note import NoteVerifier
from provisioning.audit.auditor import FolderAuditor, HttpAuditor
from provisioning.audit.ledger import AuditOptions, audit_ledger
from provisioning.audit.report import AuditReport
from provisioning.audit.sources import HttpSource, MirrorSource


def public_audit(url: str, verifier_key: str, workdir: Path) -> AuditReport:
    """An auditor's view: only the public log and the published verifier key, no admin token."""
    return audit_ledger(
        HttpSource(url),
        AuditOptions(
            verifiers=[NoteVerifier.parse(verifier_key)],
            state_dir=workdir / "auditor",
            workers=1,
        ),
    )


def designated_audit(url: str, token: str, verifier_key: str, workdir: Path) -> AuditReport:
    """The designated auditor's view: the public log plus the openings and balances its token may read.

    It opens every event and card entry, replays the whole economy and compares
    each entry's totals and every balance with the server's, exactly.
    """
    auditor = HttpAuditor(url, token)
    try:
        return audit_ledger(
            HttpSource(url),
            AuditOptions(
                verifiers=[NoteVerifier.parse(verifier_key)],
                state_dir=workdir / "audit-office-state",
                workers=1,
                auditor=auditor,
            ),
        )
    finally:
        auditor.close()


def tamper_and_audit(
    server_dir: Path, volunteer_id: str, verifier_key: str, workdir: Path, say: Any, *, at_ms: int
) -> bool:
    """Play a dishonest operator who pays Chris 50 tokens in the database; True if the audit catches it.

    The forged row is dated ``at_ms``, the story's time: so on ``demo --serve``'s
    public page it falls in the open month, as a forgery made now would.
    """
    conn = sqlite3.connect(server_dir / "ledger.db")
    try:
        with conn:
            conn.execute(
                "INSERT INTO ledger_entries (volunteer_id, delta, kind, ref, created_ms) "
                "VALUES (?, 50, 'shift', ?, ?)",
                (volunteer_id, 10**9, at_ms),
            )
            # A careful forger keeps the stored balance in step with the entries.
            conn.execute(
                "INSERT INTO balances (volunteer_id, balance) VALUES (?, 50) "
                "ON CONFLICT (volunteer_id) DO UPDATE SET balance = balance + 50",
                (volunteer_id,),
            )
    finally:
        conn.close()
    from server.logexport import export_tiles  # the server's side: it publishes its tiles as files

    # The server publishes what its database now says; the auditor reads only that (here exported
    # to a mirror of the log's tiles, as `kokreativ server export-log` does, instead of over HTTP).
    # The audit office also gets the auditor's material (balances, openings), privately.
    mirror = export_tiles(server_dir, workdir / "log-mirror", auditor=workdir / "audit-office")
    source = MirrorSource(Path(mirror.folder))
    try:
        audit = audit_ledger(
            source,
            AuditOptions(
                verifiers=[NoteVerifier.parse(verifier_key)],
                state_dir=workdir / "auditor",
                workers=1,
                auditor=FolderAuditor(workdir / "audit-office"),
            ),
        )
    finally:
        source.close()
    say(
        "8. A dishonest operator pays Chris 50 tokens straight into the database; auditing the published log:"
    )
    for problem in audit.problems.shown[:3]:
        say(f"     {problem}")
    say(f"   {'caught' if not audit.ok else 'NOT caught'}")
    return not audit.ok
