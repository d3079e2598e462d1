"""Coordinator decisions: canonical bytes, signatures by the named key, and every malformed field refused."""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import (
    Decision,
    MalformedError,
    PrivateKey,
    Reason,
    VerificationError,
    b64decode,
    canonical_json,
    coordinator_id,
    decision_hash,
    ids,
    parse_decision,
    sign_decision,
    verify_decision,
)
from protocol.commitments import Opening
from protocol.decisions import (
    MAX_BONUS_DATES,
    MAX_BONUSES,
    MAX_DECISION_BYTES,
    MAX_SHIFT_HOURS,
    MAX_TOKENS_PER_HOUR,
    MAX_VOID_WINDOW_S,
    committed_decision,
)
from protocol.encoding import MAX_SAFE_INT
from protocol.events import MAX_AMOUNT

KEY = PrivateKey(bytes(range(32)))
OTHER = PrivateKey(bytes(range(50, 82)))
ME = coordinator_id(KEY.public_key)
AT = 1_764_400_000_000
SITE = "s_" + "a" * 32
KIOSK = "k_" + "b" * 32
CARD = "c_" + "c" * 32
REDEMPTION = "r_" + "d" * 32
NONCE = "0123456789abcdef" * 2

NIGHT = {"percent": 125, "days": [0, 1, 2, 3, 4], "dates": [], "from": "22:00", "to": "06:00"}
VALID: dict[str, dict[str, Any]] = {
    "site_rules": {
        "site": SITE,
        "tokens_per_hour": 10,
        "max_shift_hours": 12,
        "daily_cap": 80,
        "bonuses": [NIGHT],
    },
    "shop_limits": {
        "site": SITE,
        "max_amount": 50,
        "offline_allowance": 10,
        "offline_daily_cap": 200,
        "void_window_s": 900,
    },
    "review": {
        "shift": {"kiosk": KIOSK, "seq": 7},
        "action": "approve",
        "start_ms": 0,
        "end_ms": AT,
        "reason": "forgot_check_out",
    },
    "acknowledge": {"redemption": REDEMPTION, "reason": "confirmed_by_site"},
    "manual_shift": {
        "card": CARD,
        "site": SITE,
        "start_ms": AT - 3_600_000,
        "end_ms": AT,
        "reason": "kiosk_broken",
    },
}


def envelope(kind: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "at_ms": AT,
        "coordinator": ME,
        "data": copy.deepcopy(VALID[kind] if data is None else data),
        "kind": kind,
        "nonce": NONCE,
        "type": "kokreativ.decision",
        "v": 1,
    }


def raw(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def refused(body: bytes) -> Reason:
    with pytest.raises(MalformedError) as info:
        parse_decision(body)
    return info.value.reason


# -- strategies ----------------------------------------------------------------------------------------
def _ids(letter: str) -> st.SearchStrategy[str]:
    return st.text("0123456789abcdef", min_size=32, max_size=32).map(lambda hexa: f"{letter}_{hexa}")


_times = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59))
_dates = st.lists(
    st.dates(datetime.date(2000, 1, 1), datetime.date(2099, 12, 31)).map(datetime.date.isoformat),
    max_size=MAX_BONUS_DATES,
    unique=True,
).map(sorted)
_days = st.lists(st.integers(0, 6), unique=True, max_size=7).map(sorted)
_bonus = st.fixed_dictionaries(
    {"percent": st.integers(100, 1000), "days": _days, "dates": _dates, "from": _times, "to": _times}
).filter(lambda b: bool(b["days"] or b["dates"]))
_reason = st.from_regex(r"[a-z][a-z0-9_]{0,39}", fullmatch=True)
_ms = st.integers(1, MAX_SAFE_INT)

