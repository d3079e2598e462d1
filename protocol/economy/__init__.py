"""The economy's rules as pure functions: how taps, redemptions and decisions move tokens.

Both the server (inside its storage transaction) and the auditor (over an
in-memory book, replaying the published log) apply these very functions, so
the two cannot drift apart silently.  The rules read and write only through an
:class:`~protocol.economy.book.EconomyBook`; they do no I/O and import nothing
outside :mod:`protocol`.  ``docs/economy.md`` is the prose version.

Modules: :mod:`.models` (the values), :mod:`.book` (the book protocol),
:mod:`.clocks` (clock and card checks of an event), :mod:`.shifts` (taps into
paid shifts), :mod:`.redemptions` (``redeem`` and ``void``) and
:mod:`.decisions` (coordinator decisions) and :mod:`.undo` (a tap taken back at the kiosk).
"""

from protocol.earning import local_day, local_day_number
from protocol.economy.book import CardFacts, EconomyBook, RedemptionBook, ShiftBook
from protocol.economy.clocks import CLOCK_MAX_AHEAD_MS, CLOCK_MIN_MS, card_flags, clock_in_range
from protocol.economy.decisions import MAX_CLOCK_SKEW_MS, apply_decision
from protocol.economy.models import (
    Card,
    CardKind,
    CoordinatorStatus,
    IssuerKeyStatus,
    KioskStatus,
    LedgerEntry,
    PriorHours,
    Redemption,
    RedemptionStatus,
    Shift,
    ShiftStatus,
    Site,
    SiteKind,
    TapClock,
)
from protocol.economy.redemptions import apply_event
from protocol.economy.shifts import Payroll, Tap, apply_taps, in_review
from protocol.economy.undo import UNDO_MAX_MS, TapMark, undo_verdict
from protocol.errors import EconomyError

__all__ = [
    "CLOCK_MAX_AHEAD_MS",
    "CLOCK_MIN_MS",
    "MAX_CLOCK_SKEW_MS",
    "UNDO_MAX_MS",
    "Card",
    "CardFacts",
    "CardKind",
    "CoordinatorStatus",
    "EconomyBook",
    "EconomyError",
    "IssuerKeyStatus",
    "KioskStatus",
    "LedgerEntry",
    "Payroll",
    "PriorHours",
    "Redemption",
    "RedemptionBook",
    "RedemptionStatus",
    "Shift",
    "ShiftBook",
    "ShiftStatus",
    "Site",
    "SiteKind",
    "Tap",
    "TapClock",
    "TapMark",
    "apply_decision",
    "apply_event",
    "apply_taps",
    "card_flags",
    "clock_in_range",
    "in_review",
    "local_day",
    "local_day_number",
    "undo_verdict",
]
