"""The demo's ledger server: the real app, in this process, on the story's clock.

The demo tells one day that has already happened (two days ago, in UTC, so
that its next morning has passed too), and the server must live through that
day as well.  A server on the real clock would
enrol the kiosk *today*, after every shift of the day it then receives, and
its kiosk limits (``protocol.economy.kiosklimits``) rightly hold such shifts as
``before_enrolment``.  So the demo runs the unchanged app
(:func:`server.app.create_app` served by uvicorn, as ``kokreativ server run``
does) on a :class:`StoryClock` through ``open_data_dir(now_ms=...)``, a seam
that exists for tests; no setting of the real server moves its clock.

The clock stands still until the demo moves it, and only forwards, so each
act's times read as one plausible day and the output is the same on every
run; the kiosk's and the till's simulated clocks are wound on with it
(:func:`kokreativ.demo.script.wind_to`), so their signed clock samples agree
with the server.  The window act at the end lets it follow the real clock,
which the window's kiosk reads.  Between :func:`ledger_server` blocks nothing listens on the port: the
"server is down" act is a real outage.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from protocol import clock as wall_clock


class StoryClock:
    """The demo server's clock in ms: it moves when the demo says, never backwards.

    After :meth:`go_live` it follows the real clock (and still never goes back),
    for the window's kiosk, which reads the real clock.
    """

    def __init__(self, start_ms: int) -> None:
        self._lock = threading.Lock()  # the server's threads read it while the demo moves it
        self._ms = start_ms
        self._live = False

    def now_ms(self) -> int:
        """The story's time now (what the server calls its clock)."""
        with self._lock:
            return self._now()

    def move_to(self, ms: int) -> None:
        """Move on to ``ms``; ``ValueError`` if that is earlier than now (a story that runs backwards)."""
        with self._lock:
            now = self._now()
            if ms < now:
                raise ValueError(f"the story's clock cannot go back from {now} to {ms}")
            self._ms = ms

    def _now(self) -> int:
        return max(self._ms, wall_clock.now_ms()) if self._live else self._ms

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        self.move_to(self.now_ms() + round(seconds * 1000))

    def go_live(self) -> None:
        """From now on follow the real clock (the story's day is in the past, so this moves forward)."""
        with self._lock:
            self._live = True


@contextmanager
def ledger_server(data_dir: Path, port: int, clock: StoryClock) -> Iterator[str]:
    """Serve ``data_dir`` on 127.0.0.1:``port`` at ``clock``'s time for the block; yield the base URL.

    On exit uvicorn stops, the socket closes and the ledger is closed, so the
    data folder can be edited or exported as after ``kokreativ server run`` stops.
    """
    # Here, not at the top: every ``kokreativ`` command imports the demo's CLI, and FastAPI is slow to load.
    from server.app import create_app
    from server.datadir import open_data_dir
    from server.runner import serve_in_thread

    with (
        open_data_dir(data_dir, now_ms=clock.now_ms) as context,
        serve_in_thread(create_app(context), port=port) as url,
    ):
        yield url
