"""Wiring: build every backend once from the config, run the tap loop, sync in the background.

A kiosk is in one of two modes, fixed by the enrolment code it was enrolled
with and stated by its trust list (:func:`kiosk_mode`): a **check-in** kiosk
(:class:`KioskService`, :func:`open_service`) records shifts; a **shop**
terminal (:class:`ShopService`, :func:`open_shop_service`) redeems tokens at
its till (:class:`terminal.shop.ShopTill`) and needs its screen, since what a
tap means depends on the till's state.  Both share one reader loop
(:class:`ReaderService`); opening the wrong one for a kiosk's mode raises
:class:`terminal.errors.ModeError`.

The tap loop (reader → :meth:`Kiosk.handle_tap`) runs in the foreground and
never waits for the network; after each recorded tap it sets ``wake`` so the
sync thread sends it soon.  The loop ends on SIGTERM/SIGINT (the caller sets
``stop``) or when the reader is exhausted (end of a tap script, logged as a
warning), in which case a final sync round is attempted so a scripted run
leaves nothing behind that the server could already take.

Shutdown on ``stop`` never waits for the network: the sync (daemon) thread
is joined for at most ``join_timeout_s``; a request still on the wire is
abandoned (its events stay pending in the outbox and go out on the next
start).  At the end of a script the round in flight may finish first.

Example::

    config = load_config(Path("/var/lib/kokreativ/kiosk.toml"))
    with open_service(config, stdin=sys.stdin, stdout=sys.stdout) as service:
        service.run(threading.Event())
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TextIO

from hardware.console import ConsoleIndicator
from hardware.indicator import Indicator
from hardware.reader import CardReader, ReaderStatus, Tap
from hardware.sdnotify import Watchdog
from hardware.simulated import ScriptedReader, SimulatedReader
from protocol import PrivateKey, Reason
from protocol.trust import TrustList
from terminal.clock import Clock, SystemClock
from terminal.config import INDICATORS, READERS, KioskConfig
from terminal.errors import ConfigError, ModeError, OutboxError, describe
from terminal.keystore import load_key
from terminal.outbox import Outbox
from terminal.shop import CardAtTill, CardRefused, ShopTill
from terminal.sync import SyncClient, SyncResult
from terminal.tap import Kiosk, Outcome, TapOutcome
from terminal.trust import TrustStore, TrustView

log = logging.getLogger(__name__)


def build_reader(name: str, config: KioskConfig, *, stdin: TextIO) -> CardReader:
    """The reader called ``name``: ``nfc`` (nfcpy at ``config.nfc_path``), ``stdin`` or ``sim``."""
    if name == "nfc":
        from hardware.nfc import NfcpyReader  # nfcpy only where it is used

        reader = NfcpyReader(config.nfc_path)
        reader.start()
        return reader
    if name == "stdin":
        return ScriptedReader(stdin)
    if name == "sim":
        return SimulatedReader()
    raise ConfigError(Reason.BAD_FIELD, f"unknown reader {name!r}; choose one of {', '.join(READERS)}")


def build_indicator(name: str, config: KioskConfig, *, stdout: TextIO) -> Indicator:
    """The indicator called ``name`` (``console`` or ``gpio`` on the configured pins)."""
    if name == "console":
        return ConsoleIndicator(stdout)
    if name == "gpio":
        from hardware.gpio import GpioIndicator  # gpiozero only where it is used

        return GpioIndicator(config.green_pin, config.red_pin, config.buzzer_pin)
    raise ConfigError(Reason.BAD_FIELD, f"unknown indicator {name!r}; choose one of {', '.join(INDICATORS)}")


class Mode(StrEnum):
    """What a kiosk is for, from its trust list (``docs/economy.md``, "Sites and shops")."""

    CHECK_IN = "check_in"
    SHOP = "shop"


def mode_of(trust: TrustList | None) -> Mode:
    """The mode a trust list gives; no list yet (every card is denied anyway) counts as check-in."""
    return Mode.SHOP if trust is not None and trust.is_shop else Mode.CHECK_IN


def kiosk_mode(config: KioskConfig) -> Mode:
    """The mode of the kiosk ``config`` describes, from the trust list in its outbox (which enrolment stores).

    Reads the outbox only; without one (not enrolled here yet) the kiosk counts as a check-in kiosk.
    """
    try:
        outbox = Outbox(config.outbox_path, create=False)
    except OutboxError:
        return Mode.CHECK_IN
    with outbox:
        return mode_of(
            TrustView(outbox, server_key=config.server_public_key, kiosk_id=config.kiosk_id).current()
        )


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


class ShopService(ReaderService):
    """The running shop terminal: the reader loop hands each card to the screen, which drives the till.

    A tap records nothing by itself: :meth:`ShopTill.present` checks the card and finds its
    balance, and ``on_card`` (called in this thread) passes the result to the screen, which
    decides what it means (the card to charge, a coordinator opening the menu, a tap to ignore).
    The screen calls :meth:`ShopTill.redeem` and :meth:`ShopTill.void` from its worker threads;
    each stored event wakes the sync thread.

    Example::

        with open_shop_service(config, stdin=sys.stdin, stdout=sys.stdout) as service:
            service.run(stop, on_card=screen.card_presented)
    """

    def __init__(
        self,
        *,
        till: ShopTill,
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
        self.till = till
        if till.on_recorded is None:
            till.on_recorded = self._wake.set
        self._on_card: Callable[[CardAtTill | CardRefused], None] | None = None

    def healthy(self) -> bool:
        return self.till.healthy()

    def show_status(self, healthy: bool) -> None:
        self.till.show_status(healthy)

    def run(
        self,
        stop: threading.Event,
        on_card: Callable[[CardAtTill | CardRefused], None] | None = None,
        *,
        watchdog: Watchdog | None = None,
    ) -> SyncResult | None:
        """Run until ``stop`` is set or the reader is exhausted; returns the final sync result, if any.

        ``on_card`` gets every tap, checked (:meth:`ShopTill.present`), in this thread.  ``watchdog``:
        only when this loop is the process's main loop, see :meth:`ReaderService._loop`.
        """
        self._on_card = on_card
        return self._loop(stop, watchdog)

    def _handle(self, tap: Tap) -> bool:
        card = self.till.present(tap)
        log.info("card at the till: %s", card)  # random card IDs and integers only
        if self._on_card is not None:
            try:
                self._on_card(card)
            except Exception as exc:  # the screen's trouble must not stop the reader
                log.warning("showing a card failed: %s", describe(exc))
        return False


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


def _log_outcome(outcome: TapOutcome) -> None:
    # Card IDs are random and carry nothing personal; the raw UID is never logged.
    level = logging.WARNING if outcome.kind is Outcome.ERROR else logging.INFO
    details = outcome.to_json()
    log.log(level, "tap %s %s", details.pop("kind"), details)


@dataclass
class _Parts:
    """The backends both modes build from the config."""

    key: PrivateKey
    outbox: Outbox
    reader: CardReader
    indicator: Indicator
    sync: SyncClient | None
    trust: TrustStore
    clock: Clock
    reader_name: str


@contextlib.contextmanager
def _open_parts(
    config: KioskConfig,
    *,
    stdin: TextIO,
    stdout: TextIO,
    reader: str | None,
    indicator: str | None,
    sync: bool,
    clock: Clock | None,
    mode: Mode,
) -> Iterator[_Parts]:
    """Build reader, indicator, clock, outbox, key and sync client once, and close them afterwards.

    Refuses (:class:`ModeError`) a kiosk whose trust list gives another ``mode``, before a reader opens.
    """
    with contextlib.ExitStack() as stack:
        key = load_key(config.key_path)
        outbox = Outbox(config.outbox_path)
        stack.callback(outbox.close)
        clock = clock or SystemClock()
        client: SyncClient | None = None
        if sync:  # the events' clock: a batch's clock sample must come from the same one
            client = stack.enter_context(SyncClient(config, outbox, key=key, clock=clock))
        # One verified, cached trust list for the tap path and the sync thread of this process.
        trust = (
            client.trust
            if client is not None
            else TrustStore(outbox, server_key=config.server_public_key, kiosk_id=config.kiosk_id)
        )
        actual = mode_of(trust.current())
        if actual is not mode:
            if actual is Mode.SHOP:
                raise ModeError(
                    "shop_terminal", "this kiosk is a shop terminal: it runs the till on its screen"
                )
            raise ModeError(Reason.NOT_A_SHOP, "this kiosk is a check-in kiosk, not a shop terminal")
        card_reader = build_reader(reader or config.reader, config, stdin=stdin)
        stack.callback(card_reader.close)
        if client is not None:  # this process's heartbeats carry the reader's health
            client.reader_status = lambda: card_reader.status.value
        ind = build_indicator(indicator or config.indicator, config, stdout=stdout)
        close_indicator: Callable[[], None] | None = getattr(ind, "close", None)
        if close_indicator is not None:
            stack.callback(close_indicator)
        yield _Parts(key, outbox, card_reader, ind, client, trust, clock, reader or config.reader)


def _button(
    stack: contextlib.ExitStack, config: KioskConfig, indicator: str | None, service: ReaderService
) -> None:
    if config.button_pin is not None and (indicator or config.indicator) == "gpio":
        from hardware.button import GpioButton  # only with GPIO hardware

        button = GpioButton(config.button_pin, on_press=service.button_pressed)
        stack.callback(button.close)


@contextlib.contextmanager
def open_service(
    config: KioskConfig,
    *,
    stdin: TextIO,
    stdout: TextIO,
    reader: str | None = None,
    indicator: str | None = None,
    sync: bool = True,
    clock: Clock | None = None,
) -> Iterator[KioskService]:
    """Build a check-in kiosk's backends once, and close them afterwards.

    ``reader`` and ``indicator`` override the config's choice (command-line flags).
    A shop terminal raises :class:`ModeError` (``shop_terminal``): use :func:`open_shop_service`.
    """
    with (
        contextlib.ExitStack() as stack,
        _open_parts(
            config,
            stdin=stdin,
            stdout=stdout,
            reader=reader,
            indicator=indicator,
            sync=sync,
            clock=clock,
            mode=Mode.CHECK_IN,
        ) as parts,
    ):
        kiosk = Kiosk(
            config=config,
            key=parts.key,
            outbox=parts.outbox,
            clock=parts.clock,
            indicator=parts.indicator,
            trust=parts.trust,
        )
        service = KioskService(
            kiosk=kiosk,
            reader=parts.reader,
            sync=parts.sync,
            reader_name=parts.reader_name,
            outbox=parts.outbox,
        )
        _button(stack, config, indicator, service)
        yield service


@contextlib.contextmanager
def open_shop_service(
    config: KioskConfig,
    *,
    stdin: TextIO,
    stdout: TextIO,
    reader: str | None = None,
    indicator: str | None = None,
    sync: bool = True,
    clock: Clock | None = None,
    online_timeout_s: float = 3.0,
) -> Iterator[ShopService]:
    """Build a shop terminal's backends and till once, and close them afterwards.

    The till always asks the server to authorise a redemption when it can: that is what keeps
    a shop from being overdrawn.  With ``sync`` the till and the background thread share one
    :class:`SyncClient` (one round at a time); without it (a separate ``kokreativ terminal sync``
    service syncs this outbox) the till has a client of its own that runs a round only while a
    redemption waits for its answer.  Two processes syncing one outbox is safe: the server
    answers a resent event as a duplicate, and each outbox update is one transaction.  A
    check-in kiosk raises :class:`ModeError` (``not_a_shop``).
    """
    with (
        contextlib.ExitStack() as stack,
        _open_parts(
            config,
            stdin=stdin,
            stdout=stdout,
            reader=reader,
            indicator=indicator,
            sync=sync,
            clock=clock,
            mode=Mode.SHOP,
        ) as parts,
    ):
        till_sync = parts.sync
        if till_sync is None:
            till_sync = stack.enter_context(
                SyncClient(config, parts.outbox, key=parts.key, clock=parts.clock)
            )
        till = ShopTill(
            config=config,
            key=parts.key,
            outbox=parts.outbox,
            clock=parts.clock,
            indicator=parts.indicator,
            trust=parts.trust,
            sync=till_sync,
            online_timeout_s=online_timeout_s,
        )
        service = ShopService(
            till=till,
            reader=parts.reader,
            sync=parts.sync,
            reader_name=parts.reader_name,
            outbox=parts.outbox,
        )
        _button(stack, config, indicator, service)
        yield service


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
