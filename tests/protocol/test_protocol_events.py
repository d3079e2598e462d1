"""Event format v1: canonical bytes, signing, the hash chain and the strict parser.

Every malformed input is built from a valid event changed in exactly one way,
and encoded the way ``canonical_json`` would (but without its checks), so each
test reaches the one rule it is about and asserts that rule's reason code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import string
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from protocol import (
    GENESIS_PREV,
    MAX_EVENT_BYTES,
    ClockEvidence,
    Event,
    EventKind,
    MalformedError,
    PrivateKey,
    ProtocolError,
    Reason,
    VerificationError,
    b64encode,
    canonical_json,
    decode_wire_event,
    event_hash,
    ids,
    parse_canonical_json,
    parse_event,
    sign_event,
    verify_event,
)
from protocol.events import SEALED_CLOCK

MAX_SAFE_INT = 2**53 - 1
MAX_AMOUNT = 1_000_000  # protocol.events.MAX_AMOUNT, restated: the test pins the contract
DOCS = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"

# The example event in docs/protocol.md ("Events"), on one line as it goes on the wire.
SPEC_EXAMPLE = (
    b'{"card":"c_00a71ed80fa1e76c198371c3ece0dc0e",'
    b'"clock":{"boot":"b08d2866-f413-4cb3-a8a0-cd36bb39ffe3","mono_ms":5,"synced":true,'
    b'"wall_ms":1764400000000},'
    b'"data":{},"kind":"check_in","kiosk":"k_559fa9c0eb2eb94da892084c943b1b27",'
    b'"prev":"0000000000000000000000000000000000000000000000000000000000000000","seq":1,'
    b'"type":"kokreativ.event","v":1}'
)
SPEC_EVENT = Event(
    kiosk="k_559fa9c0eb2eb94da892084c943b1b27",
    seq=1,
    prev=GENESIS_PREV,
    kind=EventKind.CHECK_IN,
    card="c_00a71ed80fa1e76c198371c3ece0dc0e",
    clock=ClockEvidence(
        wall_ms=1764400000000, synced=True, boot_id="b08d2866-f413-4cb3-a8a0-cd36bb39ffe3", mono_ms=5
    ),
)
KEY = PrivateKey(bytes(range(32)))


def raw(obj: Any) -> bytes:
    """Encode like canonical_json, but without its checks, to build bad inputs."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def valid_obj() -> dict[str, Any]:
    """A fresh, mutable copy of the spec example as a JSON object."""
    obj: dict[str, Any] = json.loads(SPEC_EXAMPLE)
    return obj


def reason_of(body: bytes) -> Reason:
    with pytest.raises(MalformedError) as info:
        parse_event(body)
    return info.value.reason


# --- Strategies ------------------------------------------------------------------------------

hex32 = st.binary(min_size=16, max_size=16).map(bytes.hex)
kiosk_ids = hex32.map(lambda h: f"{ids.KIOSK}_{h}")
card_ids = st.tuples(st.sampled_from([ids.CARD, ids.UID_CARD]), hex32).map(lambda t: f"{t[0]}_{t[1]}")
# Hypothesis favours small values; name the boundaries so every run tries them.
clock_ints = st.sampled_from([0, 1, MAX_SAFE_INT]) | st.integers(0, MAX_SAFE_INT)
# Built from alphabets rather than st.from_regex, which is slow on a cold Hypothesis cache (fresh CI).
reason_codes = st.sampled_from(list(Reason)) | st.builds(
    str.__add__,
    st.sampled_from(string.ascii_lowercase),
    st.text(string.ascii_lowercase + string.digits + "_", max_size=39),
)
amounts = st.sampled_from([1, MAX_AMOUNT]) | st.integers(1, MAX_AMOUNT)
redemption_ids = hex32.map(lambda h: f"{ids.REDEMPTION}_{h}")
clocks = st.builds(
    ClockEvidence,
    wall_ms=clock_ints,
    synced=st.booleans(),
    boot_id=st.uuids().map(str),
    mono_ms=clock_ints,
)


