"""The reader loop both modes share: taps in the caller's thread, sync in a daemon thread, and shutdown."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

from hardware.reader import CardReader, ReaderStatus, Tap
from hardware.sdnotify import Watchdog
from terminal.errors import describe
from terminal.outbox import Outbox
from terminal.sync import SyncClient, SyncResult

log = logging.getLogger("terminal.service")


class ReaderService:
    """The reader loop both modes share: taps in the caller's thread, an optional sync thread.

    Subclasses say what a tap means (:meth:`_handle`) and what the button shows (:meth:`healthy`,
    :meth:`show_status`).
    """

    def __init__(
        self,
        *,
        reader: CardReader,
        sync: SyncClient | None,
        reader_name: str | None = None,
        outbox: Outbox | None = None,
        poll_s: float = 0.5,
        join_timeout_s: float = 5.0,
    ) -> None:
        self.reader = reader
        self.sync = sync
        self.outbox = outbox  # for status screens; the core holds it too
        self.reader_name = reader_name or type(reader).__name__
        self._poll_s = poll_s  # how quickly the loop notices ``stop`` while nobody taps
        self._join_timeout_s = join_timeout_s  # how long shutdown waits for a sync round in flight
        self._wake = threading.Event()  # set: the sync thread starts a round now

    @property
    def wake(self) -> threading.Event:
        """Set to start this process's sync round at once: by a recorded tap, the button, "sync now".

        The sync thread clears it when a round begins, so a set event means a round is still wanted.
        """
        return self._wake

    def healthy(self) -> bool:
        """Whether the core is healthy (no alarm, a trust list); the button adds the reader's status."""
        raise NotImplementedError

    def show_status(self, healthy: bool) -> None:
        """Show a status check on the lights."""
        raise NotImplementedError

    def button_pressed(self) -> None:
        """The physical button: sync now, and show on the lights whether the kiosk is healthy.

        Healthy means the reader works, no alarm is set and a trust list is on disk
        (without one every card is denied).  Green for healthy, the error pattern
        otherwise; ``kokreativ terminal status`` says which.  Runs on gpiozero's thread.
        """
        self.sync_now()
        self.show_status(self.healthy() and self.reader.status is ReaderStatus.OK)

    def sync_now(self) -> None:
        """Ask for a sync round now (the button, the screen's "sync now"); any thread, never raises.

        The request goes through the outbox (:meth:`Outbox.request_sync`), so it reaches a
        separate ``kokreativ terminal sync`` service as well as this process's sync thread, and
        cuts a backoff short; the wake-up makes this process's own round start at once.
        """
        if self.outbox is not None:
            try:
                self.outbox.request_sync()
            except Exception as exc:  # a busy outbox: the next regular round comes anyway
                log.warning("could not ask for a sync round: %s", describe(exc))
        self._wake.set()

    def _handle(self, tap: Tap) -> bool:
        """Deal with one tap; True if it recorded an event (the sync thread is woken)."""
        raise NotImplementedError

    def _idle(self) -> None:
        """Called after each poll without a tap: a subclass's chance for quiet chores (never raises)."""

    def _note_reader_status(self) -> None:
        """Keep the reader's status in the outbox, where a separate sync process reads it for heartbeats."""
        if self.outbox is None:
            return
        try:
            self.outbox.record_reader_status(self.reader.status.value)
        except Exception as exc:  # a busy outbox: the next loop iteration tries again
            log.debug("could not note the reader's status: %s", describe(exc))

    def _loop(self, stop: threading.Event, watchdog: Watchdog | None = None) -> SyncResult | None:
        """Run until ``stop`` is set or the reader is exhausted; returns the final sync result, if any.

        With a ``watchdog`` (the headless kiosk under systemd) the loop says READY once it runs and
        pings on every iteration; the reader's poll timeout is cut to the watchdog's loop period, so a
        quiet reader still pings in time, and a tap that hangs stops the pings.  The sync thread
        never pings here: it is not the loop whose hang should restart the kiosk.
        """
        wake = self._wake
        poll_s = self._poll_s if watchdog is None else watchdog.loop_timeout(self._poll_s)
        sync_stop = threading.Event()
        thread: threading.Thread | None = None
        if self.sync is not None:
            thread = threading.Thread(
                target=self.sync.run_forever, args=(sync_stop, wake), name="kokreativ-sync", daemon=True
            )
            thread.start()
        try:
            if watchdog is not None:
                watchdog.ready()
            while not stop.is_set():
                if watchdog is not None:
                    watchdog.ping()
                self._note_reader_status()
                try:
                    tap = self.reader.wait_for_tap(timeout=poll_s)
                except Exception as exc:  # a reader fault must not end the kiosk; its status says why
                    log.warning("card reader '%s' failed: %s", self.reader_name, describe(exc))
                    stop.wait(poll_s)
                    continue
                if tap is None:
                    self._idle()
                    if self.reader.exhausted:
                        if not stop.is_set():  # a service that ends must say why
                            log.warning(
                                "card reader '%s' has no more taps (end of input); stopping", self.reader_name
                            )
                        break
                    continue
                if self._handle(tap):
                    wake.set()
        finally:
            if watchdog is not None:
                watchdog.stopping()
            sync_stop.set()
            wake.set()
            if thread is not None:
                # At the end of a script let a request in flight finish (the sync timeouts bound it), unless
                # a stop comes meanwhile; after a stop wait only ``join_timeout_s``.
                join_sync_thread(thread, stop, poll_s=self._poll_s, grace_s=self._join_timeout_s)
        if self.sync is None or stop.is_set() or (thread is not None and thread.is_alive()):
            return None
        # End of a tap script: one last round, which a SIGTERM (``stop``) ends between batches.
        result = self.sync.sync_once(stop)
        log.info("final sync: %s", result.to_json())
        return result


def join_sync_thread(
    thread: threading.Thread, stop: threading.Event, *, poll_s: float, grace_s: float
) -> bool:
    """Wait for the (daemon) sync ``thread`` until it ends or ``stop`` is set, then ``grace_s`` at most.

    Shutdown never waits for the network beyond ``grace_s``: a request still on
    the wire is abandoned and its events stay pending.  True if the thread ended.
    """
    while thread.is_alive() and not stop.is_set():
        thread.join(poll_s)
    thread.join(grace_s)
    if thread.is_alive():
        log.warning("sync still waiting for the server; not waiting longer, events stay pending")
        return False
    return True


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set ``stop`` on SIGTERM and SIGINT while inside the block (main thread only)."""

    def handler(signum: int, frame: object) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
