"""What every check returns: a :class:`Finding` with a :class:`Status`.

A module of its own because the checks (:mod:`~hardware.doctor.checks`,
:mod:`~hardware.doctor.uart`) and :mod:`~hardware.doctor.output` all need these
types; keeping them apart keeps the imports one-way, without cycles.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    """How a check came out; ``fail`` makes :func:`~hardware.doctor.output.exit_code` non-zero."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Finding:
    """One check's result: a stable ``check`` id, one line saying what was found, and the fix."""

    check: str
    status: Status
    message: str
    fix: str | None = None
