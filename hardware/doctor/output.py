"""The doctor's report: text for a person, JSON for a script, and the exit code."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from hardware.doctor.findings import Finding, Status

_OK, _WARN, _FAIL = Status.OK, Status.WARN, Status.FAIL
_LABELS = {Status.OK: "OK", Status.WARN: "WARN", Status.FAIL: "FAIL"}


def worst(findings: Iterable[Finding]) -> Status:
    """The most serious status among ``findings`` (``ok`` for none)."""
    statuses = {f.status for f in findings}
    return _FAIL if _FAIL in statuses else _WARN if _WARN in statuses else _OK


def exit_code(findings: Iterable[Finding]) -> int:
    """0 when nothing failed (warnings allowed), 1 otherwise."""
    return 1 if worst(findings) is _FAIL else 0


def render(findings: Sequence[Finding]) -> str:
    """Human-readable report: one line per finding, its fix indented below, and a summary line.

    >>> print(render([Finding("uart_enabled", Status.OK, "the UART is enabled")]))
    OK    uart_enabled: the UART is enabled
    All 1 checks passed.
    """
    lines: list[str] = []
    for f in findings:
        lines.append(f"{_LABELS[f.status]:<4}  {f.check}: {f.message}")
        if f.fix:
            lines.extend(f"      {line}" if line else "" for line in f.fix.splitlines())
    failed = sum(f.status is _FAIL for f in findings)
    warned = sum(f.status is _WARN for f in findings)
    if failed:
        lines.append(
            f"{failed} failed, {warned} warnings: apply the fixes from the top, then run this again."
        )
    elif warned:
        lines.append(f"No failures, {warned} warnings.")
    else:
        lines.append(f"All {len(findings)} checks passed.")
    return "\n".join(lines)


def to_json(findings: Sequence[Finding]) -> str:
    """Machine-readable report: ``{"status": worst, "findings": [{check, status, message, fix}, …]}``."""
    data = {
        "status": worst(findings).value,
        "findings": [
            {"check": f.check, "status": f.status.value, "message": f.message, "fix": f.fix} for f in findings
        ],
    }
    return json.dumps(data, indent=2, ensure_ascii=False)
