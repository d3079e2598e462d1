"""Balance queries: kiosk-signed, strict, for one card with the credential read at the tap."""

from __future__ import annotations

import json

import pytest

from protocol import MalformedError, PrivateKey, Reason, VerificationError, ids
from protocol.balancequery import BalanceQuery, open_balance_query, sign_balance_query
from protocol.encoding import canonical_json
from protocol.sealed import seal

KEY = PrivateKey.generate()
KIOSK = ids.new_id(ids.KIOSK)
CARD = ids.new_id(ids.CARD)


def _query(**changes: object) -> BalanceQuery:
    values: dict = {"kiosk": KIOSK, "card": CARD, "credential": b"\x01" * 130, "at_ms": 1_764_400_000_000}
    values.update(changes)
    return BalanceQuery.fresh(**values)


def test_round_trip_and_a_fresh_nonce_each_time():
    first, second = _query(), _query()
    assert first.nonce != second.nonce
    assert open_balance_query(sign_balance_query(first, KEY), KEY.public_key, kiosk_id=KIOSK) == first


def test_another_kiosks_key_or_id_is_refused():
    wire = sign_balance_query(_query(), KEY)
    with pytest.raises(VerificationError) as info:
        open_balance_query(wire, PrivateKey.generate().public_key, kiosk_id=KIOSK)
    assert info.value.reason is Reason.BAD_SIGNATURE
    with pytest.raises(VerificationError) as info:
        open_balance_query(wire, KEY.public_key, kiosk_id=ids.new_id(ids.KIOSK))
    assert info.value.reason is Reason.KIOSK_MISMATCH


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"card": ids.new_id(ids.UID_CARD)}, Reason.BAD_FIELD),  # a u_ card shows no credential
        ({"credential": b""}, Reason.BAD_FIELD),  # a c_ card must
        ({"card": "Ada"}, Reason.BAD_FIELD),
        ({"at_ms": -1}, Reason.BAD_FIELD),
    ],
)
def test_nothing_malformed_is_signed(change, reason):
    with pytest.raises(MalformedError) as info:
        _query(**change).to_bytes()
    assert info.value.reason is reason


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda o: o.update(nonce="x" * 32), Reason.BAD_FIELD),
        (lambda o: o.update(extra=1), Reason.UNKNOWN_FIELD),
        (lambda o: o.update(v=2), Reason.UNKNOWN_TYPE),
        (lambda o: o.pop("nonce"), Reason.UNKNOWN_FIELD),
    ],
)
def test_a_wrong_body_is_refused_even_when_signed(mutate, reason):
    obj = json.loads(_query().to_bytes())
    mutate(obj)
    with pytest.raises(MalformedError) as info:
        open_balance_query(seal(canonical_json(obj), KEY), KEY.public_key, kiosk_id=KIOSK)
    assert info.value.reason is reason
