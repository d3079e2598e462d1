"""Redemptions at ingest: ``docs/economy.md`` "Server rules for redeem" and "Voids", row by row.

Every refusal is checked to move nothing: the balance, the volunteer's ledger
entries and the stored balances (against the sum of the entries) stay as they were.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from server_helpers import HOUR, MINUTE, T0, Api, FakeClock, FakeKiosk, assert_error, enrol_fake_kiosk
from server_shop_helpers import Holder, ShopWorld, create_shop, redeem, void

from protocol import (
    EventKind,
    PrivateKey,
    b64encode,
    canonical_json,
    encode_batch,
    enrolment_message,
    ids,
    moved_tokens,
    refusal,
    uid_pseudonym,
    verify_balances,
)
from protocol.clock import now_ms
from protocol.economy.models import TillStaff
from protocol.logentry import parse_entry
from server import cards, ingest, shops
from server.admin import create_site
from server.datadir import init_data_dir, open_data_dir
from server.models import LedgerEntry, Redemption, RedemptionStatus
from server.redemptions import apply_event
from tests.conftest import ServerProcess

UID = bytes.fromhex("04aabbccddeeff")


@pytest.fixture
def shops_world(api: Api) -> ShopWorld:
    return ShopWorld(api, max_amount=30, void_window_s=600)


def _state(w: ShopWorld, holder: Holder) -> tuple[int, list[LedgerEntry]]:
    return w.balance(holder), w.ledger(holder)


def _refused(w: ShopWorld, holder: Holder, kiosk: FakeKiosk, event: Any, flag: str) -> None:
    """``event`` is admitted with exactly ``flag`` and moves nothing."""
    before = _state(w, holder)
    flags = w.send(kiosk, [event])
    assert flags == [[flag]]
    assert not moved_tokens(flags[0]) and refusal(flags[0]) == flag
    assert _state(w, holder) == before
    w.assert_books_agree()


# -- redeem ------------------------------------------------------------------------------------------
def test_online_redemption_that_the_balance_covers_is_debited(
    api: Api, shops_world: ShopWorld, server_key
) -> None:
    w = shops_world
    ada = w.holder(tokens=20)
    api.clock.now = T0 + MINUTE
    rid, event = redeem(w.till, ada.card_id, 7, wall_ms=T0 + 30_000)
    response = api.send(w.till.kiosk_id, [event])
    assert response.status_code == 200, response.text
    assert response.json()["results"] == [{"seq": 1, "status": "accepted", "flags": []}]
    sheet = verify_balances(response.json()["balances"], server_key, kiosk_id=w.till.kiosk_id)
    assert sheet.balances == {ada.card_id: 13}  # the debit is in the answer's balance sheet
    assert w.balance(ada) == 13
    record = w.redemption(rid)
    assert record is not None
    assert (record.status, record.amount, record.online, record.overdraft) == (
        RedemptionStatus.DEBITED,
        7,
        True,
        False,
    )
    assert (record.kiosk_id, record.seq, record.wall_ms, record.received_ms) == (
        w.till.kiosk_id,
        1,
        T0 + 30_000,
        T0 + MINUTE,
    )
    assert (record.site_id, record.card_id, record.volunteer_id) == (
        w.shop["site_id"],
        ada.card_id,
        ada.volunteer_id,
    )
    logged, opening = _logged(api, w.till.kiosk_id, 1)
    assert w.ledger(ada)[-1] == LedgerEntry(
        ada.volunteer_id, -7, "redeem", record.row_id, T0 + MINUTE, opening["index"]
    )
    assert logged["body"] == event.body
    assert (opening["flags"], opening["issued"], opening["redeemed"]) == ([], 0, 7)
    w.assert_books_agree()


def test_online_redemption_not_covered_is_declined_and_kept_on_record(shops_world: ShopWorld) -> None:
    w = shops_world
    ada = w.holder(tokens=5)
    rid, event = redeem(w.till, ada.card_id, 6)
    _refused(w, ada, w.till, event, "insufficient_balance")
    record = w.redemption(rid)
    assert record is not None and record.status is RedemptionStatus.DECLINED
    assert w.overdrafts() == []


def _logged(api: Api, kiosk_id: str, seq: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The public log entry of the event ``kiosk_id``/``seq`` and the auditor's opening of it.

    An entry v2 shows no flags and no totals (a stranger would learn the kind and the
    amount); they are in the opening (``GET /v1/audit/openings``, design 17b).
    """
    with api.context.storage.read() as tx:
        log_index = tx.event_log_index(kiosk_id, seq)
        assert log_index is not None
        logged = parse_entry(tx.tlog_entry(log_index) or b"")
        [opening] = tx.openings_after(log_index - 1, 1)
    assert opening.log_index == log_index and (opening.kiosk_id, opening.seq) == (kiosk_id, seq)
    assert not {"flags", "issued", "redeemed"} & set(logged)
    return logged, opening.to_json()


