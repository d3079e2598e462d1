"""The trust list: signed by the server, for one kiosk, canonical, and refused when anything is off.

Version 2 adds ``coordinators``; version 1 lists (from an older server) still parse, with none.
Version 3 adds ``shop``: ``{}`` at a check-in kiosk, a shop terminal's limits and presets otherwise;
and ``earning``: ``{}`` at a shop terminal, the check-in site's earning rules otherwise.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import (
    Preset,
    PrivateKey,
    Reason,
    ShopLimits,
    TrustList,
    VerificationError,
    b64decode,
    b64encode,
    ids,
    issuer_key_id,
    sign_trust_list,
    verify_trust_list,
)
from protocol.earning import MAX_BONUSES, MAX_DAILY_CAP, MAX_SHIFT_HOURS, MAX_TOKENS_PER_HOUR, EarningRules

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
        "coordinators": frozenset({ids.new_id(ids.CARD), ids.new_id(ids.CARD)}),
    }
    values.update(overrides)
    return TrustList(**values)


card_sets = st.frozensets(st.binary(min_size=16, max_size=16).map(lambda b: f"c_{b.hex()}"), max_size=20)


@given(card_sets, st.booleans(), card_sets)
def test_round_trip(blocked, allow, coordinators):
    trust = _trust(blocked=blocked, allow_uncredentialed=allow, coordinators=coordinators)
    assert verify_trust_list(sign_trust_list(trust, SERVER), SERVER.public_key, kiosk_id=KIOSK) == trust


NIGHT = {"dates": [], "days": [0, 1, 2, 3, 4, 5, 6], "from": "22:00", "percent": 125, "to": "06:00"}
RULES = EarningRules.from_json(
    {"bonuses": [NIGHT], "daily_cap": 30, "max_shift_hours": 10, "tokens_per_hour": 12}
)

SHOP = ShopLimits(
    max_amount=50,
    offline_allowance=10,
    offline_daily_cap=100,
    void_window_s=900,
    presets=(Preset("Kaffee", 2), Preset("Brötchen", 1)),
)


def test_a_list_without_card_salt_is_version_3_with_sorted_coordinators_and_no_shop_at_a_check_in_kiosk():
    trust = _trust(earning=RULES)
    obj = json.loads(trust.to_bytes())
    assert obj["v"] == 3 and obj["type"] == "kokreativ.trust"
    assert obj["coordinators"] == sorted(trust.coordinators)
    assert obj["shop"] == {} and not trust.is_shop
    assert obj["earning"] == {
        "bonuses": [NIGHT],
        "daily_cap": 30,
        "max_shift_hours": 10,
        "tokens_per_hour": 12,
    }
    assert set(obj) == {
        *("allow_uncredentialed", "blocked", "coordinators", "earning", "issued_ms", "issuers", "kiosk"),
        *("shop", "site", "type", "v"),
    }


def test_a_shop_terminal_list_has_no_earning_rules():
    obj = json.loads(_trust(shop=SHOP).to_bytes())
    assert obj["earning"] == {} and obj["shop"] == SHOP.to_json()


_clock = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59))
_bonus = st.fixed_dictionaries(
    {
        "percent": st.integers(100, 1000),
        "days": st.lists(st.integers(0, 6), unique=True, min_size=1).map(sorted),
        "dates": st.lists(st.dates().map(lambda d: d.isoformat()), unique=True, max_size=3).map(sorted),
        "from": _clock,
        "to": _clock,
    }
)


@given(
    st.integers(0, MAX_TOKENS_PER_HOUR),
    st.integers(1, MAX_SHIFT_HOURS),
    st.integers(0, MAX_DAILY_CAP),
    st.lists(_bonus, max_size=MAX_BONUSES),
    card_sets,
)
def test_a_check_in_kiosk_list_carries_its_sites_earning_rules(rate, longest, cap, bonuses, blocked):
    obj = {"bonuses": bonuses, "daily_cap": cap, "max_shift_hours": longest, "tokens_per_hour": rate}
    trust = _trust(earning=EarningRules.from_json(obj), blocked=blocked)
    parsed = verify_trust_list(sign_trust_list(trust, SERVER), SERVER.public_key, kiosk_id=KIOSK)
    assert parsed == trust and not parsed.is_shop
    assert json.loads(parsed.to_bytes())["earning"] == obj  # bonuses exactly as the site_rules decision


@given(
    st.integers(1, 10**6),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.lists(
        st.builds(Preset, st.text(min_size=1, max_size=24).filter(str.strip), st.integers(1, 999)),
        max_size=12,
    ),
)
def test_a_shop_terminal_list_carries_its_limits_and_presets(max_amount, allowance, cap, window, presets):
    shop = ShopLimits(max_amount, allowance, cap, window, tuple(presets))
    trust = _trust(shop=shop)
    parsed = verify_trust_list(sign_trust_list(trust, SERVER), SERVER.public_key, kiosk_id=KIOSK)
    assert parsed == trust and parsed.is_shop and parsed.shop == shop


def _as_v2(obj: dict) -> None:
    del obj["shop"]
    del obj["earning"]
    obj["v"] = 2


def _as_v1(obj: dict) -> None:
    _as_v2(obj)
    del obj["coordinators"]
    obj["v"] = 1


def test_a_version_2_list_still_verifies_as_a_check_in_kiosk():
    parsed = verify_trust_list(_resigned(_as_v2, _trust(shop=SHOP)), SERVER.public_key, kiosk_id=KIOSK)
    assert parsed.shop is None and not parsed.is_shop and parsed.earning is None
    parsed = verify_trust_list(_resigned(_as_v2, _trust(earning=RULES)), SERVER.public_key, kiosk_id=KIOSK)
    assert parsed.earning is None


def test_a_version_1_list_still_verifies_with_no_coordinators():
    trust = _trust()
    parsed = verify_trust_list(_resigned(_as_v1, trust), SERVER.public_key, kiosk_id=KIOSK)
    assert parsed.coordinators == frozenset() and parsed.earning is None
    assert parsed == dataclasses.replace(trust, coordinators=frozenset())


def test_coordinators_default_to_none():
    values = {f.name: getattr(_trust(), f.name) for f in dataclasses.fields(TrustList)}
    del values["coordinators"]
    assert TrustList(**values).coordinators == frozenset()


def test_card_trust_holds_every_issuer_and_block():
    trust = _trust()
    card_trust = trust.card_trust
    assert set(card_trust.issuer_keys) == {issuer_key_id(k.public_key) for k in ISSUERS}
    assert card_trust.blocked == trust.blocked


def _resigned(mutate, trust: TrustList | None = None) -> dict[str, str]:
    """The list's JSON (of ``trust``, default a fresh one) changed by ``mutate``, signed by the server key."""
    obj = json.loads((trust or _trust()).to_bytes())
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
        _resigned(lambda o: o.update(v=4)),
        _resigned(lambda o: o.update(issued_ms=-1)),
    ],
)
def test_anything_off_is_bad_trust_list(wire):
    with pytest.raises(VerificationError) as info:
        verify_trust_list(wire, SERVER.public_key, kiosk_id=KIOSK)
    assert info.value.reason is Reason.BAD_TRUST_LIST