DATA: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "site_rules": st.fixed_dictionaries(
        {
            "site": _ids("s"),
            "tokens_per_hour": st.integers(0, MAX_TOKENS_PER_HOUR),
            "max_shift_hours": st.integers(1, MAX_SHIFT_HOURS),
            "daily_cap": st.integers(0, MAX_AMOUNT),
            "bonuses": st.lists(_bonus, max_size=3),
        }
    ),
    "shop_limits": st.fixed_dictionaries(
        {
            "site": _ids("s"),
            "max_amount": st.integers(1, MAX_AMOUNT),
            "offline_allowance": st.integers(0, MAX_AMOUNT),
            "offline_daily_cap": st.integers(0, MAX_AMOUNT),
            "void_window_s": st.integers(0, MAX_VOID_WINDOW_S),
        }
    ),
    "review": st.fixed_dictionaries(
        {
            "shift": st.fixed_dictionaries({"kiosk": _ids("k"), "seq": _ms}),
            "action": st.sampled_from(["approve", "reject"]),
            "start_ms": st.integers(0, MAX_SAFE_INT),
            "end_ms": st.integers(0, MAX_SAFE_INT),
            "reason": _reason,
        }
    ),
    "acknowledge": st.fixed_dictionaries({"redemption": _ids("r"), "reason": _reason}),
    "manual_shift": st.fixed_dictionaries(
        {
            "card": st.one_of(_ids("c"), _ids("u")),
            "site": _ids("s"),
            "start_ms": _ms,
            "end_ms": _ms,
            "reason": _reason,
        }
    ),
}
decisions = st.sampled_from(sorted(DATA)).flatmap(
    lambda kind: st.builds(
        Decision,
        kind=st.just(kind),
        coordinator=st.just(ME),
        at_ms=st.integers(0, MAX_SAFE_INT),
        data=DATA[kind],
        nonce=st.text("0123456789abcdef", min_size=32, max_size=32),
    )
)


# -- round trips ---------------------------------------------------------------------------------------
@settings(max_examples=150)
@given(decision=decisions)
def test_every_kind_round_trips_through_signing_and_verifying(decision: Decision) -> None:
    wire = sign_decision(decision, KEY)
    body = b64decode(wire["body"], field="body")
    sig = b64decode(wire["sig"], field="sig")
    assert verify_decision(body, sig, KEY.public_key) == decision
    assert parse_decision(body) == decision
    assert body == canonical_json(decision.to_json()) == raw(json.loads(body))
    assert decision_hash(body) == decision_hash(decision.to_bytes())


def test_body_matches_the_documented_form() -> None:
    decision = Decision("acknowledge", ME, AT, VALID["acknowledge"], nonce=NONCE)
    assert (
        decision.to_bytes()
        == (
            f'{{"at_ms":{AT},"coordinator":"{ME}","data":{{"reason":"confirmed_by_site",'
            f'"redemption":"{REDEMPTION}"}},"kind":"acknowledge","nonce":"{NONCE}",'
            '"type":"kokreativ.decision","v":1}'
        ).encode()
    )


def test_two_equal_decisions_differ_by_their_fresh_nonce() -> None:
    first = Decision("acknowledge", ME, AT, VALID["acknowledge"])
    second = Decision("acknowledge", ME, AT, VALID["acknowledge"])
    assert first.nonce != second.nonce
    assert decision_hash(first.to_bytes()) != decision_hash(second.to_bytes())


# -- keys ----------------------------------------------------------------------------------------------
def test_coordinator_id_is_a_domain_separated_hash_of_the_key() -> None:
    digest = hashlib.sha256(b"kokreativ coordinator key v1\x00" + KEY.public_key.raw).hexdigest()
    assert coordinator_id(KEY.public_key) == f"o_{digest[:32]}"
    assert coordinator_id(OTHER.public_key) != coordinator_id(KEY.public_key)


def test_a_decision_naming_another_key_is_refused_even_when_that_key_signed_it() -> None:
    decision = Decision("acknowledge", coordinator_id(OTHER.public_key), AT, VALID["acknowledge"])
    body = decision.to_bytes()
    # Signed by KEY, names OTHER: refused under either key.
    with pytest.raises(VerificationError) as info:
        verify_decision(body, KEY.sign(body), KEY.public_key)
    assert info.value.reason is Reason.BAD_SIGNATURE
    with pytest.raises(VerificationError) as info:
        verify_decision(body, KEY.sign(body), OTHER.public_key)
    assert info.value.reason is Reason.BAD_SIGNATURE
    assert verify_decision(body, OTHER.sign(body), OTHER.public_key) == decision


