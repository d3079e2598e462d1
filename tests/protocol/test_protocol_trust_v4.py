"""Trust list v4 names no card: blocked and coordinator cards by salted hash, a fresh salt per list."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import (
    PrivateKey,
    Reason,
    TrustList,
    VerificationError,
    b64decode,
    ids,
    issue_credential,
    sign_trust_list,
    verify_credential,
    verify_trust_list,
)
from protocol.trust import TRUST_VERSION, trust_card_hash

SERVER = PrivateKey.generate()
ISSUER = PrivateKey.generate()
KIOSK = ids.new_id(ids.KIOSK)
UID = bytes.fromhex("04112233445566")


def _hiding(blocked: frozenset[str], coordinators: frozenset[str], salt: str | None = None) -> TrustList:
    from protocol import issuer_key_id

    return TrustList.hiding(
        kiosk=KIOSK,
        site=ids.new_id(ids.SITE),
        issued_ms=1_764_400_000_000,
        issuers=((issuer_key_id(ISSUER.public_key), ISSUER.public_key),),
        blocked_cards=blocked,
        allow_uncredentialed=True,
        coordinator_cards=coordinators,
        card_salt=salt,
    )


cards = st.frozensets(st.binary(min_size=16, max_size=16).map(lambda b: f"c_{b.hex()}"), max_size=12)


@given(cards, cards)
def test_a_v4_list_round_trips_and_names_no_card(blocked, coordinators):
    trust = _hiding(blocked, coordinators - blocked)
    wire = sign_trust_list(trust, SERVER)
    body = b64decode(wire["body"], field="body")
    obj = json.loads(body)
    assert obj["v"] == TRUST_VERSION == 4 and len(obj["card_salt"]) == 32
    for card in blocked | coordinators:
        assert card.encode() not in body and card[2:].encode() not in body
    parsed = verify_trust_list(wire, SERVER.public_key, kiosk_id=KIOSK)
    assert parsed == trust
    assert all(parsed.is_blocked(card) for card in blocked)
    assert all(parsed.is_coordinator(card) for card in coordinators - blocked)
    assert not parsed.is_blocked(ids.new_id(ids.CARD)) and not parsed.is_coordinator(ids.new_id(ids.CARD))


def test_the_hash_is_the_documented_one_and_each_list_has_its_own_salt():
    card = ids.new_id(ids.CARD)
    first, second = _hiding(frozenset({card}), frozenset()), _hiding(frozenset({card}), frozenset())
    assert first.card_salt != second.card_salt and first.blocked != second.blocked  # unlinkable lists
    assert first.card_salt is not None
    expected = hashlib.sha256(b"kokreativ.trust-card.v1\0" + bytes.fromhex(first.card_salt) + card.encode())
    assert first.blocked == {expected.hexdigest()} == {trust_card_hash(first.card_salt, card)}


def test_a_blocked_credential_and_a_blocked_uid_pseudonym_are_refused_by_hash():
    card, uid_card = ids.new_id(ids.CARD), ids.new_id(ids.UID_CARD)
    trust = _hiding(frozenset({card, uid_card}), frozenset({card}))
    credential = issue_credential(
        ISSUER, card_id=card, uid=UID, valid_from_s=1_700_000_000, valid_until_s=1_900_000_000
    )
    with pytest.raises(VerificationError) as info:
        verify_credential(credential, uid=UID, trust=trust.card_trust, now_s=1_800_000_000)
    assert info.value.reason is Reason.CARD_BLOCKED
    assert trust.is_blocked(uid_card) and not trust.is_coordinator(card)  # a block wins


@pytest.mark.parametrize(
    ("field", "value", "cause"),
    [
        ("card_salt", "00" * 15, Reason.BAD_FIELD),
        ("card_salt", "G" * 32, Reason.BAD_FIELD),
        ("blocked", [ids.new_id(ids.CARD)], Reason.BAD_FIELD),  # a card ID in a v4 list
        ("coordinators", ["ab" * 32, "00" * 32], Reason.NOT_CANONICAL),
    ],
)
def test_a_v4_list_holds_hashes_only_sorted_and_a_32_hex_salt(field, value, cause):
    from protocol.encoding import canonical_json
    from protocol.sealed import seal

    obj = json.loads(_hiding(frozenset(), frozenset()).to_bytes())
    obj[field] = value
    with pytest.raises(VerificationError) as info:
        verify_trust_list(seal(canonical_json(obj), SERVER), SERVER.public_key, kiosk_id=KIOSK)
    assert getattr(info.value.__cause__, "reason", None) is cause