@st.composite
def events(draw: st.DrawFn) -> Event:
    seq = draw(st.sampled_from([1, 2, MAX_SAFE_INT]) | st.integers(1, MAX_SAFE_INT))
    if seq == 1:
        prev = GENESIS_PREV
    else:
        prev = draw(st.binary(min_size=32, max_size=32).map(bytes.hex).filter(lambda p: p != GENESIS_PREV))
    kind = draw(st.sampled_from([k for k in EventKind if k is not EventKind.SEALED]))
    data: dict[str, Any] = {}
    if kind is EventKind.DENIED:
        data = {"reason": draw(reason_codes)}
    elif kind is EventKind.REDEEM:
        data = {"amount": draw(amounts), "id": draw(redemption_ids), "online": draw(st.booleans())}
        if draw(st.booleans()):  # the till staff member who sold (issue 19): optional
            data["staff"] = draw(st.binary(min_size=16, max_size=16).map(lambda b: "e_" + b.hex()))
    elif kind is EventKind.VOID:
        data = {"id": draw(redemption_ids)}
    elif kind is EventKind.UNDO:  # a tap of the same kiosk, by seq (issue 20)
        data = {"seq": draw(st.sampled_from([1, MAX_SAFE_INT]) | st.integers(1, MAX_SAFE_INT))}
    if draw(st.booleans()):  # v2 as parsed: sealed, only the chain place and the commitment
        ref = draw(st.binary(min_size=32, max_size=32).map(bytes.hex))
        return Event(
            kiosk=draw(kiosk_ids),
            seq=seq,
            prev=prev,
            kind=EventKind.SEALED,
            card="",
            clock=SEALED_CLOCK,
            version=2,
            ref=ref,
        )
    return Event(
        kiosk=draw(kiosk_ids),
        seq=seq,
        prev=prev,
        kind=kind,
        card=draw(card_ids),
        clock=draw(clocks),
        data=data,
    )


# --- The spec example -----------------------------------------------------------------------


def test_spec_example_encodes_to_the_documented_bytes() -> None:
    assert SPEC_EVENT.to_bytes() == SPEC_EXAMPLE
    assert parse_event(SPEC_EXAMPLE) == SPEC_EVENT


def test_docs_show_the_same_example() -> None:
    # The doc wraps the example over several lines; on the wire it is those lines joined.
    section = DOCS.read_text(encoding="utf-8").split("## Events", 1)[1]
    block = section.split("```json\n", 1)[1].split("```", 1)[0]
    assert "".join(line.strip() for line in block.splitlines()).encode() == SPEC_EXAMPLE


def test_signature_is_plain_ed25519_over_the_body_and_hash_is_sha256() -> None:
    signed = sign_event(SPEC_EVENT, KEY)
    assert signed.body == SPEC_EXAMPLE
    assert len(signed.signature) == 64
    # Checked with libsodium directly, not through protocol.keys.
    nacl.signing.VerifyKey(KEY.public_key.raw).verify(SPEC_EXAMPLE, signed.signature)
    assert signed.hash == event_hash(SPEC_EXAMPLE) == hashlib.sha256(SPEC_EXAMPLE).hexdigest()


def test_chain_links_by_hash_of_the_previous_body() -> None:
    first = sign_event(SPEC_EVENT, KEY)
    second_event = Event(
        kiosk=SPEC_EVENT.kiosk,
        seq=2,
        prev=first.hash,
        kind=EventKind.CHECK_OUT,
        card=SPEC_EVENT.card,
        clock=ClockEvidence(
            wall_ms=1764400060000, synced=True, boot_id=SPEC_EVENT.clock.boot_id, mono_ms=60005
        ),
    )
    second = sign_event(second_event, KEY)
    parsed = verify_event(second.body, second.signature, KEY.public_key).event
    assert parsed.prev == hashlib.sha256(first.body).hexdigest()
    assert parsed.seq == 2


def test_to_bytes_refuses_to_encode_an_invalid_event() -> None:
    bad = Event(
        kiosk=SPEC_EVENT.kiosk,
        seq=2,  # seq 2 with the genesis prev is not a valid event
        prev=GENESIS_PREV,
        kind=EventKind.CHECK_IN,
        card=SPEC_EVENT.card,
        clock=SPEC_EVENT.clock,
    )
    with pytest.raises(MalformedError) as info:
        sign_event(bad, KEY)
    assert info.value.reason is Reason.BAD_FIELD


# --- Round trip and tampering (Hypothesis) --------------------------------------------------


@given(events())
@example(
    Event(
        kiosk=SPEC_EVENT.kiosk,
        seq=MAX_SAFE_INT,
        prev="f" * 64,
        kind=EventKind.DENIED,
        card="u_" + "0" * 32,
        clock=ClockEvidence(wall_ms=MAX_SAFE_INT, synced=False, boot_id=SPEC_EVENT.clock.boot_id, mono_ms=0),
        data={"reason": "unknown_card"},
    )
)
def test_round_trip_through_the_wire(event: Event) -> None:
    signed = sign_event(event, KEY)
    wire = json.loads(json.dumps(signed.to_wire()))  # as it would arrive over HTTP
    body, signature = decode_wire_event(wire)
    assert body == signed.body
    assert signature == signed.signature

    verified = verify_event(body, signature, KEY.public_key)
    assert verified.event == event
    assert verified.body == signed.body
    assert verified.hash == hashlib.sha256(signed.body).hexdigest()
    assert parse_event(signed.body) == event
    assert canonical_json(parse_canonical_json(signed.body, max_bytes=MAX_EVENT_BYTES)) == signed.body
    assert len(signed.body) <= MAX_EVENT_BYTES


