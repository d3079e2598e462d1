"""Transparency-log entries: documented fields per kind, canonical bytes, the strict parser, leaf hashes."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import MalformedError, Reason, b64encode
from protocol.logentry import (
    ENTRY_FIELDS,
    ENTRY_TYPE,
    ENTRY_VERSION,
    MAX_ENTRY_BYTES,
    event_entry,
    event_leaf_hash,
    make_entry,
    parse_entry,
)
from protocol.merkle import leaf_hash

KIOSK = "k_" + "1" * 32
SITE = "s_" + "2" * 32
CARD = "c_" + "3" * 32
VOLUNTEER = "v_" + "4" * 32
PUBLIC_KEY = b64encode(bytes(range(32)))
AT = 1_764_400_000_000

# One valid set of fields for each kind, exactly the table in docs/protocol.md.
FIELDS: dict[str, dict[str, Any]] = {
    "event": {"body": b64encode(b'{"k":1}'), "sig": b64encode(bytes(64)), "received_ms": AT, "flags": []},
    "kiosk_enrolled": {"kiosk_id": KIOSK, "site_id": SITE, "public_key": PUBLIC_KEY, "at_ms": AT},
    "kiosk_status": {"kiosk_id": KIOSK, "status": "suspended", "at_ms": AT},
    "site": {
        "site_id": SITE,
        "tokens_per_hour": 3,
        "max_shift_hours": 10,
        "allow_uncredentialed": False,
        "at_ms": AT,
    },
    "issuer_key": {"key_id": "i_0011223344556677", "public_key": PUBLIC_KEY, "status": "active", "at_ms": AT},
    "card": {"card_id": CARD, "volunteer_id": VOLUNTEER, "at_ms": AT},
    "card_blocked": {"card_id": CARD, "at_ms": AT},
    "shop": {
        "site_id": SITE,
        "max_amount": 50,
        "offline_allowance": 10,
        "offline_daily_cap": 100,
        "void_window_s": 900,
        "at_ms": AT,
    },
    "coordinator_key": {
        "coordinator_id": "o_" + "5" * 32,
        "public_key": PUBLIC_KEY,
        "status": "active",
        "at_ms": AT,
    },
    "decision": {"body": b64encode(b'{"k":1}'), "sig": b64encode(bytes(64)), "received_ms": AT},
    "clock_ref": {"body": b64encode(b'{"k":1}'), "sig": b64encode(bytes(64)), "received_ms": AT},
    "server_key": {
        "body": b64encode(b'{"k":1}'),
        "sig_old": b64encode(bytes(64)),
        "sig_new": b64encode(bytes(64)),
    },
    "certificate": {
        "from_day": "2025-01-01",
        "to_day": "2025-12-31",
        "minutes": 15000,
        "name_hash": "ab" * 32,
        "at_ms": AT,
    },
    "till_staff": {
        "site_id": "s_" + "1" * 32,
        "staff_id": "e_" + "2" * 32,
        "role": "cashier",
        "daily_max": 80,
        "active": True,
        "at_ms": AT,
    },
}
KINDS = sorted(FIELDS)


def raw(obj: dict[str, Any]) -> bytes:
    """``obj`` encoded canonically but without any checks, to reach the parser's own rules."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def entry_object(kind: str) -> dict[str, Any]:
    return {"kind": kind, "type": ENTRY_TYPE, "v": ENTRY_VERSION, **FIELDS[kind]}


def reason_of(data: bytes) -> Reason:
    with pytest.raises(MalformedError) as info:
        parse_entry(data)
    return info.value.reason


def test_kinds_and_fields_are_the_documented_ones():
    assert (ENTRY_TYPE, ENTRY_VERSION) == ("kokreativ.entry", 1)
    assert {kind: set(fields) for kind, fields in ENTRY_FIELDS.items()} == {
        kind: set(fields) for kind, fields in FIELDS.items()
    }


def test_canonical_bytes_are_exact():
    assert make_entry("card_blocked", card_id=CARD, at_ms=5) == (
        b'{"at_ms":5,"card_id":"' + CARD.encode() + b'","kind":"card_blocked","type":"kokreativ.entry","v":1}'
    )
    assert event_entry(
        b"\x00\x01", bytes(2), received_ms=7, flags=["shift_too_long", "clock_out_of_range"]
    ) == (
        b'{"body":"AAE=","flags":["shift_too_long","clock_out_of_range"],"kind":"event",'
        b'"received_ms":7,"sig":"AAA=","type":"kokreativ.entry","v":1}'
    )


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_is_canonical_and_round_trips(kind):
    data = make_entry(kind, **FIELDS[kind])
    assert data == raw(entry_object(kind))
    assert b" " not in data  # no space after separators (and none in these values)
    assert list(json.loads(data)) == sorted(json.loads(data))  # keys sorted
    parsed = parse_entry(data)
    if kind in ("event", "decision", "clock_ref"):
        assert parsed == {**entry_object(kind), "body": b'{"k":1}', "sig": bytes(64)}
    elif kind == "server_key":
        assert parsed == {
            **entry_object(kind),
            "body": b'{"k":1}',
            "sig_old": bytes(64),
            "sig_new": bytes(64),
        }
    else:
        assert parsed == entry_object(kind)