def test_the_refusing_flag_is_what_the_openings_hold(api: Api, shops_world: ShopWorld) -> None:
    w = shops_world
    ada = w.holder(tokens=1)
    _, event = redeem(w.till, ada.card_id, 6)
    assert w.send(w.till, [event]) == [["insufficient_balance"]]
    logged, opening = _logged(api, w.till.kiosk_id, 1)
    assert logged["body"] == event.body
    assert (opening["card"], opening["flags"]) == (ada.card_id, ["insufficient_balance"])
    assert (opening["issued"], opening["redeemed"]) == (0, 0)  # refused: the totals did not move


def test_declined_online_then_offline_fallback_with_the_same_id_is_debited_once(
    api: Api, shops_world: ShopWorld
) -> None:
    w = shops_world
    ada = w.holder(tokens=5)
    rid, online = redeem(w.till, ada.card_id, 6)
    assert w.send(w.till, [online]) == [["insufficient_balance"]]
    _, fallback = redeem(w.till, ada.card_id, 6, rid=rid, online=False, wall_ms=T0 + 5000)
    assert w.send(w.till, [fallback]) == [["overdraft"]]
    assert w.balance(ada) == -1
    record = w.redemption(rid)
    assert record is not None
    assert (record.status, record.online, record.seq, record.wall_ms, record.overdraft) == (
        RedemptionStatus.DEBITED,
        False,
        2,
        T0 + 5000,
        True,
    )
    assert [(e.delta, e.kind, e.ref) for e in w.ledger(ada) if e.kind == "redeem"] == [
        (-6, "redeem", record.row_id)
    ]
    assert w.overdrafts() == [rid]
    # A third try with the ID (say a retry of the fallback) moves nothing.
    _, again = redeem(w.till, ada.card_id, 6, rid=rid, online=False)
    _refused(w, ada, w.till, again, "already_redeemed")


def test_a_debited_online_redemption_then_its_offline_fallback_is_already_redeemed(
    shops_world: ShopWorld,
) -> None:
    """The answer to the online redeem was lost; the terminal's offline fallback must not debit twice."""
    w = shops_world
    ada = w.holder(tokens=10)
    rid, online = redeem(w.till, ada.card_id, 4)
    assert w.send(w.till, [online]) == [[]]
    _, fallback = redeem(w.till, ada.card_id, 4, rid=rid, online=False)
    _refused(w, ada, w.till, fallback, "already_redeemed")
    assert w.balance(ada) == 6


def test_a_declined_redemption_retried_online_after_earning_is_debited(shops_world: ShopWorld) -> None:
    w = shops_world
    ada = w.holder(tokens=3)
    rid, first = redeem(w.till, ada.card_id, 6)
    assert w.send(w.till, [first]) == [["insufficient_balance"]]
    w.fund(ada, 3)
    _, retry = redeem(w.till, ada.card_id, 6, rid=rid)
    assert w.send(w.till, [retry]) == [[]]
    assert w.balance(ada) == 0
    assert w.record(rid).status is RedemptionStatus.DEBITED


def test_balances_include_the_earlier_debits_of_the_same_batch(shops_world: ShopWorld) -> None:
    w = shops_world
    ada, bob = w.holder(tokens=10), w.holder(tokens=10)
    batch = [
        redeem(w.till, ada.card_id, 6)[1],
        redeem(w.till, ada.card_id, 6)[1],  # 4 left: declined
        redeem(w.till, bob.card_id, 6, online=False)[1],
        redeem(w.till, bob.card_id, 6, online=False)[1],  # offline: 12 uncovered at this till is over 10
        redeem(w.till, ada.card_id, 4)[1],  # exactly covered
    ]
    assert w.send(w.till, batch) == [[], ["insufficient_balance"], [], ["offline_over_allowance"], []]
    assert (w.balance(ada), w.balance(bob)) == (0, 4)
    w.assert_books_agree()


