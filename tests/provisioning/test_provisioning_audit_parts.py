"""The audit's parts: fast parsers agree with :mod:`protocol`, roots with RFC 6962; tiles parse.

The fast parsers are the one place where the audit reads bytes on its own,
so Hypothesis checks them against the protocol's parsers on valid objects
and on every kind of single-byte damage: same facts, or the same reason code.
"""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import GENESIS_PREV, ClockEvidence, Event, EventKind, PrivateKey, ProtocolError, ids, sign_event
from protocol.encoding import MAX_SAFE_INT, b64decode, canonical_json, parse_canonical_json
from protocol.events import MAX_EVENT_BYTES, SEALED_CLOCK, _event_from_json
from protocol.logentry import event_entry, make_entry, parse_entry, private_event_entry
from protocol.merkle import leaf_hash, reference_root
from protocol.tiles import (
    BundleError,
    bundles_for,
    encode_tile_index,
    entry_bundle_path,
    format_bundle,
    parse_bundle,
    tile_path,
    tile_paths,
)
from provisioning.audit._fast import (
    EventEntry,
    EventFacts,
    _b64,
    event_facts,
    parse_event_entry,
    parse_event_facts,
    parse_fast,
    parse_fast_sealed,
)
from provisioning.audit._worker import SIG_OK, Chunk, check_chunk
from provisioning.audit.tree import TreeBuilder, chunk_ranges
from server.logviews import tile_index_path

HEX = "0123456789abcdef"
T0 = 1_764_400_000_000
reason_codes = st.from_regex(r"[a-z][a-z0-9_]{0,39}", fullmatch=True)
ints = st.one_of(st.integers(0, 10), st.integers(0, MAX_SAFE_INT))


@st.composite
def events(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from([k for k in EventKind if k is not EventKind.SEALED]))
    seq = draw(st.one_of(st.just(1), st.integers(1, MAX_SAFE_INT)))
    prev = (
        GENESIS_PREV
        if seq == 1
        else draw(st.text(HEX, min_size=64, max_size=64).filter(lambda p: p != GENESIS_PREV))
    )
    card = (
        draw(st.sampled_from([ids.CARD, ids.UID_CARD])) + "_" + draw(st.text(HEX, min_size=32, max_size=32))
    )
    clock = ClockEvidence(draw(ints), draw(st.booleans()), str(draw(st.uuids())), draw(ints))
    data: dict[str, object] = {}
    if kind is EventKind.DENIED:
        data = {"reason": draw(reason_codes)}
    elif kind is EventKind.REDEEM:
        data = {
            "amount": draw(st.integers(1, 1_000_000)),
            "id": ids.new_id(ids.REDEMPTION),
            "online": draw(st.booleans()),
        }
    elif kind is EventKind.VOID:
        data = {"id": ids.new_id(ids.REDEMPTION)}
    elif kind is EventKind.UNDO:
        data = {"seq": draw(st.integers(1, 2**53 - 1))}
    return Event(ids.new_id(ids.KIOSK), seq, prev, kind, card, clock, data).to_bytes()


@st.composite
def damaged(draw: st.DrawFn, valid: st.SearchStrategy[bytes]) -> bytes:
    """A valid object, then maybe one byte replaced, deleted or inserted."""
    data = bytearray(draw(valid))
    how = draw(st.sampled_from(["keep", "replace", "delete", "insert"]))
    if how == "keep":
        return bytes(data)
    at = draw(st.integers(0, len(data) - 1))
    byte = draw(st.one_of(st.sampled_from(b'0123456789"{}[],:=+/ae_\\-'), st.integers(0, 255)))
    if how == "replace":
        data[at] = byte
    elif how == "delete":
        del data[at]
    else:
        data.insert(at, byte)
    return bytes(data)


def _slow_facts(body: bytes) -> EventFacts | str:
    """The facts by the protocol's full parser alone, without ``parse_event``'s canonical-layout fast path."""
    try:
        event = _event_from_json(parse_canonical_json(body, max_bytes=MAX_EVENT_BYTES))
    except ProtocolError as exc:
        return exc.reason.value
    return event_facts(event)


def _fast_facts(body: bytes) -> EventFacts | str:
    try:
        return parse_event_facts(body)
    except ProtocolError as exc:
        return exc.reason.value


@settings(max_examples=400, deadline=None)
@given(body=damaged(events()))
def test_fast_event_parsing_agrees_with_the_protocol(body: bytes):
    assert _fast_facts(body) == _slow_facts(body)


