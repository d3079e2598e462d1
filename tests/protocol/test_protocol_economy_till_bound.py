"""The worst-case loss of a stolen till key (``docs/economy.md``), held by the pure rules for any input.

A thief with one till's key signs whatever offline redemptions they like: any
cards, amounts, claimed times, and sends them in any batches at any times.
Run through :func:`protocol.economy.apply_event` over the auditor's in-memory
book, what is debited (so owed to the shop) without review stays within the
documented formula: per server receive day at most the till's
``offline_daily_cap``, and no card's balance below ``-offline_allowance``
through this till.
"""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import ids
from protocol import moved_tokens as moved
from protocol.earning import local_day_number
from protocol.economy import LedgerEntry, RedemptionStatus, Site, SiteKind, apply_event
from protocol.events import ClockEvidence, Event, EventKind
from protocol.trust import ShopLimits
from provisioning.audit.book import CardState, LedgerBook

T0 = 1_764_400_000_000
HOUR = 3_600_000
DAY = 24 * HOUR
CARDS = 4

_REDEMPTION = st.tuples(
    st.integers(0, CARDS - 1),  # which card
    st.integers(1, 50),  # amount, at most max_amount
    st.integers(-5 * DAY, 2 * DAY),  # the till's claimed time, relative to when the server receives it
)
_BATCH = st.tuples(st.integers(1, 30 * HOUR), st.lists(_REDEMPTION, min_size=1, max_size=12))


@settings(max_examples=150, deadline=None)
@given(
    allowance=st.integers(0, 20),
    cap=st.integers(0, 120),
    balances=st.lists(st.integers(0, 40), min_size=CARDS, max_size=CARDS),
    batches=st.lists(_BATCH, min_size=1, max_size=12),
)
def test_what_one_till_key_gets_paid_without_review_stays_within_the_formula(
    allowance: int, cap: int, balances: list[int], batches: list[tuple[int, list[tuple[int, int, int]]]]
) -> None:
    limits = ShopLimits(max_amount=50, offline_allowance=allowance, offline_daily_cap=cap, void_window_s=900)
    shop = Site("s_shop", "Laden", 0, 1, kind=SiteKind.SHOP, shop=limits)
    card_ids = [ids.new_id(ids.CARD) for _ in range(CARDS)]
    states = {card: CardState(f"v_{index}") for index, card in enumerate(card_ids)}
    book = LedgerBook({shop.site_id: shop}, states)
    book.insert_ledger_entries(
        LedgerEntry(states[card].volunteer_id, balance, "shift", 0, T0, None)
        for card, balance in zip(card_ids, balances, strict=True)
    )
    kiosk = ids.new_id(ids.KIOSK)
    paid_per_day: dict[int, int] = defaultdict(int)
    received, seq = T0, 0
    for delay, redemptions in batches:
        received += delay
        for which, amount, claimed in redemptions:
            seq += 1
            card = card_ids[which]
            event = Event(
                kiosk,
                seq,
                "",
                EventKind.REDEEM,
                card,
                ClockEvidence(received + claimed, True, "boot", seq),
                {"amount": amount, "id": ids.new_id(ids.REDEMPTION), "online": False},
            )
            before = book.balance(states[card].volunteer_id)
            flags = apply_event(book, shop, event, states[card], now_ms=received, log_index=None)
            after = book.balance(states[card].volunteer_id)
            if moved(flags):
                paid_per_day[local_day_number(received)] += amount
                assert after == before - amount
                assert after >= -allowance  # the card allowance, whatever the card had
                assert claimed >= -72 * HOUR  # the back-dating window
            else:
                assert after == before
                record = book.get_redemption(event.data["id"])
                assert record is not None and record.status is RedemptionStatus.HELD
    # The formula: per server receive day, at most offline_daily_cap(t) paid without review.
    assert all(total <= cap for total in paid_per_day.values())
    assert sum(paid_per_day.values()) <= cap * len(paid_per_day)