def test_offline_double_spend_at_two_terminals_overdraws_and_goes_to_review(
    api: Api, shops_world: ShopWorld
) -> None:
    w = shops_world
    other = w.terminal()
    ada = w.holder(tokens=10)
    # Both terminals were offline and each trusted the last balance it saw (10).
    first, a = redeem(w.till, ada.card_id, 8, online=False)
    second, b = redeem(other, ada.card_id, 8, online=False)
    assert w.send(w.till, [a]) == [[]]
    assert w.send(other, [b]) == [["overdraft"]]
    assert w.balance(ada) == -6
    assert [(r.status, r.overdraft) for r in (w.redemption(first), w.redemption(second)) if r] == [
        (RedemptionStatus.DEBITED, False),
        (RedemptionStatus.DEBITED, True),
    ]
    assert w.overdrafts() == [second]
    with api.context.storage.write() as tx:
        tx.acknowledge_overdraft(second, "d" * 64)
    assert w.overdrafts() == []
    assert w.record(second).acknowledged == "d" * 64
    assert w.balance(ada) == -6  # acknowledging changes no balance
    w.assert_books_agree()


def test_offline_redemptions_both_over_the_balance_are_both_overdrafts(shops_world: ShopWorld) -> None:
    w = shops_world
    other = w.terminal()
    ada = w.holder(tokens=5)
    first, a = redeem(w.till, ada.card_id, 7, online=False)
    second, b = redeem(other, ada.card_id, 7, online=False)
    assert w.send(w.till, [a]) == [["overdraft"]]
    assert w.send(other, [b]) == [["overdraft"]]
    assert w.balance(ada) == -9
    assert w.overdrafts() == [first, second]
    w.assert_books_agree()


def test_debited_redemption_with_a_wild_clock_keeps_its_flags_in_order(shops_world: ShopWorld) -> None:
    w = shops_world
    ada = w.holder(tokens=5)
    _, late = redeem(w.till, ada.card_id, 4, online=False, wall_ms=T0 + 48 * HOUR)
    _, over = redeem(w.till, ada.card_id, 6, online=False, wall_ms=T0 + 48 * HOUR)
    flags = w.send(w.till, [late, over])
    assert flags == [["clock_out_of_range"], ["overdraft", "clock_out_of_range"]]
    assert all(moved_tokens(f) for f in flags)
    assert w.balance(ada) == -5


def test_redeem_at_a_check_in_kiosk_is_not_a_shop(api: Api, shops_world: ShopWorld) -> None:
    w = shops_world
    ada = w.holder(tokens=10)
    _, event = redeem(w.earner, ada.card_id, 1, online=False)
    _refused(w, ada, w.earner, event, "not_a_shop")
    _refused(w, ada, w.earner, void(w.earner, ada.card_id, ids.new_id(ids.REDEMPTION)), "not_a_shop")


def test_revoked_terminal_is_refused_outright(api: Api, shops_world: ShopWorld) -> None:
    w = shops_world
    ada = w.holder(tokens=10)
    api.admin("POST", f"/v1/admin/kiosks/{w.till.kiosk_id}/revoke", expect=200)
    before, snapshot = _state(w, ada), api.snapshot()
    rid, event = redeem(w.till, ada.card_id, 2, online=False)
    assert_error(api.send(w.till.kiosk_id, [event]), 403, "kiosk_revoked")
    assert (_state(w, ada), api.snapshot()) == (before, snapshot)
    assert w.redemption(rid) is None


def _raw_redeem(kiosk: FakeKiosk, card: str, amount: object) -> bytes:
    """A batch of one signed redeem event with any ``amount``, built by hand: the encoder refuses bad ones."""
    obj = {
        "card": card,
        "clock": {"boot": kiosk.boot, "mono_ms": 1, "synced": True, "wall_ms": T0},
        "data": {"amount": amount, "id": ids.new_id(ids.REDEMPTION), "online": False},
        "kind": "redeem",
        "kiosk": kiosk.kiosk_id,
        "prev": kiosk.head,
        "seq": kiosk.seq + 1,
        "type": "kokreativ.event",
        "v": 1,
    }
    body = canonical_json(obj)
    wire = {"body": b64encode(body), "sig": b64encode(kiosk.key.sign(body))}
    return json.dumps({"events": [wire]}).encode()


