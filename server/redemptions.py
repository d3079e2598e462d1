"""Redemptions and voids at shops: :mod:`protocol.economy.redemptions` under its old name.

The rules moved to the protocol package so that an auditor replaying the log
applies the very same code without importing the server; ingest calls them
with its storage transaction as the book.
"""

from __future__ import annotations

from protocol.economy.book import CardFacts, RedemptionBook
from protocol.economy.redemptions import (
    LEDGER_KIND_REDEEM,
    LEDGER_KIND_VOID,
    SHOP_EVENT_KINDS,
    apply_event,
    redeem,
    void,
)

__all__ = [
    "LEDGER_KIND_REDEEM",
    "LEDGER_KIND_VOID",
    "SHOP_EVENT_KINDS",
    "CardFacts",
    "RedemptionBook",
    "apply_event",
    "redeem",
    "void",
]
