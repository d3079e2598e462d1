"""``demo --serve``'s past: six months of an economy at work before the story's day, for the public page.

The public page ``/`` publishes only closed months, by when the ledger booked
each entry, and only figures about enough people (:mod:`server.totals`).  The
story's day is two days ago, in the current month, so on its own it leaves the
page empty.  So before the story starts, ``demo --serve`` lets the server live
through the six calendar months before the story's month, on the story's clock
(:mod:`kokreativ.demo.ledger`), which it moves day by day: four other sites
with their kiosks, two shops with their tills, and their volunteers.  Everything
goes the real way: the cards are issued as ``card issue`` makes them (by a
coordinator of those sites, with an issuer key of their own), the kiosks tap
and sync each evening, the tills sell online.

The figures are made to show the page's rules: :data:`SITES` grow month by
month, and the community garden in Misburg has two volunteers only, so its
figures stay hidden in every month, and so does the next smallest site's
(secondary suppression).  The names are invented, as the story's are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Final

from hardware.indicator import RecordingIndicator
from hardware.reader import Tap
from kokreativ.demo.kiosk import tap_kiosk
from kokreativ.demo.ledger import StoryClock, ledger_server
from kokreativ.demo.script import TOKENS_PER_HOUR, StoryDay, wind_to
from protocol import PrivateKey
from provisioning.cards import issue_card
from provisioning.client import ApiClient
from terminal.clock import SimulatedClock
from terminal.config import KioskConfig
from terminal.enrol import enrol_kiosk
from terminal.keystore import create_key, load_key
from terminal.outbox import Outbox
from terminal.shop import CardAtTill, ShopTill, TillOutcome
from terminal.sync import SyncClient

MONTHS: Final = 6
# Invented names, as the story's: first names, then the story's made-up surnames.
FIRST: Final = ("Jona", "Kai", "Luca", "Mika", "Noa", "Robin", "Sam", "Toni", "Yuki", "Deniz", "Eike", "Enno")
LAST: Final = ("Beispiel", "Muster", "Probe", "Vorlage", "Exempel")


class HistoryFailed(Exception):
    """A step of the history did not go through: the public page would show made-up figures."""


@dataclass(frozen=True)
class PastSite:
    """A site of the past: its name, how many volunteers it has, and from which month on they work."""

    name: str
    volunteers: int
    first_month: int = 0  # index into the history's months: a site that opened later
    growing: bool = False  # starts with five volunteers and gains one a month


SITES: Final = (
    PastSite("Kulturtreff Nordstadt", 9, growing=True),
    PastSite("Stadtteilzentrum Ricklingen", 7),
    PastSite("Jugendtreff Vahrenheide", 5, first_month=2),
    PastSite("Gemeinschaftsgarten Misburg", 2),  # too few: hidden in every month
)
SHOPS: Final = ("Fahrradwerkstatt Nordstadt", "Unverpackt Ricklingen")
WORK_DAYS: Final = (8, 22)  # each month's two busy days (mid-month: far from any month's end in Berlin)
SHOP_DAY: Final = 24


@dataclass(frozen=True)
class Past:
    """What the six months left: figures for the story's line, and the months they cover."""

    months: tuple[str, ...]  # ``YYYY-MM``
    volunteers: int
    shifts: int
    redemptions: int


@dataclass
class _Place:
    """One site's or shop's terminal during the history, with its volunteers' cards as taps."""

    site: PastSite | None
    config: KioskConfig
    clock: SimulatedClock
    taps: list[Tap]


def months_before(day: StoryDay) -> list[dt.date]:
    """The first days of the :data:`MONTHS` calendar months before ``day``'s month, oldest first."""
    first = day.date.replace(day=1)
    out = []
    for _ in range(MONTHS):
        first = (first - dt.timedelta(days=1)).replace(day=1)
        out.append(first)
    return out[::-1]


def start_ms(day: StoryDay) -> int:
    """When the history begins: 07:00 (Europe/Berlin) on the first day of its first month."""
    return StoryDay(months_before(day)[0]).ms("07:00")


