"""The pure parts of shop mode: offline headroom, a redemption's state, pending amounts, the API's shape."""

from __future__ import annotations

import dataclasses
import inspect
import logging

from hypothesis import given
from hypothesis import strategies as st

import terminal.shop
from protocol import EventKind, ShopLimits, ids
from terminal.redemptions import (
    EventResult,
    RedemptionRecord,
    RedemptionState,
    TillDecision,
    derive_state,
    pending_amount,
)
from terminal.shop import offline_allowed, offline_headroom

# -- offline headroom -----------------------------------------------------------------------------------

limits_st = st.builds(
    ShopLimits,
    max_amount=st.integers(1, 100),
    offline_allowance=st.integers(0, 100),
    offline_daily_cap=st.integers(0, 500),
    void_window_s=st.just(900),
)


@given(
    limits=limits_st,
    confirmed=st.one_of(st.none(), st.integers(-200, 200)),
    pending=st.integers(-50, 150),
    today=st.integers(0, 600),
    amount=st.integers(1, 150),
)
def test_the_headroom_is_exactly_the_four_rules_of_the_spec(limits, confirmed, pending, today, amount):
    balance = 0 if confirmed is None else confirmed
    rules = (
        amount <= limits.max_amount
        and pending + amount <= limits.offline_allowance
        and balance - pending - amount >= -limits.offline_allowance
        and today + amount <= limits.offline_daily_cap
    )
    assert offline_allowed(limits, amount, confirmed=confirmed, pending=pending, today=today) == rules
    assert offline_headroom(limits, confirmed=confirmed, pending=pending, today=today) >= 0


# -- a redemption's state -----------------------------------------------------------------------------------


def _record(**changes) -> RedemptionRecord:
    values = {
        "redemption_id": ids.new_id(ids.REDEMPTION),
        "card_id": ids.new_id(ids.CARD),
        "amount": 5,
        "created_ms": 0,
        "day": "2025-11-29",
        "online_seq": 1,
        "offline_seq": None,
        "void_seq": None,
        "decision": TillDecision.ONLINE,
        "state": RedemptionState.PENDING,
        "reason": None,
    }
    values.update(changes)
    return RedemptionRecord(**values)


def _r(seq: int, *flags: str) -> EventResult:
    return EventResult(seq, "accepted", flags)


def test_states_follow_the_till_decision_and_the_server_results():
    online = _record()
    assert derive_state(online, {}) == (RedemptionState.PENDING, None)
    assert derive_state(online, {1: _r(1)}) == (RedemptionState.PAID, None)
    assert derive_state(online, {1: _r(1, "overdraft")}) == (RedemptionState.PAID, None)
    assert derive_state(online, {1: _r(1, "insufficient_balance")}) == (
        RedemptionState.DECLINED,
        "insufficient_balance",
    )
    fallback = _record(offline_seq=2, decision=TillDecision.OFFLINE)
    assert derive_state(fallback, {}) == (RedemptionState.PAID_OFFLINE, None)
    assert derive_state(fallback, {1: _r(1, "insufficient_balance")}) == (RedemptionState.PAID_OFFLINE, None)
    assert derive_state(fallback, {2: _r(2, "already_redeemed")}) == (RedemptionState.PAID, None)
    assert derive_state(fallback, {1: _r(1, "insufficient_balance"), 2: _r(2, "overdraft")}) == (
        RedemptionState.PAID,
        None,
    )
    assert derive_state(fallback, {1: _r(1, "card_blocked"), 2: _r(2, "card_blocked")}) == (
        RedemptionState.REFUSED,
        "card_blocked",
    )
    limited = _record(void_seq=2, decision=TillDecision.OFFLINE_LIMIT)
    assert derive_state(limited, {1: _r(1), 2: _r(2)}) == (RedemptionState.OFFLINE_LIMIT, "offline_limit")
    voided = _record(void_seq=2)
    assert derive_state(voided, {1: _r(1)}) == (RedemptionState.VOID_PENDING, None)
    assert derive_state(voided, {1: _r(1), 2: _r(2)}) == (RedemptionState.VOIDED, None)
    assert derive_state(voided, {1: _r(1), 2: _r(2, "already_voided")}) == (RedemptionState.VOIDED, None)
    assert derive_state(voided, {1: _r(1), 2: _r(2, "void_too_late")}) == (
        RedemptionState.VOID_REFUSED,
        "void_too_late",
    )


