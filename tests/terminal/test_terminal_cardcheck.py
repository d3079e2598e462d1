"""The kiosk's offline card decision: every way a card can be denied, and what gets recorded."""

from __future__ import annotations

import dataclasses

import ndef
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.reader import Tap
from protocol import EventKind, PrivateKey, Reason, ids, uid_pseudonym
from terminal.cardcheck import check_card
from terminal.tap import Outcome
from tests.cardfactory import TestIssuer, uid_for
from tests.terminal.terminal_helpers import recorded_events

NOW_S = 1_764_400_000  # the clock fixture's start, in seconds
KEY = bytes(range(32))


def test_a_genuine_card_is_accepted_under_its_card_id(issuer: TestIssuer):
    card = ids.new_id(ids.CARD)
    check = check_card(issuer.tap(card), issuer.trust_list(), pseudonym_key=KEY, now_s=NOW_S)
    assert (check.card_id, check.reason, check.accepted) == (card, None, True)
    assert check.credential is not None and check.credential.key_id == issuer.key_id


def _case(issuer: TestIssuer, name: str) -> tuple[Tap, object, str]:
    """(tap, trust, which ID the denial names: 'card' or 'pseudonym') for each way a card fails."""
    card = ids.new_id(ids.CARD)
    uid = uid_for(card)
    trust = issuer.trust_list()
    if name == "forged":  # one bit of the signature flipped
        message = bytearray(issuer.ndef(card))
        message[-1] ^= 0x01  # last byte of the signature
        return Tap(uid=uid, ndef=bytes(message)), trust, "pseudonym"
    if name == "copied":  # a genuine credential copied onto a tag with another UID
        return Tap(uid=bytes.fromhex("04ffffffffffff"), ndef=issuer.ndef(card)), trust, "pseudonym"
    if name == "expired":
        tap = Tap(uid=uid, ndef=issuer.ndef(card, valid_from_s=NOW_S - 100, valid_until_s=NOW_S))
        return tap, trust, "card"
    if name == "not_yet_valid":
        tap = Tap(uid=uid, ndef=issuer.ndef(card, valid_from_s=NOW_S + 1, valid_until_s=NOW_S + 100))
        return tap, trust, "card"
    if name == "blocked":
        return issuer.tap(card), dataclasses.replace(trust, blocked=frozenset({card})), "card"
    if name == "unknown_issuer":
        return TestIssuer().tap(card), trust, "pseudonym"
    if name == "no_trust_list":
        return issuer.tap(card), None, "pseudonym"
    if name == "garbage":
        return Tap(uid=uid, ndef=b"\xd4\x12garbage that is not ndef"), trust, "pseudonym"
    if name == "mangled_credential":
        record = ndef.Record("urn:nfc:ext:kokreativ.org:cred", "", b"\x01too short")
        return Tap(uid=uid, ndef=b"".join(ndef.message_encoder([record]))), trust, "pseudonym"
    raise AssertionError(name)


CASES = {
    "forged": Reason.CREDENTIAL_FORGED,
    "copied": Reason.UID_MISMATCH,
    "expired": Reason.CREDENTIAL_EXPIRED,
    "not_yet_valid": Reason.CREDENTIAL_NOT_YET_VALID,
    "blocked": Reason.CARD_BLOCKED,
    "unknown_issuer": Reason.UNKNOWN_ISSUER,
    "no_trust_list": Reason.UNKNOWN_ISSUER,
    "garbage": Reason.BAD_CREDENTIAL,
    "mangled_credential": Reason.BAD_CREDENTIAL,
}


@pytest.mark.parametrize("name", CASES)
def test_each_bad_card_gets_its_reason_and_only_genuine_credentials_name_their_card(issuer, name):
    tap, trust, names = _case(issuer, name)
    check = check_card(tap, trust, pseudonym_key=KEY, now_s=NOW_S)  # type: ignore[arg-type]
    assert check.reason is CASES[name]
    assert not check.accepted
    if names == "pseudonym":
        assert check.card_id == uid_pseudonym(tap.uid, KEY)
    else:
        assert check.card_id.startswith("c_") and check.credential is not None


@pytest.mark.parametrize("name", CASES)
def test_the_kiosk_denies_with_red_and_records_a_denied_event_with_the_reason(
    kiosk, issuer, trust, indicator, config, kiosk_key, name
):
    tap, case_trust, _ = _case(issuer, name)
    trust.trust = case_trust
    outcome = kiosk.handle_tap(tap)
    assert (outcome.kind, outcome.reason) == (Outcome.DENIED, CASES[name])
    assert indicator.signals == ["denied"]
    (event,) = recorded_events(config, kiosk_key)
    assert event.kind is EventKind.DENIED and event.data == {"reason": CASES[name].value}
    assert event.card == outcome.card_id


