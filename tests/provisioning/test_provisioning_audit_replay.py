"""The replay: the in-memory book does what the server's storage does; facts out of order are named.

:class:`LedgerBook` and :class:`server.storage.Tx` are both books of the economy
rules (:func:`protocol.economy.apply_taps`, :func:`~protocol.economy.apply_event`,
:func:`~protocol.economy.apply_decision`).  Hypothesis drives the book and a real
SQLite :class:`server.storage.Storage` with the same taps, redemptions, voids and
decisions and compares every answer, refusal, balance, redemption, shift count and
reviewable shift after each step.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from protocol import (
    GENESIS_PREV,
    ClockEvidence,
    Decision,
    Event,
    EventKind,
    PrivateKey,
    Reason,
    ShopLimits,
    b64decode,
    coordinator_id,
    decision_hash,
    ids,
    sign_decision,
)
from protocol.decisions import cosign_message
from protocol.economy import (
    Card,
    CardKind,
    EconomyError,
    ShiftStatus,
    Site,
    SiteKind,
    Tap,
    apply_decision,
    apply_event,
    apply_taps,
)
from protocol.logentry import decision_entry, make_entry, parse_entry
from provisioning.audit._worker import SIG_NO_KEY, SIG_OK
from provisioning.audit.book import CardState, LedgerBook
from provisioning.audit.replay import Replay
from provisioning.audit.report import Problems
from server.storage import Storage
from tests.server.ledger_file import memory_ledger

T0 = 1_764_400_000_000
MINUTE = 60_000
CARDS = [(ids.new_id(ids.CARD), ids.new_id(ids.VOLUNTEER)) for _ in range(3)]
COORDINATOR = coordinator_id(PrivateKey.generate().public_key)
NIGHT = {"percent": 150, "days": [0, 1, 2, 3, 4, 5, 6], "dates": [], "from": "20:00", "to": "06:00"}

taps = st.lists(
    st.tuples(
        st.sampled_from([EventKind.CHECK_IN, EventKind.CHECK_OUT]),
        st.integers(0, len(CARDS) - 1),
        st.integers(-30, 900),  # minutes since the previous tap; negative is a clock going back
        st.sampled_from([None, None, None, "card_blocked", "clock_out_of_range"]),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(steps=taps, tokens=st.integers(0, 120), max_hours=st.integers(1, 14), batch=st.integers(1, 8))
def test_the_book_pays_taps_as_the_servers_storage_does(
    steps: list[tuple[EventKind, int, int, str | None]], tokens: int, max_hours: int, batch: int
):
    site = Site(ids.new_id(ids.SITE), "s", tokens, max_hours)
    wall, sequence = T0, []
    for seq, (kind, card, minutes, flag) in enumerate(steps, start=1):
        wall += minutes * MINUTE
        sequence.append(Tap("k", seq, kind, CARDS[card][0], CARDS[card][1], wall, flag))
    book = LedgerBook()
    with memory_ledger() as storage, storage.write() as tx:
        tx.insert_site(site, 0)
        for card_id, volunteer_id in CARDS:
            tx.insert_volunteer(volunteer_id, "", 0)
            tx.insert_card(Card(card_id, volunteer_id, CardKind.CREDENTIAL, 0))
        for start in range(0, len(sequence), batch):
            apply_taps(tx, site, sequence[start : start + batch], T0)
            apply_taps(book, site, sequence[start : start + batch], T0)
        stored = [shift for shifts in tx.shifts_by_volunteer().values() for shift in shifts]
        assert book.balances == {v: b for v, b in tx.balances().items()}
    assert book.shifts == len(stored)
    assert book.paid == sum(s.status is ShiftStatus.PAID for s in stored)
    assert book.review == sum(s.status is ShiftStatus.REVIEW for s in stored)


# -- taps, redemptions and decisions, against real storage ---------------------------------------------
REDEMPTIONS = [ids.new_id(ids.REDEMPTION) for _ in range(3)]
STRANGER = ids.new_id(ids.CARD)  # never registered

minutes = st.integers(0, 600)
tap_batches = st.lists(
    st.tuples(
        st.sampled_from([EventKind.CHECK_IN, EventKind.CHECK_OUT]),
        st.integers(0, len(CARDS) - 1),
        st.integers(-10, 400),
        st.sampled_from([None, None, None, "clock_out_of_range"]),
    ),
    min_size=1,
    max_size=8,
)
card_choice = st.integers(0, len(CARDS))  # len(CARDS): the unregistered card
redeems = st.tuples(
    st.just("redeem"),
    card_choice,
    st.integers(1, 50),  # the shop's max_amount starts at 40
    st.integers(0, len(REDEMPTIONS) - 1),
    st.booleans(),
    st.sampled_from(["shop", "shop", "shop", "checkin"]),
)
voids = st.tuples(st.just("void"), card_choice, st.integers(0, len(REDEMPTIONS) - 1), st.integers(-5, 30))
decisions = st.one_of(
    st.tuples(
        st.just("site_rules"),
        st.integers(0, 120),
        st.integers(1, 12),
        st.sampled_from([0, 0, 30, 200]),
        st.booleans(),
    ),
    st.tuples(st.just("shop_limits"), st.integers(1, 60), st.integers(0, 1800), st.booleans()),
    st.tuples(
        st.just("review"),
        st.integers(0, 10_000),
        st.sampled_from(["approve", "approve", "reject"]),
        st.sampled_from([0, 0, 30, 500]),  # start: 0 keeps it, else minutes before now
        st.sampled_from([0, 0, 10, 400]),  # end: 0 keeps it, else minutes before now
    ),
    st.tuples(st.just("manual"), card_choice, st.integers(1, 2000), st.integers(1, 700)),
    st.tuples(st.just("acknowledge"), st.integers(0, len(REDEMPTIONS) - 1)),
)
# An undo of one of the taps so far, picked by index; whether the kiosk's history allows it is
# protocol.economy.undo.undo_verdict's (tested in tests/protocol): here the shift rules run on both books.
undos = st.tuples(st.just("undo"), st.integers(0, 10_000))
step = st.one_of(
    st.tuples(st.just("taps"), tap_batches), redeems, redeems, voids, decisions, decisions, undos, undos
)

_NOT_REVIEWABLE = {Reason.UNKNOWN_SHIFT, Reason.NOT_IN_REVIEW}
# Every card first works 20, 40 or 60 minutes (a token a minute at first), so it has tokens to spend.
FUND = (
    "taps",
    [(EventKind.CHECK_IN, card, 0, None) for card in range(len(CARDS))]
    + [(EventKind.CHECK_OUT, card, 20, None) for card in range(len(CARDS))],
)


@dataclass
class Twin:
    """One storage and one book, driven alike; each step's answers must be equal."""

    storage: Storage
    book: LedgerBook
    checkin: str
    shop: str
    now: int = T0
    seq: int = 0
    kiosk: str = field(default_factory=lambda: ids.new_id(ids.KIOSK))
    taps: list[tuple[str, int]] = field(default_factory=list)
    kinds: dict[int, tuple[EventKind, int]] = field(default_factory=dict)  # seq -> the tap's kind and card
    # Cards with a flagged tap: a reopened shift takes its check-in's flag from the stored event, and this
    # twin stores no events (the server tests undo with real events, tests/server/test_server_undo.py).
    flagged: set[int] = field(default_factory=set)

    def both(self, action: Callable[[Any], Any]) -> None:
        """``action`` in its own write transaction (rolled back if refused) and on the book; same outcome."""
        try:
            with self.storage.write() as tx:
                theirs: Any = ("ok", action(tx))
        except EconomyError as exc:
            theirs = ("refused", "not_reviewable" if exc.reason in _NOT_REVIEWABLE else exc.reason)
        try:
            ours: Any = ("ok", action(self.book))
        except EconomyError as exc:
            ours = ("refused", "not_reviewable" if exc.reason in _NOT_REVIEWABLE else exc.reason)
        assert ours == theirs

    def card(self, book: Any, index: int) -> tuple[str, Any]:
        card_id = STRANGER if index == len(CARDS) else CARDS[index][0]
        facts = book.cards.get(card_id) if isinstance(book, LedgerBook) else book.get_card(card_id)
        return card_id, facts

    def event(self, kind: EventKind, card_id: str, wall_ms: int, data: dict[str, Any]) -> Event:
        self.seq += 1
        clock = ClockEvidence(wall_ms=wall_ms, synced=True, boot_id=str(uuid.uuid4()), mono_ms=self.seq)
        return Event(
            self.kiosk, self.seq, "0" * 64 if self.seq == 1 else "1" * 64, kind, card_id, clock, data
        )

    def decide(self, kind: str, data: dict[str, Any]) -> None:
        decision = Decision(kind, COORDINATOR, self.now, data)
        digest = decision_hash(decision.to_bytes())
        index = self.seq = self.seq + 1
        self.both(lambda tx: apply_decision(tx, decision, digest, now_ms=self.now, log_index=index))

    def run(self, step: tuple[Any, ...]) -> None:
        name, *args = step
        self.now += MINUTE
        if name == "taps":
            batch = []
            for kind, card, gap, flag in args[0]:
                self.now += gap * MINUTE
                self.seq += 1
                batch.append(Tap(self.kiosk, self.seq, kind, CARDS[card][0], CARDS[card][1], self.now, flag))
                self.taps.append((self.kiosk, self.seq))
                self.kinds[self.seq] = (kind, card)
                if flag is not None:
                    self.flagged.add(card)
            self.both(lambda tx: apply_taps(tx, tx.get_site(self.checkin), batch, self.now))
        elif name == "undo" and self.taps:
            _, target = self.taps[args[0] % len(self.taps)]
            kind, card = self.kinds[target]
            if card in self.flagged:
                return
            self.seq += 1
            undo = Tap(
                self.kiosk,
                self.seq,
                EventKind.UNDO,
                CARDS[card][0],
                CARDS[card][1],
                self.now,
                log_index=self.seq,
                target=target,
                undoes=kind,
            )
            self.both(lambda tx: apply_taps(tx, tx.get_site(self.checkin), [undo], self.now))
        elif name == "redeem":
            card, amount, rid, online, where = args
            site = self.shop if where == "shop" else self.checkin
            card_id = STRANGER if card == len(CARDS) else CARDS[card][0]
            data = {"amount": amount, "id": REDEMPTIONS[rid], "online": online}
            event = self.event(EventKind.REDEEM, card_id, self.now, data)
            self.both(
                lambda tx: apply_event(
                    tx, tx.get_site(site), event, self.card(tx, card)[1], now_ms=self.now, log_index=event.seq
                )
            )
        elif name == "void":
            card, rid, late = args
            card_id = STRANGER if card == len(CARDS) else CARDS[card][0]
            event = self.event(EventKind.VOID, card_id, self.now + late * MINUTE, {"id": REDEMPTIONS[rid]})
            self.both(
                lambda tx: apply_event(tx, tx.get_site(self.shop), event, None, now_ms=self.now, log_index=0)
            )
        elif name == "site_rules":
            tokens, hours, cap, night = args
            rules = {"tokens_per_hour": tokens, "max_shift_hours": hours, "daily_cap": cap}
            self.decide("site_rules", {"site": self.checkin, **rules, "bonuses": [NIGHT] if night else []})
        elif name == "shop_limits":
            amount, window, right_site = args
            limits = {"max_amount": amount, "offline_allowance": 5, "offline_daily_cap": 50}
            site = self.shop if right_site else self.checkin
            self.decide("shop_limits", {"site": site, **limits, "void_window_s": window})
        elif name == "review" and self.taps:
            pick, action, start, end = args
            kiosk, seq = self.taps[pick % len(self.taps)]
            times = {
                "start_ms": start and self.now - start * MINUTE,
                "end_ms": end and self.now - end * MINUTE,
            }
            ref = {"kiosk": kiosk, "seq": seq}
            self.decide("review", {"shift": ref, "action": action, **times, "reason": "forgot_check_out"})
        elif name == "manual":
            card, before, length = args
            card_id = STRANGER if card == len(CARDS) else CARDS[card][0]
            start = self.now - before * MINUTE
            times = {"start_ms": start, "end_ms": start + length * MINUTE}
            self.decide(
                "manual_shift", {"card": card_id, "site": self.checkin, **times, "reason": "paper_list"}
            )
        elif name == "acknowledge":
            self.decide("acknowledge", {"redemption": REDEMPTIONS[args[0]], "reason": "accepted"})

    def compare(self) -> None:
        with self.storage.read() as tx:
            assert self.book.balances == tx.balances()
            for site_id in (self.checkin, self.shop):
                site = tx.get_site(site_id)
                assert site is not None and self.book.sites[site_id].to_json() == site.to_json()
            for rid in REDEMPTIONS:
                assert self.book.get_redemption(rid) == tx.get_redemption(rid)
            stored = [shift for shifts in tx.shifts_by_volunteer().values() for shift in shifts]
            assert self.book.shifts == len(stored)
            for status in ShiftStatus:
                counted = {ShiftStatus.PAID: self.book.paid, ShiftStatus.REVIEW: self.book.review}
                counted[ShiftStatus.REJECTED] = self.book.rejected
                if status in counted:
                    assert counted[status] == sum(s.status is status for s in stored), status
            for kiosk, seq in self.taps:  # every shift a decision may still name, the book has as stored
                theirs = tx.shift_by_tap(kiosk, seq)
                ours = self.book.shift_by_tap(kiosk, seq)
                if theirs is None or theirs.status in (ShiftStatus.PAID, ShiftStatus.REJECTED):
                    assert ours is None
                else:
                    assert ours == theirs


