"""The running shop terminal: each tap goes to the screen, which drives :class:`terminal.shop.ShopTill`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from hardware.reader import CardReader, Tap
from hardware.sdnotify import Watchdog
from terminal.errors import describe
from terminal.outbox import Outbox
from terminal.service.reader import ReaderService
from terminal.shop import CardAtTill, CardRefused, ShopTill
from terminal.sync import SyncClient, SyncResult

log = logging.getLogger("terminal.service")


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

    def _idle(self) -> None:
        """Carry out the voids the shop's owner asked for (:meth:`ShopTill.carry_out_void_requests`)."""
        try:
            done = self.till.carry_out_void_requests()
        except Exception as exc:  # the reader loop must go on; the next poll tries again
            log.warning("carrying out void requests failed: %s", describe(exc))
            return
        for redemption_id, result in done:
            log.info("void asked on the shop page for %s: %s", redemption_id, result)

    def _handle(self, tap: Tap) -> bool:
        card = self.till.present(tap)
        log.info("card at the till: %s", card)  # its repr names no card ID (terminal.shop.results)
        if self._on_card is not None:
            try:
                self._on_card(card)
            except Exception as exc:  # the screen's trouble must not stop the reader
                log.warning("showing a card failed: %s", describe(exc))
        return False