def _drop(name: str):
    return lambda o: o.pop(name)


@pytest.mark.parametrize(
    ("mutate", "cause"),
    [
        (lambda o: o.update(v=1), Reason.UNKNOWN_FIELD),  # v1 has no coordinators
        (lambda o: o.update(v=2), Reason.UNKNOWN_FIELD),  # v2 has no shop
        (_drop("coordinators"), Reason.UNKNOWN_FIELD),  # v2 and v3 must have them
        (_drop("shop"), Reason.UNKNOWN_FIELD),  # v3 must have it
        (lambda o: o.update(shop=[]), Reason.BAD_FIELD),
        (lambda o: o.update(shop={"max_amount": 5}), Reason.BAD_FIELD),
        (lambda o: o.update(shop={**SHOP.to_json(), "max_amount": 0}), Reason.BAD_FIELD),
        (lambda o: o.update(shop={**SHOP.to_json(), "offline_allowance": -1}), Reason.BAD_FIELD),
        (
            lambda o: o.update(shop={**SHOP.to_json(), "presets": [{"amount": 1, "label": ""}]}),
            Reason.BAD_FIELD,
        ),
        (
            lambda o: o.update(shop={**SHOP.to_json(), "presets": [{"amount": 0, "label": "x"}]}),
            Reason.BAD_FIELD,
        ),
        (
            lambda o: o.update(shop={**SHOP.to_json(), "presets": [{"amount": 1, "label": "x"}] * 13}),
            Reason.BAD_FIELD,
        ),
        (_drop("earning"), Reason.UNKNOWN_FIELD),  # v3 must have it
        (lambda o: (_as_v2(o), o.update(earning={})), Reason.UNKNOWN_FIELD),  # v2 has no earning
        (lambda o: o.update(earning=[]), Reason.BAD_FIELD),
        (lambda o: o.update(earning="none"), Reason.BAD_FIELD),
        (lambda o: o.update(earning={"tokens_per_hour": 10}), Reason.BAD_FIELD),
        (lambda o: o.update(earning={**RULES.to_json(), "extra": 1}), Reason.BAD_FIELD),
        (lambda o: o.update(earning={**RULES.to_json(), "tokens_per_hour": -1}), Reason.BAD_FIELD),
        (lambda o: o.update(earning={**RULES.to_json(), "max_shift_hours": 0}), Reason.BAD_FIELD),
        (lambda o: o.update(earning={**RULES.to_json(), "daily_cap": True}), Reason.BAD_FIELD),
        (
            lambda o: o.update(earning={**RULES.to_json(), "bonuses": [{**NIGHT, "percent": 99}]}),
            Reason.BAD_FIELD,
        ),
        (
            lambda o: o.update(earning={**RULES.to_json(), "bonuses": [{**NIGHT, "days": [6, 0]}]}),
            Reason.NOT_CANONICAL,
        ),
        (lambda o: o.update(earning=RULES.to_json(), shop=SHOP.to_json()), Reason.BAD_FIELD),  # not both
        (lambda o: (_as_v1(o), o.update(extra=1)), Reason.UNKNOWN_FIELD),
        (lambda o: o.update(v=True), Reason.UNKNOWN_TYPE),
        (lambda o: (_as_v1(o), o.update(v=True)), Reason.UNKNOWN_TYPE),
        (lambda o: o.update(v=0), Reason.UNKNOWN_TYPE),
        (lambda o: o.update(v="2"), Reason.UNKNOWN_TYPE),
        (lambda o: o["coordinators"].reverse(), Reason.NOT_CANONICAL),
        (lambda o: o["coordinators"].append(o["coordinators"][-1]), Reason.NOT_CANONICAL),
        (lambda o: o.update(coordinators=["u_" + "0" * 32]), Reason.BAD_FIELD),  # a UID is no proof
        (lambda o: o.update(coordinators=["k_" + "0" * 32]), Reason.BAD_FIELD),
        (lambda o: o.update(coordinators="c_" + "0" * 32), Reason.BAD_FIELD),
        (lambda o: o.update(coordinators={}), Reason.BAD_FIELD),
        (lambda o: o["blocked"].reverse(), Reason.NOT_CANONICAL),  # v2 keeps every v1 check
    ],
    ids=[
        *("v1-with-coordinators", "v2-with-shop", "v2-without", "v3-without-shop", "shop-list"),
        *("shop-partial", "shop-zero-max", "shop-negative", "preset-blank", "preset-zero", "presets-13"),
        *("v3-without-earning", "v2-with-earning", "earning-list", "earning-string", "earning-partial"),
        *("earning-extra", "earning-negative-rate", "earning-zero-hours", "earning-cap-bool"),
        *("earning-bonus-99", "earning-bonus-unsorted", "shop-and-earning"),
        *("v1-extra", "v-true", "v1-true", "v0", "v-string"),
        *("coordinators-unsorted", "coordinators-repeat", "coordinator-uid", "coordinator-kiosk"),
        *("coordinators-string", "coordinators-object", "blocked-unsorted"),
    ],
)
def test_each_version_has_exactly_its_fields_and_canonical_lists(mutate, cause):
    with pytest.raises(VerificationError) as info:
        verify_trust_list(_resigned(mutate), SERVER.public_key, kiosk_id=KIOSK)
    assert info.value.reason is Reason.BAD_TRUST_LIST
    assert getattr(info.value.__cause__, "reason", None) is cause