@st.composite
def entries(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        return make_entry(
            "card", card_id=ids.new_id(ids.CARD), volunteer_id=ids.new_id(ids.VOLUNTEER), at_ms=draw(ints)
        )
    flags = draw(st.lists(st.one_of(reason_codes, st.text(max_size=5)), max_size=3))
    body, sig = draw(events()), draw(st.binary(min_size=0, max_size=70))
    if draw(st.booleans()):  # an entry v2 (a log that names no card): the fast path has its own pattern
        return private_event_entry(body, sig, received_ms=draw(ints))
    return event_entry(body, sig, received_ms=draw(ints), flags=flags)


def _slow_entry(data: bytes) -> object:
    try:
        obj = parse_entry(data)
    except ProtocolError as exc:
        return exc.reason.value
    if obj["kind"] == "event":
        if obj["v"] != 1:
            return EventEntry(obj["body"], obj["sig"], obj["received_ms"], (), obj["v"])
        return EventEntry(obj["body"], obj["sig"], obj["received_ms"], tuple(obj["flags"]))
    return obj


def _fast_entry(data: bytes) -> object:
    try:
        return parse_event_entry(data)
    except ProtocolError as exc:
        return exc.reason.value


@settings(max_examples=400, deadline=None)
@given(data=damaged(entries()))
def test_fast_entry_parsing_agrees_with_the_protocol(data: bytes):
    assert _fast_entry(data) == _slow_entry(data)


@settings(max_examples=400, deadline=None)
@given(data=damaged(entries()))
def test_the_one_pass_fast_path_accepts_only_what_both_protocol_parsers_accept(data: bytes):
    fast = parse_fast(data)
    if fast is not None:
        assert _slow_entry(data) == EventEntry(fast.body, fast.sig, fast.received_ms, fast.flags)
        assert _slow_facts(fast.body) == fast.facts


@st.composite
def sealed_entries(draw: st.DrawFn) -> bytes:
    """An entry v2 of a v2 event (chain place and commitment), as a log that names no card holds it."""
    seq = draw(st.one_of(st.just(1), st.integers(1, MAX_SAFE_INT)))
    prev = GENESIS_PREV if seq == 1 else draw(st.text(HEX, min_size=64, max_size=64))
    ref = draw(st.text(HEX, min_size=64, max_size=64))
    event = Event(ids.new_id(ids.KIOSK), seq, prev, EventKind.SEALED, "", SEALED_CLOCK, version=2, ref=ref)
    body = canonical_json(event.to_json())  # not to_bytes: a genesis prev past seq 1 must reach the parsers
    sig = draw(st.binary(min_size=0, max_size=70))
    return private_event_entry(body, sig, received_ms=draw(ints))


@settings(max_examples=400, deadline=None)
@given(data=damaged(st.one_of(sealed_entries(), entries())))
def test_the_sealed_fast_path_accepts_only_what_both_protocol_parsers_accept(data: bytes):
    fast = parse_fast_sealed(data)
    if fast is not None:
        assert _slow_entry(data) == EventEntry(fast.body, fast.sig, fast.received_ms, (), 2)
        facts = _slow_facts(fast.body)
        assert isinstance(facts, EventFacts)
        assert (facts.kiosk, facts.seq, facts.prev, facts.ref) == (fast.kiosk, fast.seq, fast.prev, fast.ref)


@settings(max_examples=50, deadline=None)
@given(st.lists(damaged(st.one_of(sealed_entries(), entries())), min_size=1, max_size=8), st.booleans())
def test_the_sealed_fast_path_gives_the_records_of_the_slow_path(entries_: list[bytes], bodies: bool):
    """Same records with and without the short way (a public audit leaves the sealed bytes out)."""
    from unittest import mock

    from provisioning.audit import _worker

    keys = {}
    for data in entries_:
        fast = parse_fast_sealed(data)
        if fast is not None:
            keys[fast.kiosk] = bytes(32)
    chunk = Chunk(0, entries_, keys, [len(entries_)], None, bodies)
    quick = check_chunk(chunk).records
    with mock.patch.object(_worker, "parse_fast_sealed", lambda _data: None):
        slow = check_chunk(chunk).records
    if not bodies:
        slow = [(*record[:-1], b"") if record[0] == "V" else record for record in slow]
    assert quick == slow


@settings(max_examples=100, deadline=None)
@given(count=st.integers(0, 70), capacity=st.sampled_from([1, 2, 8, 16]), data=st.data())
def test_roots_from_chunks_equal_the_rfc_root_at_every_size(count: int, capacity: int, data: st.DataObject):
    leaves = [leaf_hash(i.to_bytes(2, "big")) for i in range(count)]
    builder = TreeBuilder()
    for start in range(0, count, capacity):
        chunk = leaves[start : start + capacity]
        offsets = data.draw(st.sets(st.integers(0, len(chunk))), label="offsets") | {len(chunk)}
        ranges = chunk_ranges(chunk, offsets)
        for offset in offsets:
            assert builder.root(ranges[offset]) == reference_root(leaves[: start + offset])
        builder.extend(ranges[len(chunk)])
    assert builder.size == count and builder.root() == reference_root(leaves)


def test_a_subtree_must_be_aligned():
    builder = TreeBuilder()
    builder.push(0, leaf_hash(b"a"))
    with pytest.raises(ValueError, match="cannot start"):
        builder.push(1, leaf_hash(b"b"))


@given(st.integers(0, 10**12))
def test_tile_indexes_are_spelled_as_the_server_spells_them(n: int):
    assert encode_tile_index(n) == tile_index_path(n)


def test_tile_paths_and_bundles():
    assert encode_tile_index(1234067) == "x001/x234/067"
    assert entry_bundle_path(5) == "tile/entries/005"
    assert entry_bundle_path(1000, 7) == "tile/entries/x001/000.p/7"
    assert tile_path(1, 3, 256) == "tile/1/003"
    assert list(bundles_for(600)) == [(0, 256), (1, 256), (2, 88)]
    assert list(bundles_for(512)) == [(0, 256), (1, 256)]
    assert tile_paths(600) == {
        "tile/entries/000": 256,
        "tile/entries/001": 256,
        "tile/entries/002.p/88": 88,
        "tile/0/000": 256,
        "tile/0/001": 256,
        "tile/0/002.p/88": 88,
        "tile/1/000.p/2": 2,
    }
    assert parse_bundle(format_bundle([b"a", b"", b"bc"]), 3) == [b"a", b"", b"bc"]
    assert parse_bundle(format_bundle([b"a", b"b"]), 1) == [b"a"]
    for broken, expected in [(b"\x00\x05ab", 1), (b"\x00", 1), (format_bundle([b"a"]), 2)]:
        with pytest.raises(BundleError):
            parse_bundle(broken, expected)


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(
        st.binary(max_size=10).map(lambda b: base64.b64encode(b).decode()), st.text("ABQRgw+/=", max_size=12)
    )
)
def test_fast_base64_is_as_strict_as_the_protocols(text: str):
    try:
        slow: bytes | None = b64decode(text, field="x")
    except ProtocolError:
        slow = None
    assert _b64(text.encode()) == slow