@given(events(), st.data())
def test_any_single_bit_flip_in_the_body_is_refused(event: Event, data: st.DataObject) -> None:
    signed = sign_event(event, KEY)
    bit = data.draw(st.integers(0, len(signed.body) * 8 - 1), label="bit")
    tampered = bytearray(signed.body)
    tampered[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(ProtocolError) as info:
        verify_event(bytes(tampered), signed.signature, KEY.public_key)
    # Either the parser refuses the bytes, or they parse and the signature does not match them.
    if isinstance(info.value, VerificationError):
        assert info.value.reason is Reason.BAD_SIGNATURE
    else:
        assert isinstance(info.value, MalformedError)


@given(events(), st.integers(0, 64 * 8 - 1))
def test_any_single_bit_flip_in_the_signature_is_bad_signature(event: Event, bit: int) -> None:
    signed = sign_event(event, KEY)
    signature = bytearray(signed.signature)
    signature[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(VerificationError) as info:
        verify_event(signed.body, bytes(signature), KEY.public_key)
    assert info.value.reason is Reason.BAD_SIGNATURE


@given(events(), st.binary(min_size=32, max_size=32))
def test_another_key_is_bad_signature(event: Event, seed: bytes) -> None:
    other = PrivateKey(seed)
    assume(other.public_key != KEY.public_key)
    signed = sign_event(event, KEY)
    with pytest.raises(VerificationError) as info:
        verify_event(signed.body, signed.signature, other.public_key)
    assert info.value.reason is Reason.BAD_SIGNATURE


@pytest.mark.parametrize("length", [0, 63, 65])
def test_signature_of_wrong_length_is_bad_signature(length: int) -> None:
    with pytest.raises(VerificationError) as info:
        verify_event(SPEC_EXAMPLE, b"\x00" * length, KEY.public_key)
    assert info.value.reason is Reason.BAD_SIGNATURE


def test_verify_parses_before_it_trusts_a_signature() -> None:
    # A correctly signed but malformed body is still refused: signing does not make bytes valid.
    body = SPEC_EXAMPLE.replace(b'"seq":1', b'"seq":0')
    with pytest.raises(MalformedError) as info:
        verify_event(body, KEY.sign(body), KEY.public_key)
    assert info.value.reason is Reason.BAD_FIELD


# --- Strict parser: non-canonical bytes -----------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param(b'"seq":1', b'"seq": 1', id="space-after-colon"),
        pytest.param(b'"data":{},', b'"data":{}, ', id="space-after-comma"),
        pytest.param(b"", b"\n", id="trailing-newline"),
        pytest.param(b'"kind":"check_in"', b'"kind":"check_\\u0069n"', id="escaped-ascii"),
        pytest.param(b'"kind":"check_in"', b'"kind":"\\u0063heck_in"', id="escaped-ascii-first"),
        pytest.param(b'"kind":"check_in"', b'"kind":"check\\/in"', id="escaped-solidus"),
        pytest.param(b'"mono_ms":5', b'"mono_ms":5.0', id="float"),
        pytest.param(b'"mono_ms":5', b'"mono_ms":5e0', id="exponent"),
        pytest.param(b'"mono_ms":5', b'"mono_ms":1e3', id="exponent-1e3"),
        pytest.param(b'"mono_ms":5', b'"mono_ms":-0', id="negative-zero"),
        pytest.param(b'"mono_ms":5', b'"mono_ms":NaN', id="nan"),
        pytest.param(b'"mono_ms":5', b'"mono_ms":Infinity', id="infinity"),
        pytest.param(b'"mono_ms":5', b'"mono_ms":-Infinity', id="minus-infinity"),
        pytest.param(b'"seq":1', b'"seq":1.0', id="float-seq"),
        pytest.param(b'"data":{}', b'"data":null', id="null-top-level-field"),
        pytest.param(b'"synced":true', b'"synced":null', id="null-in-clock"),
        pytest.param(b'"data":{}', b'"data":{"reason":null}', id="null-in-data"),
        pytest.param(b'"data":{}', b'"data":{"x":[1,null]}', id="null-in-array"),
        pytest.param(b'"seq":1,', b'"seq":1,"seq":1,', id="duplicate-key"),
        pytest.param(b'"mono_ms":5,', b'"mono_ms":5,"mono_ms":5,', id="duplicate-key-in-clock"),
        pytest.param(b'"data":{},"kind":"check_in",', b'"kind":"check_in","data":{},', id="key-order"),
        pytest.param(b'"boot":"b08d', b'"boot" :"b08d', id="space-before-colon"),
    ],
)
def test_non_canonical_bytes_are_not_canonical(old: bytes, new: bytes) -> None:
    body = SPEC_EXAMPLE + new if old == b"" else SPEC_EXAMPLE.replace(old, new, 1)
    assert body != SPEC_EXAMPLE
    assert reason_of(body) is Reason.NOT_CANONICAL


