"""An indicator that writes one line per signal, for headless kiosks and tests.

Each signal is exactly one flushed line whose first word is ``OK``, ``DENIED``
or ``ERROR``.  Scripts (and the crash test) count these lines, and because the
kiosk signals only after a commit, every ``OK`` line stands for a stored tap.
"""

from __future__ import annotations

import threading
from typing import TextIO


class ConsoleIndicator:
    """Writes ``OK``, ``DENIED`` or ``ERROR`` lines to ``stream`` (e.g. ``sys.stdout``)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        # One lock so lines from the tap loop and any other thread never interleave.
        self._lock = threading.Lock()

    def _line(self, word: str) -> None:
        with self._lock:
            self._stream.write(word + "\n")
            self._stream.flush()

    def ok(self) -> None:
        self._line("OK")

    def denied(self) -> None:
        self._line("DENIED")

    def error(self) -> None:
        self._line("ERROR")
