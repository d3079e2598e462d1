"""Shifts and tokens: :mod:`protocol.economy.shifts` under its old name.

The pairing and paying rules moved to the protocol package so that an auditor
replaying the log applies the very same code without importing the server;
ingest calls them with its storage transaction as the book.
"""

from __future__ import annotations

from protocol.economy.shifts import (
    LEDGER_KIND_SHIFT,
    MS_PER_HOUR,
    MS_PER_MINUTE,
    UNSYNCED_TOLERANCE_MS,
    Payroll,
    Tap,
    apply_taps,
    in_review,
    shift_minutes,
    shift_tokens,
)
from protocol.economy.undo import LEDGER_KIND_UNDO

__all__ = [
    "LEDGER_KIND_SHIFT",
    "LEDGER_KIND_UNDO",
    "MS_PER_HOUR",
    "MS_PER_MINUTE",
    "UNSYNCED_TOLERANCE_MS",
    "Payroll",
    "Tap",
    "apply_taps",
    "in_review",
    "shift_minutes",
    "shift_tokens",
]
