"""Cards through nfcpy's real reader stack into the kiosk: every kind of tag the issue names.

Each test serves an emulated tag over nfcpy's ``udp`` driver on a fresh port,
reads it with :class:`hardware.nfc.NfcpyReader`, and hands the tap to the
kiosk core with a trust list that believes one issuer key.  Assertions are on
what the kiosk recorded (the signed events), not on nfcpy's product names.
"""

from __future__ import annotations

import time

import pytest

from hardware.emulator import EmulatedTag, EmulatedType2Tag, EmulatedType4Tag, serve_tag
from hardware.nfc import NfcpyReader
from hardware.reader import Tap
from protocol import EventKind, Reason, ids, uid_pseudonym
from terminal.tap import Outcome
from tests.cardfactory import TestIssuer, uid_for
from tests.terminal.terminal_helpers import recorded_events

CARD = ids.new_id(ids.CARD)
OTHER_UID = bytes.fromhex("04ffeeddccbbaa")


def _tap_through_nfcpy(tag: EmulatedTag) -> Tap:
    """Present ``tag`` to an nfcpy reader and return the one tap it produces."""
    with serve_tag(tag) as emulation, NfcpyReader(emulation.path, debounce_s=0).start() as reader:
        tap = reader.wait_for_tap(timeout=10)
    assert tap is not None, "the reader never saw the tag"
    return tap


def _cases(issuer: TestIssuer) -> dict[str, tuple[EmulatedTag, Outcome, Reason | None, str]]:
    """name -> (tag, outcome, reason, which card ID the event names)."""
    genuine = issuer.ndef(CARD)
    forged = bytearray(genuine)
    forged[-64] ^= 1  # one bit of the signature
    return {
        "ntag215-valid": (EmulatedType2Tag(uid_for(CARD), genuine), Outcome.CHECK_IN, None, "card"),
        "ntag213-valid": (
            EmulatedType2Tag(uid_for(CARD), genuine, product="NTAG213"),
            Outcome.CHECK_IN,
            None,
            "card",
        ),
        "forged": (
            EmulatedType2Tag(uid_for(CARD), bytes(forged)),
            Outcome.DENIED,
            Reason.CREDENTIAL_FORGED,
            "uid",
        ),
        "copied-to-other-uid": (
            EmulatedType2Tag(OTHER_UID, genuine),
            Outcome.DENIED,
            Reason.UID_MISMATCH,
            "uid",
        ),
        "garbage-ndef": (
            EmulatedType2Tag(uid_for(CARD), b"\xde\xad\xbe\xef not ndef"),
            Outcome.DENIED,
            Reason.BAD_CREDENTIAL,
            "uid",
        ),
        "empty": (EmulatedType2Tag(uid_for(CARD)), Outcome.DENIED, Reason.UNKNOWN_CARD, "uid"),
        "type4-valid": (EmulatedType4Tag(uid_for(CARD), genuine), Outcome.CHECK_IN, None, "card"),
    }


@pytest.mark.parametrize(
    "name",
    [
        "ntag215-valid",
        "ntag213-valid",
        "forged",
        "copied-to-other-uid",
        "garbage-ndef",
        "empty",
        "type4-valid",
    ],
)
def test_each_tag_read_through_nfcpy_gets_the_right_verdict(
    name, issuer, kiosk, indicator, config, kiosk_key
):
    tag, outcome_kind, reason, names = _cases(issuer)[name]
    tap = _tap_through_nfcpy(tag)
    assert tap.uid == tag.uid and tap.complete
    outcome = kiosk.handle_tap(tap)
    assert (outcome.kind, outcome.reason) == (outcome_kind, reason)
    assert indicator.signals == ["denied" if reason else "ok"]
    (event,) = recorded_events(config, kiosk_key)
    expected_card = CARD if names == "card" else uid_pseudonym(tag.uid, config.uid_pseudonym_key)
    assert event.card == expected_card
    assert event.kind is (EventKind.DENIED if reason else EventKind.CHECK_IN)


def test_a_tag_pulled_away_mid_read_records_nothing_and_the_next_tap_counts(issuer, kiosk, indicator, outbox):
    tag = EmulatedType2Tag(uid_for(CARD), issuer.ndef(CARD), vanish_after_commands=3)
    with serve_tag(tag) as emulation, NfcpyReader(emulation.path, debounce_s=0).start() as reader:
        first = reader.wait_for_tap(timeout=10)
        assert first is not None and not first.complete and first.ndef is None
        assert kiosk.handle_tap(first).reason is Reason.TAP_INCOMPLETE
        assert outbox.head()[0] == 0 and indicator.signals == ["error"]

        tag.present()  # the volunteer taps again and holds still
        deadline = time.monotonic() + 10
        second = None
        while second is None and time.monotonic() < deadline:
            second = reader.wait_for_tap(timeout=0.5)
        assert second is not None and second.complete
    assert kiosk.handle_tap(second).kind is Outcome.CHECK_IN
    assert outbox.head()[0] == 1