@pytest.mark.parametrize("kind", KINDS)
def test_make_entry_refuses_missing_and_extra_fields(kind):
    for missing in FIELDS[kind]:
        fields = {k: v for k, v in FIELDS[kind].items() if k != missing}
        with pytest.raises(MalformedError) as info:
            make_entry(kind, **fields)
        assert info.value.reason is Reason.BAD_FIELD, missing
    with pytest.raises(MalformedError) as info:
        make_entry(kind, **FIELDS[kind], name="Erika Mustermann")
    assert info.value.reason is Reason.BAD_FIELD


def test_make_entry_refuses_unknown_kinds_and_values_json_cannot_hold():
    with pytest.raises(MalformedError) as info:
        make_entry("volunteer", volunteer_id=VOLUNTEER, at_ms=AT)
    assert info.value.reason is Reason.UNKNOWN_KIND
    with pytest.raises(MalformedError) as info:
        make_entry("card_blocked", card_id=CARD, at_ms=1.5)
    assert info.value.reason is Reason.BAD_FIELD


@pytest.mark.parametrize("kind", KINDS)
def test_parse_entry_refuses_missing_and_extra_fields(kind):
    for missing in FIELDS[kind]:
        obj = entry_object(kind)
        del obj[missing]
        assert reason_of(raw(obj)) is Reason.UNKNOWN_FIELD, missing
    assert reason_of(raw({**entry_object(kind), "name": "Erika"})) is Reason.UNKNOWN_FIELD


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"type": "kokreativ.event"}, Reason.UNKNOWN_TYPE),
        ({"type": "kokreativ.Entry"}, Reason.UNKNOWN_TYPE),
        ({"v": 3}, Reason.UNKNOWN_TYPE),
        ({"v": 0}, Reason.UNKNOWN_TYPE),
        ({"v": True}, Reason.UNKNOWN_TYPE),
        ({"v": "1"}, Reason.UNKNOWN_TYPE),
        ({"v": {"v": 1}}, Reason.UNKNOWN_TYPE),
        ({"kind": "volunteer"}, Reason.UNKNOWN_KIND),
        ({"kind": "Card"}, Reason.UNKNOWN_KIND),
        ({"kind": 1}, Reason.UNKNOWN_KIND),
        ({"kind": ["card"]}, Reason.UNKNOWN_KIND),
    ],
    ids=[
        "other-type",
        "type-case",
        "version-3",
        "version-0",
        "version-true",
        "version-string",
        "version-object",
        "unknown-kind",
        "kind-case",
        "kind-number",
        "kind-list",
    ],
)
def test_parse_entry_refuses_unknown_type_version_and_kind(change, reason):
    assert reason_of(raw({**entry_object("card"), **change})) is reason


def test_parse_entry_refuses_missing_type_version_and_kind():
    for key, reason in [
        ("type", Reason.UNKNOWN_TYPE),
        ("v", Reason.UNKNOWN_TYPE),
        ("kind", Reason.UNKNOWN_KIND),
    ]:
        obj = entry_object("card")
        del obj[key]
        assert reason_of(raw(obj)) is reason, key


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"body": "AAE"}, Reason.BAD_ENCODING),
        ({"body": "AAF="}, Reason.BAD_ENCODING),
        ({"sig": "!!!!"}, Reason.BAD_ENCODING),
        ({"body": 5}, Reason.BAD_FIELD),
        ({"flags": "shift_too_long"}, Reason.BAD_FIELD),
        ({"flags": [1]}, Reason.BAD_FIELD),
        ({"flags": {"a": "b"}}, Reason.BAD_FIELD),
    ],
    ids=[
        "body-no-padding",
        "body-padding-bits",
        "sig-not-base64",
        "body-number",
        "flags-string",
        "flags-ints",
        "flags-object",
    ],
)
def test_parse_entry_checks_event_fields(change, reason):
    assert reason_of(raw({**entry_object("event"), **change})) is reason


