"""Online redemptions for ``make bench``: the till's round trip, and how many the server settles per second.

``redeem_online_ms_median`` is what a volunteer waits for at the till once
they confirm: :meth:`terminal.shop.ShopTill.redeem` signs the ``redeem``
event, commits it to the outbox, syncs it over loopback HTTP (the server
checks the signature and chain, decides and debits in one durable
transaction, signs the receipt and balance sheet), verifies the answer and
stores it.  ``redeem_per_s`` runs several shop terminals at once, each
redeeming one after another, as tills do.

The floor under one redemption, measured in the same run, is one loopback
HTTP round trip (``GET /v1/health`` on a kept-alive connection) plus three
bare ``synchronous=FULL`` commits, because a redemption makes three durable
commits in a row (the terminal's event, the server's batch, the terminal's
receipt).  ``redeem_vs_floor`` is the median round trip over that floor; what
lies above it is signing and checking signatures, the log's checkpoint and
proofs, and JSON.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from hardware.cardrecord import credential_message
from hardware.indicator import RecordingIndicator
from hardware.reader import Tap
from protocol import PrivateKey, issue_credential
from provisioning.client import ApiClient
from terminal.clock import SimulatedClock
from terminal.config import KioskConfig
from terminal.enrol import enrol_kiosk
from terminal.keystore import load_key
from terminal.outbox import Outbox
from terminal.shop import CardAtTill, ShopTill, TillOutcome
from terminal.sync import SyncClient
from terminal.tap import Kiosk, Outcome
from terminal.trust import TrustStore

RICH_TOKENS_PER_HOUR = 1_000_000  # one hour at the check-in kiosk pays for every redemption timed here


@dataclass(frozen=True)
class RedeemFigures:
    online_ms: list[float]
    per_s: float
    commit_ms: float  # median bare durable commit
    http_ms: float  # median loopback round trip

    @property
    def floor_ms(self) -> float:
        return self.http_ms + 3 * self.commit_ms


def _rich_cards(url: str, admin: ApiClient, folder: Path, count: int) -> list[str]:
    """``count`` credentialed cards, each paid one hour at a check-in site with a very high rate."""
    issuer = PrivateKey.generate()
    admin.add_issuer_key(issuer.public_key.to_b64())
    site = admin.add_site("bench earning", tokens_per_hour=RICH_TOKENS_PER_HOUR)
    _, config = enrol_kiosk(url, admin.create_enrolment_code(site["site_id"])["code"], folder / "earn")
    now_s = int(time.time())
    cards, taps = [], []
    for i in range(count):
        card = admin.register_card(name=f"bench shopper {i}", site_id=site["site_id"])["card_id"]
        uid = bytes([4, 0x80 + i, 9, 8, 7, 6, 5])
        credential = issue_credential(
            issuer, card_id=card, uid=uid, valid_from_s=now_s - 86_400, valid_until_s=now_s + 86_400
        )
        cards.append(card)
        taps.append(Tap(uid=uid, ndef=credential_message(credential)))
    # From now on: the server holds shifts dated before the kiosk's enrolment (before_enrolment), and
    # takes kiosk times up to a day ahead of its clock.
    clock = SimulatedClock(start_wall_ms=int(time.time() * 1000))
    with Outbox(config.outbox_path) as outbox, SyncClient(config, outbox) as sync:
        trust = TrustStore(outbox, server_key=config.server_public_key, kiosk_id=config.kiosk_id)
        kiosk = Kiosk(
            config=config,
            key=load_key(config.key_path),
            outbox=outbox,
            clock=clock,
            indicator=RecordingIndicator(),
            trust=trust,
        )
        for tap in taps:
            if kiosk.handle_tap(tap).kind is not Outcome.CHECK_IN:
                raise RuntimeError("bench card did not check in")
        clock.advance(3600)
        for tap in taps:
            if kiosk.handle_tap(tap).kind is not Outcome.CHECK_OUT:
                raise RuntimeError("bench card did not check out")
        result = sync.sync_once()
        if not result.ok or result.pending:
            raise RuntimeError(f"bench earning did not sync: {result}")
    return cards


class _Terminal:
    """One enrolled shop terminal with its outbox, sync client and till, on the real clock."""

    def __init__(self, url: str, code: str, folder: Path) -> None:
        _, config = enrol_kiosk(url, code, folder)
        self.config: KioskConfig = config
        self.outbox = Outbox(config.outbox_path)
        self.sync = SyncClient(config, self.outbox)
        self.till = ShopTill(
            config=config,
            key=load_key(config.key_path),
            outbox=self.outbox,
            clock=SimulatedClock(start_wall_ms=int(time.time() * 1000)),
            indicator=RecordingIndicator(),
            trust=self.sync.trust,
            sync=self.sync,
        )

    def redeem_one(self, card_id: str) -> float:
        """Seconds for one online redemption of 1 token; raises unless the server debited it."""
        card = CardAtTill(card_id, balance=None, balance_as_of_ms=None, fresh=False, offline_headroom=0)
        started = time.perf_counter()
        result = self.till.redeem(card, 1)
        elapsed = time.perf_counter() - started
        if result.outcome is not TillOutcome.PAID:
            raise RuntimeError(f"bench redemption was not paid online: {result}")
        return elapsed

    def close(self) -> None:
        self.sync.close()
        self.outbox.close()


def _bare_commit_ms(folder: Path, samples: int) -> float:
    from bench.__main__ import BareCommit  # the same floor as tap_vs_commit

    floor = BareCommit(folder)
    try:
        return statistics.median(floor.timed() for _ in range(samples)) * 1000
    finally:
        floor.close()


def _http_round_trip_ms(url: str, samples: int) -> float:
    with requests.Session() as session:
        session.get(f"{url}/v1/health", timeout=10).raise_for_status()
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            session.get(f"{url}/v1/health", timeout=10).raise_for_status()
            times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def redeem_figures(
    url: str, admin: ApiClient, folder: Path, *, samples: int, terminals: int, per_terminal: int
) -> RedeemFigures:
    """Time ``samples`` online redemptions at one till, then ``terminals`` tills at once."""
    folder.mkdir(parents=True, exist_ok=True)
    cards = _rich_cards(url, admin, folder, terminals)
    shop = admin.add_shop("bench shop", max_amount=50)
    tills = [
        _Terminal(url, admin.create_enrolment_code(shop["site_id"])["code"], folder / f"till-{i}")
        for i in range(terminals)
    ]
    try:
        tills[0].redeem_one(cards[0])  # warm the connection and the server's caches
        online = [tills[0].redeem_one(cards[0]) * 1000 for _ in range(samples)]

        errors: list[BaseException] = []
        start = threading.Barrier(terminals + 1)

        def work(till: _Terminal, card_id: str) -> None:
            start.wait()
            try:
                for _ in range(per_terminal):
                    till.redeem_one(card_id)
            except BaseException as exc:  # reported after the join
                errors.append(exc)

        threads = [
            threading.Thread(target=work, args=(till, card)) for till, card in zip(tills, cards, strict=True)
        ]
        for thread in threads:
            thread.start()
        start.wait()
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
        if errors:
            raise errors[0]
    finally:
        for till in tills:
            till.close()
    return RedeemFigures(
        online_ms=online,
        per_s=terminals * per_terminal / elapsed,
        commit_ms=_bare_commit_ms(folder, samples),
        http_ms=_http_round_trip_ms(url, samples),
    )
