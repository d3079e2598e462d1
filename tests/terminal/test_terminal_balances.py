"""Balances at the kiosk: verified sheets from sync, kept per card, never turned back, read in one lookup."""

from __future__ import annotations

import dataclasses
import logging
import sqlite3

import pytest

from protocol import BalanceSheet, PrivateKey, ids, sign_balances
from terminal.keystore import load_key
from terminal.outbox import Outbox
from terminal.sync import SyncClient
from terminal.tap import Kiosk, Outcome
from terminal.trust import TrustStore
from tests.conftest import EnrolledKiosk, clock_from_now

CARD = ids.new_id(ids.CARD)
OTHER = ids.new_id(ids.UID_CARD)


def _sheet(config, as_of_ms: int, **balances: int) -> BalanceSheet:
    return BalanceSheet(kiosk=config.kiosk_id, as_of_ms=as_of_ms, balances=dict(balances))


# -- the outbox ------------------------------------------------------------------------------------


def test_nothing_known_is_none(outbox):
    assert outbox.balance(CARD) is None


def test_a_sheet_is_kept_per_card_and_survives_a_restart(outbox, config):
    assert outbox.save_balances(BalanceSheet(config.kiosk_id, 1000, {CARD: 66, OTHER: 0})) == 2
    assert (outbox.balance(CARD), outbox.balance(OTHER)) == ((66, 1000), (0, 1000))
    with Outbox(config.outbox_path) as again:
        assert again.balance(CARD) == (66, 1000)


def test_an_older_sheet_never_turns_a_balance_back(outbox, config):
    outbox.save_balances(BalanceSheet(config.kiosk_id, 2000, {CARD: 80}))
    # A late (or replayed) older sheet changes nothing it knows newer, but fills in what it does not.
    assert outbox.save_balances(BalanceSheet(config.kiosk_id, 1000, {CARD: 20, OTHER: 5})) == 1
    assert (outbox.balance(CARD), outbox.balance(OTHER)) == ((80, 2000), (5, 1000))
    assert outbox.save_balances(BalanceSheet(config.kiosk_id, 3000, {CARD: 95})) == 1
    assert outbox.balance(CARD) == (95, 3000)
    # The same server time again: the sheet applied last wins (the later batch of a round).
    assert outbox.save_balances(BalanceSheet(config.kiosk_id, 3000, {CARD: 96})) == 1
    assert outbox.balance(CARD) == (96, 3000)


def test_the_lookup_is_one_search_by_primary_key(outbox, config):
    outbox.save_balances(BalanceSheet(config.kiosk_id, 1, {CARD: 1}))
    conn = sqlite3.connect(config.outbox_path)
    try:
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT balance, as_of_ms FROM balances WHERE card_id = ?", (CARD,)
        ).fetchall()
    finally:
        conn.close()
    (step,) = plan
    assert "SEARCH balances USING INDEX" in step[-1] and "card_id=?" in step[-1]


def test_stored_balances_hold_only_card_ids_and_integers(outbox, config):
    outbox.save_balances(BalanceSheet(config.kiosk_id, 1, {CARD: 3}))
    conn = sqlite3.connect(config.outbox_path)
    try:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(balances)")]
        rows = conn.execute("SELECT * FROM balances").fetchall()
    finally:
        conn.close()
    assert columns == ["card_id", "balance", "as_of_ms"]
    assert rows == [(CARD, 3, 1)]


# -- sync against the fake ledger ------------------------------------------------------------------


def _sync(config, outbox, fake_ledger) -> None:
    with SyncClient(dataclasses.replace(config, server_url=fake_ledger.url), outbox) as client:
        result = client.sync_once()
    assert result.ok, result
    assert result.pending == 0  # the receipt is applied whatever became of the balances


def test_a_verified_sheet_is_stored_after_the_receipt(config, kiosk, outbox, card_tap, fake_ledger):
    card = ids.new_id(ids.CARD)
    kiosk.handle_tap(card_tap(card))
    fake_ledger.balances = {card: 42}
    _sync(config, outbox, fake_ledger)
    assert outbox.balance(card) == (42, fake_ledger.received_ms)


def test_an_answer_without_balances_stores_nothing(config, kiosk, outbox, card_tap, fake_ledger):
    card = ids.new_id(ids.CARD)
    kiosk.handle_tap(card_tap(card))
    _sync(config, outbox, fake_ledger)
    assert outbox.balance(card) is None


@pytest.mark.parametrize(
    ("spoil", "code"),
    [
        (lambda ledger, card: setattr(ledger, "balances_key", PrivateKey.generate()), "bad_signature"),
        (lambda ledger, card: setattr(ledger, "balances_kiosk", ids.new_id(ids.KIOSK)), "kiosk_mismatch"),
        (lambda ledger, card: setattr(ledger, "balances_wire", {"body": "", "sig": ""}), "bad_field"),
        (lambda ledger, card: setattr(ledger, "balances_wire", 7), "bad_field"),
        (
            lambda ledger, card: setattr(
                ledger, "balances_wire", sign_balances(BalanceSheet("Ada", 1, {card: 5}), ledger.receipt_key)
            ),
            "bad_field",
        ),
    ],
    ids=["other-key", "other-kiosk", "empty", "not-an-object", "signed-garbage"],
)
def test_a_sheet_that_does_not_verify_is_logged_and_ignored(
    config, kiosk, outbox, card_tap, fake_ledger, caplog, spoil, code
):
    card = ids.new_id(ids.CARD)
    kiosk.handle_tap(card_tap(card))
    fake_ledger.balances = {card: 1_000_000}
    spoil(fake_ledger, card)
    with caplog.at_level(logging.WARNING, logger="terminal.sync"):
        _sync(config, outbox, fake_ledger)
    assert outbox.balance(card) is None
    (warning,) = [r.getMessage() for r in caplog.records if "balance sheet" in r.getMessage()]
    assert warning.startswith(f"ignored the server's balance sheet: {code}: ")


# -- sync against the real server ------------------------------------------------------------------


def test_sync_against_the_real_server_stores_the_balance_after_a_paid_check_out(
    enrolled_kiosk: EnrolledKiosk, indicator
):
    config = enrolled_kiosk.config
    paid, other = enrolled_kiosk.card_ids[:2]
    clock = clock_from_now()
    with Outbox(config.outbox_path) as outbox:
        trust = TrustStore(outbox, server_key=config.server_public_key, kiosk_id=config.kiosk_id)
        kiosk = Kiosk(
            config=config,
            key=load_key(config.key_path),
            outbox=outbox,
            clock=clock,
            indicator=indicator,
            trust=trust,
        )
        with SyncClient(config, outbox) as client:
            assert client.sync_once().ok  # the trust list: the test issuer is trusted from now on
            assert kiosk.handle_tap(enrolled_kiosk.issuer.tap(paid)).kind is Outcome.CHECK_IN
            assert kiosk.handle_tap(enrolled_kiosk.issuer.tap(other)).kind is Outcome.CHECK_IN
            clock.advance(2 * 3600)
            assert kiosk.handle_tap(enrolled_kiosk.issuer.tap(paid)).kind is Outcome.CHECK_OUT
            result = client.sync_once()
        assert result.ok and result.acknowledged == 3, result
        balance, as_of_ms = outbox.balance(paid)  # 2 h at 10 tokens an hour
        assert balance == 20 and as_of_ms > 0
        assert outbox.balance(other) == (0, as_of_ms)  # checked in only: nothing paid yet
        assert outbox.balance(enrolled_kiosk.card_ids[2]) is None  # never tapped here
