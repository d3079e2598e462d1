"""The running check-in kiosk: each tap is recorded by :class:`terminal.tap.Kiosk`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from hardware.reader import CardReader, Tap
from hardware.sdnotify import Watchdog
from terminal.errors import describe
from terminal.outbox import Outbox
from terminal.service.reader import ReaderService
from terminal.sync import SyncClient, SyncResult
from terminal.tap import Kiosk, Outcome, TapOutcome

log = logging.getLogger("terminal.service")


class KioskService(ReaderService):
    """The running check-in kiosk: a tap loop in the caller's thread and an optional sync thread."""

    def __init__(
        self,
        *,
        kiosk: Kiosk,
        reader: CardReader,
        sync: SyncClient | None,
        reader_name: str | None = None,
        outbox: Outbox | None = None,
        poll_s: float = 0.5,
        join_timeout_s: float = 5.0,
    ) -> None:
        super().__init__(
            reader=reader,
            sync=sync,
            reader_name=reader_name,
            outbox=outbox,
            poll_s=poll_s,
            join_timeout_s=join_timeout_s,
        )
        self.kiosk = kiosk
        self._on_outcome: Callable[[TapOutcome], None] | None = None

    def healthy(self) -> bool:
        return self.kiosk.healthy()

    def show_status(self, healthy: bool) -> None:
        self.kiosk.show_status(healthy)

    def run(
        self,
        stop: threading.Event,
        on_outcome: Callable[[TapOutcome], None] | None = None,
        *,
        watchdog: Watchdog | None = None,
    ) -> SyncResult | None:
        """Run until ``stop`` is set or the reader is exhausted; returns the final sync result, if any.

        ``on_outcome`` is called (in this thread) with every tap's outcome once it is committed and
        signalled: the screen hands it to its own thread from there.  ``watchdog``: only when this
        loop is the process's main loop (``--headless`` under systemd), see :meth:`_loop`.
        """
        self._on_outcome = on_outcome
        return self._loop(stop, watchdog)

    def _handle(self, tap: Tap) -> bool:
        outcome = self.kiosk.handle_tap(tap)
        _log_outcome(outcome)
        if self._on_outcome is not None:
            try:
                self._on_outcome(outcome)
            except Exception as exc:  # the screen's trouble must not stop the taps
                log.warning("showing a tap failed: %s", describe(exc))
        return outcome.seq is not None


def _log_outcome(outcome: TapOutcome) -> None:
    # No card ID and no UID: a journal of taps by card is a presence timeline (issue 17). The seq
    # finds the event in the outbox while it is there; the server knows the rest.
    level = logging.WARNING if outcome.kind is Outcome.ERROR else logging.INFO
    details = outcome.to_json()
    details.pop("card_id", None)
    log.log(level, "tap %s %s", details.pop("kind"), details)
