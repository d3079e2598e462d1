"""The trust list: signed by the server, for one kiosk, canonical, and refused when anything is off."""

from __future__ import annotations

import dataclasses
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
    b64encode,
    ids,
    issuer_key_id,
    sign_trust_list,
    verify_trust_list,
)

SERVER = PrivateKey.generate()
ISSUERS = [PrivateKey.generate() for _ in range(2)]
KIOSK = ids.new_id(ids.KIOSK)


def _trust(**overrides: object) -> TrustList:
    values: dict = {
        "kiosk": KIOSK,
        "site": ids.new_id(ids.SITE),
        "issued_ms": 1_764_400_000_000,
        "issuers": tuple(sorted((issuer_key_id(k.public_key), k.public_key) for k in ISSUERS)),
        "blocked": frozenset({ids.new_id(ids.CARD), ids.new_id(ids.UID_CARD)}),
        "allow_uncredentialed": False,
    }
    values.update(overrides)
    return TrustList(**values)


card_sets = st.frozensets(st.binary(min_size=16, max_size=16).map(lambda b: f"c_{b.hex()}"), max_size=20)


@given(card_sets, st.booleans())
def test_round_trip(blocked, allow):
    trust = _trust(blocked=blocked, allow_uncredentialed=allow)
    assert verify_trust_list(sign_trust_list(trust, SERVER), SERVER.public_key, kiosk_id=KIOSK) == trust


def test_card_trust_holds_every_issuer_and_block():
    trust = _trust()
    card_trust = trust.card_trust
    assert set(card_trust.issuer_keys) == {issuer_key_id(k.public_key) for k in ISSUERS}
    assert card_trust.blocked == trust.blocked


def _resigned(mutate) -> dict[str, str]:
    """The list's JSON changed by ``mutate`` and signed again by the real server key."""
    obj = json.loads(_trust().to_bytes())
    mutate(obj)
    body = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    return {"body": b64encode(body), "sig": b64encode(SERVER.sign(body))}


@pytest.mark.parametrize(
    "wire",
    [
        sign_trust_list(_trust(), PrivateKey.generate()),  # another key
        sign_trust_list(_trust(kiosk=ids.new_id(ids.KIOSK)), SERVER),  # another kiosk
        {"body": sign_trust_list(_trust(), SERVER)["body"]},  # no signature
        None,
        _resigned(lambda o: o["blocked"].reverse()),  # not sorted
        _resigned(lambda o: o["blocked"].append(o["blocked"][0])),  # a repeat
        _resigned(lambda o: o["blocked"].append("k_" + "0" * 32)),  # not a card
        _resigned(lambda o: o["issuers"][0].update(key_id="i_" + "0" * 16)),  # ID does not match key
        _resigned(lambda o: o["issuers"].reverse()),  # issuers unsorted
        _resigned(lambda o: o.update(allow_uncredentialed=1)),
        _resigned(lambda o: o.update(extra=1)),
        _resigned(lambda o: o.update(v=2)),
        _resigned(lambda o: o.update(issued_ms=-1)),
    ],
)
def test_anything_off_is_bad_trust_list(wire):
    with pytest.raises(VerificationError) as info:
        verify_trust_list(wire, SERVER.public_key, kiosk_id=KIOSK)
    assert info.value.reason is Reason.BAD_TRUST_LIST


def test_a_flipped_blocked_entry_breaks_the_signature():
    wire = sign_trust_list(_trust(), SERVER)
    body = bytearray(b64decode(wire["body"], field="body"))
    body[body.index(b'"c_') + 3] ^= 1
    with pytest.raises(VerificationError):
        verify_trust_list(
            {"body": b64encode(bytes(body)), "sig": wire["sig"]}, SERVER.public_key, kiosk_id=KIOSK
        )


def test_empty_lists_are_fine_and_trust_nothing():
    trust = _trust(issuers=(), blocked=frozenset())
    parsed = verify_trust_list(sign_trust_list(trust, SERVER), SERVER.public_key, kiosk_id=KIOSK)
    assert dataclasses.replace(parsed) == trust and parsed.card_trust.issuer_keys == {}
