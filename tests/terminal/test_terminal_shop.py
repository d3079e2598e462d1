"""The shop till online, against the hand-written fake ledger; shop mode in the service and the CLI.

The fake ledger (``tests/terminal/conftest.py``) gives every newly accepted
event the flags in ``fake_ledger.flags`` and signs a balance sheet of
``fake_ledger.balances``; ``test_terminal_shop_server.py`` runs the same
till against the real server.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import sqlite3
import threading

import pytest

from hardware.indicator import RecordingIndicator
from protocol import EventKind, ids, sign_trust_list
from protocol.clock import now_ms
from terminal.cli import configure
from terminal.config import load_config, write_config
from terminal.errors import ModeError
from terminal.keystore import create_key
from terminal.outbox import Outbox
from terminal.redemptions import RedemptionState
from terminal.service import Mode, ShopService, kiosk_mode, open_service, open_shop_service
from terminal.shop import CardAtTill, CardRefused, ShopTill, TillOutcome
from terminal.sync import SyncClient
from terminal.tap import Kiosk, Outcome
from terminal.trust import TrustStore
from tests.cardfactory import FixedTrust, TestIssuer, uid_for
from tests.terminal.shop_helpers import LIMITS, make_till, shop_trust
from tests.terminal.terminal_helpers import recorded_events

ISSUER = TestIssuer()  # module-wide, so the scripts below can be written before the fixtures run


@pytest.fixture
def issuer() -> TestIssuer:
    return ISSUER


@pytest.fixture
def trust(issuer, config) -> FixedTrust:
    """A shop terminal's trust list (the fake ledger serves it too)."""
    return FixedTrust(shop_trust(issuer, config))


@pytest.fixture
def till(config, kiosk_key, outbox, clock, indicator, trust, fake_ledger) -> ShopTill:
    return make_till(config, kiosk_key, outbox, clock, indicator, trust, server_url=fake_ledger.url)


def _card(card_id: str | None = None) -> CardAtTill:
    """A card as :meth:`ShopTill.present` would return it (the fake ledger has no balance endpoint)."""
    return CardAtTill(card_id or ids.new_id(ids.CARD), None, None, fresh=False, offline_headroom=10)


# -- online -------------------------------------------------------------------------------------------


def test_online_paid_shows_the_new_balance_from_the_answers_sheet(
    till, fake_ledger, outbox, config, kiosk_key, indicator
):
    card = _card()
    fake_ledger.balances = {card.card_id: 37}
    result = till.redeem(card, 3)
    assert (result.outcome, result.reason) == (TillOutcome.PAID, None)
    assert (result.balance, result.balance_as_of_ms) == (37, fake_ledger.received_ms)
    assert indicator.signals == ["ok"]
    # The receipt covers the event, so the outbox dropped its opening: what it keeps is sealed.
    (kept,) = recorded_events(config, kiosk_key)
    assert (kept.version, kept.kind, kept.card) == (2, EventKind.SEALED, "")
    # The ledger opened it with the opening sent beside it: an online redemption of 3 for this card.
    event = fake_ledger.opened[1]
    assert event.ref == kept.ref and event.card == card.card_id
    assert (event.kind, event.data) == (
        EventKind.REDEEM,
        {"amount": 3, "id": result.redemption_id, "online": True},
    )
    assert outbox.event_result(1) is not None and outbox.event_result(1).flags == ()
    record = outbox.redemption(result.redemption_id)
    assert record is not None and record.state is RedemptionState.PAID
    assert outbox.pending_count() == 0


def test_online_declined_names_the_refusal_and_signs_no_fallback(
    till, fake_ledger, outbox, config, kiosk_key, indicator
):
    card = _card()
    fake_ledger.balances = {card.card_id: 2}
    fake_ledger.flags = ["insufficient_balance"]
    result = till.redeem(card, 3)
    assert (result.outcome, result.reason, result.balance) == (
        TillOutcome.DECLINED,
        "insufficient_balance",
        2,
    )
    assert indicator.signals == ["denied"]
    assert len(recorded_events(config, kiosk_key)) == 1
    record = outbox.redemption(result.redemption_id)
    assert record is not None and (record.state, record.reason) == (
        RedemptionState.DECLINED,
        "insufficient_balance",
    )
    assert [r.voidable for r in till.recent()] == [False]


def test_a_void_within_the_window_is_credited_online(till, fake_ledger, outbox):
    paid = till.redeem(_card(), 5)
    assert paid.outcome is TillOutcome.PAID
    result = till.void(paid.redemption_id)
    assert (result.ok, result.queued, result.reason) == (True, False, None)
    (listed,) = till.recent()
    assert (listed.state, listed.voidable) == ("voided", False)


