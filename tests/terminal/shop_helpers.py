"""Helpers shared by the shop terminal tests: shop trust lists, tills, an address where nothing listens."""

from __future__ import annotations

import dataclasses
import socket
from typing import Any

from hardware.indicator import RecordingIndicator
from protocol import PrivateKey, ShopLimits
from protocol.trust import TrustList
from terminal.clock import SimulatedClock
from terminal.config import KioskConfig
from terminal.outbox import Outbox
from terminal.shop import ShopTill
from terminal.sync import SyncClient
from tests.cardfactory import FixedTrust, TestIssuer

LIMITS = ShopLimits(max_amount=50, offline_allowance=10, offline_daily_cap=200, void_window_s=900)


def shop_trust(
    issuer: TestIssuer, config: KioskConfig, limits: ShopLimits = LIMITS, **kwargs: Any
) -> TrustList:
    """A trust list that makes ``config``'s kiosk a shop terminal with ``limits``, believing ``issuer``."""
    return dataclasses.replace(
        issuer.trust_list(kiosk=config.kiosk_id, site=config.site_id, **kwargs), shop=limits
    )


def dead_url() -> str:
    """A loopback URL where nothing listens: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def make_till(
    config: KioskConfig,
    key: PrivateKey,
    outbox: Outbox,
    clock: SimulatedClock,
    indicator: RecordingIndicator,
    trust: FixedTrust,
    *,
    server_url: str | None = None,
    **kwargs: Any,
) -> ShopTill:
    """A till; with ``server_url`` it syncs there (a dead one: every online attempt fails), else never."""
    sync = None
    if server_url is not None:
        config = dataclasses.replace(config, server_url=server_url)
        # The sync client notes its rounds by the same system clock the till judges them by.
        sync = SyncClient(config, outbox, connect_timeout_s=2.0, timeout_s=5.0, now_ms=kwargs.get("now_ms"))
    return ShopTill(
        config=config,
        key=key,
        outbox=outbox,
        clock=clock,
        indicator=indicator,
        trust=trust,
        sync=sync,
        **kwargs,
    )
