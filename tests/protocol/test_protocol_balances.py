"""Balance sheets: the server's signed balances of a batch's cards, verified by the kiosk, failing closed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import (
    BalanceSheet,
    MalformedError,
    PrivateKey,
    ProtocolError,
    Reason,
    VerificationError,
    b64decode,
    b64encode,
    ids,
    sign_balances,
    verify_balances,
)

MAX_SAFE_INT = 2**53 - 1
SERVER = PrivateKey(bytes(range(32)))
OTHER_SERVER = PrivateKey(bytes(range(100, 132)))
KIOSK = "k_559fa9c0eb2eb94da892084c943b1b27"
CARD = "c_00a71ed80fa1e76c198371c3ece0dc0e"
UID_CARD = "u_" + "7" * 32
SHEET = BalanceSheet(kiosk=KIOSK, as_of_ms=1_764_400_000_000, balances={CARD: 66, UID_CARD: 0})


def raw(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def signed_wire(body: bytes, key: PrivateKey = SERVER) -> dict[str, str]:
    """A wire sheet over arbitrary bytes, as a buggy or hostile server could sign it."""
    return {"body": b64encode(body), "sig": b64encode(key.sign(body))}


def refused(wire: object, kiosk_id: str = KIOSK) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        verify_balances(wire, SERVER.public_key, kiosk_id=kiosk_id)
    return info.value


def test_body_matches_the_documented_form() -> None:
    # docs/protocol.md, "Balances at the kiosk", with the placeholders filled in.
    assert (
        SHEET.to_bytes()
        == (
            f'{{"as_of_ms":1764400000000,"balances":{{"{CARD}":66,"{UID_CARD}":0}},"kiosk":"{KIOSK}",'
            '"type":"kokreativ.balances","v":1}'
        ).encode()
    )


def test_round_trip() -> None:
    wire = sign_balances(SHEET, SERVER)
    assert set(wire) == {"body", "sig"}
    assert verify_balances(wire, SERVER.public_key, kiosk_id=KIOSK) == SHEET


def test_an_empty_sheet_is_fine() -> None:
    empty = BalanceSheet(kiosk=KIOSK, as_of_ms=0, balances={})
    assert verify_balances(sign_balances(empty, SERVER), SERVER.public_key, kiosk_id=KIOSK) == empty


card_ids = st.one_of(
    st.binary(min_size=16, max_size=16).map(lambda b: f"c_{b.hex()}"),
    st.binary(min_size=16, max_size=16).map(lambda b: f"u_{b.hex()}"),
)


@given(
    as_of_ms=st.integers(0, MAX_SAFE_INT),
    balances=st.dictionaries(card_ids, st.integers(-MAX_SAFE_INT, MAX_SAFE_INT), max_size=30),
)
def test_round_trip_any_values(as_of_ms: int, balances: dict[str, int]) -> None:
    sheet = BalanceSheet(kiosk=KIOSK, as_of_ms=as_of_ms, balances=balances)
    wire = json.loads(json.dumps(sign_balances(sheet, SERVER)))
    assert verify_balances(wire, SERVER.public_key, kiosk_id=KIOSK) == sheet


def test_wrong_server_key_is_bad_signature() -> None:
    error = refused(sign_balances(SHEET, OTHER_SERVER))
    assert isinstance(error, VerificationError) and error.reason is Reason.BAD_SIGNATURE


def test_a_sheet_for_another_kiosk_is_kiosk_mismatch() -> None:
    error = refused(sign_balances(SHEET, SERVER), kiosk_id=ids.new_id(ids.KIOSK))
    assert isinstance(error, VerificationError) and error.reason is Reason.KIOSK_MISMATCH


def test_a_raised_balance_breaks_the_signature() -> None:
    wire = sign_balances(SHEET, SERVER)
    forged = SHEET.to_bytes().replace(b":66,", b":660,")
    assert forged != SHEET.to_bytes()
    assert refused({"body": b64encode(forged), "sig": wire["sig"]}).reason is Reason.BAD_SIGNATURE


@given(st.data())
def test_any_bit_flip_in_body_or_signature_is_refused(data: st.DataObject) -> None:
    wire = sign_balances(SHEET, SERVER)
    field = data.draw(st.sampled_from(["body", "sig"]), label="field")
    raw_bytes = bytearray(b64decode(wire[field], field=field))
    bit = data.draw(st.integers(0, len(raw_bytes) * 8 - 1), label="bit")
    raw_bytes[bit // 8] ^= 1 << (bit % 8)
    refused({**wire, field: b64encode(bytes(raw_bytes))})


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        pytest.param(None, Reason.BAD_FIELD, id="none"),
        pytest.param([], Reason.BAD_FIELD, id="list"),
        pytest.param({"body": b64encode(SHEET.to_bytes())}, Reason.BAD_FIELD, id="no-sig"),
        pytest.param({**sign_balances(SHEET, SERVER), "extra": ""}, Reason.BAD_FIELD, id="extra-key"),
        pytest.param({**sign_balances(SHEET, SERVER), "body": "not base64!"}, Reason.BAD_ENCODING, id="b64"),
    ],
)
def test_malformed_wire_is_refused(wire: object, reason: Reason) -> None:
    error = refused(wire)
    assert isinstance(error, MalformedError) and error.reason is reason


def obj() -> dict[str, Any]:
    return {
        "as_of_ms": 1,
        "balances": {CARD: 5},
        "kiosk": KIOSK,
        "type": "kokreativ.balances",
        "v": 1,
    }


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        pytest.param({"type": "kokreativ.receipt"}, Reason.UNKNOWN_TYPE, id="receipt-type"),
        pytest.param({"v": 2}, Reason.UNKNOWN_TYPE, id="v2"),
        pytest.param({"v": True}, Reason.UNKNOWN_TYPE, id="v-true"),
        pytest.param({"extra": 1}, Reason.UNKNOWN_FIELD, id="extra-field"),
        pytest.param({"as_of_ms": -1}, Reason.BAD_FIELD, id="as-of-negative"),
        pytest.param({"as_of_ms": "1"}, Reason.BAD_FIELD, id="as-of-string"),
        pytest.param({"as_of_ms": True}, Reason.BAD_FIELD, id="as-of-true"),
        pytest.param({"balances": [[CARD, 5]]}, Reason.BAD_FIELD, id="balances-list"),
        pytest.param({"balances": {CARD: "5"}}, Reason.BAD_FIELD, id="balance-string"),
        pytest.param({"balances": {CARD: True}}, Reason.BAD_FIELD, id="balance-true"),
        pytest.param({"balances": {CARD: {"n": 5}}}, Reason.BAD_FIELD, id="balance-object"),
        pytest.param({"balances": {"v_" + "1" * 32: 5}}, Reason.BAD_FIELD, id="volunteer-id"),
        pytest.param({"balances": {"Ada Lovelace": 5}}, Reason.BAD_FIELD, id="a-name"),
        pytest.param({"kiosk": "c_" + KIOSK[2:]}, Reason.BAD_FIELD, id="kiosk-of-card-kind"),
    ],
)
def test_validly_signed_but_malformed_body_is_refused(changes: dict[str, Any], reason: Reason) -> None:
    error = refused(signed_wire(raw({**obj(), **changes})))
    assert isinstance(error, MalformedError) and error.reason is reason


@pytest.mark.parametrize("name", ["as_of_ms", "balances", "kiosk"])
def test_missing_field_is_refused(name: str) -> None:
    body = obj()
    del body[name]
    assert refused(signed_wire(raw(body))).reason is Reason.UNKNOWN_FIELD


def test_validly_signed_non_canonical_body_is_refused() -> None:
    body = json.dumps(obj(), sort_keys=True).encode()  # with spaces
    assert refused(signed_wire(body)).reason is Reason.NOT_CANONICAL


def test_a_float_balance_is_refused() -> None:
    body = raw(obj()).replace(b":5}", b":5.0}")
    assert refused(signed_wire(body)).reason is Reason.NOT_CANONICAL