def test_pretty_printed_json_is_not_canonical() -> None:
    assert reason_of(json.dumps(valid_obj(), sort_keys=True, indent=1).encode()) is Reason.NOT_CANONICAL
    assert reason_of(json.dumps(valid_obj(), sort_keys=False).encode()) is Reason.NOT_CANONICAL


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(SPEC_EXAMPLE.replace(b"check_in", "chéck_in".encode()), id="utf8-in-string"),
        pytest.param(SPEC_EXAMPLE.replace(b'"seq"', b'"s\xe9q"'), id="latin1-byte"),
        pytest.param(b"\xef\xbb\xbf" + SPEC_EXAMPLE, id="utf8-bom"),
        pytest.param(SPEC_EXAMPLE[:-1], id="truncated"),
        pytest.param(SPEC_EXAMPLE.replace(b'"mono_ms":5', b'"mono_ms":05'), id="leading-zero"),
        pytest.param(SPEC_EXAMPLE.replace(b'"data":{}', b"'data':{}"), id="single-quotes"),
        pytest.param(b"", id="empty"),
        pytest.param(b"[]", id="array-top-level"),
        pytest.param(b"1", id="number-top-level"),
        pytest.param(b"null", id="null-top-level"),
    ],
)
def test_non_ascii_or_non_json_is_bad_encoding(body: bytes) -> None:
    assert reason_of(body) is Reason.BAD_ENCODING


def test_over_long_body_is_too_large_and_the_limit_is_inclusive() -> None:
    obj = valid_obj()
    obj["pad"] = ""
    obj["pad"] = "x" * (MAX_EVENT_BYTES - len(raw(obj)))
    at_limit = raw(obj)
    assert len(at_limit) == MAX_EVENT_BYTES
    # At the limit the size is fine and the next rule (no unknown fields) decides.
    assert reason_of(at_limit) is Reason.UNKNOWN_FIELD
    obj["pad"] += "x"
    assert reason_of(raw(obj)) is Reason.TOO_LARGE
    assert reason_of(b" " * (MAX_EVENT_BYTES + 1)) is Reason.TOO_LARGE


# --- Strict parser: one wrong field at a time -----------------------------------------------


@pytest.mark.parametrize("version", [0, 3, -1, True, False, "1", "2", {"v": 1}, [2]])
def test_unknown_version(version: object) -> None:
    obj = valid_obj()
    obj["v"] = version
    assert reason_of(raw(obj)) is Reason.UNKNOWN_VERSION


@pytest.mark.parametrize("event_type", ["kokreativ.receipt", "kokreativ.enrol", "kokreativ.Event", "", 1])
def test_unknown_type(event_type: object) -> None:
    obj = valid_obj()
    obj["type"] = event_type
    assert reason_of(raw(obj)) is Reason.UNKNOWN_TYPE


@pytest.mark.parametrize("kind", ["check-in", "CHECK_IN", "refund", "", 1, True, [], {}])
def test_unknown_kind(kind: object) -> None:
    obj = valid_obj()
    obj["kind"] = kind
    assert reason_of(raw(obj)) is Reason.UNKNOWN_KIND


@pytest.mark.parametrize("where", ["top", "clock", "data"])
def test_unknown_field(where: str) -> None:
    obj = valid_obj()
    target = obj if where == "top" else obj[where]
    target["extra"] = 1
    assert reason_of(raw(obj)) is Reason.UNKNOWN_FIELD


@pytest.mark.parametrize("name", ["card", "clock", "data", "kind", "kiosk", "prev", "seq"])
def test_missing_top_level_field(name: str) -> None:
    obj = valid_obj()
    del obj[name]
    assert reason_of(raw(obj)) is Reason.MISSING_FIELD


@pytest.mark.parametrize(
    ("name", "reason"),
    # type and v are checked first: an object that does not say it is a v1 event is not judged
    # by the v1 field list.
    [("type", Reason.UNKNOWN_TYPE), ("v", Reason.UNKNOWN_VERSION)],
)
def test_missing_type_or_version(name: str, reason: Reason) -> None:
    obj = valid_obj()
    del obj[name]
    assert reason_of(raw(obj)) is reason


@pytest.mark.parametrize("name", ["boot", "mono_ms", "synced", "wall_ms"])
def test_missing_clock_field(name: str) -> None:
    obj = valid_obj()
    del obj["clock"][name]
    assert reason_of(raw(obj)) is Reason.MISSING_FIELD