def active(site: PastSite, month: int) -> int:
    """How many of ``site``'s volunteers work in month ``month`` (0 is the oldest)."""
    if month < site.first_month:
        return 0
    return min(site.volunteers, 5 + month) if site.growing else site.volunteers


def live_history(
    workdir: Path, server_dir: Path, port: int, admin_token: str, clock: StoryClock, story: StoryDay
) -> Past:
    """Serve ``server_dir`` and book the six months before ``story``'s month on ``clock``.

    ``clock`` stands at :func:`start_ms` (or earlier); it ends on the last month's shop day.
    """
    with ledger_server(server_dir, port, clock) as url:
        return _history(workdir / "history", url, admin_token, clock, story)


def _history(folder: Path, url: str, admin_token: str, clock: StoryClock, story: StoryDay) -> Past:
    clock.move_to(start_ms(story))
    months = [StoryDay(first) for first in months_before(story)]
    places, shops = _set_up(folder, url, admin_token, clock)
    shifts = redemptions = 0
    for index, first in enumerate(months):
        for work_day in WORK_DAYS:
            day = StoryDay(first.date.replace(day=work_day))
            clock.move_to(day.ms("08:30"))
            worked = [(place, _work(place, index, day, work_day)) for place in places]
            shifts += sum(count for _, count in worked)
            clock.move_to(day.ms("18:00"))  # each kiosk that was used syncs that evening
            for place, count in worked:
                if count:
                    _sync(place, clock.now_ms())
        day = StoryDay(first.date.replace(day=SHOP_DAY))
        clock.move_to(day.ms("10:00"))
        for number, shop in enumerate(shops):
            redemptions += _sell(shop, _buyers(places, number, index), index, clock)
    names = tuple(first.date.strftime("%Y-%m") for first in months)
    return Past(names, sum(len(place.taps) for place in places), shifts, redemptions)


