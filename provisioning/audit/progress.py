"""A one-line progress bar on a terminal, hand-written so auditing needs no extra dependency.

It redraws at most ten times a second with ``\\r`` and ends with a newline.
A disabled bar does nothing, so callers need no ``if``.
"""

from __future__ import annotations

import time
from typing import TextIO


class ProgressBar:
    """``label [#####-----]  42%  84000/200000  23456/s`` on ``stream``."""

    def __init__(self, stream: TextIO, total: int, *, label: str = "auditing", enabled: bool = True) -> None:
        self._stream = stream
        self.total = max(total, 0)
        self._label = label
        self.enabled = enabled
        self._done = 0
        self._started = time.monotonic()
        self._drawn = 0.0

    def advance(self, count: int) -> None:
        self._done += count
        if self.enabled and time.monotonic() - self._drawn >= 0.1:
            self._draw()

    def _draw(self, width: int = 30) -> None:
        self._drawn = now = time.monotonic()
        fraction = min(1.0, self._done / self.total) if self.total else 1.0
        filled = int(fraction * width)
        rate = self._done / max(now - self._started, 1e-9)
        self._stream.write(
            f"\r{self._label} [{'#' * filled}{'-' * (width - filled)}] {fraction:4.0%}"
            f"  {self._done}/{self.total}  {rate:.0f}/s"
        )
        self._stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw()
            self._stream.write("\n")
            self._stream.flush()
            self.enabled = False