@pytest.mark.parametrize("amount", [0, -5, 1_000_001, "5", True, [5]])
def test_bad_amounts_refuse_the_batch(api: Api, shops_world: ShopWorld, amount: object) -> None:
    w = shops_world
    ada = w.holder(tokens=10)
    before, snapshot = _state(w, ada), api.snapshot()
    response = api.post_raw(f"/v1/kiosks/{w.till.kiosk_id}/events", _raw_redeem(w.till, ada.card_id, amount))
    assert assert_error(response, 400, "bad_field")["index"] == 0
    assert (_state(w, ada), api.snapshot()) == (before, snapshot)


def test_a_well_formed_hand_built_redeem_is_admitted(shops_world: ShopWorld, api: Api) -> None:
    """The hand-built bytes above differ from a good event only in the amount."""
    w = shops_world
    ada = w.holder(tokens=10)
    response = api.post_raw(f"/v1/kiosks/{w.till.kiosk_id}/events", _raw_redeem(w.till, ada.card_id, 5))
    assert response.status_code == 200, response.text
    assert w.balance(ada) == 5


def test_amount_over_the_shops_limit(shops_world: ShopWorld) -> None:
    w = shops_world
    ada = w.holder(tokens=100)
    _refused(w, ada, w.till, redeem(w.till, ada.card_id, 31, online=False)[1], "amount_over_limit")
    assert w.send(w.till, [redeem(w.till, ada.card_id, 30)[1]]) == [[]]  # the limit itself is allowed


def test_blocked_card_from_its_block_on(api: Api, shops_world: ShopWorld) -> None:
    w = shops_world
    ada = w.holder(tokens=10)
    api.clock.now = T0 + HOUR
    api.block(ada.card_id)  # blocked_ms = T0 + 1 h
    _refused(
        w, ada, w.till, redeem(w.till, ada.card_id, 2, online=False, wall_ms=T0 + HOUR)[1], "card_blocked"
    )
    # Redeemed before the block (an offline terminal syncing late): the shop was right to accept.
    assert w.send(w.till, [redeem(w.till, ada.card_id, 2, online=False, wall_ms=T0 + HOUR - 1)[1]]) == [[]]
    assert w.balance(ada) == 8


def test_unknown_and_uncredentialed_cards(api: Api, shops_world: ShopWorld) -> None:
    w = shops_world
    ada = w.holder(tokens=10)
    stranger = "c_" + "a" * 32
    _refused(w, ada, w.till, redeem(w.till, stranger, 2, online=False)[1], "unknown_card")
    # The pilot card belongs to a volunteer who earned with a credential card (balances are per volunteer).
    owner = w.holder(tokens=10)
    pilot = Holder(
        api.create_card(volunteer_id=owner.volunteer_id, uid=UID.hex())["card_id"], owner.volunteer_id
    )
    assert pilot.card_id == uid_pseudonym(UID, api.context.uid_pseudonym_key)
    _refused(w, pilot, w.till, redeem(w.till, pilot.card_id, 2)[1], "uncredentialed_card")
    lenient = create_shop(api, allow_uncredentialed=True)
    terminal = w.terminal(lenient)
    assert w.send(terminal, [redeem(terminal, pilot.card_id, 2)[1]]) == [[]]
    assert w.balance(pilot) == 8


def test_replayed_redeem_is_a_duplicate_and_moves_nothing_again(api: Api, shops_world: ShopWorld) -> None:
    w = shops_world
    ada = w.holder(tokens=10)
    _, event = redeem(w.till, ada.card_id, 4)
    assert w.send(w.till, [event]) == [[]]
    before = _state(w, ada)
    response = api.send(w.till.kiosk_id, [event])
    assert response.status_code == 200, response.text
    assert response.json()["results"] == [{"seq": 1, "status": "duplicate", "flags": []}]
    assert _state(w, ada) == before == (6, before[1])
    w.assert_books_agree()


