"""Auditing a kokreativ ledger, or any C2SP transparency log, from the outside.

* :func:`audit_ledger` (``kokreativ verify ledger``) re-checks a whole log
  from a server URL or a local mirror of its tiles: checkpoint signature,
  Merkle root, kept history, every event signature and hash chain, every
  coordinator decision's signature, the ``totals`` entries of a sealed log,
  and (a v1 log, or the designated auditor with its openings) the flags,
  shifts, redemptions and balances replayed with the economy rules
  (:mod:`protocol.economy`).
* :func:`mirror_log` (``kokreativ verify mirror``) copies a log's tiles into a
  folder, fetching only what it does not hold yet.
* :func:`check_checkpoint` and :func:`check_proof` (``kokreativ verify
  checkpoint`` / ``proof``) check one signed checkpoint or one tlog-proof
  offline, for any log that follows the C2SP specs.

Modules: :mod:`.ledger` runs an audit over a :mod:`.sources` source, with
:mod:`.tree` for roots, :mod:`.replay` for the rules (over the in-memory
ledger of :mod:`.book`; the facts it replays are checked by :mod:`.facts`,
decisions, clock references and server keys by :mod:`.signed`),
:mod:`.sealed` for a sealed log's openings and ``totals`` entries,
:mod:`.history` for kept checkpoints and
:mod:`.report` for the findings; :mod:`.mirror` copies a log's tiles;
:mod:`.offline` is the single-proof checks.  Errors are in :mod:`.errors`.
The auditor imports nothing of ours but :mod:`protocol`: it shares the rules
with the server, never its code or its database.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from provisioning.audit.errors import AuditError, SourceError, UsageError
    from provisioning.audit.ledger import (
        AuditOptions,
        KeyChoice,
        audit_ledger,
        choose_verifiers,
        default_workers,
    )
    from provisioning.audit.mirror import MirrorResult, mirror_log
    from provisioning.audit.offline import check_checkpoint, check_proof, parse_leaf_hash, parse_verifier_keys
    from provisioning.audit.progress import ProgressBar
    from provisioning.audit.report import AuditReport, Problem
    from provisioning.audit.sources import HttpSource, MirrorSource, open_source

# Imported on first use, so a worker process that needs only ``._worker`` starts light.
_HOMES = {
    "errors": ("AuditError", "SourceError", "UsageError"),
    "ledger": ("AuditOptions", "KeyChoice", "audit_ledger", "choose_verifiers", "default_workers"),
    "offline": ("check_checkpoint", "check_proof", "parse_leaf_hash", "parse_verifier_keys"),
    "progress": ("ProgressBar",),
    "report": ("AuditReport", "Problem"),
    "mirror": ("MirrorResult", "mirror_log"),
    "sources": ("HttpSource", "MirrorSource", "open_source"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "AuditError",
    "AuditOptions",
    "AuditReport",
    "HttpSource",
    "KeyChoice",
    "MirrorResult",
    "MirrorSource",
    "Problem",
    "ProgressBar",
    "SourceError",
    "UsageError",
    "audit_ledger",
    "check_checkpoint",
    "check_proof",
    "choose_verifiers",
    "default_workers",
    "mirror_log",
    "open_source",
    "parse_leaf_hash",
    "parse_verifier_keys",
]