def test_shop_events_carry_their_bytes_to_the_replay_and_taps_do_not():
    key = PrivateKey.generate()
    kiosk = ids.new_id(ids.KIOSK)
    clock = ClockEvidence(T0, True, "00000000-0000-4000-8000-000000000000", 1)
    card = ids.new_id(ids.CARD)
    redeem = {"amount": 5, "id": ids.new_id(ids.REDEMPTION), "online": True}
    signed = [
        sign_event(Event(kiosk, 1, GENESIS_PREV, EventKind.CHECK_IN, card, clock, {}), key),
        sign_event(Event(kiosk, 2, "1" * 64, EventKind.REDEEM, card, clock, redeem), key),
        sign_event(Event(kiosk, 3, "2" * 64, EventKind.VOID, card, clock, {"id": redeem["id"]}), key),
    ]
    entries = [event_entry(e.body, e.signature, received_ms=T0, flags=[]) for e in signed]
    records = check_chunk(Chunk(0, entries, {kiosk: key.public_key.raw}, [3])).records
    assert [record[0] for record in records] == ["E", "S", "S"]
    assert [len(record) for record in records] == [14, 12, 12]  # a tap also carries its clock
    assert [record[-1] for record in records[1:]] == [signed[1].body, signed[2].body]
    assert all(record[10] == SIG_OK for record in records)


def test_the_public_surface_is_what_it_says():
    import provisioning.audit as audit

    assert audit.__all__ == sorted(audit.__all__) == sorted(audit._MODULE_OF)
    assert all(getattr(audit, name) is not None for name in audit.__all__)
