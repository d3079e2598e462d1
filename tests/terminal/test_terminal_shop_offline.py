"""The shop till with no server: the offline rules of docs/economy.md on a real outbox.

Every till here either has no sync client (``--no-sync``: it always decides
offline) or one aimed at a loopback port where nothing listens, so the first
online attempt fails at once and the till falls back with the same ID.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hardware.indicator import RecordingIndicator
from hardware.reader import Tap
from protocol import BalanceSheet, EventKind, ShopLimits, ids, sign_event
from terminal.clock import SimulatedClock
from terminal.config import KioskConfig
from terminal.errors import ModeError, OutboxError
from terminal.keystore import create_key
from terminal.outbox import Outbox
from terminal.redemptions import RedemptionState
from terminal.shop import CardAtTill, CardRefused, ShopTill, TillOutcome, local_day
from tests.cardfactory import FixedTrust, TestIssuer
from tests.terminal.conftest import ORIGIN, START_MS
from tests.terminal.shop_helpers import LIMITS, dead_url, make_till, shop_trust
from tests.terminal.terminal_helpers import recorded_events


@pytest.fixture
def trust(issuer, config) -> FixedTrust:
    return FixedTrust(shop_trust(issuer, config))


@pytest.fixture
def till(config, kiosk_key, outbox, clock, indicator, trust) -> ShopTill:
    """A till that never talks to a server: every redemption is decided offline."""
    return make_till(config, kiosk_key, outbox, clock, indicator, trust)


def _card(till: ShopTill, issuer: TestIssuer, card_id: str | None = None) -> CardAtTill:
    seen = till.present(issuer.tap(card_id or ids.new_id(ids.CARD)))
    assert isinstance(seen, CardAtTill), seen
    return seen


def _confirm(outbox: Outbox, config, card_id: str, balance: int, as_of_ms: int = START_MS) -> None:
    outbox.save_balances(BalanceSheet(config.kiosk_id, as_of_ms, {card_id: balance}))


# -- the card allowance ----------------------------------------------------------------------------


def test_a_card_never_seen_may_go_its_allowance_below_zero_and_no_further(till, issuer, outbox, indicator):
    card = _card(till, issuer)
    assert (card.balance, card.balance_as_of_ms, card.fresh, card.offline_headroom) == (None, None, False, 10)

    first = till.redeem(card, 6)
    assert (first.outcome, first.reason, first.balance) == (TillOutcome.PAID_OFFLINE, None, None)
    again = _card(till, issuer, card.card_id)
    assert again.offline_headroom == 4

    refused = till.redeem(again, 5)
    assert (refused.outcome, refused.reason) == (TillOutcome.OFFLINE_LIMIT, "offline_limit")
    assert outbox.redemption(refused.redemption_id) is None  # nothing signed: it never went online
    assert till.redeem(again, 4).outcome is TillOutcome.PAID_OFFLINE
    assert _card(till, issuer, card.card_id).offline_headroom == 0
    assert till.redeem(again, 1).outcome is TillOutcome.OFFLINE_LIMIT
    assert indicator.signals == ["ok", "denied", "ok", "denied"]


def test_a_confirmed_balance_shows_less_what_is_pending_and_as_of_the_confirmation(
    till, issuer, outbox, config
):
    card_id = ids.new_id(ids.CARD)
    _confirm(outbox, config, card_id, 25, as_of_ms=START_MS - 60_000)
    card = _card(till, issuer, card_id)
    assert (card.balance, card.balance_as_of_ms, card.offline_headroom) == (25, START_MS - 60_000, 10)
    paid = till.redeem(card, 7)
    assert (paid.outcome, paid.balance, paid.balance_as_of_ms) == (
        TillOutcome.PAID_OFFLINE,
        18,
        START_MS - 60_000,
    )
    again = _card(till, issuer, card_id)
    assert (again.balance, again.offline_headroom) == (18, 3)  # the allowance binds, not the balance


def test_a_negative_confirmed_balance_leaves_only_what_the_allowance_still_covers(
    till, issuer, outbox, config
):
    card_id = ids.new_id(ids.CARD)
    _confirm(outbox, config, card_id, -7)
    card = _card(till, issuer, card_id)
    assert card.offline_headroom == 3  # -7 - 3 = -10 = -allowance
    assert till.redeem(card, 4).outcome is TillOutcome.OFFLINE_LIMIT
    paid = till.redeem(card, 3)
    assert (paid.outcome, paid.balance) == (TillOutcome.PAID_OFFLINE, -10)
    assert _card(till, issuer, card_id).offline_headroom == 0


def test_an_overdrawn_card_beyond_the_allowance_gets_nothing_offline(till, issuer, outbox, config):
    card_id = ids.new_id(ids.CARD)
    _confirm(outbox, config, card_id, -15)
    card = _card(till, issuer, card_id)
    assert card.offline_headroom == 0
    assert till.redeem(card, 1).outcome is TillOutcome.OFFLINE_LIMIT


# -- the terminal's daily cap ------------------------------------------------------------------------


def test_the_daily_cap_counts_every_card_and_starts_again_the_next_local_day(
    config, kiosk_key, outbox, clock, indicator, issuer
):
    limits = dataclasses.replace(LIMITS, offline_daily_cap=12)
    trust = FixedTrust(shop_trust(issuer, config, limits))
    till = make_till(config, kiosk_key, outbox, clock, indicator, trust)
    a, b, c = (_card(till, issuer) for _ in range(3))
    assert till.redeem(a, 8).outcome is TillOutcome.PAID_OFFLINE
    assert _card(till, issuer, b.card_id).offline_headroom == 4
    assert till.redeem(b, 5).outcome is TillOutcome.OFFLINE_LIMIT
    assert till.redeem(b, 4).outcome is TillOutcome.PAID_OFFLINE
    assert till.redeem(c, 1).outcome is TillOutcome.OFFLINE_LIMIT
    today = local_day(clock.wall_ms)
    assert outbox.offline_total(today) == 12

    clock.advance(24 * 3600)  # a new local day: the cap is fresh, the cards' allowances are not
    assert outbox.offline_total(local_day(clock.wall_ms)) == 0
    assert till.redeem(c, 1).outcome is TillOutcome.PAID_OFFLINE
    assert _card(till, issuer, a.card_id).offline_headroom == 2  # 8 still pending at this terminal


@pytest.mark.parametrize(
    ("wall_ms", "day"),
    [
        (1_764_457_199_000, "2025-11-29"),  # 22:59:59 UTC = 23:59:59 in Berlin (CET)
        (1_764_457_200_000, "2025-11-30"),  # midnight in Berlin, still the 29th in UTC
        (1_751_320_800_000, "2025-07-01"),  # 22:00 UTC on 30 June = midnight in Berlin (CEST)
    ],
)
def test_the_local_day_is_berlin_time_with_daylight_saving(wall_ms, day):
    assert local_day(wall_ms) == day


# -- what is refused before anything is signed --------------------------------------------------------


def test_over_max_amount_and_not_a_whole_positive_amount_sign_nothing(till, issuer, outbox, indicator):
    card = _card(till, issuer)
    for amount, reason in (
        (51, "amount_over_limit"),
        (0, "bad_field"),
        (-3, "bad_field"),
        (True, "bad_field"),
    ):
        result = till.redeem(card, amount)
        assert (result.outcome, result.reason) == (TillOutcome.DECLINED, reason)
    assert outbox.head()[0] == 0
    assert indicator.signals == ["denied"] * 4


def test_a_blocked_card_is_refused_at_the_till_and_nothing_is_recorded(
    config, kiosk_key, outbox, clock, indicator, issuer
):
    card_id = ids.new_id(ids.CARD)
    trust = FixedTrust(shop_trust(issuer, config, blocked=frozenset({card_id})))
    till = make_till(config, kiosk_key, outbox, clock, indicator, trust)
    assert till.present(issuer.tap(card_id)) == CardRefused("card_blocked")
    assert indicator.signals == ["denied"] and outbox.head()[0] == 0


def test_a_card_blocked_after_it_was_presented_is_denied(config, till, issuer, outbox, trust):
    card = _card(till, issuer)
    trust.trust = shop_trust(issuer, config, blocked=frozenset({card.card_id}), issued_ms=START_MS + 1)
    result = till.redeem(card, 2)
    assert (result.outcome, result.reason) == (TillOutcome.DENIED, "card_blocked")
    assert outbox.head()[0] == 0


@pytest.mark.parametrize(
    ("tap", "reason", "signal"),
    [
        (Tap(uid=bytes.fromhex("04a1b2c3d4e5f6"), ndef=b""), "unknown_card", "denied"),  # no credential
        (Tap(uid=bytes.fromhex("deadbeef"), ndef=b"\xd1\x01"), "bad_credential", "denied"),  # garbled NDEF
        (Tap(uid=bytes.fromhex("04a1b2c3d4e5f6"), ndef=b"", complete=False), "tap_incomplete", "error"),
    ],
    ids=["no-credential", "garbled", "incomplete"],
)
def test_a_tap_that_is_not_a_usable_card_is_refused(till, outbox, indicator, tap, reason, signal):
    assert till.present(tap) == CardRefused(reason)
    assert indicator.signals == [signal] and outbox.head()[0] == 0


def test_a_forged_card_is_refused(till, issuer):
    card_id = ids.new_id(ids.CARD)
    forged = TestIssuer().tap(card_id)  # a credential from an issuer the shop does not trust
    assert isinstance(till.present(forged), CardRefused)
    assert till.present(Tap(uid=forged.uid, ndef=issuer.ndef(ids.new_id(ids.CARD)))) == CardRefused(
        "uid_mismatch"
    )


def test_a_coordinator_card_is_marked_and_fetches_no_balance(
    config, kiosk_key, outbox, clock, indicator, issuer
):
    card_id = ids.new_id(ids.CARD)
    listed = dataclasses.replace(shop_trust(issuer, config), coordinators=frozenset({card_id}))
    till = make_till(config, kiosk_key, outbox, clock, indicator, FixedTrust(listed), server_url=dead_url())
    seen = till.present(issuer.tap(card_id))
    assert isinstance(seen, CardAtTill) and seen.coordinator and seen.balance is None
    assert indicator.signals == ["ok"] and not till.knows_offline()  # no request was made


# -- a check-in kiosk never redeems -------------------------------------------------------------------


def test_a_check_in_kiosk_neither_presents_nor_signs_redemptions(
    config, kiosk_key, outbox, clock, indicator, issuer
):
    till = make_till(
        config, kiosk_key, outbox, clock, indicator, FixedTrust(issuer.trust_list(kiosk=config.kiosk_id))
    )
    assert till.present(issuer.tap(ids.new_id(ids.CARD))) == CardRefused("not_a_shop")
    card = CardAtTill(ids.new_id(ids.CARD), 10, START_MS, fresh=False, offline_headroom=10)
    result = till.redeem(card, 1)
    assert (result.outcome, result.reason) == (TillOutcome.DENIED, "not_a_shop")
    assert till.void(ids.new_id(ids.REDEMPTION)).reason == "not_a_shop"
    with pytest.raises(ModeError, match="not_a_shop"):
        till.limits  # noqa: B018 - the property raises
    assert outbox.head()[0] == 0


def test_the_outbox_refuses_a_redeem_or_void_without_its_redemption_row(config, kiosk_key, outbox, clock):
    from protocol import GENESIS_PREV, Event

    for kind, data in (
        (EventKind.REDEEM, {"amount": 1, "id": ids.new_id(ids.REDEMPTION), "online": False}),
        (EventKind.VOID, {"id": ids.new_id(ids.REDEMPTION)}),
    ):
        event = Event(config.kiosk_id, 1, GENESIS_PREV, kind, ids.new_id(ids.CARD), clock.now(), data)
        with pytest.raises(OutboxError, match="bad_field"):
            outbox.append(sign_event(event, kiosk_key))  # the check-in kiosk's only way to store
    assert outbox.head()[0] == 0


# -- an online attempt that cannot reach the server ------------------------------------------------------


def test_an_unreachable_server_falls_back_with_the_same_id_and_then_skips_the_online_attempt(
    config, kiosk_key, outbox, clock, indicator, trust, issuer
):
    now = [START_MS]  # the system clock the till and the sync client judge "recent" by
    till = make_till(
        config, kiosk_key, outbox, clock, indicator, trust, server_url=dead_url(), now_ms=lambda: now[0]
    )
    assert not till.knows_offline()
    card = _card(till, issuer)  # the balance request fails: for a minute the till knows it is offline
    assert not card.fresh and till.knows_offline()
    now[0] += 61_000
    assert not till.knows_offline()
    first = till.redeem(card, 3)  # so it tries online first, gets no answer and falls back
    assert first.outcome is TillOutcome.PAID_OFFLINE
    assert outbox.status().sync_round_error == "network_error" and till.knows_offline()
    second = till.redeem(card, 2)  # no second online attempt
    assert second.outcome is TillOutcome.PAID_OFFLINE
    events = recorded_events(config, kiosk_key)
    assert [(e.kind, e.data["id"], e.data["online"]) for e in events] == [
        (EventKind.REDEEM, first.redemption_id, True),
        (EventKind.REDEEM, first.redemption_id, False),
        (EventKind.REDEEM, second.redemption_id, False),
    ]
    assert _card(till, issuer, card.card_id).offline_headroom == 5  # the fallback counted once


def test_what_counts_as_known_offline(config, kiosk_key, outbox, clock, indicator, trust, issuer):
    now = [START_MS]
    till = make_till(
        config, kiosk_key, outbox, clock, indicator, trust, server_url=dead_url(), now_ms=lambda: now[0]
    )
    outbox.record_sync_round("network_error", now_ms=START_MS - 61_000)
    assert not till.knows_offline()  # a failure more than a minute ago
    outbox.record_sync_round("network_error", now_ms=START_MS - 59_000)
    assert till.knows_offline()
    outbox.record_sync_round("kiosk_suspended", now_ms=START_MS)  # reachable, just refusing: try online
    assert not till.knows_offline()
    _card(till, issuer)  # the till's own balance request fails
    assert till.knows_offline()
    now[0] += 1000
    outbox.record_sync_round(None, now_ms=now[0])  # and then a sync round goes well: the network is back
    assert not till.knows_offline()


def test_an_online_attempt_refused_offline_is_voided_so_a_lost_debit_comes_back(
    config, kiosk_key, outbox, clock, indicator, trust, issuer
):
    till = make_till(config, kiosk_key, outbox, clock, indicator, trust, server_url=dead_url())
    card = CardAtTill(ids.new_id(ids.CARD), None, None, fresh=False, offline_headroom=10)
    result = till.redeem(card, 11)
    assert (result.outcome, result.reason) == (TillOutcome.OFFLINE_LIMIT, "offline_limit")
    events = recorded_events(config, kiosk_key)
    assert [(e.kind, e.card, e.data["id"]) for e in events] == [
        (EventKind.REDEEM, card.card_id, result.redemption_id),
        (EventKind.VOID, card.card_id, result.redemption_id),
    ]
    record = outbox.redemption(result.redemption_id)
    assert record is not None and record.state is RedemptionState.OFFLINE_LIMIT
    assert (
        outbox.offline_usage(card.card_id, local_day(clock.wall_ms)).pending == 0
    )  # redeem and void net out
    assert [r.voidable for r in till.recent()] == [False]


# -- on disk before anything is shown ---------------------------------------------------------------


class _DiskCheckingIndicator(RecordingIndicator):
    """Reads the outbox file through its own connection at the moment a signal plays."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.seen: list[list[tuple[str, int]]] = []

    def _record(self, signal) -> None:
        conn = sqlite3.connect(self.path)
        try:
            self.seen.append(list(conn.execute("SELECT kind, seq FROM events ORDER BY seq")))
        finally:
            conn.close()
        super()._record(signal)