def test_denied_without_reason_is_missing_field() -> None:
    obj = valid_obj()
    obj["kind"] = "denied"
    assert reason_of(raw(obj)) is Reason.MISSING_FIELD


@pytest.mark.parametrize("kind", ["check_in", "check_out"])
def test_check_in_or_out_with_data_is_unknown_field(kind: str) -> None:
    obj = valid_obj()
    obj["kind"] = kind
    obj["data"] = {"reason": "x"}
    assert reason_of(raw(obj)) is Reason.UNKNOWN_FIELD


ZEROS = GENESIS_PREV
HASH = "ab" * 32


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"seq": "1"}, id="seq-string"),
        pytest.param({"seq": 0}, id="seq-zero"),
        pytest.param({"seq": -1}, id="seq-negative"),
        pytest.param({"seq": True}, id="seq-true"),
        pytest.param({"seq": 2**53, "prev": HASH}, id="seq-2**53"),
        pytest.param({"seq": [1]}, id="seq-array"),
        pytest.param({"prev": ZEROS[:-1]}, id="prev-63-hex"),
        pytest.param({"prev": ZEROS + "0"}, id="prev-65-hex"),
        pytest.param({"seq": 2, "prev": HASH.upper()}, id="prev-uppercase"),
        pytest.param({"seq": 2, "prev": "g" * 64}, id="prev-not-hex"),
        pytest.param({"prev": 0}, id="prev-number"),
        pytest.param({"seq": 2, "prev": ZEROS}, id="prev-zeros-with-seq-2"),
        pytest.param({"seq": 1, "prev": HASH}, id="prev-nonzero-with-seq-1"),
        pytest.param({"kiosk": "c_559fa9c0eb2eb94da892084c943b1b27"}, id="kiosk-id-of-card-kind"),
        pytest.param({"kiosk": "s_559fa9c0eb2eb94da892084c943b1b27"}, id="kiosk-id-of-site-kind"),
        pytest.param({"kiosk": "k_559FA9C0EB2EB94DA892084C943B1B27"}, id="kiosk-uppercase"),
        pytest.param({"kiosk": "k_559fa9c0eb2eb94da892084c943b1b2"}, id="kiosk-short"),
        pytest.param({"card": "x_00a71ed80fa1e76c198371c3ece0dc0e"}, id="card-x-kind"),
        pytest.param({"card": "k_00a71ed80fa1e76c198371c3ece0dc0e"}, id="card-kiosk-kind"),
        pytest.param({"card": "v_00a71ed80fa1e76c198371c3ece0dc0e"}, id="card-volunteer-kind"),
        pytest.param({"card": 1}, id="card-number"),
        pytest.param({"clock": "now"}, id="clock-string"),
        pytest.param({"clock": []}, id="clock-array"),
        pytest.param({"data": []}, id="data-array"),
        pytest.param({"data": ""}, id="data-string"),
    ],
)
def test_wrong_top_level_field_is_bad_field(changes: dict[str, Any]) -> None:
    obj = valid_obj()
    obj.update(changes)
    assert reason_of(raw(obj)) is Reason.BAD_FIELD


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("synced", 1),
        ("synced", "true"),
        ("wall_ms", True),
        ("wall_ms", -1),
        ("wall_ms", "1764400000000"),
        ("wall_ms", 2**53),
        ("mono_ms", -1),
        ("mono_ms", False),
        ("boot", "B08D2866-F413-4CB3-A8A0-CD36BB39FFE3"),
        ("boot", "b08d2866f4134cb3a8a0cd36bb39ffe3"),
        ("boot", "{b08d2866-f413-4cb3-a8a0-cd36bb39ffe3}"),
        ("boot", 5),
    ],
)
def test_wrong_clock_field_is_bad_field(name: str, value: object) -> None:
    obj = valid_obj()
    obj["clock"][name] = value
    assert reason_of(raw(obj)) is Reason.BAD_FIELD


@pytest.mark.parametrize(
    "reason",
    [
        "",
        "Unknown_card",
        "unknown card",
        "unknown-card",
        "1card",
        "_card",
        "a" * 41,
        1,
        True,
        ["unknown_card"],
    ],
)
def test_denied_with_a_bad_reason_code_is_bad_field(reason: object) -> None:
    obj = valid_obj()
    obj["kind"] = "denied"
    obj["data"] = {"reason": reason}
    assert reason_of(raw(obj)) is Reason.BAD_FIELD


@pytest.mark.parametrize("reason", ["unknown_card", "a", "a" * 40, "kiosk_revoked2"])
def test_denied_with_a_reason_code_parses(reason: str) -> None:
    obj = valid_obj()
    obj["kind"] = "denied"
    obj["data"] = {"reason": reason}
    event = parse_event(raw(obj))
    assert event.kind is EventKind.DENIED
    assert event.data == {"reason": reason}