IN, OUT = EventKind.CHECK_IN, EventKind.CHECK_OUT
EVERY_PATH = [  # each rule and decision kind at least once, whatever Hypothesis draws besides
    # FUND gave cards 0, 1 and 2 20, 40 and 60 tokens; its taps are 0-5
    ("redeem", 0, 15, 0, True, "shop"),  # debited online: card 0 has 5 left
    ("redeem", 1, 45, 1, True, "shop"),  # over max_amount
    ("redeem", 0, 30, 1, True, "shop"),  # not covered: declined
    ("redeem", 0, 30, 1, False, "shop"),  # its offline fallback: debited into overdraft
    ("redeem", 0, 30, 1, False, "shop"),  # already redeemed
    ("redeem", 1, 35, 2, True, "shop"),
    ("void", 1, 2, 2),  # credited back
    ("void", 1, 2, 3),  # already voided
    ("void", 0, 1, 30),  # too late
    ("acknowledge", 1),
    ("acknowledge", 1),  # not an open overdraft any more
    ("site_rules", 120, 2, 30, True),
    # taps 6-10: card 0 works 30 minutes, card 1 checks in, card 2 works too long
    ("taps", [(IN, 0, 1, None), (OUT, 0, 30, None), (IN, 1, 0, None), (IN, 2, 0, None), (OUT, 2, 200, None)]),
    # taps 11-12: card 1 checks in again (tap 8 goes to review), card 0 checks out without a check-in
    ("taps", [(IN, 1, 200, None), (OUT, 0, 1, None)]),
    ("review", 8, "approve", 0, 0),  # no check-out: end_ms is needed
    ("review", 8, "approve", 0, 60),
    ("review", 9, "reject", 0, 0),
    ("review", 12, "approve", 40, 0),  # an orphan check-out, given a start
    ("review", 6, "approve", 0, 0),  # paid already
    ("taps", [(IN, 2, 300, None)]),  # time passes: card 1's shift from tap 11 is overdue
    ("review", 11, "approve", 0, 0),  # refused, after marking its copy missing_check_out
    ("review", 11, "approve", 0, 10),
    ("manual", 0, 300, 90),
    ("manual", 3, 300, 90),  # a card that is not registered
    ("shop_limits", 20, 60, True),
    ("shop_limits", 20, 60, False),  # not a shop
    # taps 14-16: card 0 works 90 minutes, card 1 checks in
    ("taps", [(IN, 0, 1, None), (OUT, 0, 90, None), (IN, 1, 0, None)]),
    ("undo", 15),  # card 0's paid check-out: tokens back, its shift open again
    ("undo", 16),  # card 1's check-in: set aside
    ("undo", 15),  # twice: the shift moved on (the kiosk's history would say already_undone)
    ("taps", [(OUT, 0, 30, None)]),  # card 0's shift closes again, 120 minutes
    ("undo", 1),  # a tap long superseded
]