def _set_up(folder: Path, url: str, admin_token: str, clock: StoryClock) -> tuple[list[_Place], list[_Place]]:
    """The sites, their coordinator's issuer key, the cards, the kiosks, the shops and their tills."""
    issuer_key = create_key(folder / "issuer.key")
    places, shops = [], []
    serial = 0
    with ApiClient(url, admin_token=admin_token) as admin:
        admin.add_issuer_key(issuer_key.public_key.to_b64())
        for number, site in enumerate(SITES):
            site_id = admin.add_site(site.name, tokens_per_hour=TOKENS_PER_HOUR)["site_id"]
            taps = []
            for _ in range(site.volunteers):
                name = f"{FIRST[serial % len(FIRST)]} {LAST[serial // len(FIRST) % len(LAST)]}"
                uid = bytes([0x04, 0x60 + number, serial, 0x30, 0x40, 0x50, 0x60])
                taps.append(_card(admin, issuer_key, name, site_id, clock.now_ms() // 1000, uid))
                serial += 1
            code = admin.create_enrolment_code(site_id)["code"]
            config = _enrol(url, code, folder / f"kiosk-{number}")
            places.append(_Place(site, config, SimulatedClock(start_wall_ms=clock.now_ms()), taps))
        for number, name in enumerate(SHOPS):
            shop_id = admin.add_shop(name)["site_id"]
            code = admin.create_enrolment_code(shop_id)["code"]
            config = _enrol(url, code, folder / f"till-{number}")
            shops.append(_Place(None, config, SimulatedClock(start_wall_ms=clock.now_ms()), []))
    return places, shops


def _enrol(url: str, code: str, folder: Path) -> KioskConfig:
    _, config = enrol_kiosk(url, code, folder)
    return config


def _card(admin: ApiClient, issuer_key: PrivateKey, name: str, site_id: str, now_s: int, uid: bytes) -> Tap:
    """A card for ``name`` as ``card issue`` makes it, kept as the tap its tag would give."""
    written: list[bytes] = []

    def write(make: Callable[[Any], bytes]) -> None:
        written.append(bytes(make(SimpleNamespace(uid=uid))))

    issue_card(admin, issuer_key, write, name=name, site_id=site_id, now_s=now_s)
    return Tap(uid=uid, ndef=written[0])


def _work(place: _Place, month: int, day: StoryDay, work_day: int) -> int:
    """A busy day at ``place``: who works checks in and out at its kiosk; returns the number of shifts.

    On the first busy day of a month everyone active works, on the second about
    half of the two big sites' volunteers; shifts last 2 to 4 hours.  The kiosk
    syncs in the evening (:func:`_sync`).
    """
    site = place.site
    assert site is not None
    people = [
        i
        for i in range(active(site, month))
        if work_day == WORK_DAYS[0] or (site.volunteers > 5 and (i + month + work_day) % 2)
    ]
    taps: list[tuple[int, int]] = []
    for i in people:
        start = day.ms("09:00") + (i * 20 + month * 5) * 60_000
        minutes = 120 + 30 * ((i + month) % 5)
        taps += [(start, i), (start + minutes * 60_000, i)]
    with Outbox(place.config.outbox_path) as outbox:
        kiosk = tap_kiosk(place.config, outbox, place.clock, RecordingIndicator())
        for at, who in sorted(taps):
            wind_to(place.clock, at)
            kiosk.handle_tap(place.taps[who])
    return len(people)


def _sync(place: _Place, now_ms: int) -> None:
    """``place``'s kiosk syncs at ``now_ms``; :class:`HistoryFailed` unless everything went through."""
    wind_to(place.clock, now_ms)
    with (
        Outbox(place.config.outbox_path) as outbox,
        SyncClient(place.config, outbox, clock=place.clock) as client,
    ):
        synced = client.sync_once()
        if synced.error is not None or outbox.pending_count():
            name = place.site.name if place.site else "a till"
            raise HistoryFailed(f"{name}: {synced.error or 'events left unsent'}")


def _buyers(places: list[_Place], shop: int, month: int) -> list[Tap]:
    """Who spends tokens at shop number ``shop`` in ``month``: five or six volunteers of its district."""
    if shop == 0:  # the bicycle workshop: Nordstadt's volunteers, and Vahrenheide's once it is open
        nordstadt, vahrenheide = places[0], places[2]
        assert nordstadt.site is not None and vahrenheide.site is not None
        buyers = nordstadt.taps[: active(nordstadt.site, month)][month % 2 :][:5]
        return buyers + vahrenheide.taps[: active(vahrenheide.site, month)][:1]
    ricklingen = places[1]
    return ricklingen.taps[: 5 + month % 2]


def _sell(shop: _Place, buyers: list[Tap], month: int, clock: StoryClock) -> int:
    """``buyers`` at ``shop``'s till, online, one after the other; returns the number of sales."""
    wind_to(shop.clock, clock.now_ms())
    with (
        Outbox(shop.config.outbox_path) as outbox,
        SyncClient(shop.config, outbox, connect_timeout_s=1.0, clock=shop.clock) as sync,
    ):
        till = ShopTill(
            config=shop.config,
            key=load_key(shop.config.key_path),
            outbox=outbox,
            clock=shop.clock,
            indicator=RecordingIndicator(),
            trust=sync.trust,
            sync=sync,
            now_ms=lambda: shop.clock.now().wall_ms,
        )
        sync.sync_once()
        for i, tap in enumerate(buyers):
            clock.advance(600)
            wind_to(shop.clock, clock.now_ms())
            seen = till.present(tap)
            if not isinstance(seen, CardAtTill):
                raise HistoryFailed(f"a card refused at the till: {seen.reason}")
            result = till.redeem(seen, 8 + (i * 5 + month * 3) % 13 + 3 * month)  # more as balances grow
            if result.outcome is not TillOutcome.PAID:
                raise HistoryFailed(f"a sale at the till: {result.outcome} {result.reason}")
        sync.sync_once()
    return len(buyers)