def test_the_same_id_at_a_new_seq_is_already_redeemed(shops_world: ShopWorld) -> None:
    w = shops_world
    ada = w.holder(tokens=10)
    rid, event = redeem(w.till, ada.card_id, 4)
    assert w.send(w.till, [event]) == [[]]
    _refused(w, ada, w.till, redeem(w.till, ada.card_id, 4, rid=rid)[1], "already_redeemed")
    other = w.terminal()  # another terminal of the shop: still the same purchase
    _refused(w, ada, other, redeem(other, ada.card_id, 4, rid=rid, online=False)[1], "already_redeemed")


def test_the_same_id_for_another_card_amount_or_shop_is_a_mismatch(api: Api, shops_world: ShopWorld) -> None:
    w = shops_world
    ada, bob = w.holder(tokens=10), w.holder(tokens=10)
    rid, event = redeem(w.till, ada.card_id, 4)
    assert w.send(w.till, [event]) == [[]]
    _refused(w, ada, w.till, redeem(w.till, ada.card_id, 5, rid=rid)[1], "redemption_mismatch")
    _refused(w, bob, w.till, redeem(w.till, bob.card_id, 4, rid=rid)[1], "redemption_mismatch")
    elsewhere = w.terminal(create_shop(api, "Anderer Laden"))
    _refused(w, ada, elsewhere, redeem(elsewhere, ada.card_id, 4, rid=rid)[1], "redemption_mismatch")
    # A declined redemption's ID is taken too: its fallback must be the same purchase.
    declined, big = redeem(w.till, bob.card_id, 20)
    assert w.send(w.till, [big]) == [["insufficient_balance"]]
    _refused(
        w, bob, w.till, redeem(w.till, bob.card_id, 2, rid=declined, online=False)[1], "redemption_mismatch"
    )


# -- void --------------------------------------------------------------------------------------------
def test_void_within_the_window_credits_back_and_clears_the_overdraft(
    api: Api, shops_world: ShopWorld
) -> None:
    w = shops_world
    ada = w.holder(tokens=5)
    rid, event = redeem(w.till, ada.card_id, 8, online=False, wall_ms=T0)
    assert w.send(w.till, [event]) == [["overdraft"]]
    assert w.overdrafts() == [rid]
    other = w.terminal()  # any terminal of the shop may void
    api.clock.now = T0 + 2 * MINUTE
    assert w.send(other, [void(other, ada.card_id, rid, wall_ms=T0 + 600_000)]) == [[]]  # exactly the window
    assert w.balance(ada) == 5
    record = w.redemption(rid)
    assert record is not None
    assert (record.status, record.void_kiosk, record.void_seq, record.void_wall_ms) == (
        RedemptionStatus.VOIDED,
        other.kiosk_id,
        1,
        T0 + 600_000,
    )
    with api.context.storage.read() as tx:
        log_index = tx.event_log_index(other.kiosk_id, 1)
    assert w.ledger(ada)[-1] == LedgerEntry(
        ada.volunteer_id, 8, "void", record.row_id, T0 + 2 * MINUTE, log_index
    )
    assert w.overdrafts() == []
    w.assert_books_agree()


def test_void_refusals(api: Api, shops_world: ShopWorld) -> None:
    w = shops_world
    ada, bob = w.holder(tokens=20), w.holder(tokens=20)
    rid, event = redeem(w.till, ada.card_id, 5, wall_ms=T0)
    assert w.send(w.till, [event]) == [[]]
    _refused(w, ada, w.till, void(w.till, ada.card_id, ids.new_id(ids.REDEMPTION)), "unknown_redemption")
    _refused(w, ada, w.till, void(w.till, ada.card_id, rid, wall_ms=T0 + 600_001), "void_too_late")
    _refused(w, ada, w.till, void(w.till, ada.card_id, rid, wall_ms=T0 + 48 * HOUR), "void_too_late")
    elsewhere = w.terminal(create_shop(api, "Anderer Laden"))
    _refused(w, ada, elsewhere, void(elsewhere, ada.card_id, rid), "void_other_shop")
    _refused(w, bob, w.till, void(w.till, bob.card_id, rid), "redemption_mismatch")
    assert w.send(w.till, [void(w.till, ada.card_id, rid, wall_ms=T0 + MINUTE)]) == [[]]
    _refused(w, ada, w.till, void(w.till, ada.card_id, rid, wall_ms=T0 + MINUTE), "already_voided")
    # The voided ID stays spent.
    _refused(w, ada, w.till, redeem(w.till, ada.card_id, 5, rid=rid)[1], "already_redeemed")
    # A declined redemption was never debited, so there is nothing to void.
    declined, big = redeem(w.till, bob.card_id, 25)
    assert w.send(w.till, [big]) == [["insufficient_balance"]]
    _refused(w, bob, w.till, void(w.till, bob.card_id, declined), "unknown_redemption")
    assert (w.balance(ada), w.balance(bob)) == (20, 20)


