"""Earning rules, as the server pays shifts with them: :mod:`protocol.earning` under its old name.

The rules moved to the protocol package because kiosks estimate a shift with
the very same code (their trust list carries the site's rules).  The server
and its tests still import them from here.
"""

from __future__ import annotations

from protocol.earning import (
    MS_PER_DAY,
    MS_PER_MINUTE,
    ZONE,
    Bonus,
    EarningRules,
    capped,
    local_day,
    local_day_number,
    parse_bonuses,
    weight_at,
    weight_sum,
)

__all__ = [
    "MS_PER_DAY",
    "MS_PER_MINUTE",
    "ZONE",
    "Bonus",
    "EarningRules",
    "capped",
    "local_day",
    "local_day_number",
    "parse_bonuses",
    "weight_at",
    "weight_sum",
]