def test_uncredentialed_cards_only_where_the_site_allows_and_never_when_blocked(
    kiosk, trust, issuer, config, clock
):
    uid = bytes.fromhex("04a1a2a3a4a5a6")
    pseudonym = uid_pseudonym(uid, config.uid_pseudonym_key)
    plain = Tap(uid=uid, ndef=None)
    assert kiosk.handle_tap(plain).reason is Reason.UNKNOWN_CARD

    trust.trust = dataclasses.replace(trust.trust, allow_uncredentialed=True)
    outcome = kiosk.handle_tap(plain)
    assert (outcome.kind, outcome.card_id) == (Outcome.CHECK_IN, pseudonym)

    trust.trust = dataclasses.replace(trust.trust, blocked=frozenset({pseudonym}))
    clock.advance(config.double_tap_window_s + 1)  # not a double tap: this test is about the block
    assert kiosk.handle_tap(plain).reason is Reason.CARD_BLOCKED


def test_a_tag_removed_mid_read_records_nothing_and_asks_for_another_tap(kiosk, issuer, indicator, outbox):
    card = ids.new_id(ids.CARD)
    outcome = kiosk.handle_tap(Tap(uid=uid_for(card), ndef=None, complete=False))
    assert (outcome.kind, outcome.reason, outcome.seq) == (Outcome.ERROR, Reason.TAP_INCOMPLETE, None)
    assert indicator.signals == ["error"]
    assert outbox.head()[0] == 0
    assert kiosk.handle_tap(issuer.tap(card)).kind is Outcome.CHECK_IN  # the next full read counts


def test_a_second_issuer_key_is_trusted_alongside_the_first(issuer):
    newer = PrivateKey.generate()
    trust = issuer.trust_list(also=(newer,))
    card_old, card_new = ids.new_id(ids.CARD), ids.new_id(ids.CARD)
    assert check_card(issuer.tap(card_old), trust, pseudonym_key=KEY, now_s=NOW_S).accepted
    assert check_card(TestIssuer(newer).tap(card_new), trust, pseudonym_key=KEY, now_s=NOW_S).accepted


@given(st.binary(max_size=300))
def test_any_ndef_bytes_give_a_verdict_never_an_exception(message):
    check = check_card(
        Tap(uid=b"\x04\x01\x02\x03", ndef=message), TestIssuer().trust_list(), pseudonym_key=KEY, now_s=NOW_S
    )
    assert check.accepted is False  # nothing random is ever a valid credential


# -- a clock that is not synced (a kiosk after a power cut) ---------------------------------------------
ANCIENT_S = 5  # 1970: the Pi's clock with no fake-hwclock and no NTP yet


def test_an_unsynced_clock_at_1970_still_accepts_a_current_card(issuer: TestIssuer):
    """A clock behind cannot tell "not yet valid": denying it would turn away every card until NTP."""
    card = ids.new_id(ids.CARD)
    tap = Tap(uid=uid_for(card), ndef=issuer.ndef(card, valid_from_s=NOW_S - 100, valid_until_s=NOW_S + 100))
    trust = issuer.trust_list()
    synced = check_card(tap, trust, pseudonym_key=KEY, now_s=ANCIENT_S)
    unsynced = check_card(tap, trust, pseudonym_key=KEY, now_s=ANCIENT_S, clock_synced=False)
    assert (synced.reason, unsynced.reason) == (Reason.CREDENTIAL_NOT_YET_VALID, None)
    assert unsynced.card_id == card


def test_an_unsynced_clock_judges_expiry_by_the_trust_lists_time_at_least(issuer: TestIssuer):
    """The server signed the trust list, so real time is no earlier than its ``issued_ms``."""
    card = ids.new_id(ids.CARD)
    trust = dataclasses.replace(issuer.trust_list(), issued_ms=(NOW_S + 50) * 1000)
    expired = Tap(uid=uid_for(card), ndef=issuer.ndef(card, valid_from_s=NOW_S - 100, valid_until_s=NOW_S))
    current = Tap(
        uid=uid_for(card), ndef=issuer.ndef(card, valid_from_s=NOW_S - 100, valid_until_s=NOW_S + 51)
    )
    assert check_card(expired, trust, pseudonym_key=KEY, now_s=ANCIENT_S, clock_synced=False).reason == (
        Reason.CREDENTIAL_EXPIRED
    )
    assert check_card(current, trust, pseudonym_key=KEY, now_s=ANCIENT_S, clock_synced=False).accepted
    # An unsynced clock that is ahead of the list still counts: it is the later of the two.
    assert (
        check_card(current, trust, pseudonym_key=KEY, now_s=NOW_S + 60, clock_synced=False).reason
        == Reason.CREDENTIAL_EXPIRED
    )
