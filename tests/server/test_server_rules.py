"""Earning rules at the server: the daily cap across batches, and the auditor's book agreeing with storage.

The rules themselves (bonuses, rounding, local days) are :mod:`protocol.earning`,
tested in ``tests/protocol/test_protocol_earning.py``; :mod:`server.rules` keeps
their old names for the server and the audit.
"""

from __future__ import annotations

import datetime
from typing import cast

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import EventKind, earning, ids
from provisioning.audit.book import LedgerBook
from server import rules
from server.models import Card, CardKind, Shift, ShiftStatus, Site
from server.rules import ZONE, EarningRules, local_day, local_day_number
from server.shifts import Tap, apply_taps
from server.storage import Storage, Tx
from tests.server.ledger_file import memory_ledger

MINUTE = 60_000
HOUR = 3_600_000
DAY = 86_400_000
EVERY_DAY = [0, 1, 2, 3, 4, 5, 6]


def local_ms(text: str) -> int:
    """The instant of a Europe/Berlin wall-clock time ``YYYY-MM-DD HH:MM`` (the first, if it repeats)."""
    return int(datetime.datetime.fromisoformat(text).replace(tzinfo=ZONE).timestamp() * 1000)


def bonus(percent: int, start: str, end: str, days: list[int] | None = None, dates: list[str] | None = None):
    return {"percent": percent, "days": days or [], "dates": dates or [], "from": start, "to": end}


NIGHT = bonus(125, "22:00", "06:00", EVERY_DAY)
CHRISTMAS = bonus(200, "00:00", "00:00", dates=["2025-12-25"])


def test_server_rules_are_the_protocols_rules() -> None:
    # The server, the audit and the kiosk's estimate must run the very same code.
    for name in rules.__all__:
        assert getattr(rules, name) is getattr(earning, name)


def test_a_sites_rules_are_read_from_the_site_as_stored() -> None:
    site = Site(ids.new_id(ids.SITE), "s", 10, 9, daily_cap=25, bonuses=(NIGHT,))
    assert EarningRules.of_site(site) == EarningRules(10, 25, rules.parse_bonuses([NIGHT]), max_shift_hours=9)


SITE = Site(ids.new_id(ids.SITE), "s", 10, 12, daily_cap=25, bonuses=(NIGHT,))
CARDS = [(ids.new_id(ids.CARD), ids.new_id(ids.VOLUNTEER)) for _ in range(2)]


def _storage(site: Site) -> Storage:
    storage = memory_ledger()
    with storage.write() as tx:
        tx.insert_site(site, 0)
        for card_id, volunteer_id in CARDS:
            tx.insert_volunteer(volunteer_id, b"", 0)
            tx.insert_card(Card(card_id, volunteer_id, CardKind.CREDENTIAL, 0))
    return storage


def _taps(*times: tuple[str, int]) -> list[Tap]:
    """Taps of the first card at local ``(time, seq)``: odd ``seq`` checks in, even checks out."""
    card, volunteer = CARDS[0]
    kinds = [EventKind.CHECK_OUT, EventKind.CHECK_IN]
    return [Tap("k", seq, kinds[seq % 2], card, volunteer, local_ms(text), None) for text, seq in times]


def _paid(tx: Tx) -> list[tuple[int, int | None]]:
    shifts = [s for group in tx.shifts_by_volunteer().values() for s in group]
    return [(s.tokens, s.uncapped_tokens) for s in shifts if s.status is ShiftStatus.PAID]


def test_the_daily_cap_counts_shifts_of_the_same_batch_and_of_earlier_ones() -> None:
    day = "2025-11-26"  # a Wednesday: 10:00-12:00 at 100 %, 20 tokens each
    with _storage(SITE) as storage:
        with storage.write() as tx:
            apply_taps(
                tx,
                SITE,
                _taps((f"{day} 10:00", 1), (f"{day} 12:00", 2), (f"{day} 13:00", 3), (f"{day} 15:00", 4)),
                0,
            )
        with storage.write() as tx:
            apply_taps(tx, SITE, _taps((f"{day} 16:00", 5), (f"{day} 18:00", 6)), 0)
            # The next local day starts afresh (the cap is per day by the shift's start).
            apply_taps(tx, SITE, _taps(("2025-11-27 10:00", 7), ("2025-11-27 12:00", 8)), 0)
            assert _paid(tx) == [(20, 20), (5, 20), (0, 20), (20, 20)]
            assert tx.balances() == {CARDS[0][1]: 45}
            assert (
                tx.tokens_paid_on_day(SITE.site_id, CARDS[0][1], *local_day(local_ms(f"{day} 09:00"))) == 25
            )


class _NoCapQueries(LedgerBook):
    def tokens_paid_on_day(self, site_id: str, volunteer_id: str, day_start_ms: int, day_end_ms: int) -> int:
        raise AssertionError("a site without a daily cap asked what was paid today")


def test_a_site_without_a_cap_never_asks_what_was_paid_today() -> None:
    site = Site(ids.new_id(ids.SITE), "s", 10, 12, bonuses=(NIGHT,))
    book = _NoCapQueries()
    apply_taps(cast(Tx, book), site, _taps(("2025-11-26 10:00", 1), ("2025-11-26 12:00", 2)), 0)
    assert book.balances == {CARDS[0][1]: 20}


_steps = st.lists(
    st.tuples(
        st.sampled_from([EventKind.CHECK_IN, EventKind.CHECK_OUT]),
        st.integers(0, len(CARDS) - 1),
        st.integers(0, 600),  # minutes since the previous tap
    ),
    max_size=30,
)


@settings(max_examples=40, deadline=None)
@given(
    steps=_steps,
    cap=st.integers(0, 60),
    batch=st.integers(1, 6),
    anchor=st.sampled_from([local_ms("2026-03-28 18:00"), local_ms("2026-10-24 18:00")]),
)
def test_the_auditors_shift_book_caps_what_storage_caps(
    steps: list[tuple[EventKind, int, int]], cap: int, batch: int, anchor: int
) -> None:
    site = Site(ids.new_id(ids.SITE), "s", 10, 14, daily_cap=cap, bonuses=(NIGHT, CHRISTMAS))
    wall, taps = anchor, []
    for seq, (kind, card, minutes) in enumerate(steps, start=1):
        wall += minutes * MINUTE
        taps.append(Tap("k", seq, kind, CARDS[card][0], CARDS[card][1], wall, None))
    book = LedgerBook()
    with _storage(site) as storage, storage.write() as tx:
        for first in range(0, len(taps), batch):
            apply_taps(tx, site, taps[first : first + batch], 0)
            apply_taps(cast(Tx, book), site, taps[first : first + batch], 0)
        assert book.balances == tx.balances()
        paid: dict[tuple[str, int], int] = {}
        shifts: list[Shift] = [s for group in tx.shifts_by_volunteer().values() for s in group]
        for shift in shifts:
            if shift.status is ShiftStatus.PAID:
                assert shift.uncapped_tokens is not None and shift.tokens <= shift.uncapped_tokens
                key = (shift.volunteer_id, local_day_number(shift.start_ms))
                paid[key] = paid.get(key, 0) + shift.tokens
    assert cap == 0 or all(total <= cap for total in paid.values())
