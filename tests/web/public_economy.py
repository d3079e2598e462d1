"""A public economy with some history, for the public pages' browser tests and screenshots.

Five months (July to November 2025) are booked month by month on a server whose
clock the test moves, then the clock stands in December, so those months are
closed and published.  Linden has 6 volunteers and List 4 each month; Mitte has
exactly one (Olga): her site's figures must never show on a page.  Six
volunteers spend tokens at two shops.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from server_helpers import HOUR, MINUTE, Api, FakeClock, FakeKiosk
from server_shop_helpers import create_shop, redeem

from protocol import EventKind
from server.app import create_app
from server.datadir import init_data_dir, open_data_dir
from server.runner import serve_in_thread

MONTHS = (7, 8, 9, 10, 11)
NOW = int(datetime(2025, 12, 5, 10, 0, tzinfo=UTC).timestamp() * 1000)
OLGA_MINUTES = 97  # Olga's single shift each month: 1 h 37 min, a figure no page may show


@dataclass
class PublicEconomy:
    """The running server, its clock, and what the test needs to look for."""

    url: str
    api: Api
    lonely_site: str  # Mitte: one volunteer only
    lonely_site_name: str
    kiosk: FakeKiosk  # Linden's, to book one more shift
    card_id: str  # a Linden volunteer's card


def _send(api: Api, kiosk: FakeKiosk, events: list) -> None:  # type: ignore[type-arg]
    response = api.send(kiosk.kiosk_id, events)
    assert response.status_code == 200, response.text


def _site(api: Api, name: str) -> str:
    body = {"name": name, "tokens_per_hour": 10}
    return str(api.admin("POST", "/v1/admin/sites", body, expect=201).json()["site_id"])


def seed(api: Api) -> PublicEconomy:
    """Book five months of shifts and redemptions, each in its own month by the server's clock."""
    clock = api.clock
    clock.now = int(datetime(2025, 7, 1, 8, 0, tzinfo=UTC).timestamp() * 1000)
    sites = {
        name: _site(api, name) for name in ("Stadtteilzentrum Linden", "Nachbarschaftshaus List", "Mitte")
    }
    kiosks = {name: api.enrol_kiosk(site) for name, site in sites.items()}
    shops = [create_shop(api, name, max_amount=50) for name in ("Bioladen Nordstadt", "Fahrradwerkstatt")]
    tills = [api.enrol_kiosk(shop["site_id"]) for shop in shops]
    people = {
        "Stadtteilzentrum Linden": [
            api.create_card(f"Linden {i}", site_id=sites["Stadtteilzentrum Linden"]) for i in range(6)
        ],
        "Nachbarschaftshaus List": [
            api.create_card(f"List {i}", site_id=sites["Nachbarschaftshaus List"]) for i in range(4)
        ],
        "Mitte": [api.create_card("Olga", site_id=sites["Mitte"])],
    }
    for number, month in enumerate(MONTHS):
        clock.now = int(datetime(2025, month, 20, 16, 0, tzinfo=UTC).timestamp() * 1000)
        for name, cards in people.items():
            batch = []
            for i, card in enumerate(cards):
                minutes = OLGA_MINUTES if name == "Mitte" else 120 + 30 * ((i + month) % 4)
                start = clock.now - 6 * HOUR
                batch += [
                    kiosks[name].event(EventKind.CHECK_IN, card["card_id"], start),
                    kiosks[name].event(EventKind.CHECK_OUT, card["card_id"], start + minutes * MINUTE),
                ]
            _send(api, kiosks[name], batch)
        clock.now += HOUR
        for i, card in enumerate(people["Stadtteilzentrum Linden"]):
            till = tills[i % 2] if number else tills[0]
            _rid, event = redeem(till, card["card_id"], 5 + i + number, wall_ms=clock.now)
            _send(api, till, [event])
    clock.now = NOW
    linden = "Stadtteilzentrum Linden"
    return PublicEconomy(
        api.base_url, api, sites["Mitte"], "Mitte", kiosks[linden], people[linden][0]["card_id"]
    )


def running_public_economy(folder: Path) -> Iterator[PublicEconomy]:
    """A server over a fresh data folder with :func:`seed`'s economy, for as long as the caller needs it."""
    clock = FakeClock()
    init = init_data_dir(folder)
    with open_data_dir(folder, now_ms=clock) as ctx, serve_in_thread(create_app(ctx)) as url:
        api = Api(url, init.admin_token, ctx, clock)
        try:
            yield seed(api)
        finally:
            api.close()
