"""Shop mode: the same kiosk, enrolled with a shop's code, redeems tokens at a till.

:class:`ShopTill` is the core the screen codes against; the rules it follows
are ``docs/economy.md``, "Redeeming at a shop", and the offline arithmetic is
in :mod:`terminal.shop.rules`.  The reader loop for shop mode is
:class:`terminal.service.ShopService`.
"""

from terminal.shop.results import (
    CardAtTill,
    CardRefused,
    RecentRedemption,
    RedeemResult,
    TillOutcome,
    VoidResult,
)
from terminal.shop.rules import local_day, offline_allowed, offline_headroom
from terminal.shop.till import ShopTill, signal_of

__all__ = [
    "CardAtTill",
    "CardRefused",
    "RecentRedemption",
    "RedeemResult",
    "ShopTill",
    "TillOutcome",
    "VoidResult",
    "local_day",
    "offline_allowed",
    "offline_headroom",
    "signal_of",
]
