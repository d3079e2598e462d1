"""Build every backend once from the config, and close them afterwards: the two ``open_*`` entry points."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TextIO

from hardware.console import ConsoleIndicator
from hardware.indicator import Indicator
from hardware.reader import CardReader
from hardware.simulated import ScriptedReader, SimulatedReader
from protocol import PrivateKey, Reason
from terminal.clock import Clock, SystemClock
from terminal.config import INDICATORS, READERS, KioskConfig
from terminal.errors import ConfigError, ModeError
from terminal.keystore import load_key
from terminal.outbox import Outbox
from terminal.service.checkin import KioskService
from terminal.service.mode import Mode, mode_of
from terminal.service.reader import ReaderService
from terminal.service.shop import ShopService
from terminal.shop import ShopTill
from terminal.shop.staff import TillStaff
from terminal.sync import SyncClient
from terminal.tap import Kiosk
from terminal.trust import TrustStore


def build_reader(name: str, config: KioskConfig, *, stdin: TextIO, device: str | None = None) -> CardReader:
    """The reader called ``name``: ``nfc`` (nfcpy at ``device``, else the config's), ``stdin`` or ``sim``."""
    if name == "nfc":
        from hardware.nfc import NfcpyReader  # nfcpy only where it is used

        reader = NfcpyReader(device or config.device)
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
    device: str | None,
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
        card_reader = build_reader(reader or config.reader, config, stdin=stdin, device=device)
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
    device: str | None = None,
    indicator: str | None = None,
    sync: bool = True,
    clock: Clock | None = None,
) -> Iterator[KioskService]:
    """Build a check-in kiosk's backends once, and close them afterwards.

    ``reader``, ``device`` and ``indicator`` override the config's choice (command-line flags).
    A shop terminal raises :class:`ModeError` (``shop_terminal``): use :func:`open_shop_service`.
    """
    with (
        contextlib.ExitStack() as stack,
        _open_parts(
            config,
            stdin=stdin,
            stdout=stdout,
            reader=reader,
            device=device,
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
    device: str | None = None,
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
            device=device,
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
            staff=TillStaff(parts.outbox, server_key=config.server_public_key, kiosk_id=config.kiosk_id),
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