def test_void_gets_no_card_flags(api: Api, shops_world: ShopWorld) -> None:
    """A card blocked after the purchase still gets its tokens back when the shop voids it."""
    w = shops_world
    ada = w.holder(tokens=10)
    rid, event = redeem(w.till, ada.card_id, 5, wall_ms=T0)
    assert w.send(w.till, [event]) == [[]]
    api.clock.now = T0 + MINUTE
    api.block(ada.card_id)
    assert w.send(w.till, [void(w.till, ada.card_id, rid, wall_ms=T0 + 2 * MINUTE)]) == [[]]
    assert w.balance(ada) == 10


# -- speed -------------------------------------------------------------------------------------------
def test_a_check_in_batch_does_no_redemption_work(api: Api, shops_world: ShopWorld) -> None:
    w = shops_world
    ada = w.holder()
    statements: list[str] = []
    with api.context.storage.traced(statements.append):
        w.fund(ada, 30)
    assert statements, "the trace saw the batch"
    assert not [s for s in statements if "redemptions" in s]
    assert w.balance(ada) == 30


# -- properties --------------------------------------------------------------------------------------
class MemoryBook:
    """A :class:`server.redemptions.RedemptionBook` in memory, as an auditor would keep one."""

    def __init__(self, balances: dict[str, int]) -> None:
        self.balances = dict(balances)
        self.redemptions: dict[str, Redemption] = {}
        self.entries: list[LedgerEntry] = []

    def get_redemption(self, redemption_id: str) -> Redemption | None:
        return self.redemptions.get(redemption_id)

    def insert_redemption(self, redemption: Redemption) -> int:
        row_id = len(self.redemptions) + 1
        self.redemptions[redemption.redemption_id] = dataclasses.replace(redemption, row_id=row_id)
        return row_id

    def update_redemption(self, redemption: Redemption) -> None:
        self.redemptions[redemption.redemption_id] = redemption

    def balance(self, volunteer_id: str) -> int:
        return self.balances.get(volunteer_id, 0)

    def insert_ledger_entries(self, entries: Iterable[LedgerEntry]) -> None:
        for entry in entries:
            self.entries.append(entry)
            self.balances[entry.volunteer_id] = self.balance(entry.volunteer_id) + entry.delta

    def offline_pending(self, kiosk_id: str, card_id: str, received_ms: int) -> int:
        return sum(
            r.amount
            for r in self.redemptions.values()
            if (r.kiosk_id, r.card_id, r.received_ms, r.online) == (kiosk_id, card_id, received_ms, False)
            and r.status in (RedemptionStatus.DEBITED, RedemptionStatus.HELD)
        )

    def offline_paid(self, kiosk_id: str, day_start_ms: int, day_end_ms: int) -> int:
        return sum(
            r.amount
            for r in self.redemptions.values()
            if r.kiosk_id == kiosk_id
            and not r.online
            and r.held is None
            and day_start_ms <= r.received_ms < day_end_ms
            and r.status in (RedemptionStatus.DEBITED, RedemptionStatus.VOIDED)
        )

    def till_staff(self, site_id: str) -> dict[str, TillStaff] | None:
        return None  # a shop without till staff: their rules are test_server_till_staff_rules.py's

    def staff_paid(self, staff_id: str, day_start_ms: int, day_end_ms: int) -> int:
        return 0


_OP = st.one_of(
    st.tuples(
        st.just("redeem"),
        st.integers(min_value=1, max_value=40),
        st.booleans(),
        st.integers(min_value=0, max_value=2),
    ),
    st.tuples(st.just("void"), st.integers(min_value=0, max_value=9), st.booleans(), st.integers(0, 2)),
)