def test_a_changed_byte_breaks_the_signature() -> None:
    body = Decision("acknowledge", ME, AT, VALID["acknowledge"], nonce=NONCE).to_bytes()
    sig = KEY.sign(body)
    tampered = body.replace(b"confirmed_by_site", b"confirmed_by_siti")
    assert parse_decision(tampered).data["reason"] == "confirmed_by_siti"  # well-formed, so
    with pytest.raises(VerificationError) as info:  # only the signature can catch it
        verify_decision(tampered, sig, KEY.public_key)
    assert info.value.reason is Reason.BAD_SIGNATURE


def test_signing_refuses_what_the_parser_would_refuse() -> None:
    with pytest.raises(MalformedError) as info:
        sign_decision(Decision("review", ME, AT, {**VALID["review"], "action": "maybe"}), KEY)
    assert info.value.reason is Reason.BAD_FIELD


# -- malformed bodies ----------------------------------------------------------------------------------
def test_each_valid_body_parses() -> None:
    for kind in VALID:
        assert parse_decision(raw(envelope(kind))).kind == kind


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda e: e.update(type="kokreativ.event"), Reason.UNKNOWN_TYPE),
        (lambda e: e.update(v=3), Reason.UNKNOWN_VERSION),
        (lambda e: e.update(v=True), Reason.UNKNOWN_VERSION),
        (lambda e: e.pop("nonce"), Reason.MISSING_FIELD),
        (lambda e: e.pop("at_ms"), Reason.MISSING_FIELD),
        (lambda e: e.update(extra=1), Reason.UNKNOWN_FIELD),
        (lambda e: e.update(kind="pay_everyone"), Reason.UNKNOWN_KIND),
        (lambda e: e.update(kind=7), Reason.UNKNOWN_KIND),
        (lambda e: e.update(nonce="0123"), Reason.BAD_FIELD),
        (lambda e: e.update(nonce=NONCE.upper()), Reason.BAD_FIELD),
        (lambda e: e.update(at_ms=-1), Reason.BAD_FIELD),
        (lambda e: e.update(at_ms="now"), Reason.BAD_FIELD),
        (lambda e: e.update(coordinator="c_" + "1" * 32), Reason.BAD_FIELD),
        (lambda e: e.update(coordinator="Ada"), Reason.BAD_FIELD),
        (lambda e: e.update(data=[]), Reason.BAD_FIELD),
        (lambda e: e["data"].pop("reason"), Reason.BAD_FIELD),
        (lambda e: e["data"].update(note="free text"), Reason.BAD_FIELD),
    ],
)
def test_a_malformed_envelope_is_refused_with_its_reason(change: Any, reason: Reason) -> None:
    obj = envelope("acknowledge")
    change(obj)
    assert refused(raw(obj)) is reason