def test_pending_counts_each_id_once_until_its_debit_is_in_the_confirmed_balance():
    fallback = _record(offline_seq=2, decision=TillDecision.OFFLINE)
    assert pending_amount([fallback], {}, synced_seq=0) == 5  # two events, one ID
    assert pending_amount([fallback], {}, synced_seq=2) == 0  # covered: the sheet holds it
    # The online attempt got through (its answer came late) while the fallback is still pending.
    assert pending_amount([fallback], {1: _r(1)}, synced_seq=1) == 0
    # ... or it was declined: the fallback will be debited.
    assert pending_amount([fallback], {1: _r(1, "insufficient_balance")}, synced_seq=1) == 5
    voided = _record(offline_seq=2, void_seq=3, decision=TillDecision.OFFLINE)
    assert pending_amount([voided], {}, synced_seq=0) == 0  # redeem and void reach the server together
    # A void of a debit already in the balance gives nothing back before the server credits it.
    assert pending_amount([voided], {2: _r(2)}, synced_seq=2) == 0
    two = [_record(amount=3), _record(online_seq=None, offline_seq=4, amount=4)]
    assert pending_amount(two, {}, synced_seq=0) == 7


# -- what the sync client keeps of an answer ---------------------------------------------------------------


def test_results_keep_the_logged_flags_and_only_for_redeem_and_void(caplog):
    from protocol import ClockEvidence, Event, PrivateKey, sign_event
    from terminal.sync import redemption_results

    key, kiosk = PrivateKey.generate(), ids.new_id(ids.KIOSK)
    clock = ClockEvidence(wall_ms=1, synced=True, boot_id="00000000-0000-4000-8000-000000000001", mono_ms=1)
    rid = ids.new_id(ids.REDEMPTION)
    kinds = [
        (EventKind.CHECK_IN, {}),
        (EventKind.REDEEM, {"amount": 2, "id": rid, "online": True}),
        (EventKind.VOID, {"id": rid}),
    ]
    batch = [
        sign_event(
            Event(kiosk, seq, "0" * 64 if seq == 1 else "1" * 64, kind, ids.new_id(ids.CARD), clock, data),
            key,
        )
        for seq, (kind, data) in enumerate(kinds, start=1)
    ]
    answer = {
        "entries": [
            {"seq": 1, "flags": []},
            {"seq": 2, "flags": ["insufficient_balance"]},
            {"seq": 3, "flags": ["unknown_redemption"]},
        ],
        "results": [
            {"seq": 1, "status": "accepted", "flags": []},
            {"seq": 2, "status": "duplicate", "flags": ["insufficient_balance"]},
            {"seq": 3, "status": "accepted", "flags": []},  # disagrees with the log: outvoted
        ],
    }
    with caplog.at_level(logging.WARNING, logger="terminal.sync"):
        results = redemption_results(batch, answer)
    assert results == [
        EventResult(2, "duplicate", ("insufficient_balance",)),
        EventResult(3, "accepted", ("unknown_redemption",)),
    ]
    assert [r.getMessage() for r in caplog.records] == [
        "event 3: the result's flags differ from the logged ones; keeping the logged"
    ]


# -- the API the screen codes against ------------------------------------------------------------------


def test_the_till_api_keeps_its_shape():
    assert {name for name in terminal.shop.__all__} >= {
        "TillOutcome",
        "CardAtTill",
        "CardRefused",
        "RedeemResult",
        "RecentRedemption",
        "VoidResult",
        "ShopTill",
    }
    assert [o.value for o in terminal.shop.TillOutcome] == [
        "paid",
        "paid_offline",
        "declined",
        "offline_limit",
        "denied",
        "error",
    ]

    def fields(cls: type) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    assert fields(terminal.shop.CardAtTill)[:5] == [
        "card_id",
        "balance",
        "balance_as_of_ms",
        "fresh",
        "offline_headroom",
    ]
    assert fields(terminal.shop.CardRefused) == ["reason"]
    assert fields(terminal.shop.RedeemResult) == [
        "outcome",
        "redemption_id",
        "amount",
        "reason",
        "balance",
        "balance_as_of_ms",
    ]
    assert fields(terminal.shop.RecentRedemption) == [
        "redemption_id",
        "card_id",
        "amount",
        "created_ms",
        "state",
        "voidable",
    ]
    assert fields(terminal.shop.VoidResult) == ["ok", "queued", "reason"]
    till = terminal.shop.ShopTill
    assert list(inspect.signature(till.present).parameters) == ["self", "tap"]
    assert list(inspect.signature(till.redeem).parameters) == ["self", "card", "amount"]
    assert inspect.signature(till.recent).parameters["limit"].default == 10
    assert list(inspect.signature(till.void).parameters) == ["self", "redemption_id"]
    assert isinstance(inspect.getattr_static(till, "limits"), property)