def test_a_void_the_server_refuses_carries_its_flag(till, fake_ledger, outbox):
    paid = till.redeem(_card(), 5)
    fake_ledger.flags = ["void_too_late"]  # the server's clock disagrees with the till's
    result = till.void(paid.redemption_id)
    assert (result.ok, result.queued, result.reason) == (False, False, "void_too_late")
    record = outbox.redemption(paid.redemption_id)
    assert record is not None and (record.state, record.reason) == (
        RedemptionState.VOID_REFUSED,
        "void_too_late",
    )


def test_a_server_that_never_answers_in_time_means_the_offline_fallback(
    config, kiosk_key, outbox, clock, indicator, trust, silent_server
):
    till = make_till(
        config, kiosk_key, outbox, clock, indicator, trust, server_url=silent_server.url, online_timeout_s=0.3
    )
    result = till.redeem(_card(), 4)
    assert result.outcome is TillOutcome.PAID_OFFLINE
    assert silent_server.connected.is_set()
    kinds = [(e.kind, e.data["online"]) for e in recorded_events(config, kiosk_key)]
    assert kinds == [(EventKind.REDEEM, True), (EventKind.REDEEM, False)]
    assert till.knows_offline()


def test_a_lost_answer_then_the_fallback_is_already_redeemed_and_paid_once(
    config, kiosk_key, outbox, clock, indicator, trust, fake_ledger
):
    till = make_till(config, kiosk_key, outbox, clock, indicator, trust, server_url=fake_ledger.url)
    fake_ledger.lose_next_answers = 1  # the server stores the online redeem; its answer never arrives
    result = till.redeem(_card(), 4)
    assert result.outcome is TillOutcome.PAID_OFFLINE
    record = outbox.redemption(result.redemption_id)
    assert record is not None and record.state is RedemptionState.PAID_OFFLINE
    fake_ledger.flags = ["already_redeemed"]  # what the server says of the fallback
    with SyncClient(dataclasses.replace(config, server_url=fake_ledger.url), outbox) as client:
        assert client.sync_once().ok
    assert outbox.event_result(1) is not None and outbox.event_result(1).status == "duplicate"
    assert outbox.event_result(2) is not None and outbox.event_result(2).flags == ("already_redeemed",)
    record = outbox.redemption(result.redemption_id)
    assert record is not None and record.state is RedemptionState.PAID  # our own online one was debited


def test_a_till_round_does_not_wait_past_its_deadline_for_a_round_in_flight(
    config, kiosk_key, outbox, clock, indicator, trust, fake_ledger
):
    offline = make_till(config, kiosk_key, outbox, clock, indicator, trust)  # no sync: leaves one pending
    assert offline.redeem(_card(), 1).outcome is TillOutcome.PAID_OFFLINE
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        inside.set()
        release.wait(10)

    fake_ledger.on_request = hold
    with SyncClient(dataclasses.replace(config, server_url=fake_ledger.url), outbox) as client:
        background = threading.Thread(target=client.sync_once)
        background.start()
        try:
            assert inside.wait(10)
            assert client.sync_for_till(0.2) is None  # one round at a time: the lock is taken
        finally:
            release.set()
            background.join(10)
        assert not background.is_alive()
        assert outbox.pending_count() == 0


def test_only_redeem_and_void_results_are_kept(
    config, kiosk_key, outbox, clock, fake_ledger, card_tap, server_key
):
    checkin = FixedTrust(ISSUER.trust_list(kiosk=config.kiosk_id, site=config.site_id))
    kiosk = Kiosk(
        config=config,
        key=kiosk_key,
        outbox=outbox,
        clock=clock,
        indicator=RecordingIndicator(),
        trust=checkin,
    )
    assert kiosk.handle_tap(card_tap(ids.new_id(ids.CARD))).kind is Outcome.CHECK_IN
    with SyncClient(dataclasses.replace(config, server_url=fake_ledger.url), outbox) as client:
        assert client.sync_once().ok
    assert outbox.event_result(1) is None
    conn = sqlite3.connect(config.outbox_path)
    try:
        assert conn.execute("SELECT COUNT(*) FROM event_results").fetchone()[0] == 0
    finally:
        conn.close()


# -- the service and the CLI ----------------------------------------------------------------------------


@pytest.fixture
def stored_shop_trust(config, trust, server_key):
    """The outbox holds the shop's trust list, as after enrolment with a shop's code."""
    with Outbox(config.outbox_path) as outbox:
        TrustStore(outbox, server_key=server_key.public_key, kiosk_id=config.kiosk_id).store(
            sign_trust_list(trust.trust, server_key)
        )


@pytest.fixture
def config_path(config, kiosk_key, fake_ledger, tmp_path):
    path = tmp_path / "kiosk.toml"
    write_config(path, dataclasses.replace(config, server_url=fake_ledger.url))
    return path