BAD_DATA: list[tuple[str, str, Any, Reason]] = [
    ("site_rules", "site", "k_" + "a" * 32, Reason.BAD_FIELD),
    ("site_rules", "tokens_per_hour", -1, Reason.BAD_FIELD),
    ("site_rules", "tokens_per_hour", MAX_TOKENS_PER_HOUR + 1, Reason.BAD_FIELD),
    ("site_rules", "tokens_per_hour", True, Reason.BAD_FIELD),
    ("site_rules", "max_shift_hours", 0, Reason.BAD_FIELD),
    ("site_rules", "max_shift_hours", MAX_SHIFT_HOURS + 1, Reason.BAD_FIELD),
    ("site_rules", "daily_cap", -1, Reason.BAD_FIELD),
    ("site_rules", "daily_cap", MAX_AMOUNT + 1, Reason.BAD_FIELD),
    ("site_rules", "bonuses", {}, Reason.BAD_FIELD),
    ("site_rules", "bonuses", [NIGHT] * (MAX_BONUSES + 1), Reason.BAD_FIELD),
    ("site_rules", "bonuses", [{**NIGHT, "percent": 99}], Reason.BAD_FIELD),
    ("site_rules", "bonuses", [{**NIGHT, "percent": 1001}], Reason.BAD_FIELD),
    ("site_rules", "bonuses", [{**NIGHT, "days": [7]}], Reason.BAD_FIELD),
    ("site_rules", "bonuses", [{**NIGHT, "days": [False]}], Reason.BAD_FIELD),
    ("site_rules", "bonuses", [{**NIGHT, "days": [2, 1]}], Reason.NOT_CANONICAL),
    ("site_rules", "bonuses", [{**NIGHT, "days": [1, 1]}], Reason.NOT_CANONICAL),
    ("site_rules", "bonuses", [{**NIGHT, "days": [], "dates": []}], Reason.BAD_FIELD),
    ("site_rules", "bonuses", [{**NIGHT, "dates": ["2026-02-30"]}], Reason.BAD_FIELD),
    ("site_rules", "bonuses", [{**NIGHT, "dates": ["2026-1-01"]}], Reason.BAD_FIELD),
    ("site_rules", "bonuses", [{**NIGHT, "dates": ["2026-12-25", "2026-01-01"]}], Reason.NOT_CANONICAL),
    ("site_rules", "bonuses", [{**NIGHT, "dates": ["2026-01-01"] * 2}], Reason.NOT_CANONICAL),
    ("site_rules", "bonuses", [{**NIGHT, "dates": "2026-01-01"}], Reason.BAD_FIELD),
    ("site_rules", "bonuses", [{**NIGHT, "from": "24:00"}], Reason.BAD_FIELD),
    ("site_rules", "bonuses", [{**NIGHT, "to": "6:00"}], Reason.BAD_FIELD),
    ("site_rules", "bonuses", [{**NIGHT, "from": "22:60"}], Reason.BAD_FIELD),
    ("site_rules", "bonuses", [{**NIGHT, "name": "night"}], Reason.BAD_FIELD),
    ("shop_limits", "site", "x", Reason.BAD_FIELD),
    ("shop_limits", "max_amount", 0, Reason.BAD_FIELD),
    ("shop_limits", "max_amount", MAX_AMOUNT + 1, Reason.BAD_FIELD),
    ("shop_limits", "offline_allowance", -1, Reason.BAD_FIELD),
    ("shop_limits", "offline_daily_cap", "200", Reason.BAD_FIELD),
    ("shop_limits", "void_window_s", MAX_VOID_WINDOW_S + 1, Reason.BAD_FIELD),
    ("review", "shift", {"kiosk": KIOSK}, Reason.BAD_FIELD),
    ("review", "shift", {"kiosk": KIOSK, "seq": 0}, Reason.BAD_FIELD),
    ("review", "shift", {"kiosk": "s_" + "a" * 32, "seq": 1}, Reason.BAD_FIELD),
    ("review", "shift", {"kiosk": KIOSK, "seq": 1, "card": CARD}, Reason.BAD_FIELD),
    ("review", "action", "maybe", Reason.BAD_FIELD),
    ("review", "start_ms", -1, Reason.BAD_FIELD),
    ("review", "end_ms", MAX_SAFE_INT + 1, Reason.BAD_FIELD),
    ("review", "reason", "Forgot", Reason.BAD_FIELD),
    ("review", "reason", "Ada forgot her card", Reason.BAD_FIELD),
    ("review", "reason", "a" * 41, Reason.BAD_FIELD),
    ("acknowledge", "redemption", "c_" + "a" * 32, Reason.BAD_FIELD),
    ("acknowledge", "reason", "", Reason.BAD_FIELD),
    ("manual_shift", "card", "v_" + "a" * 32, Reason.BAD_FIELD),
    ("manual_shift", "site", CARD, Reason.BAD_FIELD),
    ("manual_shift", "start_ms", 0, Reason.BAD_FIELD),
    ("manual_shift", "end_ms", 0, Reason.BAD_FIELD),
    ("manual_shift", "reason", 3, Reason.BAD_FIELD),
]


@pytest.mark.parametrize(("kind", "name", "value", "reason"), BAD_DATA)
def test_every_malformed_data_field_is_refused_with_its_reason(
    kind: str, name: str, value: Any, reason: Reason
) -> None:
    obj = envelope(kind)
    obj["data"][name] = value
    assert refused(raw(obj)) is reason