@settings(max_examples=200, deadline=None)
@example(steps=EVERY_PATH, cap=0)
@example(steps=EVERY_PATH, cap=60)
@given(steps=st.lists(step, min_size=4, max_size=30), cap=st.sampled_from([0, 60]))
def test_the_book_applies_redemptions_and_decisions_as_the_servers_storage_does(
    steps: list[tuple[Any, ...]], cap: int
):
    checkin = Site(ids.new_id(ids.SITE), "", 60, 8, daily_cap=cap)
    limits = ShopLimits(max_amount=40, offline_allowance=10, offline_daily_cap=200, void_window_s=900)
    shop = Site(ids.new_id(ids.SITE), "", 0, 12, kind=SiteKind.SHOP, shop=limits)
    cards = {card_id: CardState(volunteer_id, 0) for card_id, volunteer_id in CARDS}
    cards[CARDS[2][0]].blocked_ms = T0 + 600 * MINUTE  # blocked later on: redemptions after it are refused
    book = LedgerBook({checkin.site_id: checkin, shop.site_id: shop}, cards)
    with memory_ledger() as storage:
        with storage.write() as tx:
            tx.insert_site(checkin, 0)
            tx.insert_site(shop, 0)
            for card_id, volunteer_id in CARDS:
                tx.insert_volunteer(volunteer_id, "", 0)
                tx.insert_card(Card(card_id, volunteer_id, CardKind.CREDENTIAL, 0))
            tx.block_card(CARDS[2][0], T0 + 600 * MINUTE, None)
        twin = Twin(storage, book, checkin.site_id, shop.site_id)
        for one in [FUND, *steps]:
            twin.run(one)
            twin.compare()


