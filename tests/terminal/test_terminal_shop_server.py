"""The shop till against the real ledger server on loopback (``kokreativ server run``).

A check-in kiosk earns two volunteers their tokens (10 an hour), a shop is
created with the admin API, a terminal is enrolled with one of its codes the
way ``enrolled_kiosk`` enrols a kiosk, and the till then redeems for real:
online, declined, with the server stopped, and with an answer that a proxy
loses on the way back.  What the server holds is read back from its balance
endpoint, so "debited exactly once" is the ledger's word, not the till's.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from hardware.indicator import RecordingIndicator
from protocol import EventKind
from protocol.clock import now_ms
from provisioning.enrol import enrol_kiosk
from terminal.clock import SimulatedClock
from terminal.config import KioskConfig
from terminal.keystore import load_key
from terminal.outbox import Outbox
from terminal.redemptions import RedemptionState
from terminal.service import open_shop_service
from terminal.shop import CardAtTill, ShopTill, TillOutcome
from terminal.sync import SyncClient
from terminal.tap import Outcome
from terminal.trust import TrustStore
from tests.conftest import EnrolledKiosk, ServerProcess, clock_from_now
from tests.terminal.terminal_helpers import recorded_events

HOUR_MS = 3_600_000


def _server_balance(server: ServerProcess, card_id: str) -> int:
    response = requests.get(
        f"{server.url}/v1/cards/{card_id}/balance",
        headers={"Authorization": f"Bearer {server.admin_token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return int(response.json()["balance"])


def _earn(enrolled: EnrolledKiosk, hours: list[float]) -> int:
    """Check each of the kiosk's first cards in and out at the check-in kiosk: ``hours[i]`` for card ``i``.

    The kiosk's clock starts now, after its enrolment; returns when it started.
    """
    config = enrolled.config
    clock = clock_from_now()
    started_ms = clock.wall_ms
    with Outbox(config.outbox_path) as outbox, SyncClient(config, outbox) as client:
        trust = TrustStore(outbox, server_key=config.server_public_key, kiosk_id=config.kiosk_id)
        kiosk = enrolled.tap_kiosk(outbox, clock, trust)
        for card_id, worked in zip(enrolled.card_ids, hours, strict=False):
            assert kiosk.handle_tap(enrolled.issuer.tap(card_id)).kind is Outcome.CHECK_IN
            clock.advance(worked * 3600)
            assert kiosk.handle_tap(enrolled.issuer.tap(card_id)).kind is Outcome.CHECK_OUT
            clock.advance(60)
        result = client.sync_once()
        assert result.ok and result.pending == 0, result
    return started_ms


# -- a proxy that loses answers ---------------------------------------------------------------------------


class _Proxy(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    upstream: str
    lose_post_answers: int
    lost: int
    requests: list[tuple[str, str]]


class _ProxyHandler(BaseHTTPRequestHandler):
    """Forwards every request to the server; for the next ``lose_post_answers`` POSTs, the answer is lost."""

    protocol_version = "HTTP/1.1"
    timeout = 10
    server: _Proxy

    def _forward(self, method: str) -> None:
        data = self.rfile.read(int(self.headers.get("Content-Length", "0"))) if method == "POST" else None
        self.server.requests.append((method, self.path.split("?")[0]))
        headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
        answer = requests.request(
            method, self.server.upstream + self.path, data=data, headers=headers, timeout=30
        )
        if method == "POST" and self.server.lose_post_answers > 0:
            self.server.lose_post_answers -= 1
            self.server.lost += 1
            self.close_connection = True  # the server did the work; its answer dies here
            return
        self.send_response(answer.status_code)
        self.send_header("Content-Type", answer.headers.get("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    def do_GET(self) -> None:
        self._forward("GET")

    def do_POST(self) -> None:
        self._forward("POST")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def proxy(server_process: ServerProcess) -> Iterator[_Proxy]:
    httpd = _Proxy(("127.0.0.1", 0), _ProxyHandler)
    httpd.upstream, httpd.lose_post_answers, httpd.lost, httpd.requests = server_process.url, 0, 0, []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="lossy-proxy")
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


# -- the shop and its terminal -------------------------------------------------------------------------------


@dataclass
class ShopTerminal:
    server: ServerProcess
    enrolled: EnrolledKiosk
    config: KioskConfig
    outbox: Outbox
    clock: SimulatedClock
    indicator: RecordingIndicator
    till: ShopTill

    @property
    def rich(self) -> str:
        return self.enrolled.card_ids[0]  # 20 tokens

    @property
    def poor(self) -> str:
        return self.enrolled.card_ids[1]  # 2 tokens

    def present(self, card_id: str) -> CardAtTill:
        seen = self.till.present(self.enrolled.issuer.tap(card_id))
        assert isinstance(seen, CardAtTill), seen
        return seen

    def sync(self) -> None:
        with SyncClient(self.config, self.outbox) as client:
            result = client.sync_once()
        assert result.ok and result.pending == 0, result


def _shop_terminal(
    server: ServerProcess, enrolled: EnrolledKiosk, folder: Path, *, server_url: str | None = None
) -> Iterator[ShopTerminal]:
    earned_from_ms = _earn(enrolled, [2, 0.2])
    with server.admin() as admin:
        shop = admin.request("POST", "/v1/admin/shops", {"name": "Laden", "offline_allowance": 10})
        code = admin.create_enrolment_code(shop["site_id"])["code"]
    _, config = enrol_kiosk(server_url or server.url, code, folder)
    clock = SimulatedClock(earned_from_ms + 4 * HOUR_MS)  # the shop opens after both shifts ended
    indicator = RecordingIndicator()
    with Outbox(config.outbox_path) as outbox, SyncClient(config, outbox) as sync:
        assert sync.trust.current() is not None and sync.trust.current().is_shop  # from the enrolment
        till = ShopTill(
            config=config,
            key=load_key(config.key_path),
            outbox=outbox,
            clock=clock,
            indicator=indicator,
            trust=sync.trust,
            sync=sync,
        )
        yield ShopTerminal(server, enrolled, config, outbox, clock, indicator, till)


@pytest.fixture
def shop(server_process, enrolled_kiosk, tmp_path) -> Iterator[ShopTerminal]:
    yield from _shop_terminal(server_process, enrolled_kiosk, tmp_path / "shop")


@pytest.fixture
def proxied_shop(server_process, enrolled_kiosk, tmp_path, proxy) -> Iterator[ShopTerminal]:
    url = f"http://127.0.0.1:{proxy.server_address[1]}"
    yield from _shop_terminal(server_process, enrolled_kiosk, tmp_path / "shop", server_url=url)


# -- online --------------------------------------------------------------------------------------------------


def test_online_paid_with_the_new_balance(shop: ShopTerminal):
    card = shop.present(shop.rich)
    assert (card.balance, card.fresh, card.offline_headroom) == (20, True, 10)
    result = shop.till.redeem(card, 5)
    assert (result.outcome, result.reason, result.balance) == (TillOutcome.PAID, None, 15)
    assert _server_balance(shop.server, shop.rich) == 15
    assert shop.indicator.signals == ["ok"]
    assert shop.outbox.pending_count() == 0
    assert shop.present(shop.rich).balance == 15


def test_online_declined_for_insufficient_balance_moves_nothing(shop: ShopTerminal):
    card = shop.present(shop.poor)
    assert card.balance == 2
    result = shop.till.redeem(card, 5)
    assert (result.outcome, result.reason, result.balance) == (
        TillOutcome.DECLINED,
        "insufficient_balance",
        2,
    )
    assert _server_balance(shop.server, shop.poor) == 2
    assert [(r.state, r.voidable) for r in shop.till.recent()] == [("declined", False)]


def test_the_server_decides_what_the_terminal_cannot_know(shop: ShopTerminal):
    with shop.server.admin() as admin:
        admin.block_card(shop.rich)
    shop.clock.set_wall(now_ms() + 1000)  # after the block, by the server's clock
    card = shop.present(shop.rich)  # the terminal's trust list does not know the block yet
    result = shop.till.redeem(card, 1)
    assert (result.outcome, result.reason) == (TillOutcome.DECLINED, "card_blocked")
    assert _server_balance(shop.server, shop.rich) == 20


# -- offline -------------------------------------------------------------------------------------------------


def test_server_stopped_midway_paid_offline_then_debited_exactly_once(shop: ShopTerminal):
    card = shop.present(shop.rich)
    assert card.fresh
    shop.server.stop()  # the volunteer confirms; meanwhile the server went away
    result = shop.till.redeem(card, 6)
    assert (result.outcome, result.balance) == (TillOutcome.PAID_OFFLINE, None)  # never confirmed here
    assert shop.present(shop.rich).offline_headroom == 4
    shop.server.start()
    shop.sync()
    assert _server_balance(shop.server, shop.rich) == 14
    record = shop.outbox.redemption(result.redemption_id)
    assert record is not None and record.state is RedemptionState.PAID
    assert shop.present(shop.rich).offline_headroom == 10  # confirmed 14, nothing pending


def test_a_lost_online_answer_falls_back_with_the_same_id_and_is_debited_once(
    proxied_shop: ShopTerminal, proxy: _Proxy
):
    shop = proxied_shop
    card = shop.present(shop.rich)
    assert card.fresh and card.balance == 20
    proxy.lose_post_answers = 1
    result = shop.till.redeem(card, 4)
    assert result.outcome is TillOutcome.PAID_OFFLINE and proxy.lost == 1
    assert _server_balance(shop.server, shop.rich) == 16  # the online redeem got through
    events = recorded_events(shop.config, load_key(shop.config.key_path))
    assert [(e.kind, e.data["id"], e.data["online"]) for e in events] == [
        (EventKind.REDEEM, result.redemption_id, True),
        (EventKind.REDEEM, result.redemption_id, False),
    ]
    shop.sync()
    assert _server_balance(shop.server, shop.rich) == 16  # and the fallback moved nothing
    fallback = shop.outbox.event_result(events[1].seq)
    assert fallback is not None and fallback.flags == ("already_redeemed",)
    record = shop.outbox.redemption(result.redemption_id)
    assert record is not None and record.state is RedemptionState.PAID


# -- voids ---------------------------------------------------------------------------------------------------


def test_a_void_within_the_window_is_credited(shop: ShopTerminal):
    paid = shop.till.redeem(shop.present(shop.rich), 5)
    assert paid.outcome is TillOutcome.PAID and _server_balance(shop.server, shop.rich) == 15
    shop.clock.advance(60)
    (listed,) = shop.till.recent()
    assert (listed.redemption_id, listed.state, listed.voidable) == (paid.redemption_id, "paid", True)
    result = shop.till.void(paid.redemption_id)
    assert (result.ok, result.queued, result.reason) == (True, False, None)
    assert _server_balance(shop.server, shop.rich) == 20
    assert [(r.state, r.voidable) for r in shop.till.recent()] == [("voided", False)]


def test_a_void_queued_offline_is_credited_after_sync(shop: ShopTerminal):
    paid = shop.till.redeem(shop.present(shop.rich), 5)
    assert paid.outcome is TillOutcome.PAID
    shop.server.stop()
    result = shop.till.void(paid.redemption_id)
    assert (result.ok, result.queued, result.reason) == (False, True, None)
    assert [r.state for r in shop.till.recent()] == ["void_pending"]
    shop.server.start()
    shop.sync()
    assert _server_balance(shop.server, shop.rich) == 20
    assert [r.state for r in shop.till.recent()] == ["voided"]


def test_with_no_background_sync_the_till_still_asks_the_server(shop: ShopTerminal):
    """``terminal run --no-sync`` (a separate sync service) must not turn the till into an offline till."""
    with open_shop_service(
        shop.config, stdin=io.StringIO(), stdout=io.StringIO(), reader="stdin", sync=False, clock=shop.clock
    ) as service:
        seen = service.till.present(shop.enrolled.issuer.tap(shop.poor))
        assert isinstance(seen, CardAtTill) and seen.fresh
        declined = service.till.redeem(seen, 5)
        paid = service.till.redeem(seen, 1)
    assert (declined.outcome, declined.reason) == (TillOutcome.DECLINED, "insufficient_balance")
    assert paid.outcome is TillOutcome.PAID
    assert _server_balance(shop.server, shop.poor) == 1


def test_the_till_asks_a_kiosk_signed_balance_query_not_the_public_card_route(proxied_shop, proxy):
    """The balance before a sale comes from POST /v1/kiosks/{id}/balance, signed and tied to this tap."""
    card = proxied_shop.present(proxied_shop.rich)
    assert (card.balance, card.fresh) == (20, True)
    kiosk_id = proxied_shop.config.kiosk_id
    assert ("POST", f"/v1/kiosks/{kiosk_id}/balance") in proxy.requests
    assert not [path for _, path in proxy.requests if path.startswith("/v1/cards/")]