def nested(levels: int) -> Any:
    """``levels`` objects inside one another: nested(1) == {}."""
    value: Any = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize("levels", [9, 10, 100])
def test_nesting_deeper_than_8_is_bad_field(levels: int) -> None:
    # The event object is level 1, so its field holds levels - 1 more.
    obj = valid_obj()
    obj["data"] = nested(levels - 1)
    assert reason_of(raw(obj)) is Reason.BAD_FIELD


def test_nesting_of_exactly_8_is_judged_by_the_field_rules() -> None:
    obj = valid_obj()
    obj["data"] = {"x": nested(6)}  # event, data, x-value and 5 more: 8 levels
    assert reason_of(raw(obj)) is Reason.UNKNOWN_FIELD


@pytest.mark.parametrize("levels", [300, 450, 600, 900, 1000])
def test_hostile_deep_nesting_fails_closed(levels: int) -> None:
    # A small body can nest hundreds of levels; the parser must refuse it with a
    # reason code, never let RecursionError (or anything else) escape.
    body = b'{"a":' + b"[" * levels + b"]" * levels + b"}"
    assert len(body) <= MAX_EVENT_BYTES
    assert reason_of(body) is Reason.BAD_FIELD
    with pytest.raises(MalformedError):
        verify_event(body, KEY.sign(body), KEY.public_key)


# --- Wire items -----------------------------------------------------------------------------


def wire_item() -> dict[str, Any]:
    return sign_event(SPEC_EVENT, KEY).to_wire()


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        pytest.param([], Reason.BAD_FIELD, id="not-an-object"),
        pytest.param({"body": b64encode(SPEC_EXAMPLE)}, Reason.MISSING_FIELD, id="no-sig"),
        pytest.param({"sig": b64encode(bytes(64))}, Reason.MISSING_FIELD, id="no-body"),
        pytest.param({**wire_item(), "hash": "x"}, Reason.UNKNOWN_FIELD, id="extra-key"),
        pytest.param({**wire_item(), "sig": b64encode(bytes(63))}, Reason.BAD_FIELD, id="sig-63-bytes"),
        pytest.param({**wire_item(), "sig": b64encode(bytes(65))}, Reason.BAD_FIELD, id="sig-65-bytes"),
        pytest.param({**wire_item(), "sig": 1}, Reason.BAD_FIELD, id="sig-number"),
        pytest.param({**wire_item(), "body": None}, Reason.BAD_FIELD, id="body-null"),
        pytest.param(
            {**wire_item(), "body": b64encode(SPEC_EXAMPLE).rstrip("=")}, Reason.BAD_ENCODING, id="unpadded"
        ),
    ],
)
def test_wire_item_shape(item: object, reason: Reason) -> None:
    with pytest.raises(MalformedError) as info:
        decode_wire_event(item)
    assert info.value.reason is reason


def test_signed_event_wire_form_is_standard_base64() -> None:
    signed = sign_event(SPEC_EVENT, KEY)
    assert signed.to_wire() == {"body": b64encode(SPEC_EXAMPLE), "sig": b64encode(signed.signature)}


# --- v2: a commitment to the card instead of the card ------------------------------------------


def _v2(
    card: str = "c_" + "2" * 32, kind: EventKind = EventKind.CHECK_IN, data: Any = None
) -> tuple[Event, Any]:
    from protocol.events import committed_event

    clock = ClockEvidence(
        wall_ms=1_764_400_000_000, synced=True, boot_id="0" * 8 + "-0000-0000-0000-" + "0" * 12, mono_ms=1
    )
    return committed_event(
        kiosk="k_" + "1" * 32, seq=1, prev=GENESIS_PREV, kind=kind, card=card, clock=clock, data=data
    )


def test_a_v2_event_names_a_commitment_and_never_the_card() -> None:
    event, opening = _v2()
    body = event.to_bytes()
    assert b"c_" + b"2" * 32 not in body and b'"card"' not in body
    parsed = parse_event(body)
    assert (parsed.version, parsed.ref, parsed.card, parsed.card_known) == (2, opening.ref, "", False)
    assert parsed.opened(opening).card == "c_" + "2" * 32


def test_a_v2_event_seals_kind_clock_and_data_and_its_opening_restores_them() -> None:
    redemption = {"amount": 7, "id": "r_" + "4" * 32, "online": False}
    event, opening = _v2(kind=EventKind.REDEEM, data=redemption)
    body = event.to_bytes()
    assert set(json.loads(body)) == {"kiosk", "prev", "ref", "seq", "type", "v"}
    parsed = parse_event(body)
    assert parsed.sealed and parsed.kind is EventKind.SEALED and parsed.data == {}
    assert parsed.opened(opening) == event
    assert (event.kind, event.data, event.clock.wall_ms) == (EventKind.REDEEM, redemption, 1_764_400_000_000)


