"""How a card names itself, and the keyed pseudonym of a raw UID."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from protocol import (
    CARD_RECORD_TYPE,
    MalformedError,
    Reason,
    card_record_payload,
    ids,
    parse_card_record_payload,
    uid_pseudonym,
)

card_ids = st.binary(min_size=16, max_size=16).map(lambda b: f"{ids.CARD}_{b.hex()}")
uids = st.binary(min_size=4, max_size=10)
keys = st.binary(min_size=32, max_size=32)
KEY = bytes(range(32))
UID = bytes.fromhex("04a1b2c3d4e5f6")  # a 7-byte NTAG-style UID


def spec_pseudonym(uid: bytes, key: bytes) -> str:
    """docs/protocol.md, "Cards": u_ + hex(HMAC-SHA256(key, "kokreativ.uid.v1\\0" || UID)[:16])."""
    return "u_" + hmac.new(key, b"kokreativ.uid.v1\x00" + uid, hashlib.sha256).digest()[:16].hex()


def test_record_type_is_the_documented_one() -> None:
    assert CARD_RECORD_TYPE == "urn:nfc:ext:kokreativ.org:card"


@given(card_ids)
def test_card_record_round_trip(card_id: str) -> None:
    payload = card_record_payload(card_id)
    assert payload == card_id.encode("ascii")  # the payload is the ASCII card ID, nothing more
    assert parse_card_record_payload(payload) == card_id


@pytest.mark.parametrize(
    "card_id",
    ["u_" + "0" * 32, "k_" + "0" * 32, "c_" + "0" * 31, "c_" + "A" * 32, "c_" + "0" * 32 + "\n", ""],
)
def test_only_c_ids_make_a_card_record(card_id: str) -> None:
    with pytest.raises(MalformedError) as info:
        card_record_payload(card_id)
    assert info.value.reason is Reason.BAD_FIELD
    with pytest.raises(MalformedError) as info:
        parse_card_record_payload(card_id.encode("ascii"))
    assert info.value.reason is Reason.BAD_FIELD


@pytest.mark.parametrize("payload", ["c_é".encode(), b"c_\xff" + b"0" * 31, b"\x00" * 34])
def test_non_ascii_record_is_bad_encoding_or_bad_field(payload: bytes) -> None:
    with pytest.raises(MalformedError) as info:
        parse_card_record_payload(payload)
    expected = Reason.BAD_FIELD if payload.isascii() else Reason.BAD_ENCODING
    assert info.value.reason is expected


def test_pseudonym_matches_the_documented_construction() -> None:
    assert uid_pseudonym(UID, KEY) == spec_pseudonym(UID, KEY)


@given(uids, keys)
def test_pseudonym_is_deterministic_well_formed_and_hides_the_uid(uid: bytes, key: bytes) -> None:
    pseudonym = uid_pseudonym(uid, key)
    assert pseudonym == uid_pseudonym(uid, key)
    assert pseudonym == spec_pseudonym(uid, key)
    assert pseudonym.startswith("u_")
    assert len(pseudonym) == 2 + 32
    assert ids.is_id(pseudonym, ids.UID_CARD)
    assert uid.hex() not in pseudonym
    assert uid.hex().upper() not in pseudonym


@given(uids, keys, keys)
def test_pseudonym_differs_by_key(uid: bytes, key: bytes, other_key: bytes) -> None:
    assume(key != other_key)
    assert uid_pseudonym(uid, key) != uid_pseudonym(uid, other_key)


@given(uids, uids, keys)
def test_pseudonym_differs_by_uid(uid: bytes, other_uid: bytes, key: bytes) -> None:
    assume(uid != other_uid)
    assert uid_pseudonym(uid, key) != uid_pseudonym(other_uid, key)


@pytest.mark.parametrize("length", [0, 1, 3, 11, 16])
def test_uid_of_the_wrong_length_is_bad_field(length: int) -> None:
    with pytest.raises(MalformedError) as info:
        uid_pseudonym(bytes(range(length)), KEY)
    assert info.value.reason is Reason.BAD_FIELD


@pytest.mark.parametrize("length", [4, 7, 10])
def test_uid_lengths_of_real_tags_are_accepted(length: int) -> None:
    assert ids.is_id(uid_pseudonym(bytes(range(length)), KEY), ids.UID_CARD)


@pytest.mark.parametrize("length", [0, 16, 31, 33])
def test_pseudonym_key_must_be_32_bytes(length: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        uid_pseudonym(UID, bytes(length))
