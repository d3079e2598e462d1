"""Server key transitions: both signatures, the chain from a kiosk's pinned key, and every refusal."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import PrivateKey, Reason, b64decode, b64encode
from protocol.errors import MalformedError, ProtocolError, VerificationError
from protocol.serverkeys import (
    KeyTransition,
    follow_transitions,
    open_transition,
    parse_transition,
    sign_transition,
)

KEYS = [PrivateKey(bytes([i]) * 32) for i in range(1, 6)]
AT = 1_764_400_000_000


def _chain(count: int) -> list[dict[str, str]]:
    """``count`` transitions KEYS[0] → KEYS[1] → …, as ``GET /v1/server-keys`` lists them."""
    return [sign_transition(KEYS[i], KEYS[i + 1], at_ms=AT + i).to_wire() for i in range(count)]


def test_the_body_is_canonical_and_round_trips() -> None:
    signed = sign_transition(KEYS[0], KEYS[1], at_ms=AT)
    assert json.loads(signed.body) == {
        "at_ms": AT,
        "new": KEYS[1].public_key.to_b64(),
        "old": KEYS[0].public_key.to_b64(),
        "type": "kokreativ.server_key",
        "v": 1,
    }
    assert parse_transition(signed.body) == KeyTransition(KEYS[0].public_key, KEYS[1].public_key, AT)
    assert open_transition(signed.to_wire(), KEYS[0].public_key) == signed


def test_a_kiosk_follows_the_whole_chain_from_the_key_it_pinned() -> None:
    wires = _chain(4)
    assert follow_transitions(wires, KEYS[0].public_key) == KEYS[4].public_key
    assert follow_transitions(wires, KEYS[2].public_key) == KEYS[4].public_key  # earlier ones skipped
    assert follow_transitions(wires, KEYS[4].public_key) == KEYS[4].public_key  # nothing new
    assert follow_transitions([], KEYS[0].public_key) == KEYS[0].public_key


def test_a_transition_the_old_key_did_not_sign_is_refused() -> None:
    """Whoever runs the server now cannot point kiosks elsewhere without the key they pinned."""
    wire = sign_transition(KEYS[0], KEYS[1], at_ms=AT).to_wire()
    forged = {**wire, "sig_old": b64encode(KEYS[3].sign(b64decode(wire["body"], field="body")))}
    with pytest.raises(VerificationError) as info:
        follow_transitions([forged], KEYS[0].public_key)
    assert info.value.reason is Reason.BAD_SIGNATURE


def test_a_transition_to_a_key_nobody_holds_is_refused() -> None:
    """The new key's signature proves someone can sign with it: a typo cannot strand every kiosk."""
    wire = sign_transition(KEYS[0], KEYS[1], at_ms=AT).to_wire()
    unproven = {**wire, "sig_new": b64encode(KEYS[0].sign(b64decode(wire["body"], field="body")))}
    with pytest.raises(VerificationError) as info:
        follow_transitions([unproven], KEYS[0].public_key)
    assert info.value.reason is Reason.BAD_SIGNATURE


def test_a_broken_chain_is_refused_and_names_the_mismatch() -> None:
    wires = [_chain(1)[0], sign_transition(KEYS[3], KEYS[4], at_ms=AT).to_wire()]
    with pytest.raises(VerificationError) as info:
        follow_transitions(wires, KEYS[0].public_key)
    assert info.value.reason is Reason.SERVER_KEY_MISMATCH
    with pytest.raises(VerificationError) as info:
        open_transition(wires[1], KEYS[0].public_key)
    assert info.value.reason is Reason.SERVER_KEY_MISMATCH


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda w: {**w, "extra": "x"}, Reason.BAD_FIELD),
        (lambda w: {k: v for k, v in w.items() if k != "sig_new"}, Reason.BAD_FIELD),
        (lambda w: {**w, "sig_old": "not base64!"}, Reason.BAD_ENCODING),
        (lambda w: {**w, "body": b64encode(b'{"type":"kokreativ.receipt","v":1}')}, Reason.UNKNOWN_TYPE),
    ],
    ids=["extra_field", "missing_sig", "garbled_sig", "other_document"],
)
def test_malformed_transitions_are_refused(
    change: Callable[[dict[str, str]], object], reason: Reason
) -> None:
    wire = change(sign_transition(KEYS[0], KEYS[1], at_ms=AT).to_wire())
    with pytest.raises(MalformedError) as info:
        follow_transitions([wire], KEYS[0].public_key)
    assert info.value.reason is reason


def test_a_transition_to_the_same_key_is_never_made() -> None:
    with pytest.raises(ValueError):
        sign_transition(KEYS[0], KEYS[0], at_ms=AT)


@given(data=st.binary(max_size=300))
def test_random_bytes_never_follow(data: bytes) -> None:
    wire = {"body": b64encode(data), "sig_old": b64encode(bytes(64)), "sig_new": b64encode(bytes(64))}
    with pytest.raises(ProtocolError):
        open_transition(wire, KEYS[0].public_key)
