"""The world of the ``/ich`` browser tests and pictures: one server, three volunteers with a little history.

Ada worked a shift at site A and spent 5 tokens at the shop; Bob (site B) has
nothing yet; Carol is there to lose her card.  The server runs on the wall clock,
so console logins' TOTP codes work, and a test may still enrol a kiosk a while ago.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server_helpers import HOUR, MINUTE, Api, FakeClock
from server_shop_helpers import redeem

from protocol import EventKind
from server.app import create_app
from server.datadir import init_data_dir, open_data_dir
from server.runner import serve_in_thread
from tests.web.conftest import Console

PHONE = {"width": 390, "height": 844}


class WallClock(FakeClock):
    """The wall clock, which a test may shift (``Api.enrol_kiosk`` enrols a kiosk a while ago)."""

    def __init__(self) -> None:  # no fixed time: FakeClock's ``now`` becomes the wall clock plus an offset
        self.offset = 0

    @property  # type: ignore[override]
    def now(self) -> int:
        return int(time.time() * 1000) + self.offset

    @now.setter
    def now(self, value: int) -> None:
        self.offset = value - int(time.time() * 1000)


@dataclass
class World:
    console: Console
    ada: dict[str, Any]
    bob: dict[str, Any]
    carol: dict[str, Any]

    @property
    def url(self) -> str:
        return self.console.url


def _site(api: Api, name: str, kind: str = "checkin") -> str:
    body = {"name": name, "max_amount": 50} if kind == "shop" else {"name": name, "tokens_per_hour": 10}
    path = "/v1/admin/shops" if kind == "shop" else "/v1/admin/sites"
    return str(api.admin("POST", path, body, expect=201).json()["site_id"])


def me_world(folder: Path) -> Iterator[World]:
    """The server over a new data directory in ``folder``, with the three volunteers, until closed."""
    data = folder / "data"
    init = init_data_dir(data)
    clock = WallClock()
    with open_data_dir(data, now_ms=clock) as ctx, serve_in_thread(create_app(ctx)) as url:
        api = Api(url, init.admin_token, ctx, clock)
        try:
            site_a, site_b = _site(api, "Stadtteilzentrum Linden"), _site(api, "Nachbarschaftshaus List")
            shop = _site(api, "Bioladen Nordstadt", "shop")
            ada = api.create_card("Ada Lovelace", site_id=site_a)
            bob = api.create_card("Bob Baumann", site_id=site_b)
            carol = api.create_card("Carol Chen", site_id=site_a)
            kiosk, till = api.enrol_kiosk(site_a), api.enrol_kiosk(shop)
            now = clock.now
            shift = [
                kiosk.event(EventKind.CHECK_IN, ada["card_id"], now - 3 * HOUR),
                kiosk.event(EventKind.CHECK_OUT, ada["card_id"], now - HOUR),
            ]
            assert api.send(kiosk.kiosk_id, shift).status_code == 200
            _, spent = redeem(till, ada["card_id"], 5, wall_ms=now - 30 * MINUTE)
            assert api.send(till.kiosk_id, [spent]).json()["results"][0]["flags"] == []
            yield World(Console(url, ctx, api, site_a, site_b, shop), ada, bob, carol)
        finally:
            api.close()
