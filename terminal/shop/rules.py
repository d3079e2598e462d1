"""The offline rules of a shop terminal (``docs/economy.md``, "Offline"), as pure arithmetic.

A terminal that cannot ask the server accepts a redemption of ``amount`` for a
card only if all of these hold:

* ``amount`` is at most ``max_amount``;
* **card allowance:** ``pending + amount <= offline_allowance`` and
  ``confirmed - pending - amount >= -offline_allowance``, where ``confirmed``
  is the card's last balance the server confirmed to this terminal (0 for a
  card never seen here) and ``pending`` its redemptions here that no receipt
  covers yet;
* **terminal cap:** ``today + amount <= offline_daily_cap``, ``today`` being
  this terminal's offline redemptions on the local (Europe/Berlin) day.

All four bounds are linear in ``amount``, so they fold into one number, the
*headroom*: the largest amount that would be accepted now.  A redemption is
allowed exactly when ``1 <= amount <= headroom``.

Example::

    >>> limits = ShopLimits(max_amount=50, offline_allowance=10, offline_daily_cap=200, void_window_s=900)
    >>> offline_headroom(limits, confirmed=None, pending=4, today=0)
    6
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final
from zoneinfo import ZoneInfo

from protocol import ShopLimits

ZONE: Final = ZoneInfo("Europe/Berlin")  # the economy's local time (docs/economy.md)


def local_day(wall_ms: int) -> str:
    """The local (Europe/Berlin) calendar date of ``wall_ms`` as ``YYYY-MM-DD``: the daily cap's day."""
    return datetime.fromtimestamp(wall_ms / 1000, UTC).astimezone(ZONE).date().isoformat()


def offline_headroom(limits: ShopLimits, *, confirmed: int | None, pending: int, today: int) -> int:
    """The most a card may redeem offline now (0 when nothing); see the module docstring.

    ``confirmed`` is ``None`` for a card the server never confirmed to this terminal (counts as 0).
    """
    balance = 0 if confirmed is None else confirmed
    allowance = limits.offline_allowance
    return max(
        0,
        min(
            limits.max_amount,
            allowance - pending,
            balance - pending + allowance,
            limits.offline_daily_cap - today,
        ),
    )


def offline_allowed(
    limits: ShopLimits, amount: int, *, confirmed: int | None, pending: int, today: int
) -> bool:
    """Whether an offline redemption of ``amount`` is within every offline rule."""
    return 1 <= amount <= offline_headroom(limits, confirmed=confirmed, pending=pending, today=today)