def test_the_redemption_is_on_disk_before_the_light_and_survives_a_crash(
    config, kiosk_key, outbox, clock, trust, issuer
):
    indicator = _DiskCheckingIndicator(config.outbox_path)
    till = make_till(config, kiosk_key, outbox, clock, indicator, trust)
    card = _card(till, issuer)
    result = till.redeem(card, 4)
    assert indicator.seen == [[("redeem", 1)]]
    # A crash now: this process never closes its outbox; another opens the file from scratch.
    with Outbox(config.outbox_path) as reopened:
        record = reopened.redemption(result.redemption_id)
        assert record is not None
        assert (record.card_id, record.amount, record.state) == (
            card.card_id,
            4,
            RedemptionState.PAID_OFFLINE,
        )
        assert reopened.offline_usage(card.card_id, local_day(clock.wall_ms)).pending == 4
        assert reopened.offline_total(local_day(clock.wall_ms)) == 4
        assert [e.event.data["id"] for e in reopened.pending()] == [result.redemption_id]


# -- voids while offline -------------------------------------------------------------------------------


def test_a_void_offline_is_queued_and_gives_the_allowance_back(till, issuer, outbox, clock, indicator):
    card = _card(till, issuer)
    paid = till.redeem(card, 6)
    (listed,) = till.recent()
    assert (listed.redemption_id, listed.amount, listed.state, listed.voidable) == (
        paid.redemption_id,
        6,
        "paid_offline",
        True,
    )
    voided = till.void(paid.redemption_id)
    assert (voided.ok, voided.queued, voided.reason) == (False, True, None)
    (listed,) = till.recent()
    assert (listed.state, listed.voidable) == ("void_pending", False)
    assert _card(till, issuer, card.card_id).offline_headroom == 10
    assert till.void(paid.redemption_id).reason == "already_voided"
    assert till.void(ids.new_id(ids.REDEMPTION)).reason == "unknown_redemption"
    assert indicator.signals == ["ok", "ok", "denied", "denied"]
    assert outbox.head()[0] == 2  # the redemption and one void


