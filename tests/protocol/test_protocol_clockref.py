"""Clock references and the sync request's clock sample: the rules server and auditor must share.

A kiosk without a battery clock is corrected by the server's time for a signed reading of its
monotonic clock.  These rules (:mod:`protocol.clockref`) decide which reference corrects an event
and when a new one is logged; they must be deterministic, or an auditor replaying the log would
count other times than the server did.
"""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import (
    GENESIS_PREV,
    ClockEvidence,
    Event,
    EventKind,
    MalformedError,
    PrivateKey,
    Reason,
    SignedEvent,
    encode_batch,
    sign_event,
)
from protocol.batches import decode_batch_request
from protocol.clockref import REFRESH_MS, ClockRef, corrected_ms, event_time, wants_ref
from protocol.errors import VerificationError
from protocol.heartbeat import Heartbeat, open_heartbeat, sign_heartbeat

KEY = PrivateKey(bytes(range(32)))
KIOSK = "k_559fa9c0eb2eb94da892084c943b1b27"
OTHER_KIOSK = "k_00000000000000000000000000000001"
CARD = "c_00a71ed80fa1e76c198371c3ece0dc0e"
BOOT = "b08d2866-f413-4cb3-a8a0-cd36bb39ffe3"
REAL_MS = 1_764_400_000_000


def _beat(kiosk: str = KIOSK, mono_ms: int = 7_200_000) -> Heartbeat:
    return Heartbeat(
        kiosk=kiosk,
        sent_ms=5_000,
        boot=BOOT,
        mono_ms=mono_ms,
        synced=False,
        version="0.1.0",
        pending=2,
        reader="unknown",
        last_seq=2,
    )


def _events(count: int) -> list[SignedEvent]:
    """``count`` chained taps of one kiosk whose clock is unsynced (1970 on the wall)."""
    signed: list[SignedEvent] = []
    prev = GENESIS_PREV
    for seq in range(1, count + 1):
        event = Event(
            kiosk=KIOSK,
            seq=seq,
            prev=prev,
            kind=EventKind.CHECK_IN if seq % 2 else EventKind.CHECK_OUT,
            card=CARD,
            clock=ClockEvidence(wall_ms=5_000 + seq, synced=False, boot_id=BOOT, mono_ms=1_000 + seq),
        )
        signed.append(sign_event(event, KEY))
        prev = signed[-1].hash
    return signed


# -- corrected_ms ------------------------------------------------------------------------------------


def test_no_references_give_no_time() -> None:
    assert corrected_ms([], 12_345) is None


def test_the_nearest_reference_wins_whichever_side_it_is_on() -> None:
    # Two references that disagree by 1 s (drift, or transit time): which one counts is visible.
    early = ClockRef(mono_ms=1_000_000, at_ms=REAL_MS)
    late = ClockRef(mono_ms=9_000_000, at_ms=REAL_MS + 8_000_000 + 1_000)
    assert corrected_ms([early, late], 2_000_000) == REAL_MS + 1_000_000  # nearer the early one
    assert corrected_ms([early, late], 8_000_000) == REAL_MS + 7_000_000 + 1_000  # nearer the late one
    assert corrected_ms([late, early], 2_000_000) == REAL_MS + 1_000_000  # order does not matter then
    # A reference taken after the event corrects it backwards.
    assert corrected_ms([late], 8_999_000) == REAL_MS + 8_000_000


def test_a_tie_goes_to_the_earlier_logged_reference() -> None:
    """Equidistant references must not be chosen by anything but log order, so replays agree."""
    first = ClockRef(mono_ms=1_000_000, at_ms=REAL_MS)
    second = ClockRef(mono_ms=3_000_000, at_ms=REAL_MS + 2_000_000 + 500)
    assert corrected_ms([first, second], 2_000_000) == REAL_MS + 1_000_000
    assert corrected_ms([second, first], 2_000_000) == REAL_MS + 1_000_000 + 500


@given(
    boot_at=st.integers(min_value=0, max_value=4_000_000_000_000),
    ref_monos=st.lists(st.integers(min_value=0, max_value=10**11), min_size=1, max_size=8),
    mono=st.integers(min_value=0, max_value=10**11),
)
def test_a_true_running_clock_is_corrected_exactly_by_any_references(
    boot_at: int, ref_monos: list[int], mono: int
) -> None:
    """Whatever the references, a monotonic clock without drift maps to the real time it ran at."""
    refs = [ClockRef(mono_ms=m, at_ms=boot_at + m) for m in ref_monos]
    assert corrected_ms(refs, mono) == boot_at + mono


# -- event_time --------------------------------------------------------------------------------------