def test_every_data_field_of_every_kind_is_covered_by_a_refusal() -> None:
    covered = {(kind, name) for kind, name, *_ in BAD_DATA}
    assert covered == {(kind, name) for kind, data in VALID.items() for name in data}


def test_bytes_that_are_not_canonical_are_refused() -> None:
    canonical = raw(envelope("acknowledge"))
    assert refused(canonical.replace(b'","', b'", "', 1)) is Reason.NOT_CANONICAL
    assert refused(json.dumps(envelope("acknowledge")).encode()) is Reason.NOT_CANONICAL
    assert refused(b"[]") is Reason.BAD_ENCODING
    too_big = envelope("manual_shift")
    too_big["data"]["reason"] = "a" * MAX_DECISION_BYTES
    assert refused(raw(too_big)) is Reason.TOO_LARGE


# -- decision v2: a manual shift names a commitment to its card -------------------------------------------
def test_a_v2_manual_shift_names_a_commitment_and_opens_to_its_card() -> None:
    decision, opening = committed_decision("manual_shift", ME, AT, VALID["manual_shift"])
    assert opening is not None and opening.card == VALID["manual_shift"]["card"]
    body = decision.to_bytes()
    assert VALID["manual_shift"]["card"].encode() not in body
    parsed = parse_decision(body)
    assert (parsed.version, parsed.card, parsed.ref) == (2, "", opening.ref)
    assert parsed.opened(opening).card == opening.card
    with pytest.raises(VerificationError) as caught:
        parsed.opened(Opening(ids.new_id(ids.CARD), opening.salt))
    assert caught.value.reason is Reason.OPENING_MISMATCH
    v2_with_card = {**json.loads(body), "data": VALID["manual_shift"]}
    with pytest.raises(MalformedError) as refused:
        parse_decision(json.dumps(v2_with_card, sort_keys=True, separators=(",", ":")).encode())
    assert refused.value.reason is Reason.BAD_FIELD


def test_a_v2_decision_without_a_card_takes_no_opening() -> None:
    decision, opening = committed_decision("acknowledge", ME, AT, VALID["acknowledge"])
    assert opening is None and parse_decision(decision.to_bytes()) == decision
    with pytest.raises(MalformedError) as caught:
        decision.opened(Opening.fresh(ids.new_id(ids.CARD)))
    assert caught.value.reason is Reason.BAD_FIELD
    v1 = parse_decision(Decision("manual_shift", ME, AT, VALID["manual_shift"], nonce=NONCE).to_bytes())
    assert (v1.version, v1.card, v1.ref) == (1, VALID["manual_shift"]["card"], None)


# -- prior engagement (issue 18): decision v2 only, a commitment to its card --------------------------------
PRIOR = {
    "card": CARD,
    "site": SITE,
    "from_ms": AT - 365 * 86_400_000,
    "to_ms": AT,
    "minutes": 15_000,
    "reason": "paper_list",
}


def test_prior_hours_is_a_v2_decision_committing_to_its_card() -> None:
    decision, opening = committed_decision("prior_hours", ME, AT, PRIOR)
    assert opening is not None and opening.card == CARD
    body = decision.to_bytes()
    assert CARD.encode() not in body
    parsed = parse_decision(body)
    assert parsed.kind == "prior_hours" and parsed.ref == opening.ref
    assert parsed.opened(opening).card == CARD
    assert set(parsed.data) == {"ref", "site", "from_ms", "to_ms", "minutes", "reason"}


def test_prior_hours_does_not_exist_in_decision_v1() -> None:
    obj = envelope("manual_shift", PRIOR)
    obj["kind"] = "prior_hours"
    assert refused(raw(obj)) is Reason.UNKNOWN_KIND


@pytest.mark.parametrize(
    ("name", "value"),
    [("minutes", 0), ("minutes", 10 * 366 * 24 * 60 + 1), ("from_ms", 0), ("site", CARD), ("reason", "Ada")],
)
def test_prior_hours_fields_are_checked(name: str, value: Any) -> None:
    decision, _ = committed_decision("prior_hours", ME, AT, PRIOR)
    obj = json.loads(decision.to_bytes())
    obj["data"][name] = value
    assert refused(raw(obj)) is Reason.BAD_FIELD