@settings(max_examples=20, deadline=None)
@given(earned=st.integers(min_value=0, max_value=60), ops=st.lists(_OP, min_size=1, max_size=10))
def test_redemptions_and_voids_follow_the_rules_for_any_amounts(
    earned: int, ops: list[tuple[str, int, bool, int]]
) -> None:
    """Through the services (no HTTP, for speed): each event moves exactly what the tables say.

    ``ops`` are ``("redeem", amount, online, terminal)`` or ``("void", which earlier
    redemption, _, terminal)``; the model below is the tables themselves.  The same
    events applied to a :class:`MemoryBook` give the same flags and balance, as an
    auditor's replay must.
    """
    with tempfile.TemporaryDirectory() as tmp:
        init_data_dir(Path(tmp) / "data")
        with open_data_dir(Path(tmp) / "data", now_ms=FakeClock(T0 + HOUR)) as ctx:
            site = create_site(ctx, {"name": "S", "tokens_per_hour": 60})
            shop = shops.create_shop(ctx, {"name": "L", "max_amount": 30})
            earner = enrol_fake_kiosk(ctx, site["site_id"])
            tills = [enrol_fake_kiosk(ctx, shop["site_id"]) for _ in range(3)]
            card = cards.create_card(ctx, {"name": "V", "site_id": site["site_id"]})
            volunteer = card["volunteer_id"]
            shift = [
                earner.event("check_in", card["card_id"], T0),
                earner.event("check_out", card["card_id"], T0 + earned * MINUTE),
            ]
            ingest.ingest_batch(ctx, earner.kiosk_id, encode_batch(shift))
            balance, expected, got, events = earned, [], [], []
            state: dict[str, tuple[int, str]] = {}  # rid -> (amount, "debited"/"declined"/"voided"/"held")
            uncovered = [0, 0, 0]  # per till: its offline redemptions debited or held, not voided
            offline_at: dict[str, int] = {}  # rid -> the till that debited it offline
            for op, value, online, which in ops:
                till = tills[which]
                if op == "void":
                    rid = list(state)[value % len(state)] if state else ids.new_id(ids.REDEMPTION)
                    event = void(till, card["card_id"], rid)
                    amount, status = state.get(rid, (0, "declined"))
                    if status in ("declined", "held"):
                        expected.append(["unknown_redemption"])
                    elif status == "voided":
                        expected.append(["already_voided"])
                    else:
                        balance += amount
                        state[rid] = (amount, "voided")
                        if rid in offline_at:
                            uncovered[offline_at[rid]] -= amount
                        expected.append([])
                else:
                    rid, event = redeem(till, card["card_id"], value, online=online)
                    if not online and value <= 30:
                        offline_at[rid] = which
                    if value > 30:
                        expected.append(["amount_over_limit"])
                    elif not online and (
                        # The default allowance; every batch here arrives at the same server time, so
                        # all of this till's offline ones count as one batch's (no receipt between them).
                        uncovered[which] + value > 10 or balance - value < -10
                    ):
                        state[rid] = (value, "held")
                        uncovered[which] += value
                        expected.append(["offline_over_allowance"])
                    elif online and balance < value:
                        state[rid] = (value, "declined")
                        expected.append(["insufficient_balance"])
                    else:
                        balance -= value
                        uncovered[which] += 0 if online else value
                        state[rid] = (value, "debited")
                        expected.append(["overdraft"] if balance < 0 else [])
                answer = ingest.ingest_batch(ctx, till.kiosk_id, encode_batch([event]))
                got.append(answer["results"][0]["flags"])
                events.append(event.event)
            with ctx.storage.read() as tx:
                stored, summed = tx.balances(), tx.summed_balances()
                overdrafts = {r.redemption_id for r in tx.unacknowledged_overdrafts()}
                shop_site, held = tx.get_site(shop["site_id"]), tx.get_card(card["card_id"])
    assert got == expected
    assert stored == summed and stored[volunteer] == balance
    debited_over = {rid for rid, (_, status) in state.items() if status == "debited"}
    assert overdrafts <= debited_over
    assert shop_site is not None
    book = MemoryBook({volunteer: earned})
    replayed = [apply_event(book, shop_site, e, held, now_ms=T0 + HOUR, log_index=None) for e in events]
    assert replayed == got
    assert book.balances[volunteer] == balance
    assert {
        rid for rid, r in book.redemptions.items() if r.overdraft and r.status.value == "debited"
    } == overdrafts


