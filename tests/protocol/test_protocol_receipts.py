"""Sync receipts: the server's signed statement of how much of a kiosk's chain it holds."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import nacl.signing
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import (
    GENESIS_PREV,
    PrivateKey,
    Reason,
    Receipt,
    VerificationError,
    b64decode,
    b64encode,
    sign_receipt,
    verify_receipt,
)

MAX_SAFE_INT = 2**53 - 1
SERVER = PrivateKey(bytes(range(32)))
OTHER_SERVER = PrivateKey(bytes(range(100, 132)))
KIOSK = "k_559fa9c0eb2eb94da892084c943b1b27"
OTHER_KIOSK = "k_" + "1" * 32
HEAD = hashlib.sha256(b"event 42").hexdigest()
RECEIPT = Receipt(kiosk=KIOSK, seq=42, head=HEAD, issued_ms=1764400000000)


def raw(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def signed_wire(body: bytes, key: PrivateKey = SERVER) -> dict[str, str]:
    """A wire receipt over arbitrary bytes, as a (buggy or hostile) server could send."""
    return {"body": b64encode(body), "sig": b64encode(key.sign(body))}


def bad_receipt(wire: object, kiosk_id: str = KIOSK) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        verify_receipt(wire, SERVER.public_key, kiosk_id=kiosk_id)
    assert info.value.reason is Reason.BAD_RECEIPT
    return info.value


def test_body_matches_the_documented_form() -> None:
    # docs/protocol.md, "Receipts", with the placeholders filled in.
    assert (
        RECEIPT.to_bytes()
        == (
            f'{{"head":"{HEAD}","issued_ms":1764400000000,"kiosk":"{KIOSK}","seq":42,'
            '"type":"kokreativ.receipt","v":1}'
        ).encode()
    )


def test_round_trip() -> None:
    wire = sign_receipt(RECEIPT, SERVER)
    assert set(wire) == {"body", "sig"}
    body = b64decode(wire["body"], field="body")
    assert body == RECEIPT.to_bytes()
    nacl.signing.VerifyKey(SERVER.public_key.raw).verify(body, b64decode(wire["sig"], field="sig"))
    assert verify_receipt(wire, SERVER.public_key, kiosk_id=KIOSK) == RECEIPT


@given(
    seq=st.integers(1, MAX_SAFE_INT),
    head=st.binary(min_size=32, max_size=32).map(bytes.hex).filter(lambda h: h != GENESIS_PREV),
    issued_ms=st.integers(0, MAX_SAFE_INT),
)
def test_round_trip_any_values(seq: int, head: str, issued_ms: int) -> None:
    receipt = Receipt(kiosk=KIOSK, seq=seq, head=head, issued_ms=issued_ms)
    wire = json.loads(json.dumps(sign_receipt(receipt, SERVER)))
    assert verify_receipt(wire, SERVER.public_key, kiosk_id=KIOSK) == receipt


def test_seq_zero_with_zero_head_means_nothing_held() -> None:
    empty = Receipt(kiosk=KIOSK, seq=0, head=GENESIS_PREV, issued_ms=0)
    assert verify_receipt(sign_receipt(empty, SERVER), SERVER.public_key, kiosk_id=KIOSK) == empty


@pytest.mark.parametrize(
    ("seq", "head"),
    [(0, HEAD), (1, GENESIS_PREV), (42, GENESIS_PREV)],
    ids=["seq0-head", "seq1-zeros", "seq42-zeros"],
)
def test_zero_head_exactly_when_seq_is_zero(seq: int, head: str) -> None:
    error = bad_receipt(sign_receipt(Receipt(kiosk=KIOSK, seq=seq, head=head, issued_ms=1), SERVER))
    assert error.__cause__ is not None
    assert getattr(error.__cause__, "reason", None) is Reason.BAD_FIELD


def test_wrong_server_key_is_bad_receipt() -> None:
    error = bad_receipt(sign_receipt(RECEIPT, OTHER_SERVER))
    assert getattr(error.__cause__, "reason", None) is Reason.BAD_SIGNATURE


def test_receipt_for_another_kiosk_is_bad_receipt() -> None:
    wire = sign_receipt(RECEIPT, SERVER)
    bad_receipt(wire, kiosk_id=OTHER_KIOSK)


def test_tampered_body_is_bad_receipt() -> None:
    wire = sign_receipt(RECEIPT, SERVER)
    # Claim more than the server signed: same signature, higher seq.
    forged = RECEIPT.to_bytes().replace(b'"seq":42', b'"seq":43')
    bad_receipt({"body": b64encode(forged), "sig": wire["sig"]})


@given(st.data())
def test_any_bit_flip_in_body_or_signature_is_bad_receipt(data: st.DataObject) -> None:
    wire = sign_receipt(RECEIPT, SERVER)
    field = data.draw(st.sampled_from(["body", "sig"]), label="field")
    raw_bytes = bytearray(b64decode(wire[field], field=field))
    bit = data.draw(st.integers(0, len(raw_bytes) * 8 - 1), label="bit")
    raw_bytes[bit // 8] ^= 1 << (bit % 8)
    bad_receipt({**wire, field: b64encode(bytes(raw_bytes))})


@pytest.mark.parametrize(
    "wire",
    [
        pytest.param(None, id="none"),
        pytest.param([], id="list"),
        pytest.param({"body": b64encode(RECEIPT.to_bytes())}, id="no-sig"),
        pytest.param({**sign_receipt(RECEIPT, SERVER), "extra": ""}, id="extra-key"),
        pytest.param({**sign_receipt(RECEIPT, SERVER), "sig": b64encode(bytes(63))}, id="short-sig"),
        pytest.param(
            {**sign_receipt(RECEIPT, SERVER), "body": b64encode(RECEIPT.to_bytes()).rstrip("=") + " "},
            id="bad-base64",
        ),
    ],
)
def test_malformed_wire_is_bad_receipt(wire: object) -> None:
    bad_receipt(wire)


def obj() -> dict[str, Any]:
    return {"head": HEAD, "issued_ms": 1, "kiosk": KIOSK, "seq": 42, "type": "kokreativ.receipt", "v": 1}


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"type": "kokreativ.event"}, id="event-type"),
        pytest.param({"v": 2}, id="v2"),
        pytest.param({"v": True}, id="v-true"),
        pytest.param({"extra": 1}, id="extra-field"),
        pytest.param({"seq": -1}, id="seq-negative"),
        pytest.param({"seq": "42"}, id="seq-string"),
        pytest.param({"seq": True}, id="seq-true"),
        pytest.param({"issued_ms": -1}, id="issued-negative"),
        pytest.param({"issued_ms": False}, id="issued-false"),
        pytest.param({"head": HEAD.upper()}, id="head-uppercase"),
        pytest.param({"head": HEAD[:-1]}, id="head-short"),
        pytest.param({"kiosk": "c_" + KIOSK[2:]}, id="kiosk-of-card-kind"),
    ],
)
def test_validly_signed_but_malformed_body_is_bad_receipt(changes: dict[str, Any]) -> None:
    bad_receipt(signed_wire(raw({**obj(), **changes})))


def test_validly_signed_non_canonical_body_is_bad_receipt() -> None:
    body = json.dumps(obj(), sort_keys=True).encode()  # with spaces
    error = bad_receipt(signed_wire(body))
    assert getattr(error.__cause__, "reason", None) is Reason.NOT_CANONICAL


def test_missing_field_is_bad_receipt() -> None:
    body = obj()
    del body["issued_ms"]
    bad_receipt(signed_wire(raw(body)))
