"""Canonical JSON and strict base64, the two encodings on the wire."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from protocol import MalformedError, Reason, b64decode, b64encode, canonical_json, parse_canonical_json
from protocol.encoding import _check_value, _shallow_and_plain, check_canonical

MAX_SAFE_INT = 2**53 - 1
LIMIT = 1 << 20  # generous, so size never decides in these tests

# --- Strategies ------------------------------------------------------------------------------

# Every code point except surrogates, with the characters JSON must escape named so
# every run tries them.  Built from integers rather than st.text(), whose Unicode
# tables are slow to build on a cold Hypothesis cache (fresh CI).
characters = st.sampled_from(['"', "\\", "/", "\x00", "\x1f", "\x7f", "é", "\u2028", "\U0001f600"]) | (
    st.integers(0, 0x10FFFF).filter(lambda c: not 0xD800 <= c <= 0xDFFF).map(chr)
)
strings = st.lists(characters, max_size=6).map("".join)
scalars = st.booleans() | st.integers(-MAX_SAFE_INT, MAX_SAFE_INT) | strings


def values(levels: int) -> st.SearchStrategy[Any]:
    """JSON values whose arrays and objects nest at most ``levels`` deep."""
    if levels == 0:
        return scalars
    inner = values(levels - 1)
    return scalars | st.lists(inner, max_size=3) | st.dictionaries(strings, inner, max_size=3)


# The top-level object is level 1; its values may nest 7 more.
objects = st.dictionaries(strings, values(7), max_size=4)


def nested(levels: int, innermost: Any = None) -> Any:
    """``levels`` arrays inside one another, the innermost holding ``innermost`` if given."""
    value: Any = [] if innermost is None else [innermost]
    for _ in range(levels - 1):
        value = [value]
    return value


def reason_of(data: bytes, max_bytes: int = LIMIT) -> Reason:
    with pytest.raises(MalformedError) as info:
        parse_canonical_json(data, max_bytes=max_bytes)
    return info.value.reason


# --- Canonical JSON -------------------------------------------------------------------------


@given(objects)
def test_canonical_round_trip(value: dict[str, Any]) -> None:
    data = canonical_json(value)
    # The definition in docs/protocol.md, checked against the standard library.
    assert data == json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    assert data.isascii()
    parsed = parse_canonical_json(data, max_bytes=LIMIT)
    assert parsed == value
    assert canonical_json(parsed) == data


@given(objects)
def test_any_other_layout_of_the_same_value_is_refused(value: dict[str, Any]) -> None:
    assume(value)  # "{}" has no separators to vary
    spaced = json.dumps(value, sort_keys=True, ensure_ascii=True).encode()
    assert reason_of(spaced) is Reason.NOT_CANONICAL


@given(objects)
def test_raw_non_ascii_is_bad_encoding(value: dict[str, Any]) -> None:
    utf8 = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assume(not utf8.isascii())
    assert reason_of(utf8) is Reason.BAD_ENCODING


def test_spec_definition_examples() -> None:
    assert (
        canonical_json({"b": 1, "a": [True, False, "é"], "A": {}})
        == b'{"A":{},"a":[true,false,"\\u00e9"],"b":1}'
    )
    assert canonical_json({"z": -MAX_SAFE_INT, "\u00e9": MAX_SAFE_INT}) == (
        b'{"z":-9007199254740991,"\\u00e9":9007199254740991}'
    )


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": 1}',
        b'{ "a":1}',
        b'{"a":1}\n',
        b'{"b":1,"a":2}',
        b'{"a":"\\u0061"}',
        b'{"a":"\\u00E9"}',  # upper-case hex in an escape json.dumps writes in lower case
        b'{"a":1.0}',
        b'{"a":1e3}',
        b'{"a":1E3}',
        b'{"a":-0}',
        b'{"a":NaN}',
        b'{"a":Infinity}',
        b'{"a":-Infinity}',
        b'{"a":null}',
        b'{"a":[null]}',
        b'{"a":{"b":null}}',
        b'{"a":1,"a":1}',
        b'{"a":{"b":1,"b":2}}',
    ],
)
def test_not_canonical(data: bytes) -> None:
    assert reason_of(data) is Reason.NOT_CANONICAL


@pytest.mark.parametrize(
    "data",
    [b'{"a":"\xc3\xa9"}', b'{"a":"\xff"}', b"", b"{", b'{"a":01}', b"[]", b'"a"', b"1", b"null", b"true"],
)
def test_bad_encoding(data: bytes) -> None:
    assert reason_of(data) is Reason.BAD_ENCODING


@pytest.mark.parametrize("number", [MAX_SAFE_INT + 1, -MAX_SAFE_INT - 1, 10**20])
def test_integers_outside_the_safe_range_are_bad_field(number: int) -> None:
    assert reason_of(f'{{"a":{number}}}'.encode()) is Reason.BAD_FIELD
    with pytest.raises(MalformedError) as info:
        canonical_json({"a": number})
    assert info.value.reason is Reason.BAD_FIELD


@pytest.mark.parametrize("value", [None, 1.0, b"x", ("a",), {1: "a"}])
def test_canonical_json_refuses_what_has_no_canonical_form(value: object) -> None:
    with pytest.raises(MalformedError) as info:
        canonical_json({"a": value})
    assert info.value.reason is Reason.BAD_FIELD


def test_size_limit_is_inclusive() -> None:
    data = b'{"a":"' + b"x" * 10 + b'"}'
    assert parse_canonical_json(data, max_bytes=len(data)) == {"a": "x" * 10}
    assert reason_of(data, max_bytes=len(data) - 1) is Reason.TOO_LARGE


def test_nesting_of_8_levels_is_allowed() -> None:
    # The top-level object is level 1, so its value holds 7 more levels.
    for innermost in (None, 1):
        value = {"a": nested(7, innermost)}
        assert parse_canonical_json(canonical_json(value), max_bytes=LIMIT) == value


def deep_bytes(levels: int, innermost: bytes = b"") -> bytes:
    """A top-level object holding ``levels - 1`` nested arrays, written by hand (no recursion)."""
    return b'{"a":' + b"[" * (levels - 1) + innermost + b"]" * (levels - 1) + b"}"


@pytest.mark.parametrize("innermost", [b"", b"1", b'"x"', b"{}"], ids=["empty", "int", "str", "object"])
@pytest.mark.parametrize("levels", [9, 10, 50, 400, 900, 1500])
def test_nesting_deeper_than_8_levels_is_bad_field(levels: int, innermost: bytes) -> None:
    # Refused with the same reason however deep, and never by a RecursionError escaping.
    assert reason_of(deep_bytes(levels, innermost)) is Reason.BAD_FIELD


@pytest.mark.parametrize("levels", [9, 10])
def test_canonical_json_refuses_to_encode_deeper_than_8_levels(levels: int) -> None:
    with pytest.raises(MalformedError) as info:
        canonical_json({"a": nested(levels - 1)})
    assert info.value.reason is Reason.BAD_FIELD


def test_null_is_found_at_the_deepest_allowed_level_and_deeper_is_refused_by_depth() -> None:
    assert deep_bytes(8, b"null") == b'{"a":[[[[[[[null]]]]]]]}'
    assert reason_of(deep_bytes(8, b"null")) is Reason.NOT_CANONICAL
    assert reason_of(deep_bytes(500, b"null")) is Reason.BAD_FIELD


# --- Base64 ---------------------------------------------------------------------------------


@given(st.binary(max_size=100))
def test_base64_round_trip_is_standard_padded_base64(data: bytes) -> None:
    text = b64encode(data)
    assert text == base64.standard_b64encode(data).decode("ascii")
    assert len(text) % 4 == 0
    assert b64decode(text, field="x") == data


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("QQ", id="no-padding"),
        pytest.param("QQ=", id="short-padding"),
        pytest.param("QUI", id="no-padding-2"),
        pytest.param("QQ===", id="extra-padding"),
        pytest.param("QR==", id="non-zero-trailing-bits"),
        pytest.param("QUJ=", id="non-zero-trailing-bits-2"),
        pytest.param("-_8=", id="urlsafe-alphabet"),
        pytest.param("+/8=".replace("+", "-"), id="urlsafe-minus"),
        pytest.param("QQ==\n", id="trailing-newline"),
        pytest.param(" QQ==", id="leading-space"),
        pytest.param("QU JD", id="inner-space"),
        pytest.param("QQ==QQ==", id="padding-in-the-middle"),
        pytest.param("QUJD\t", id="tab"),
        pytest.param("QUJDé===", id="non-ascii"),
        pytest.param("=", id="padding-only"),
    ],
)
def test_base64_strictness_is_bad_encoding(text: str) -> None:
    with pytest.raises(MalformedError) as info:
        b64decode(text, field="x")
    assert info.value.reason is Reason.BAD_ENCODING


def test_canonical_trailing_bits_decode() -> None:
    # "QQ==" is the only encoding of b"A"; "QR==" differs only in bits the decoder ignores.
    assert b64decode("QQ==", field="x") == b"A"
    assert base64.b64decode("QR==") == b"A"  # lenient decoders would accept it


@pytest.mark.parametrize("length", [0, 63, 65])
def test_base64_of_the_wrong_length_is_bad_field(length: int) -> None:
    with pytest.raises(MalformedError) as info:
        b64decode(b64encode(bytes(length)), field="sig", length=64)
    assert info.value.reason is Reason.BAD_FIELD
    assert b64decode(b64encode(bytes(64)), field="sig", length=64) == bytes(64)


@pytest.mark.parametrize("value", [None, 1, b"QQ==", ["QQ=="]])
def test_base64_of_a_non_string_is_bad_field(value: object) -> None:
    with pytest.raises(MalformedError) as info:
        b64decode(value, field="x")
    assert info.value.reason is Reason.BAD_FIELD


@given(objects)
def test_the_reused_encoder_writes_what_json_dumps_writes(value: dict[str, Any]) -> None:
    """``canonical_json`` keeps one encoder for every call (issue 21): its bytes are ``json.dumps``'s."""
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    assert canonical_json(value) == expected


# Anything JSON or a caller may hand over, shallow or deep, with what canonical JSON refuses among it.
anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | strings,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(strings | st.integers(), inner, max_size=3)
        | st.tuples(inner)
    ),
    max_leaves=10,
)


def _refusal(check: Any, value: object) -> tuple[Reason, str] | None:
    try:
        check(value)
    except MalformedError as exc:
        return exc.reason, str(exc)
    return None


@given(st.dictionaries(strings | st.integers(), anything, max_size=4) | anything)
def test_check_canonical_refuses_exactly_what_the_full_walk_refuses(value: object) -> None:
    """``check_canonical``'s one-loop pass for shallow plain objects (issue 21) never lets through what
    the full walk refuses, and the refusal is the full walk's own."""
    assert _refusal(check_canonical, value) == _refusal(_check_value, value)
    if isinstance(value, dict) and _shallow_and_plain(value):
        assert _refusal(_check_value, value) is None


@given(st.dictionaries(strings, st.dictionaries(strings, scalars, max_size=4) | scalars, max_size=4))
def test_shallow_plain_objects_take_the_one_loop_pass(value: dict[str, Any]) -> None:
    assert _shallow_and_plain(value)
    assert _refusal(_check_value, value) is None