# -- facts and events one by one ---------------------------------------------------------------------
def _facts(replay: Replay, *entries: bytes, first: int = 0) -> None:
    for index, entry in enumerate(entries, start=first):
        replay.fact(index, parse_entry(entry))


def _event(
    kiosk: str, seq: int, card: str, *, flags: tuple[str, ...] = (), sig: int = SIG_OK
) -> tuple[Any, ...]:
    prev = GENESIS_PREV if seq == 1 else f"{seq - 1:064x}"
    return (
        "E",
        kiosk,
        seq,
        prev,
        f"{seq:064x}",
        "check_in",
        card,
        T0,
        T0,
        flags,
        sig,
        "boot",
        seq * 1000,
        True,
    )


def _codes(problems: Problems) -> list[tuple[str, int | None]]:
    return [(p.code, p.index) for p in problems.shown]


def _site_entry(site: str, *, allow: Any = False, tokens: int = 10, at_ms: int = 1) -> bytes:
    return make_entry(
        "site",
        site_id=site,
        tokens_per_hour=tokens,
        max_shift_hours=12,
        allow_uncredentialed=allow,
        at_ms=at_ms,
    )


def test_facts_out_of_order_are_named():
    problems = Problems()
    replay = Replay(problems)
    site, kiosk, card, volunteer = (
        ids.new_id(kind) for kind in (ids.SITE, ids.KIOSK, ids.CARD, ids.VOLUNTEER)
    )
    key = PrivateKey.generate().public_key.to_b64()
    _facts(
        replay,
        make_entry(
            "kiosk_enrolled", kiosk_id=kiosk, site_id=site, public_key=key, at_ms=1
        ),  # 0: site unknown
        make_entry("card_blocked", card_id=card, at_ms=2),  # 1: card unknown
        _site_entry(site, at_ms=3),
        make_entry("kiosk_enrolled", kiosk_id=kiosk, site_id=site, public_key=key, at_ms=4),
        make_entry("kiosk_enrolled", kiosk_id=kiosk, site_id=site, public_key=key, at_ms=5),  # 4: twice
        make_entry("card", card_id=card, volunteer_id=volunteer, at_ms=6),
        make_entry("card", card_id=card, volunteer_id=volunteer, at_ms=7),  # 6: twice
        _site_entry(site, allow="no", at_ms=8),
    )
    assert _codes(problems) == [
        ("out_of_order", 0),
        ("out_of_order", 1),
        ("out_of_order", 4),
        ("card_exists", 6),
        ("bad_field", 7),
    ]