def test_an_opening_whose_sealed_fields_break_the_event_rules_is_refused() -> None:
    from protocol.commitments import Opening

    event, opening = _v2()
    parsed = parse_event(event.to_bytes())
    bad = Opening(opening.card, opening.salt, {**(opening.sealed or {}), "kind": "sealed"})
    forged = dataclasses.replace(parsed, ref=bad.ref)
    with pytest.raises(MalformedError) as caught:
        forged.opened(bad)
    assert caught.value.reason is Reason.UNKNOWN_KIND
    amountless = Opening(opening.card, opening.salt, {**(opening.sealed or {}), "data": {"amount": 1}})
    with pytest.raises(MalformedError):
        dataclasses.replace(parsed, ref=amountless.ref).opened(amountless)
    with pytest.raises(MalformedError):
        parsed.opened(Opening(opening.card, opening.salt))  # a card-only opening opens no event


def test_an_opening_for_another_card_or_salt_is_refused() -> None:
    from protocol.commitments import Opening

    event, opening = _v2()
    parsed = parse_event(event.to_bytes())
    sealed = opening.sealed
    for wrong in (
        Opening.fresh("c_" + "3" * 32, sealed),
        Opening("c_" + "3" * 32, opening.salt, sealed),
        Opening.fresh(opening.card, sealed),
    ):
        with pytest.raises(VerificationError) as caught:
            parsed.opened(wrong)
        assert caught.value.reason is Reason.OPENING_MISMATCH


def test_two_events_of_one_card_share_no_value() -> None:
    first, _ = _v2()
    second, _ = _v2()
    assert first.ref != second.ref


def test_a_v2_event_with_a_card_field_or_a_bad_ref_is_refused() -> None:
    event, _ = _v2()
    obj = event.to_json()
    assert reason_of(raw({**obj, "card": "c_" + "2" * 32})) is Reason.UNKNOWN_FIELD
    assert reason_of(raw({**obj, "kind": "check_in"})) is Reason.UNKNOWN_FIELD
    assert reason_of(raw({**obj, "ref": "C" * 64})) is Reason.BAD_FIELD
    assert reason_of(raw({k: v for k, v in obj.items() if k != "ref"})) is Reason.MISSING_FIELD


def test_the_wire_item_carries_the_opening_beside_the_signed_bytes() -> None:
    from protocol.events import decode_wire_event, decode_wire_item, sign_event

    event, opening = _v2()
    signed = sign_event(event, PrivateKey.generate(), opening)
    body, sig, got = decode_wire_item(signed.to_wire())
    assert (body, sig, got) == (signed.body, signed.signature, opening)
    with pytest.raises(MalformedError) as caught:
        decode_wire_event(signed.to_wire())
    assert caught.value.reason is Reason.UNKNOWN_FIELD
    with pytest.raises(MalformedError):
        decode_wire_item({**signed.to_wire(), "opening": {"card": opening.card, "salt": "zz"}})


def test_a_re_fed_item_carries_the_opening_sealed_to_the_server_and_only_its_key_opens_it() -> None:
    """Issue 20 §3: after its receipt a kiosk keeps (and re-sends) the opening only sealed to the server."""
    import dataclasses

    from protocol.commitments import MAX_SEALED_OPENING_BYTES, SealedOpening, seal_opening
    from protocol.encoding import b64encode
    from protocol.events import decode_wire_event, decode_wire_item, sign_event

    server, stranger = PrivateKey.generate(), PrivateKey.generate()
    event, opening = _v2()
    sealed = seal_opening(opening, server.public_key)
    signed = dataclasses.replace(sign_event(event, PrivateKey.generate()), sealed_opening=sealed)
    wire = signed.to_wire()
    assert set(wire) == {"body", "sig", "sealed_opening"}
    assert opening.card.encode() not in json.dumps(wire).encode()
    got = decode_wire_item(wire)[2]
    assert got == sealed and isinstance(got, SealedOpening)
    assert got.open([stranger]) is None and got.open([stranger, server]) == opening
    assert seal_opening(opening, server.public_key) != sealed  # a fresh ephemeral key each time
    sealer = server.public_key.sealer()  # a receipt's many openings: one key agreement
    first, second = seal_opening(opening, sealer), seal_opening(opening, sealer)
    assert first.box[:32] == second.box[:32] and first.box != second.box  # one key, a fresh nonce each
    assert first.open([server]) == second.open([server]) == opening
    assert SealedOpening(first.box[:40]).open([server]) is None  # cut short: no crash, no opening
    garbled = SealedOpening(bytes([sealed.box[0] ^ 1]) + sealed.box[1:])
    assert garbled.open([server]) is None
    not_an_opening = SealedOpening(server.public_key.sealer().seal(b'{"card": 1}'))
    assert not_an_opening.open([server]) is None
    for bad in (
        {**wire, "opening": opening.to_json()},  # both at once
        {**wire, "sealed_opening": "not base64!"},
        {**wire, "sealed_opening": b64encode(bytes(MAX_SEALED_OPENING_BYTES + 3))},
    ):
        with pytest.raises(MalformedError):
            decode_wire_item(bad)
    with pytest.raises(MalformedError) as caught:
        decode_wire_event(wire)
    assert caught.value.reason is Reason.UNKNOWN_FIELD and "sealed_opening" in caught.value.message


