"""The wall clock in milliseconds since the Unix epoch: the one helper every package uses.

Reading the clock is not the I/O that :mod:`protocol` keeps out: nothing here
decides with it.  The economy rules still take "now" as a parameter, so tests
pass a fixed time and a replay uses the log's times; callers that want a
settable clock take a ``now_ms`` callable defaulting to this one.
"""

from __future__ import annotations

import time


def now_ms() -> int:
    """Milliseconds since the Unix epoch, from the system's wall clock (not monotonic)."""
    return time.time_ns() // 1_000_000
