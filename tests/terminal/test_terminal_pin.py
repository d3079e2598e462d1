"""The coordinator PIN hash: argon2id, verifiable, and failing closed on anything odd."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from terminal.pin import hash_pin, verify_pin


def test_hash_is_argon2id_salted_and_verifies() -> None:
    first, second = hash_pin("4711"), hash_pin("4711")
    assert first.startswith("$argon2id$") and first != second  # a fresh salt each time
    assert verify_pin(first, "4711") and verify_pin(second, "4711")
    assert not verify_pin(first, "4712")


@pytest.mark.parametrize("pin", ["", "123", "123456789", "12a4", "１２３４", " 1234"])
def test_only_4_to_8_ascii_digits_are_a_pin(pin: str) -> None:
    with pytest.raises(ValueError, match="4 to 8 digits"):
        hash_pin(pin)


@settings(max_examples=25, deadline=None)
@given(st.text(max_size=12))
def test_no_stored_hash_or_a_garbled_one_never_verifies(pin: str) -> None:
    assert not verify_pin(None, pin)
    assert not verify_pin("$argon2id$v=19$garbage", pin)
    assert not verify_pin("not a hash at all", pin)
