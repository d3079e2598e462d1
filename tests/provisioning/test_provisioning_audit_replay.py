"""The replay: the shift book pays exactly what the server's storage pays; facts out of order are named.

:class:`ShiftBook` stands in for :class:`server.storage.Tx` under
:func:`server.shifts.apply_taps`; Hypothesis drives both with the same taps
and compares every balance and shift count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import GENESIS_PREV, EventKind, PrivateKey, ids
from protocol.logentry import make_entry, parse_entry
from provisioning.audit._worker import SIG_NO_KEY, SIG_OK
from provisioning.audit.replay import Replay, ShiftBook
from provisioning.audit.report import Problems
from server.models import Card, CardKind, ShiftStatus, Site
from server.shifts import Tap, apply_taps
from server.storage import Storage, Tx

T0 = 1_764_400_000_000
MINUTE = 60_000
CARDS = [(ids.new_id(ids.CARD), ids.new_id(ids.VOLUNTEER)) for _ in range(3)]

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
def test_the_shift_book_pays_what_the_servers_storage_pays(
    steps: list[tuple[EventKind, int, int, str | None]], tokens: int, max_hours: int, batch: int
):
    site = Site(ids.new_id(ids.SITE), "s", tokens, max_hours)
    wall, sequence = T0, []
    for seq, (kind, card, minutes, flag) in enumerate(steps, start=1):
        wall += minutes * MINUTE
        sequence.append(Tap("k", seq, kind, CARDS[card][0], CARDS[card][1], wall, flag))
    book = ShiftBook()
    with Storage(Path(":memory:")) as storage, storage.write() as tx:
        tx.insert_site(site, 0)
        for card_id, volunteer_id in CARDS:
            tx.insert_volunteer(volunteer_id, "", 0)
            tx.insert_card(Card(card_id, volunteer_id, CardKind.CREDENTIAL, 0))
        for start in range(0, len(sequence), batch):
            apply_taps(tx, site, sequence[start : start + batch], T0)
            apply_taps(cast(Tx, book), site, sequence[start : start + batch], T0)
        stored = [shift for shifts in tx.shifts_by_volunteer().values() for shift in shifts]
        assert book.balances == {v: b for v, b in tx.balances().items()}
    assert book.shifts == len(stored)
    assert book.paid == sum(s.status is ShiftStatus.PAID for s in stored)
    assert book.review == sum(s.status is ShiftStatus.REVIEW for s in stored)


def _facts(replay: Replay, *entries: bytes) -> None:
    for index, entry in enumerate(entries):
        replay.fact(index, parse_entry(entry))


def _event(
    kiosk: str, seq: int, card: str, *, flags: tuple[str, ...] = (), sig: int = SIG_OK
) -> tuple[Any, ...]:
    prev = GENESIS_PREV if seq == 1 else f"{seq - 1:064x}"
    return ("E", kiosk, seq, prev, f"{seq:064x}", "check_in", card, T0, T0, flags, sig)


def _codes(problems: Problems) -> list[tuple[str, int | None]]:
    return [(p.code, p.index) for p in problems.shown]


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
        make_entry(
            "site", site_id=site, tokens_per_hour=10, max_shift_hours=12, allow_uncredentialed=False, at_ms=3
        ),
        make_entry("kiosk_enrolled", kiosk_id=kiosk, site_id=site, public_key=key, at_ms=4),
        make_entry("kiosk_enrolled", kiosk_id=kiosk, site_id=site, public_key=key, at_ms=5),  # 4: twice
        make_entry("card", card_id=card, volunteer_id=volunteer, at_ms=6),
        make_entry("card", card_id=card, volunteer_id=volunteer, at_ms=7),  # 6: twice
        make_entry(
            "site", site_id=site, tokens_per_hour=10, max_shift_hours=12, allow_uncredentialed="no", at_ms=8
        ),
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
        make_entry(
            "site", site_id=site, tokens_per_hour=10, max_shift_hours=12, allow_uncredentialed=False, at_ms=1
        ),
        make_entry("kiosk_enrolled", kiosk_id=kiosk, site_id=site, public_key=key, at_ms=2),
        make_entry("card", card_id=card, volunteer_id=volunteer, at_ms=3),
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
