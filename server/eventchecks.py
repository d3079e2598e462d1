"""What the server re-checks about every admitted event: :mod:`protocol.economy.clocks` under its old name.

The checks moved to the protocol package so that an auditor replaying the log
flags events with the very same code, without importing the server.
"""

from __future__ import annotations

from protocol.economy.clocks import CLOCK_MAX_AHEAD_MS, CLOCK_MIN_MS, card_flags, clock_in_range

__all__ = ["CLOCK_MAX_AHEAD_MS", "CLOCK_MIN_MS", "card_flags", "clock_in_range"]
