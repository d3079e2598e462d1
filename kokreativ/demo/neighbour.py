"""``demo --serve``'s extra act: a second site's day, so the console has more than one site to show.

The morning after the story's day the coordinator opens a second site with its
own kiosk; three volunteers work there that day, and one of them forgets to
check out, so the review queue holds a shift of each site.  It runs on the
story's clock like the other acts (:mod:`kokreativ.demo.ledger`): the server
enrols the kiosk before the taps it signs, and the kiosk syncs the same evening.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from hardware.indicator import RecordingIndicator
from hardware.reader import Tap
from kokreativ.demo.kiosk import tap_kiosk
from kokreativ.demo.ledger import StoryClock
from kokreativ.demo.script import TOKENS_PER_HOUR, StoryDay, wind_to
from protocol import PrivateKey
from provisioning.cards import IssuedCard, issue_card
from provisioning.client import ApiClient
from terminal.clock import SimulatedClock
from terminal.config import KioskConfig
from terminal.enrol import enrol_kiosk
from terminal.keystore import load_key
from terminal.outbox import Outbox
from terminal.sync import SyncClient

SECOND_SITE = "Nachbarschaftshaus List"
NEIGHBOURS = ("Dana Beispiel", "Eli Muster", "Fatma Probe")
OPENS = "08:30"
# (time, who): Dana 09:00–13:30, Eli 10:15–16:45, Fatma checks in at 08:45 and never checks out.
TAPS = (("08:45", 2), ("09:00", 0), ("10:15", 1), ("13:30", 0), ("16:45", 1))
SYNCS = "17:00"


@dataclass(frozen=True)
class SecondSite:
    """What the second site's day left: its ID, its volunteers' IDs, and its kiosk for today's check-in."""

    site_id: str
    volunteer_ids: tuple[str, ...]
    config: KioskConfig
    stickers: list[Tap]  # each card as the kiosk's reader sees it: its UID and NDEF message
    kiosk_clock: SimulatedClock


def second_site(
    workdir: Path, url: str, admin_token: str, day: StoryDay, clock: StoryClock, say: Any
) -> SecondSite:
    """Open :data:`SECOND_SITE` on ``day`` (at ``clock``'s time, which it moves on), work it, sync it."""
    clock.move_to(day.ms(OPENS))
    with ApiClient(url, admin_token=admin_token) as admin:
        site = admin.add_site(SECOND_SITE, tokens_per_hour=TOKENS_PER_HOUR)
        issuer_key = load_key(workdir / "coordinator" / "issuer.key")  # the demo coordinator's
        uids = [bytes([0x04, i + 1, 0x20, 0x20, 0x30, 0x40, 0x50]) for i in range(3)]
        issued = [
            _issue(admin, issuer_key, name, site["site_id"], clock.now_ms() // 1000, uid)
            for name, uid in zip(NEIGHBOURS, uids, strict=True)
        ]
        cards, stickers = [card for card, _ in issued], [tap for _, tap in issued]
        code = admin.create_enrolment_code(site["site_id"])["code"]
    _, config = enrol_kiosk(url, code, workdir / "kiosk-list")
    kiosk_clock = SimulatedClock(start_wall_ms=clock.now_ms())
    outbox = Outbox(config.outbox_path)
    try:
        kiosk = tap_kiosk(config, outbox, kiosk_clock, RecordingIndicator())
        for at, who in TAPS:
            wind_to(kiosk_clock, day.ms(at))
            kiosk.handle_tap(stickers[who])
        clock.move_to(day.ms(SYNCS))
        wind_to(kiosk_clock, day.ms(SYNCS))
        with SyncClient(config, outbox, clock=kiosk_clock) as client:
            synced = client.sync_once()
    finally:
        outbox.close()
    say(
        f"9. {day.date.isoformat()}: a second site, {SECOND_SITE!r}, with its kiosk; "
        f"{', '.join(name.split()[0] for name in NEIGHBOURS)} work there, Fatma forgets to check out "
        f"(synced: {synced.error or 'ok'})"
    )
    return SecondSite(
        site["site_id"], tuple(card.volunteer_id for card in cards), config, stickers, kiosk_clock
    )


def _issue(
    admin: ApiClient, issuer_key: PrivateKey, name: str, site_id: str, now_s: int, uid: bytes
) -> tuple[IssuedCard, Tap]:
    """A card for ``name`` as ``card issue`` makes it, kept as the tap its tag would give.

    Act 3 writes its cards through nfcpy onto emulated tags; these three only
    need to be tapped, so their credential goes straight into the tap.
    """
    written: list[bytes] = []

    def write(make: Callable[[Any], bytes]) -> None:
        written.append(bytes(make(SimpleNamespace(uid=uid))))

    card = issue_card(admin, issuer_key, write, name=name, site_id=site_id, now_s=now_s)
    return card, Tap(uid=uid, ndef=written[0])


def check_in_now(second: SecondSite, now_ms: int) -> bool:
    """Eli checks in at the second site's kiosk now (real time), which syncs at once; True if it did.

    So the console's overview has a check-in today and a shift under way.
    """
    wind_to(second.kiosk_clock, now_ms)
    outbox = Outbox(second.config.outbox_path)
    try:
        kiosk = tap_kiosk(second.config, outbox, second.kiosk_clock, RecordingIndicator())
        kiosk.handle_tap(second.stickers[1])
        with SyncClient(second.config, outbox, clock=second.kiosk_clock) as client:
            return client.sync_once().ok
    finally:
        outbox.close()
