"""The keyed pseudonym of a raw UID."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from protocol import MalformedError, Reason, ids, uid_pseudonym

uids = st.binary(min_size=4, max_size=10)
keys = st.binary(min_size=32, max_size=32)
KEY = bytes(range(32))
UID = bytes.fromhex("04a1b2c3d4e5f6")  # a 7-byte NTAG-style UID


def spec_pseudonym(uid: bytes, key: bytes) -> str:
    """docs/protocol.md, "UID pseudonyms": u_ + hex(HMAC-SHA256(key, "kokreativ.uid.v1\\0" || UID)[:16])."""
    return "u_" + hmac.new(key, b"kokreativ.uid.v1\x00" + uid, hashlib.sha256).digest()[:16].hex()


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
