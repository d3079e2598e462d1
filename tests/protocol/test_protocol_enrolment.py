"""What a kiosk signs to enrol: proof that it holds the key it asks to register."""

from __future__ import annotations

import nacl.signing
import pytest

from protocol import (
    MalformedError,
    PrivateKey,
    PublicKey,
    Reason,
    VerificationError,
    b64encode,
    canonical_json,
    enrolment_message,
    parse_canonical_json,
)

KIOSK_KEY = PrivateKey(bytes(range(32)))
CODE = "12345678901234567890"


def test_message_is_the_documented_canonical_object() -> None:
    message = enrolment_message(CODE, KIOSK_KEY.public_key)
    expected = {
        "code": CODE,
        "public_key": b64encode(KIOSK_KEY.public_key.raw),
        "type": "kokreativ.enrol",
        "v": 1,
    }
    assert parse_canonical_json(message, max_bytes=1024) == expected
    assert message == canonical_json(expected)
    assert message.startswith(b'{"code":"12345678901234567890","public_key":"')
    assert message.endswith(b'","type":"kokreativ.enrol","v":1}')


def test_signature_over_the_message_verifies() -> None:
    message = enrolment_message(CODE, KIOSK_KEY.public_key)
    signature = KIOSK_KEY.sign(message)
    KIOSK_KEY.public_key.verify(message, signature)
    nacl.signing.VerifyKey(KIOSK_KEY.public_key.raw).verify(message, signature)
    # What the server does: rebuild the message from the request's own fields.
    sent_key = PublicKey.from_b64(KIOSK_KEY.public_key.to_b64())
    sent_key.verify(enrolment_message(CODE, sent_key), signature)


@pytest.mark.parametrize(
    "other_code",
    ["12345678901234567891", "1234-5678-9012-3456-7890", "", "02345678901234567890", "123456789012"],
)
def test_changing_the_code_changes_the_bytes_and_voids_the_signature(other_code: str) -> None:
    message = enrolment_message(CODE, KIOSK_KEY.public_key)
    other = enrolment_message(other_code, KIOSK_KEY.public_key)
    assert other != message
    with pytest.raises(VerificationError) as info:
        KIOSK_KEY.public_key.verify(other, KIOSK_KEY.sign(message))
    assert info.value.reason is Reason.BAD_SIGNATURE


def test_a_code_signed_by_one_key_cannot_enrol_another() -> None:
    attacker = PrivateKey(bytes(range(1, 33)))
    message = enrolment_message(CODE, KIOSK_KEY.public_key)
    assert enrolment_message(CODE, attacker.public_key) != message
    # An intercepted request's signature is useless with the attacker's key in it.
    with pytest.raises(VerificationError) as info:
        attacker.public_key.verify(enrolment_message(CODE, attacker.public_key), KIOSK_KEY.sign(message))
    assert info.value.reason is Reason.BAD_SIGNATURE


def test_public_key_b64_round_trip_and_strictness() -> None:
    text = KIOSK_KEY.public_key.to_b64()
    assert PublicKey.from_b64(text) == KIOSK_KEY.public_key
    for bad, reason in [(text.rstrip("="), Reason.BAD_ENCODING), (b64encode(bytes(31)), Reason.BAD_FIELD)]:
        with pytest.raises(MalformedError) as info:
            PublicKey.from_b64(bad)
        assert info.value.reason is reason


def test_private_key_keeps_its_seed() -> None:
    assert PrivateKey(KIOSK_KEY.seed).public_key == KIOSK_KEY.public_key
    assert len(KIOSK_KEY.seed) == 32
    fresh = PrivateKey.generate()
    assert fresh.public_key != PrivateKey.generate().public_key
