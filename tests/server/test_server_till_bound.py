"""A stolen till key does bounded damage, enforced by the server (``docs/economy.md``, "The worst-case loss").

Each test plays a thief who holds a shop terminal's key and signs offline
redemptions with it, sent to the real loopback server.  What the documented
bound does not cover is held for review: not debited, not owed to the shop.
"""

from __future__ import annotations

from server_helpers import HOUR, MINUTE, Api
from server_shop_helpers import ShopWorld, redeem

from protocol import moved_tokens
from protocol.economy.models import OFFLINE_BACKDATE_WINDOW_MS, RedemptionStatus

ALLOWANCE = 10
DAILY_CAP = 200


def _world(api: Api) -> ShopWorld:
    return ShopWorld(api, offline_allowance=ALLOWANCE, offline_daily_cap=DAILY_CAP)


def test_one_batch_of_ninety_offline_redemptions_of_one_card_pays_only_the_allowance(api: Api) -> None:
    """The attack that took one card to -900 through one till with an allowance of 10."""
    w = _world(api)
    victim = w.holder()
    now = api.clock.now
    batch = [redeem(w.till, victim.card_id, 10, online=False, wall_ms=now - MINUTE)[1] for _ in range(90)]
    flags = w.send(w.till, batch)
    assert sum(moved_tokens(f) for f in flags) == 1
    assert flags[1] == ["offline_over_allowance"]
    assert w.balance(victim) == -ALLOWANCE
    w.assert_books_agree()


def test_one_offline_redemption_per_batch_cannot_walk_a_card_below_the_allowance(api: Api) -> None:
    """A thief who syncs after each redemption gets a receipt each time: the balance still bounds it."""
    w = _world(api)
    victim = w.holder(tokens=5)
    paid = 0
    for _ in range(30):
        api.clock.now += MINUTE
        (flags,) = w.send(w.till, [redeem(w.till, victim.card_id, 3, online=False, wall_ms=api.clock.now)[1]])
        paid += 3 if moved_tokens(flags) else 0
    assert w.balance(victim) >= -ALLOWANCE
    assert paid == 15  # 5 + 10 allowance
    w.assert_books_agree()


def test_the_daily_cap_counts_by_when_the_server_received_them_not_the_tills_clock(api: Api) -> None:
    """Dating each redemption on another day (back within the window) does not reset the cap."""
    w = _world(api)
    now = api.clock.now
    cards = [w.holder(tokens=100) for _ in range(30)]
    batch = [
        redeem(w.till, card.card_id, 10, online=False, wall_ms=now - index * HOUR)[1]
        for index, card in enumerate(cards)
    ]
    flags = w.send(w.till, batch)
    paid = sum(10 for f in flags if moved_tokens(f))
    assert paid == DAILY_CAP
    assert flags[-1] == ["offline_over_daily_cap"]
    # The next receive day starts afresh.
    api.clock.now += 24 * HOUR
    more = [redeem(w.till, card.card_id, 10, online=False, wall_ms=api.clock.now)[1] for card in cards[:3]]
    assert w.send(w.till, more) == [[], [], []]


def test_a_redemption_dated_beyond_the_back_dating_window_is_held(api: Api) -> None:
    w = _world(api)
    ada = w.holder(tokens=50)
    now = api.clock.now
    rid, old = redeem(w.till, ada.card_id, 5, online=False, wall_ms=now - OFFLINE_BACKDATE_WINDOW_MS - 1)
    _, recent = redeem(w.till, ada.card_id, 5, online=False, wall_ms=now - OFFLINE_BACKDATE_WINDOW_MS)
    assert w.send(w.till, [old, recent]) == [["redeem_backdated"], []]
    assert w.record(rid).status is RedemptionStatus.HELD
    assert w.balance(ada) == 45
