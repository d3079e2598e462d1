"""The canonical-layout fast path of ``parse_event`` must agree with the full parser on every input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import ProtocolError, parse_event
from protocol.encoding import parse_canonical_json
from protocol.events import MAX_EVENT_BYTES, _event_from_json, _parse_canonical_layout
from tests.protocol.test_protocol_events import events as valid_events


def _full(body: bytes):
    """The full parser alone: the result, or the reason it refuses."""
    try:
        return _event_from_json(parse_canonical_json(body, max_bytes=MAX_EVENT_BYTES))
    except ProtocolError as exc:
        return exc.reason


def _parsed(body: bytes):
    try:
        return parse_event(body)
    except ProtocolError as exc:
        return exc.reason


@given(valid_events())
def test_every_valid_event_takes_the_fast_path_with_the_same_result(event):
    body = event.to_bytes()
    assert _parse_canonical_layout(body) == event == _full(body)


@settings(max_examples=300)
@given(valid_events(), st.data())
def test_any_mutation_is_judged_exactly_as_the_full_parser_judges_it(event, data):
    body = bytearray(event.to_bytes())
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(body) - 1))
        body[index] = data.draw(st.sampled_from(b'0123456789abcdefxyz_"{}:,-ku \\\x00\xff'))
    mutated = bytes(body)
    assert _parsed(mutated) == _full(mutated)
    fast = _parse_canonical_layout(mutated)
    assert fast is None or fast == _full(mutated)


@pytest.mark.parametrize(
    "body",
    [
        b'{"card":"c_' + b"0" * 32 + b'","clock":{"boot":"00000000-0000-0000-0000-000000000000","mono_ms":0,'
        b'"synced":true,"wall_ms":0},"data":{},"kind":"denied","kiosk":"k_'
        + b"0" * 32
        + b'","prev":"'
        + b"0" * 64
        + b'","seq":1,"type":"kokreativ.event","v":1}',  # a denial without a reason
        b'{"card":"c_' + b"0" * 32 + b'","clock":{"boot":"00000000-0000-0000-0000-000000000000","mono_ms":0,'
        b'"synced":true,"wall_ms":0},"data":{},"kind":"check_in","kiosk":"k_'
        + b"0" * 32
        + b'","prev":"'
        + b"0" * 64
        + b'","seq":2,"type":"kokreativ.event","v":1}',  # seq 2 with the genesis prev
        b'{"card":"c_' + b"0" * 32 + b'","clock":{"boot":"00000000-0000-0000-0000-000000000000","mono_ms":0,'
        b'"synced":true,"wall_ms":9007199254740992},"data":{},"kind":"check_in","kiosk":"k_'
        + b"0" * 32
        + b'","prev":"'
        + b"0" * 64
        + b'","seq":1,"type":"kokreativ.event","v":1}',  # beyond 2^53 - 1
        b'{"card":"c_' + b"0" * 32 + b'","clock":{"boot":"00000000-0000-0000-0000-000000000000","mono_ms":0,'
        b'"synced":true,"wall_ms":0},"data":{"seq":1},"kind":"check_in","kiosk":"k_'
        + b"0" * 32
        + b'","prev":"'
        + b"0" * 64
        + b'","seq":1,"type":"kokreativ.event","v":1}',  # a tap names no tap: only an undo does
        b'{"card":"c_' + b"0" * 32 + b'","clock":{"boot":"00000000-0000-0000-0000-000000000000","mono_ms":0,'
        b'"synced":true,"wall_ms":0},"data":{"seq":9007199254740992},"kind":"undo","kiosk":"k_'
        + b"0" * 32
        + b'","prev":"'
        + b"0" * 64
        + b'","seq":1,"type":"kokreativ.event","v":1}',  # an undo of a seq beyond 2^53 - 1
        b'{"card":"c_' + b"0" * 32 + b'","clock":{"boot":"00000000-0000-0000-0000-000000000000","mono_ms":0,'
        b'"synced":true,"wall_ms":0},"data":{},"kind":"undo","kiosk":"k_'
        + b"0" * 32
        + b'","prev":"'
        + b"0" * 64
        + b'","seq":1,"type":"kokreativ.event","v":1}',  # an undo that names no tap
    ],
    ids=[
        "denied-without-reason",
        "seq-2-genesis",
        "unsafe-integer",
        "tap-with-seq",
        "undo-unsafe",
        "undo-empty",
    ],
)
def test_layouts_that_match_the_pattern_but_break_a_rule_are_refused(body):
    assert _parse_canonical_layout(body) is None
    with pytest.raises(ProtocolError):
        parse_event(body)
