"""The card credential: documented layout, every verification rule, and tamper resistance."""

from __future__ import annotations

import hashlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import (
    CREDENTIAL_RECORD_TYPE,
    CardTrust,
    MalformedError,
    PrivateKey,
    ProtocolError,
    Reason,
    VerificationError,
    ids,
    issue_credential,
    issuer_key_id,
    parse_credential,
    verify_credential,
)

KEY = PrivateKey(bytes(range(32)))
TRUST = CardTrust(issuer_keys={issuer_key_id(KEY.public_key): KEY.public_key})
CARD = "c_00a71ed80fa1e76c198371c3ece0dc0e"
UID = bytes.fromhex("04a1b2c3d4e5f6")
FROM, UNTIL = 1_700_000_000, 1_900_000_000
NOW = 1_800_000_000

card_ids = st.binary(min_size=16, max_size=16).map(lambda b: f"{ids.CARD}_{b.hex()}")
uids = st.binary(min_size=4, max_size=10)


def _issue(**overrides: object) -> bytes:
    values: dict = {"card_id": CARD, "uid": UID, "valid_from_s": FROM, "valid_until_s": UNTIL}
    values.update(overrides)
    return issue_credential(KEY, **values)


def _forged() -> bytes:
    """A genuine credential with one bit of its signature flipped (bit 0 of R's first byte)."""
    payload = bytearray(_issue())
    payload[-64] ^= 1
    return bytes(payload)


def test_record_type_and_key_id_are_the_documented_ones():
    assert CREDENTIAL_RECORD_TYPE == "urn:nfc:ext:kokreativ.org:cred"
    digest = hashlib.sha256(b"kokreativ.issuer.v1\x00" + KEY.public_key.raw).digest()
    assert issuer_key_id(KEY.public_key) == "i_" + digest[:8].hex()


def test_layout_matches_docs_protocol_md_byte_for_byte():
    payload = _issue()
    key_id = bytes.fromhex(issuer_key_id(KEY.public_key)[2:])
    head = struct.pack(">B8s16sIIB", 1, key_id, bytes.fromhex(CARD[2:]), FROM, UNTIL, len(UID))
    assert payload[: len(head) + len(UID)] == head + UID
    assert len(payload) == 34 + 7 + 64 == 105
    KEY.public_key.verify(b"kokreativ.card.v1\x00" + head + UID, payload[-64:])


@given(card_ids, uids, st.integers(0, 2**32 - 2), st.integers(1, 2**32 - 1))
def test_issue_parse_verify_round_trip(card_id, uid, valid_from, span):
    valid_until = min(valid_from + span, 2**32 - 1)
    payload = _issue(card_id=card_id, uid=uid, valid_from_s=valid_from, valid_until_s=valid_until)
    credential = verify_credential(payload, uid=uid, trust=TRUST, now_s=valid_from)
    assert (credential.card_id, credential.uid, credential.valid_from_s, credential.valid_until_s) == (
        card_id,
        uid,
        valid_from,
        valid_until,
    )
    assert parse_credential(payload) == credential


@given(st.data())
def test_any_single_bit_flip_is_caught(data):
    payload = bytearray(_issue())
    index = data.draw(st.integers(0, len(payload) - 1))
    payload[index] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(ProtocolError):
        verify_credential(bytes(payload), uid=UID, trust=TRUST, now_s=NOW)


@given(st.binary(max_size=200))
def test_random_bytes_never_verify_and_never_crash(payload):
    with pytest.raises(ProtocolError):
        verify_credential(payload, uid=UID, trust=TRUST, now_s=NOW)


@pytest.mark.parametrize(
    ("check", "reason"),
    [
        (lambda: verify_credential(_issue(), uid=UID, trust=CardTrust(), now_s=NOW), Reason.UNKNOWN_ISSUER),
        (
            lambda: verify_credential(
                issue_credential(
                    PrivateKey.generate(), card_id=CARD, uid=UID, valid_from_s=FROM, valid_until_s=UNTIL
                ),
                uid=UID,
                trust=TRUST,
                now_s=NOW,
            ),
            Reason.UNKNOWN_ISSUER,
        ),
        (lambda: verify_credential(_forged(), uid=UID, trust=TRUST, now_s=NOW), Reason.CREDENTIAL_FORGED),
        (lambda: verify_credential(_issue(), uid=b"\x04" * 7, trust=TRUST, now_s=NOW), Reason.UID_MISMATCH),
        (
            lambda: verify_credential(_issue(), uid=UID, trust=TRUST, now_s=FROM - 1),
            Reason.CREDENTIAL_NOT_YET_VALID,
        ),
        (lambda: verify_credential(_issue(), uid=UID, trust=TRUST, now_s=UNTIL), Reason.CREDENTIAL_EXPIRED),
        (
            lambda: verify_credential(
                _issue(), uid=UID, trust=CardTrust(TRUST.issuer_keys, frozenset({CARD})), now_s=NOW
            ),
            Reason.CARD_BLOCKED,
        ),
    ],
    ids=["no-keys", "other-issuer", "forged", "copied", "not-yet", "expired", "blocked"],
)  # fmt: skip
def test_each_rule_has_its_reason(check, reason):
    with pytest.raises(VerificationError) as info:
        check()
    assert info.value.reason is reason


def test_forged_wins_over_uid_mismatch_so_a_forgery_is_called_one():
    forged = _forged()
    with pytest.raises(VerificationError) as info:
        verify_credential(forged, uid=b"\x04" * 7, trust=TRUST, now_s=NOW)
    assert info.value.reason is Reason.CREDENTIAL_FORGED


def test_validity_bounds_are_inclusive_from_and_exclusive_until():
    assert verify_credential(_issue(), uid=UID, trust=TRUST, now_s=FROM).card_id == CARD
    assert verify_credential(_issue(), uid=UID, trust=TRUST, now_s=UNTIL - 1).card_id == CARD


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x01" * 33,
        b"\x02" + _issue()[1:],  # unknown version
        _issue()[:33] + b"\x03" + _issue()[34:],  # UID length 3
        _issue()[:33] + b"\x0b" + _issue()[34:],  # UID length 11
        _issue() + b"\x00",  # trailing byte
        _issue()[:-1],  # short signature
    ],
)
def test_malformed_layouts_are_bad_credential(payload):
    with pytest.raises(MalformedError) as info:
        parse_credential(payload)
    assert info.value.reason is Reason.BAD_CREDENTIAL


def test_empty_validity_window_is_refused_when_issuing_and_parsing():
    with pytest.raises(MalformedError):
        _issue(valid_from_s=UNTIL, valid_until_s=UNTIL)
    forged = bytearray(_issue())
    forged[25:33] = struct.pack(">II", UNTIL, FROM)
    with pytest.raises(MalformedError) as info:
        parse_credential(bytes(forged))
    assert info.value.reason is Reason.BAD_CREDENTIAL


@pytest.mark.parametrize(
    "overrides", [{"card_id": "u_" + "0" * 32}, {"uid": b"\x04\x01"}, {"valid_from_s": -1}]
)
def test_issuing_refuses_bad_inputs(overrides):
    with pytest.raises(MalformedError):
        _issue(**overrides)