def test_events_are_checked_against_their_kiosk_as_it_was_then():
    problems = Problems()
    replay = Replay(problems)
    site, kiosk, card, volunteer = (
        ids.new_id(kind) for kind in (ids.SITE, ids.KIOSK, ids.CARD, ids.VOLUNTEER)
    )
    key = PrivateKey.generate().public_key.to_b64()
    replay.event(0, _event(kiosk, 1, card, sig=SIG_NO_KEY))  # before the kiosk's enrolment
    _facts(
        replay,
        _site_entry(site),
        make_entry("kiosk_enrolled", kiosk_id=kiosk, site_id=site, public_key=key, at_ms=2),
        make_entry("card", card_id=card, volunteer_id=volunteer, at_ms=3),
        first=1,
    )
    replay.event(3, _event(kiosk, 1, card))
    replay.event(4, _event(kiosk, 2, card, flags=("unknown_card",)))  # the card is known: wrong flag
    replay.fact(5, parse_entry(make_entry("kiosk_status", kiosk_id=kiosk, status="suspended", at_ms=4)))
    replay.event(6, _event(kiosk, 3, card))  # admitted while suspended
    replay.fact(7, parse_entry(make_entry("kiosk_status", kiosk_id=kiosk, status="revoked", at_ms=5)))
    replay.fact(8, parse_entry(make_entry("kiosk_status", kiosk_id=kiosk, status="active", at_ms=6)))
    assert _codes(problems) == [
        ("unknown_kiosk", 0),
        ("flags_mismatch", 4),
        ("kiosk_suspended", 6),
        ("kiosk_revoked", 8),
    ]
    assert problems.shown[1].kiosk_id == kiosk and problems.shown[1].seq == 2