def test_parse_entry_refuses_non_canonical_and_oversized_bytes():
    data = make_entry("card", **FIELDS["card"])
    assert reason_of(data.replace(b",", b", ", 1)) is Reason.NOT_CANONICAL
    assert reason_of(json.dumps(entry_object("card")).encode()) is Reason.NOT_CANONICAL  # key order, spaces
    assert reason_of(data + b"\n") is Reason.NOT_CANONICAL
    big = raw({**entry_object("event"), "body": b64encode(bytes(MAX_ENTRY_BYTES))})
    assert reason_of(big) is Reason.TOO_LARGE
    assert reason_of(b"[]") is Reason.BAD_ENCODING


flags = st.lists(st.sampled_from([r.value for r in Reason]), max_size=5)


@given(st.binary(max_size=2048), st.binary(min_size=64, max_size=64), st.integers(0, 2**53 - 1), flags)
def test_event_entries_round_trip_and_their_leaf_hash_is_rfc_6962(body, sig, received_ms, flag_list):
    entry = event_entry(body, sig, received_ms=received_ms, flags=flag_list)
    assert entry == event_entry(body, sig, received_ms=received_ms, flags=tuple(flag_list))  # stable
    assert entry == raw(
        {
            "body": b64encode(body),
            "flags": flag_list,
            "kind": "event",
            "received_ms": received_ms,
            "sig": b64encode(sig),
            "type": ENTRY_TYPE,
            "v": ENTRY_VERSION,
        }
    )
    expected = hashlib.sha256(b"\x00" + entry).digest()
    assert (
        event_leaf_hash(body, sig, received_ms=received_ms, flags=flag_list) == leaf_hash(entry) == expected
    )
    parsed = parse_entry(entry)
    assert (parsed["body"], parsed["sig"], parsed["received_ms"], parsed["flags"]) == (
        body,
        sig,
        received_ms,
        flag_list,
    )


def test_event_flags_keep_the_order_decided():
    first = event_leaf_hash(b"x", bytes(64), received_ms=1, flags=["a", "b"])
    assert first != event_leaf_hash(b"x", bytes(64), received_ms=1, flags=["b", "a"])
    assert parse_entry(event_entry(b"x", bytes(64), received_ms=1, flags=["b", "a"]))["flags"] == ["b", "a"]


@pytest.mark.parametrize("value", ["5", -1, True, 1.5])
def test_numeric_fields_must_be_whole_numbers(value):
    raw = json.loads(make_entry("card_blocked", card_id="c_" + "0" * 32, at_ms=1))
    raw["at_ms"] = value
    with pytest.raises(MalformedError):
        parse_entry(json.dumps(raw, sort_keys=True, separators=(",", ":")).encode())


# --- v2: the entries of a log that names no card ---------------------------------------------


def test_a_v2_card_entry_is_a_commitment_and_a_v1_card_entry_is_not_v2() -> None:
    from protocol.logentry import PRIVATE_ENTRY_VERSION

    ref = "ab" * 32
    data = make_entry("card", version=PRIVATE_ENTRY_VERSION, ref=ref, at_ms=5)
    assert data == b'{"at_ms":5,"kind":"card","ref":"' + ref.encode() + b'","type":"kokreativ.entry","v":2}'
    assert parse_entry(data)["ref"] == ref
    v1_shape = {"kind": "card", "type": ENTRY_TYPE, "v": 2, "card_id": CARD, "volunteer_id": "v_" + "0" * 32}
    assert reason_of(raw({**v1_shape, "at_ms": 5})) is Reason.UNKNOWN_FIELD
    assert reason_of(raw({"kind": "card", "type": ENTRY_TYPE, "v": 2, "ref": "ab", "at_ms": 5})) is (
        Reason.BAD_FIELD
    )


def test_v2_totals_may_be_negative_but_must_be_integers() -> None:
    from protocol.logentry import PRIVATE_ENTRY_VERSION

    fields = {"first": 3, "last": 9, "issued": 0, "at_ms": 5}
    back = make_entry("totals", version=PRIVATE_ENTRY_VERSION, **fields, redeemed=-5)
    assert parse_entry(back)["redeemed"] == -5
    obj = {"kind": "totals", "type": ENTRY_TYPE, "v": 2, **fields, "redeemed": "1"}
    assert reason_of(raw(obj)) is Reason.BAD_FIELD
    assert reason_of(raw({**obj, "redeemed": 1, "first": -1})) is Reason.BAD_FIELD


def test_a_v2_event_entry_shows_only_the_signed_bytes_and_the_day() -> None:
    from protocol.logentry import private_event_entry

    entry = parse_entry(private_event_entry(b"{}", bytes(64), received_ms=86_400_000 * 3 + 12_345))
    assert set(entry) == {"kind", "type", "v", "body", "sig", "received_ms"}
    assert entry["received_ms"] == 86_400_000 * 3