def test_a_synced_clock_is_taken_at_its_word_even_with_references() -> None:
    refs = [ClockRef(mono_ms=1_000, at_ms=REAL_MS)]
    assert event_time(REAL_MS + 77, True, 2_000, refs) == (REAL_MS + 77, True)
    assert event_time(REAL_MS + 77, True, 2_000, []) == (REAL_MS + 77, True)


def test_an_unsynced_clock_is_corrected_by_its_boots_reference_and_trusted() -> None:
    refs = [ClockRef(mono_ms=3_601_000, at_ms=REAL_MS)]
    assert event_time(5_000, False, 1_000, refs) == (REAL_MS - 3_600_000, True)


def test_an_unsynced_clock_without_references_keeps_its_wall_time_untrusted() -> None:
    assert event_time(5_000, False, 1_000, []) == (5_000, False)


# -- wants_ref ---------------------------------------------------------------------------------------


def test_a_boot_without_references_wants_one() -> None:
    assert wants_ref([], 0) is True


def test_a_new_reference_only_once_the_newest_is_refresh_ms_old() -> None:
    refs = [ClockRef(mono_ms=1_000, at_ms=REAL_MS), ClockRef(mono_ms=50_000, at_ms=REAL_MS + 49_000)]
    assert wants_ref(refs, 50_000 + REFRESH_MS - 1) is False
    assert wants_ref(refs, 50_000 + REFRESH_MS) is True
    # Measured from the newest reference, not the oldest.
    assert wants_ref(refs, 1_000 + REFRESH_MS) is False


def test_a_sample_from_before_a_reference_never_adds_one() -> None:
    """A replayed or out-of-order sample must not add a reference, however old the boot's are."""
    refs = [ClockRef(mono_ms=10 * REFRESH_MS, at_ms=REAL_MS)]
    assert wants_ref(refs, 10 * REFRESH_MS - 1) is False
    assert wants_ref(refs, 0) is False


# -- the batch envelope ------------------------------------------------------------------------------


def test_a_batch_with_a_clock_sample_round_trips() -> None:
    events = _events(2)
    wire = sign_heartbeat(_beat(), KEY)
    decoded = decode_batch_request(encode_batch(events, clock=wire))
    assert decoded.clock == wire
    assert decoded.items == [(signed.body, signed.signature) for signed in events]


def test_a_batch_without_a_clock_sample_has_none() -> None:
    data = encode_batch(_events(1))
    assert "clock" not in json.loads(data)
    assert decode_batch_request(data).clock is None


@pytest.mark.parametrize("clock", ["a string", ["body", "sig"], 0, True])
def test_a_clock_sample_that_is_not_an_object_is_refused(clock: object) -> None:
    envelope = {"events": [signed.to_wire() for signed in _events(1)], "clock": clock}
    with pytest.raises(MalformedError) as info:
        decode_batch_request(json.dumps(envelope).encode())
    assert info.value.reason is Reason.MALFORMED_REQUEST


def test_an_extra_top_level_key_is_refused() -> None:
    envelope = {"events": [signed.to_wire() for signed in _events(1)], "clocks": {}}
    with pytest.raises(MalformedError) as info:
        decode_batch_request(json.dumps(envelope).encode())
    assert info.value.reason is Reason.MALFORMED_REQUEST


# -- open_heartbeat ----------------------------------------------------------------------------------


def test_open_heartbeat_gives_the_exact_signed_bytes() -> None:
    """A ``clock_ref`` log entry keeps these bytes, so they must be the kiosk's, not a re-encoding."""
    beat = _beat()
    wire = sign_heartbeat(beat, KEY)
    opened = open_heartbeat(wire, KEY.public_key, kiosk_id=KIOSK, field="clock")
    assert opened.beat == beat
    assert opened.body == base64.b64decode(wire["body"]) == beat.to_bytes()
    assert opened.sig == base64.b64decode(wire["sig"])
    KEY.public_key.verify(opened.body, opened.sig)


def test_open_heartbeat_refuses_another_kiosks_heartbeat() -> None:
    wire = sign_heartbeat(_beat(kiosk=OTHER_KIOSK), KEY)
    with pytest.raises(MalformedError) as info:
        open_heartbeat(wire, KEY.public_key, kiosk_id=KIOSK, field="clock")
    assert info.value.reason is Reason.KIOSK_MISMATCH


def test_open_heartbeat_refuses_a_heartbeat_signed_by_another_key() -> None:
    wire = sign_heartbeat(_beat(), PrivateKey.generate())
    with pytest.raises(VerificationError) as info:
        open_heartbeat(wire, KEY.public_key, kiosk_id=KIOSK, field="clock")
    assert info.value.reason is Reason.BAD_SIGNATURE