def _shop_entry(site: str, *, at_ms: int = 1) -> bytes:
    return make_entry(
        "shop",
        site_id=site,
        max_amount=40,
        offline_allowance=10,
        offline_daily_cap=200,
        void_window_s=900,
        at_ms=at_ms,
    )


def test_a_shop_keeps_its_kind_and_limits_when_its_card_policy_changes():
    problems = Problems()
    replay = Replay(problems)
    shop, checkin = ids.new_id(ids.SITE), ids.new_id(ids.SITE)
    _facts(
        replay,
        _shop_entry(shop),
        _site_entry(shop, allow=True, tokens=0),
        _site_entry(checkin),
        _shop_entry(checkin, at_ms=2),  # 3: a check-in site is never made a shop
    )
    assert _codes(problems) == [("out_of_order", 3)]
    assert replay.sites[shop].kind is SiteKind.SHOP and replay.sites[shop].allow_uncredentialed
    assert replay.sites[shop].shop == ShopLimits(40, 10, 200, 900)
    assert replay.sites[checkin].kind is SiteKind.CHECKIN and replay.sites[checkin].shop is None


def _coordinator_entry(key: PrivateKey, status: str, *, named: str | None = None) -> bytes:
    public = key.public_key
    return make_entry(
        "coordinator_key",
        coordinator_id=named or coordinator_id(public),
        public_key=public.to_b64(),
        status=status,
        at_ms=1,
    )


def _decision(
    key: PrivateKey, kind: str, data: dict[str, Any], *, at_ms: int = T0, received_ms: int = T0
) -> bytes:
    wire = sign_decision(Decision(kind, coordinator_id(key.public_key), at_ms, data), key)
    body, sig = b64decode(wire["body"], field="body"), b64decode(wire["sig"], field="sig")
    return decision_entry(body, sig, received_ms=received_ms)


