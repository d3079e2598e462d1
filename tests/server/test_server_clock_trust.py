"""Clock trust: shifts measured by the monotonic clock within one boot (``docs/protocol.md`` "Clock rules").

A kiosk has no battery-backed clock: after a power cut fake-hwclock restores a
stale time, and NTP may step the clock mid-shift.  Within one boot the
monotonic clock is exact, so it measures the shift; across boots only a
synced wall clock can.  Tap and server clocks are faked; nothing here waits.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import EventKind, encode_batch
from protocol.note import NoteVerifier
from server import admin, cards, ingest
from server.datadir import init_data_dir, open_data_dir
from tests.audit_helpers import audit_data_folder
from tests.server.server_helpers import HOUR, MINUTE, T0, Api, FakeClock, World, enrol_fake_kiosk

DAY = 24 * HOUR
BOOT_MONO = 20_000  # a kiosk's monotonic clock 20 s after boot


def _shifts(api: Api, world: World) -> list[tuple[Any, ...]]:
    return [
        (s["status"], s["reason"], s["minutes"], s["tokens"], s["start_ms"], s["end_ms"])
        for s in api.shifts(world.card_id)
    ]


def test_clock_of_1970_at_check_in_synced_by_check_out_pays_the_true_length(api: Api, world: World) -> None:
    k = world.kiosk
    batch = [
        k.event(EventKind.CHECK_IN, world.card_id, 5_000, mono_ms=BOOT_MONO, synced=False),
        k.event(EventKind.CHECK_OUT, world.card_id, T0, mono_ms=BOOT_MONO + 3 * HOUR, synced=True),
    ]
    response = api.send(k.kiosk_id, batch)
    assert [r["flags"] for r in response.json()["results"]] == [["clock_out_of_range"], []]
    assert _shifts(api, world) == [("paid", None, 180, 30, T0 - 3 * HOUR, T0)]
    assert api.balance(world.card_id) == 30


def test_clock_of_1970_paired_across_batches_is_measured_from_storage(api: Api, world: World) -> None:
    k = world.kiosk
    api.send(k.kiosk_id, [k.event(EventKind.CHECK_IN, world.card_id, 5_000, mono_ms=BOOT_MONO, synced=False)])
    api.send(k.kiosk_id, [k.event(EventKind.CHECK_OUT, world.card_id, T0, mono_ms=BOOT_MONO + HOUR)])
    assert _shifts(api, world) == [("paid", None, 60, 10, T0 - HOUR, T0)]


def test_clock_of_1970_without_a_synced_partner_stays_in_review(api: Api, world: World) -> None:
    k = world.kiosk
    batch = [
        k.event(EventKind.CHECK_IN, world.card_id, 5_000, mono_ms=BOOT_MONO, synced=False),
        k.event(EventKind.CHECK_OUT, world.card_id, 5_000 + HOUR, mono_ms=BOOT_MONO + HOUR, synced=False),
    ]
    api.send(k.kiosk_id, batch)
    assert [s[:4] for s in _shifts(api, world)] == [("review", "clock_out_of_range", 60, 0)]


def test_stale_clock_after_a_reboot_pays_by_mono_and_flags_a_disagreement(api: Api, world: World) -> None:
    k = world.kiosk
    stale = T0 - DAY  # fake-hwclock restored yesterday's time; NTP never came
    agreeing = [
        k.event(EventKind.CHECK_IN, world.card_id, stale, mono_ms=BOOT_MONO, synced=False),
        k.event(
            EventKind.CHECK_OUT, world.card_id, stale + 2 * HOUR, mono_ms=BOOT_MONO + 2 * HOUR, synced=False
        ),
    ]
    api.send(k.kiosk_id, agreeing)
    k.reboot()
    drifting = [  # the wall clock says 5 h, the monotonic clock 2 h
        k.event(EventKind.CHECK_IN, world.card_id, stale + 3 * HOUR, mono_ms=BOOT_MONO, synced=False),
        k.event(
            EventKind.CHECK_OUT, world.card_id, stale + 8 * HOUR, mono_ms=BOOT_MONO + 2 * HOUR, synced=False
        ),
    ]
    api.send(k.kiosk_id, drifting)
    assert _shifts(api, world) == [
        ("paid", None, 120, 20, stale, stale + 2 * HOUR),
        ("review", "clock_unsynced", 120, 0, stale + 3 * HOUR, stale + 5 * HOUR),
    ]


def test_clock_jump_forward_mid_shift_pays_the_mono_length(api: Api, world: World) -> None:
    k = world.kiosk
    batch = [
        k.event(EventKind.CHECK_IN, world.card_id, T0 - 4 * HOUR, mono_ms=BOOT_MONO),
        # NTP stepped the clock 3 h forward during the hour worked.
        k.event(EventKind.CHECK_OUT, world.card_id, T0, mono_ms=BOOT_MONO + HOUR),
    ]
    api.send(k.kiosk_id, batch)
    assert _shifts(api, world) == [("paid", None, 60, 10, T0 - 4 * HOUR, T0 - 3 * HOUR)]


def test_mono_going_back_within_a_boot_is_clock_inconsistent(api: Api, world: World) -> None:
    k = world.kiosk
    batch = [
        k.event(EventKind.CHECK_IN, world.card_id, T0 - HOUR, mono_ms=BOOT_MONO + 1),
        k.event(EventKind.CHECK_OUT, world.card_id, T0, mono_ms=BOOT_MONO),
    ]
    api.send(k.kiosk_id, batch)
    assert [s[:4] for s in _shifts(api, world)] == [("review", "clock_inconsistent", 0, 0)]


def test_reboot_between_taps_with_an_unsynced_clock_goes_to_review(api: Api, world: World) -> None:
    k = world.kiosk
    api.send(k.kiosk_id, [k.event(EventKind.CHECK_IN, world.card_id, T0 - 2 * HOUR, synced=True)])
    k.reboot()
    api.send(
        k.kiosk_id, [k.event(EventKind.CHECK_OUT, world.card_id, T0 - HOUR, mono_ms=BOOT_MONO, synced=False)]
    )
    assert [s[:4] for s in _shifts(api, world)] == [("review", "clock_unsynced", 60, 0)]


def test_reboot_between_synced_taps_keeps_the_wall_clock_rule(api: Api, world: World) -> None:
    k = world.kiosk
    api.send(k.kiosk_id, [k.event(EventKind.CHECK_IN, world.card_id, T0 - 2 * HOUR, mono_ms=9 * HOUR)])
    k.reboot()
    api.send(k.kiosk_id, [k.event(EventKind.CHECK_OUT, world.card_id, T0 - HOUR, mono_ms=BOOT_MONO)])
    assert _shifts(api, world) == [("paid", None, 60, 10, T0 - 2 * HOUR, T0 - HOUR)]


_CLOCK = st.tuples(
    st.integers(-2 * DAY, DAY),  # the wall clock's error at check-in
    st.integers(-4 * HOUR, 4 * HOUR),  # a jump of the wall clock during the shift
    st.booleans(),  # synced at check-in
    st.booleans(),  # synced at check-out
    st.integers(0, 10 * HOUR),  # the true length
    st.booleans(),  # whether the check-in wall clock reads 1970 instead
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shifts=st.lists(_CLOCK, min_size=1, max_size=4))
def test_random_clocks_in_one_boot_never_pay_more_than_mono_and_the_audit_agrees(
    shifts: list[tuple[int, int, bool, bool, int, bool]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "data"
        init = init_data_dir(folder, origin="clock.test/ledger")
        clock = FakeClock(T0 + 20 * DAY)
        with open_data_dir(folder, now_ms=clock) as ctx:
            site = admin.create_site(ctx, {"name": "Hall", "tokens_per_hour": 60, "max_shift_hours": 8})
            kiosk = enrol_fake_kiosk(ctx, site["site_id"])
            card_id = cards.create_card(ctx, {"name": "Ada", "site_id": site["site_id"]})["card_id"]
            mono, true_ms = BOOT_MONO, T0
            lengths = []
            for error, jump, synced_in, synced_out, length, ancient in shifts:
                wall_in = 5_000 if ancient else true_ms + error
                check_in = kiosk.event(EventKind.CHECK_IN, card_id, wall_in, mono_ms=mono, synced=synced_in)
                check_out = kiosk.event(
                    EventKind.CHECK_OUT,
                    card_id,
                    true_ms + error + jump + length,
                    mono_ms=mono + length,
                    synced=synced_out,
                )
                for event in (check_in, check_out):  # one batch each: the check-in's clock comes from storage
                    ingest.ingest_batch(ctx, kiosk.kiosk_id, encode_batch([event]))
                lengths.append(length)
                mono, true_ms = mono + length + HOUR, true_ms + length + HOUR
            with ctx.storage.read() as tx:
                rows = [(s.minutes, s.tokens) for s in tx.shifts_for_card(card_id)]  # the only card
                balance = sum(tx.balances().values())
        assert len(rows) == len(lengths)
        for (minutes, tokens), length in zip(rows, lengths, strict=True):
            assert 0 <= minutes <= length // MINUTE
            assert 0 <= tokens <= minutes  # 60 tokens an hour: one a minute at most
        assert balance == sum(tokens for _, tokens in rows)
        report = audit_data_folder(folder, [NoteVerifier.parse(init.log_verifier_key)], Path(tmp))
        assert report.ok, "\n".join(report.lines())
        assert report.balances_compared == 1