CARD = ids.new_id(ids.CARD)
SCRIPT = f"{uid_for(CARD).hex()} {ISSUER.ndef(CARD).hex()}\ndeadbeef\n"


def test_the_shop_service_hands_each_checked_card_to_the_screen_and_records_nothing(
    stored_shop_trust, config_path
):
    config = load_config(config_path)
    assert kiosk_mode(config) is Mode.SHOP
    seen: list[CardAtTill | CardRefused] = []
    with open_shop_service(
        config, stdin=io.StringIO(SCRIPT), stdout=io.StringIO(), reader="stdin", sync=False
    ) as service:
        assert isinstance(service, ShopService) and service.till.limits == LIMITS
        assert service.run(threading.Event(), on_card=seen.append) is None
        assert service.outbox is not None and service.outbox.head()[0] == 0
    assert seen == [CardAtTill(CARD, None, None, False, 10), CardRefused("unknown_card")]


def test_each_mode_opens_only_its_own_service(stored_shop_trust, config_path, config, server_key, issuer):
    shop = load_config(config_path)
    with (
        pytest.raises(ModeError, match="shop_terminal"),
        open_service(shop, stdin=io.StringIO(), stdout=io.StringIO(), sync=False),
    ):
        pass
    checkin = dataclasses.replace(shop, data_dir=shop.data_dir / "checkin")
    checkin.data_dir.mkdir()
    create_key(checkin.key_path)
    with Outbox(checkin.outbox_path) as outbox:
        TrustStore(outbox, server_key=server_key.public_key, kiosk_id=config.kiosk_id).store(
            sign_trust_list(issuer.trust_list(kiosk=config.kiosk_id), server_key)
        )
    assert kiosk_mode(checkin) is Mode.CHECK_IN
    with (
        pytest.raises(ModeError, match="not_a_shop"),
        open_shop_service(checkin, stdin=io.StringIO(), stdout=io.StringIO(), sync=False),
    ):
        pass


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kokreativ terminal")
    configure(parser)
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_a_shop_terminal_will_not_run_headless(stored_shop_trust, config_path, monkeypatch, capsys):
    from kokreativ.cli import main

    monkeypatch.setattr("sys.stdin", io.StringIO(SCRIPT))
    assert main(["terminal", "run", "--headless", "--config", str(config_path), "--no-sync"]) != 0
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert "shop_terminal" in line and "without --headless" in line


def test_status_shows_the_mode_and_todays_offline_total_against_the_cap(
    stored_shop_trust, config_path, config, kiosk_key, clock, capsys
):

    from terminal.clock import SimulatedClock

    with Outbox(config.outbox_path) as outbox:
        now = SimulatedClock(now_ms())  # status counts the system's today
        till = make_till(
            config, kiosk_key, outbox, now, RecordingIndicator(), FixedTrust(shop_trust(ISSUER, config))
        )
        assert till.redeem(_card(), 7).outcome is TillOutcome.PAID_OFFLINE
    assert _main(["status", "--config", str(config_path)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["mode"] == "shop"
    assert status["shop"]["offline_today"]["total"] == 7
    assert (
        status["shop"]["offline_today"]["cap"]
        == LIMITS.offline_daily_cap
        == status["shop"]["offline_daily_cap"]
    )
    assert status["shop"]["max_amount"] == LIMITS.max_amount


def test_status_of_a_check_in_kiosk_says_so(config, config_path, server_key, issuer, capsys):
    with Outbox(config.outbox_path) as outbox:
        TrustStore(outbox, server_key=server_key.public_key, kiosk_id=config.kiosk_id).store(
            sign_trust_list(issuer.trust_list(kiosk=config.kiosk_id), server_key)
        )
    assert _main(["status", "--config", str(config_path)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["mode"], status["shop"]) == ("check_in", None)


def test_the_button_and_each_stored_event_wake_the_sync_side(config, kiosk_key, outbox, clock, trust, issuer):
    from hardware.simulated import SimulatedReader

    indicator = RecordingIndicator()
    till = make_till(config, kiosk_key, outbox, clock, indicator, trust)
    service = ShopService(till=till, reader=SimulatedReader(), sync=None, outbox=outbox)
    assert till.redeem(_card(), 2).outcome is TillOutcome.PAID_OFFLINE
    assert service.wake.is_set()
    service.wake.clear()
    service.button_pressed()
    assert service.wake.is_set() and indicator.signals == ["ok", "ok"]
    trust.trust = issuer.trust_list(kiosk=config.kiosk_id)  # no longer a shop: not healthy
    service.button_pressed()
    assert indicator.signals[-1] == "error"