def test_decisions_are_checked_against_the_coordinator_keys_as_they_were_then():
    problems = Problems()
    replay = Replay(problems)
    site = ids.new_id(ids.SITE)
    boss, retired, stranger = PrivateKey.generate(), PrivateKey.generate(), PrivateKey.generate()

    def rules(tokens: int) -> dict[str, Any]:
        return {"site": site, "tokens_per_hour": tokens, "max_shift_hours": 8, "daily_cap": 0, "bonuses": []}

    again = _decision(boss, "site_rules", rules(20))
    forged = parse_entry(_decision(boss, "site_rules", rules(30)))
    forged_sig = bytes([forged["sig"][0] ^ 1]) + forged["sig"][1:]
    _facts(
        replay,
        _site_entry(site),
        _coordinator_entry(boss, "active"),
        _coordinator_entry(retired, "active"),
        _coordinator_entry(stranger, "active", named=coordinator_id(boss.public_key)),  # 3: not its ID
        _decision(boss, "site_rules", rules(15)),
        _coordinator_entry(retired, "revoked"),
        _decision(retired, "site_rules", rules(16)),  # 6: revoked before it
        _decision(stranger, "site_rules", rules(17)),  # 7: no such key logged
        again,
        again,  # 9: the same bytes twice
        decision_entry(forged["body"], forged_sig, received_ms=T0),  # 10: signature altered
        _decision(boss, "site_rules", rules(40), at_ms=T0 - 25 * 3_600_000),  # 11: stale
        _decision(
            boss,
            "manual_shift",
            {
                "card": ids.new_id(ids.CARD),
                "site": site,
                "start_ms": T0 - MINUTE,
                "end_ms": T0,
                "reason": "paper_list",
            },
        ),  # 12: the card is not registered
        _coordinator_entry(retired, "active"),  # 13: revoked is final
        decision_entry(b"{}", bytes(64), received_ms=T0),  # 14: does not parse
    )
    assert _codes(problems) == [
        ("bad_field", 3),
        ("coordinator_revoked", 6),
        ("unknown_coordinator", 7),
        ("duplicate", 9),
        ("bad_signature", 10),
        ("decision_stale", 11),
        ("unknown_card", 12),
        ("coordinator_revoked", 13),
        ("unknown_type", 14),
    ]
    assert replay.decisions == 8  # every decision that parses, the duplicate too
    assert replay.sites[site].tokens_per_hour == 40  # applied in order, whatever was wrong with them


def _cosigned(
    key: PrivateKey, cosigner: PrivateKey, data: dict[str, Any], *, over: bytes | None = None
) -> bytes:
    """A site_rules decision by ``key`` whose entry carries ``cosigner``'s cosignature (over ``over``)."""
    entry = parse_entry(_decision(key, "site_rules", data))
    sig = cosigner.sign(cosign_message(entry["body"] if over is None else over))
    return decision_entry(
        entry["body"], entry["sig"], received_ms=T0, cosig=(coordinator_id(cosigner.public_key), sig)
    )


def test_a_cosignature_is_checked_as_a_second_key_logged_active_before_it():
    problems = Problems()
    replay = Replay(problems)
    site = ids.new_id(ids.SITE)
    boss, second, stranger, retired = (PrivateKey.generate() for _ in range(4))

    def rules(tokens: int) -> dict[str, Any]:
        return {"site": site, "tokens_per_hour": tokens, "max_shift_hours": 8, "daily_cap": 0, "bonuses": []}

    _facts(
        replay,
        _site_entry(site),
        _coordinator_entry(boss, "active"),
        _coordinator_entry(second, "active"),
        _coordinator_entry(retired, "active"),
        _cosigned(boss, second, rules(15)),  # 4: two keys agree
        _cosigned(boss, boss, rules(16)),  # 5: the signer's own key
        _cosigned(boss, stranger, rules(17)),  # 6: a key never logged
        _cosigned(boss, second, rules(18), over=b"other bytes"),  # 7: over another body
        _coordinator_entry(retired, "revoked"),
        _cosigned(boss, retired, rules(19)),  # 9: revoked before it
    )
    assert _codes(problems) == [
        ("cosigner_same_person", 5),
        ("unknown_coordinator", 6),
        ("bad_signature", 7),
        ("coordinator_revoked", 9),
    ]