@given(st.lists(st.binary(min_size=16, max_size=16).map(lambda b: f"c_{b.hex()}"), min_size=2, max_size=8))
def test_coordinators_in_any_other_order_are_refused(coordinators):
    canonical = sorted(set(coordinators))
    if coordinators == canonical:
        coordinators = [*reversed(coordinators), coordinators[0]]
    with pytest.raises(VerificationError) as info:
        verify_trust_list(
            _resigned(lambda o: o.update(coordinators=coordinators)), SERVER.public_key, kiosk_id=KIOSK
        )
    assert getattr(info.value.__cause__, "reason", None) is Reason.NOT_CANONICAL


def test_a_flipped_blocked_entry_breaks_the_signature():
    wire = sign_trust_list(_trust(), SERVER)
    body = bytearray(b64decode(wire["body"], field="body"))
    body[body.index(b'"c_') + 3] ^= 1
    with pytest.raises(VerificationError):
        verify_trust_list(
            {"body": b64encode(bytes(body)), "sig": wire["sig"]}, SERVER.public_key, kiosk_id=KIOSK
        )


def test_empty_lists_are_fine_and_trust_nothing():
    trust = _trust(issuers=(), blocked=frozenset(), coordinators=frozenset())
    parsed = verify_trust_list(sign_trust_list(trust, SERVER), SERVER.public_key, kiosk_id=KIOSK)
    assert dataclasses.replace(parsed) == trust and parsed.card_trust.issuer_keys == {}


def test_a_blocked_card_is_never_a_coordinator_whatever_the_list_says() -> None:
    boss, blocked_boss = ids.new_id(ids.CARD), ids.new_id(ids.CARD)
    trust = TrustList(
        kiosk=ids.new_id(ids.KIOSK),
        site=ids.new_id(ids.SITE),
        issued_ms=0,
        issuers=(),
        blocked=frozenset({blocked_boss}),
        allow_uncredentialed=False,
        coordinators=frozenset({boss, blocked_boss}),
    )
    assert trust.is_coordinator(boss)
    assert not trust.is_coordinator(blocked_boss)
    assert not trust.is_coordinator(ids.new_id(ids.CARD))