# -- concurrency over a real server process ------------------------------------------------------------
@pytest.mark.slow
def test_twenty_concurrent_online_redemptions_settle_exactly_what_the_balance_covers(
    server_process: ServerProcess,
) -> None:
    """20 shop terminals redeem 3 tokens each at once against 15 tokens: exactly 5 are debited."""
    server = server_process
    with server.admin() as admin:
        site = admin.add_site("Repair café", tokens_per_hour=60)
        shop = admin.add_shop("Weltladen", max_amount=10)
        card = admin.register_card(name="Ada", site_id=site["site_id"])
    http = httpx.Client(base_url=server.url, timeout=60)
    headers = {"Authorization": f"Bearer {server.admin_token}"}

    def enrol(site_id: str) -> FakeKiosk:
        code = http.post("/v1/admin/enrolment-codes", json={"site_id": site_id}, headers=headers).json()[
            "code"
        ]
        kiosk = FakeKiosk(key=PrivateKey.generate())
        digits = code.replace("-", "")
        signature = b64encode(kiosk.key.sign(enrolment_message(digits, kiosk.key.public_key)))
        answer = http.post(
            "/v1/enrol",
            json={"code": code, "public_key": kiosk.key.public_key.to_b64(), "signature": signature},
        )
        assert answer.status_code == 200, answer.text
        kiosk.kiosk_id = answer.json()["kiosk_id"]
        return kiosk

    try:
        earner = enrol(site["site_id"])
        now = now_ms()  # after the enrolment: a shift dated before it is held (before_enrolment)
        shift = [  # ends a quarter of an hour ahead: the server takes kiosk times up to a day ahead
            earner.event(EventKind.CHECK_IN, card["card_id"], now),
            earner.event(EventKind.CHECK_OUT, card["card_id"], now + 15 * MINUTE),
        ]
        assert (
            http.post(f"/v1/kiosks/{earner.kiosk_id}/events", content=encode_batch(shift)).status_code == 200
        )
        balance = http.get(f"/v1/cards/{card['card_id']}/balance", headers=headers)
        assert balance.json()["balance"] == 15
        tills = [enrol(shop["site_id"]) for _ in range(20)]
        batches = [(till, *redeem(till, card["card_id"], 3, wall_ms=now)) for till in tills]
    finally:
        http.close()
    start = threading.Barrier(len(batches))

    def spend(item: tuple[FakeKiosk, str, Any]) -> tuple[str, list[str]]:
        till, rid, event = item
        with httpx.Client(base_url=server.url, timeout=60) as client:
            start.wait()
            response = client.post(f"/v1/kiosks/{till.kiosk_id}/events", content=encode_batch([event]))
        assert response.status_code == 200, response.text
        return rid, response.json()["results"][0]["flags"]

    with ThreadPoolExecutor(max_workers=len(batches)) as pool:
        outcomes = list(pool.map(spend, batches))
    flags = [f for _, f in outcomes]
    assert flags.count([]) == 5
    assert flags.count(["insufficient_balance"]) == 15
    with server.admin() as admin:
        statement = admin.statement("volunteers", card["volunteer_id"])
        settlement = admin.statement("shops", shop["site_id"])
    assert isinstance(statement, dict) and isinstance(settlement, dict)
    assert (statement["earned"], statement["redeemed"], statement["closing_balance"]) == (15, 15, 0)
    assert (settlement["count"], settlement["to_settle"]) == (5, 15)
    server.stop()
    with open_data_dir(server.data_dir) as ctx, ctx.storage.read() as tx:
        assert tx.balances() == tx.summed_balances() == {card["volunteer_id"]: 0}
        statuses = {rid: tx.get_redemption(rid) for rid, _ in outcomes}
    debited = {rid for rid, f in outcomes if f == []}
    assert {rid for rid, r in statuses.items() if r and r.status is RedemptionStatus.DEBITED} == debited
    assert sum(1 for r in statuses.values() if r and r.status is RedemptionStatus.DECLINED) == 15