@pytest.mark.parametrize("rule", ["apply_event", "redeem", "void"])
def test_no_rule_runs_on_a_sealed_event(rule: str) -> None:
    """A parsed v2 event before its opening has placeholder kind, card, clock and data: no rule takes it."""
    from protocol.economy import redemptions

    redemption = {"amount": 7, "id": "r_" + "4" * 32, "online": True}
    event, opening = _v2(kind=EventKind.REDEEM, data=redemption)
    sealed = parse_event(event.to_bytes())
    call = getattr(redemptions, rule)
    kwargs: dict[str, Any] = {"now_ms": 1_764_400_000_000, "log_index": 0}
    if rule != "apply_event":
        kwargs["time_ms"] = 1_764_400_000_000
    args: tuple[Any, ...] = (None, None, sealed) if rule == "void" else (None, None, sealed, None)
    with pytest.raises(MalformedError) as caught:
        call(*args, **kwargs)
    assert caught.value.reason is Reason.OPENING_MISSING
    assert sealed.opened(opening).require_opened().kind is EventKind.REDEEM


# --- Signing a new v2 event in one step (the kiosk's tap path, issue 21) ---------------------------


@given(events().filter(lambda e: e.version == 1))
def test_sign_committed_event_gives_what_committed_event_and_sign_event_give(event: Event) -> None:
    """One rule check instead of three changes nothing signed: same event, same bytes for the same salt."""
    from unittest import mock

    from protocol.events import committed_event, sign_committed_event, sign_event

    key = PrivateKey.generate()
    place = {"seq": event.seq, "prev": event.prev}
    fields = dict(kiosk=event.kiosk, kind=event.kind, card=event.card, clock=event.clock, data=event.data)
    with mock.patch("protocol.events.new_salt", return_value="5" * 32):  # the one random part, fixed
        committed, opening = committed_event(**place, **fields)
        slow = sign_event(committed, key, opening)
        fast = sign_committed_event(key, **place, **fields)
    assert (fast.body, fast.event, fast.opening) == (slow.body, slow.event, slow.opening)
    assert fast.body == fast.event.to_bytes()
    key.public_key.verify(fast.body, fast.signature)
    assert parse_event(fast.body).opened(fast.opening) == fast.event  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"card": "x_" + "2" * 32}, Reason.BAD_FIELD),
        ({"kiosk": "c_" + "1" * 32}, Reason.BAD_FIELD),
        ({"seq": 0}, Reason.BAD_FIELD),
        ({"seq": 2}, Reason.BAD_FIELD),  # prev all zeros exactly at seq 1
        ({"prev": "A" * 64}, Reason.BAD_FIELD),
        ({"kind": EventKind.DENIED}, Reason.MISSING_FIELD),
        ({"kind": EventKind.SEALED}, Reason.UNKNOWN_KIND),
        ({"data": {"reason": "unknown_card"}}, Reason.UNKNOWN_FIELD),
        ({"kind": EventKind.DENIED, "data": {"reason": None}}, Reason.BAD_FIELD),
    ],
)
def test_sign_committed_event_refuses_what_committed_event_refuses(
    changes: dict[str, Any], reason: Reason
) -> None:
    from protocol.events import committed_event, sign_committed_event

    clock = ClockEvidence(
        wall_ms=1_764_400_000_000, synced=True, boot_id="0" * 8 + "-0000-0000-0000-" + "0" * 12, mono_ms=1
    )
    fields: dict[str, Any] = {
        "kiosk": "k_" + "1" * 32,
        "seq": 1,
        "prev": GENESIS_PREV,
        "kind": EventKind.CHECK_IN,
        "card": "c_" + "2" * 32,
        "clock": clock,
        **changes,
    }
    with pytest.raises(MalformedError) as slow:
        committed_event(**fields)
    with pytest.raises(MalformedError) as fast:
        sign_committed_event(PrivateKey.generate(), **fields)
    assert fast.value.reason is slow.value.reason is reason