def test_a_void_after_the_window_is_refused_on_the_till(till, issuer, outbox, clock):
    paid = till.redeem(_card(till, issuer), 2)
    clock.advance(LIMITS.void_window_s)
    assert [r.voidable for r in till.recent()] == [True]  # exactly at the window's end: still allowed
    clock.advance(1)
    assert [r.voidable for r in till.recent()] == [False]
    assert till.void(paid.redemption_id).reason == "void_too_late"
    assert outbox.head()[0] == 1


def test_recent_lists_newest_first_and_honours_the_limit(till, issuer, clock):
    made = []
    for amount in (1, 2, 3):
        made.append(till.redeem(_card(till, issuer), amount).redemption_id)
        clock.advance(1)
    assert [r.redemption_id for r in till.recent()] == made[::-1]
    assert [r.amount for r in till.recent(limit=2)] == [3, 2]


# -- the rules hold for any sequence -----------------------------------------------------------------------


@st.composite
def _spells(draw: st.DrawFn) -> tuple[ShopLimits, list[int | None], list[tuple[int, int]]]:
    limits = ShopLimits(
        max_amount=draw(st.integers(1, 30)),
        offline_allowance=draw(st.integers(0, 25)),
        offline_daily_cap=draw(st.integers(0, 60)),
        void_window_s=900,
    )
    confirmed = draw(st.lists(st.one_of(st.none(), st.integers(-40, 40)), min_size=1, max_size=3))
    steps = draw(
        st.lists(st.tuples(st.integers(0, len(confirmed) - 1), st.integers(1, 35)), min_size=1, max_size=12)
    )
    return limits, confirmed, steps


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spell=_spells())
def test_offline_redemptions_never_exceed_the_allowance_or_the_cap(spell, issuer, server_key):
    limits, confirmed, steps = spell
    with tempfile.TemporaryDirectory() as folder:
        config = _config(Path(folder), server_key)
        key = create_key(config.key_path)
        clock = SimulatedClock(START_MS)
        with Outbox(config.outbox_path) as outbox:
            trust = FixedTrust(shop_trust(issuer, config, limits))
            till = make_till(config, key, outbox, clock, RecordingIndicator(), trust)
            cards = [ids.new_id(ids.CARD) for _ in confirmed]
            for card_id, balance in zip(cards, confirmed, strict=True):
                if balance is not None:
                    _confirm(outbox, config, card_id, balance)
            spent = [0] * len(cards)
            for index, amount in steps:
                card = _card(till, issuer, cards[index])
                base = confirmed[index] or 0
                allowed = (
                    amount <= limits.max_amount
                    and spent[index] + amount <= limits.offline_allowance
                    and base - spent[index] - amount >= -limits.offline_allowance
                    and sum(spent) + amount <= limits.offline_daily_cap
                )
                assert (card.offline_headroom >= amount) == allowed
                result = till.redeem(card, amount)
                expected = (
                    TillOutcome.PAID_OFFLINE
                    if allowed
                    else TillOutcome.DECLINED
                    if amount > limits.max_amount
                    else TillOutcome.OFFLINE_LIMIT
                )
                assert result.outcome is expected
                if allowed:
                    spent[index] += amount
                clock.advance(1)
            assert outbox.offline_total(local_day(START_MS)) == sum(spent) <= limits.offline_daily_cap
            for index, card_id in enumerate(cards):
                pending = outbox.offline_usage(card_id, local_day(START_MS)).pending
                assert pending == spent[index] <= limits.offline_allowance
                assert (confirmed[index] or 0) - pending >= -limits.offline_allowance or pending == 0


def _config(folder: Path, server_key) -> KioskConfig:
    return KioskConfig(
        kiosk_id=ids.new_id(ids.KIOSK),
        site_id=ids.new_id(ids.SITE),
        site_name="Laden",
        server_url="http://127.0.0.1:9",
        server_public_key=server_key.public_key,
        uid_pseudonym_key=bytes(range(32)),
        tokens_per_hour=10,
        data_dir=folder,
        log_origin=ORIGIN,
    )
