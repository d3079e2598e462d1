"""The till state (``protocol.tillstate``) and a redeem's ``staff`` field: strict, signed, bound."""

from __future__ import annotations

import hashlib
import json

import pytest

from protocol import PrivateKey, ProtocolError, Reason, ids, parse_event
from protocol.encoding import canonical_json
from protocol.events import GENESIS_PREV, ClockEvidence, Event, EventKind
from protocol.tillstate import (
    StaffCredential,
    TillState,
    VoidOrder,
    parse_till_state,
    sign_till_state,
    verify_till_state,
)

KIOSK = ids.new_id(ids.KIOSK)
REQUEST = hashlib.sha256(b"heartbeat").hexdigest()
MEMBER = StaffCredential(ids.new_id(ids.STAFF), "manager", 80, "$argon2id$v=19$m=16384,t=4,p=1$c2FsdA$aGFzaA")
ORDER = VoidOrder(ids.new_id(ids.REDEMPTION), ids.new_id(ids.CARD), 5, 1_764_400_000_000)
STATE = TillState(KIOSK, REQUEST, 1_764_400_000_000, (MEMBER,), (ORDER,))


def test_a_till_state_round_trips_and_verifies_only_for_its_kiosk_and_request() -> None:
    key = PrivateKey.generate()
    wire = sign_till_state(STATE, key)
    assert verify_till_state(wire, key.public_key, kiosk_id=KIOSK, request=REQUEST) == STATE
    assert STATE.member(MEMBER.staff_id) == MEMBER and MEMBER.may_void
    for kiosk, request in ((ids.new_id(ids.KIOSK), REQUEST), (KIOSK, "0" * 64)):
        with pytest.raises(ProtocolError):
            verify_till_state(wire, key.public_key, kiosk_id=kiosk, request=request)
    with pytest.raises(ProtocolError):
        verify_till_state(wire, PrivateKey.generate().public_key, kiosk_id=KIOSK, request=REQUEST)


@pytest.mark.parametrize(
    "change",
    [
        {"type": "kokreativ.trust"},
        {"staff": [{**MEMBER.to_json(), "role": "owner"}]},
        {"staff": [{**MEMBER.to_json(), "pin_hash": "plain"}]},
        {"staff": [{**MEMBER.to_json(), "daily_max": 0}]},
        {"staff": [{**MEMBER.to_json(), "name": "Aylin"}]},
        {"voids": [{**ORDER.to_json(), "amount": True}]},
        {"request": "x" * 64},
        {"extra": 1},
    ],
)
def test_a_malformed_till_state_is_refused(change: dict[str, object]) -> None:
    obj = {**json.loads(STATE.to_bytes()), **change}
    with pytest.raises(ProtocolError):
        parse_till_state(canonical_json(obj))


def _redeem(data: dict[str, object], kind: EventKind = EventKind.REDEEM) -> bytes:
    clock = ClockEvidence(
        wall_ms=1_764_400_000_000, synced=True, boot_id="b08d2866-f413-4cb3-a8a0-cd36bb39ffe3", mono_ms=5
    )
    event = Event(KIOSK, 1, GENESIS_PREV, EventKind.REDEEM, ids.new_id(ids.CARD), clock, data)
    obj = event.to_json()
    obj["kind"] = kind.value
    return canonical_json(obj)


def test_a_redeem_may_name_its_staff_member_and_nothing_else_may() -> None:
    rid = ids.new_id(ids.REDEMPTION)
    data = {"amount": 5, "id": rid, "online": True, "staff": MEMBER.staff_id}
    assert parse_event(_redeem(data)).data == data
    for bad, reason in (
        ({**data, "staff": ids.new_id(ids.SITE)}, Reason.BAD_FIELD),
        ({**data, "cashier": MEMBER.staff_id}, Reason.UNKNOWN_FIELD),
    ):
        with pytest.raises(ProtocolError) as refused:
            parse_event(_redeem(bad))
        assert refused.value.reason is reason
    with pytest.raises(ProtocolError) as refused:
        parse_event(_redeem({"id": rid, "staff": MEMBER.staff_id}, EventKind.VOID))
    assert refused.value.reason is Reason.UNKNOWN_FIELD
