"""The one-pass ways of opening a v2 event must judge every opening exactly as the full path does."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import ProtocolError
from protocol.commitments import Opening
from protocol.events import (
    Event,
    EventKind,
    _opened_fast,
    _opened_full,
    _sealed,
    open_canonical,
    parse_event,
)
from tests.protocol.test_protocol_events import events as valid_events

plain_events = valid_events().filter(lambda event: event.version == 1)


def _committed(event: Event, sealed: dict[str, Any] | None = None) -> tuple[Event, Opening]:
    """``event`` as a sealed v2 event and its opening, committed to ``sealed`` fields (its own unless given).

    Fields canonical JSON cannot hold have no commitment: the event then names another one.
    """
    opening = Opening.fresh(event.card, event.sealed_fields() if sealed is None else sealed)
    try:
        ref = opening.ref
    except ProtocolError:
        ref = "e" * 64
    return _sealed(event.kiosk, event.seq, event.prev, ref), opening


def _tampered(event: Event, data: st.DataObject, *, card_too: bool) -> tuple[dict[str, Any], Any]:
    """``event``'s sealed fields and card, one of them (or a field inside) replaced by any JSON value."""
    fields = {"clock": event.clock.to_json(), "data": dict(event.data), "kind": event.kind.value}
    places = ["clock", "data", "kind", "clock.field", "data.field", *(["card"] if card_too else [])]
    where = data.draw(st.sampled_from(places))
    value = data.draw(json_values)
    card: Any = event.card
    if where == "card":
        card = value
    elif where in ("clock", "data", "kind"):
        fields[where] = value
    else:
        outer, _, _ = where.partition(".")
        name = data.draw(st.sampled_from([*fields[outer], "extra", "mono_ms", "seq", "amount"]))
        fields[outer] = {**fields[outer], name: value}
    return fields, card


def _outcome(open_it: Any, event: Event, opening: Opening) -> Event | str:
    try:
        return open_it(event, opening)  # type: ignore[no-any-return]
    except ProtocolError as exc:
        return exc.reason.value


@given(plain_events)
def test_every_valid_opening_takes_the_fast_path_with_the_same_event(event: Event) -> None:
    sealed, opening = _committed(event)
    fast = _opened_fast(sealed, opening)
    assert fast is not None
    assert fast == _opened_full(sealed, opening) == sealed.opened(opening)
    assert (fast.card, fast.kind, fast.clock, dict(fast.data)) == (
        event.card,
        event.kind,
        event.clock,
        dict(event.data),
    )


@given(plain_events, st.binary(min_size=32, max_size=32).map(bytes.hex))
def test_an_opening_of_another_ref_is_a_mismatch_on_both_paths(event: Event, other: str) -> None:
    sealed, opening = _committed(event)
    wrong = _sealed(sealed.kiosk, sealed.seq, sealed.prev, other)
    assert (
        _outcome(Event.opened, wrong, opening) == _outcome(_opened_full, wrong, opening) == "opening_mismatch"
    )


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(["check_in", "sealed", "redeem", "c_" + "0" * 32, "r_" + "1" * 32]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=400)
@given(plain_events, st.data())
def test_a_tampered_opening_is_judged_exactly_as_the_full_path_judges_it(
    event: Event, data: st.DataObject
) -> None:
    fields, _ = _tampered(event, data, card_too=False)
    sealed, opening = _committed(event, fields)
    expected = _outcome(_opened_full, sealed, opening)
    assert _outcome(Event.opened, sealed, opening) == expected
    fast = _outcome(_opened_fast, sealed, opening)
    assert fast is None or fast == expected


@given(plain_events)
def test_the_fast_path_hashes_what_the_commitment_hashes(event: Event) -> None:
    """Another valid kind in the opening is caught by the commitment, not let through."""
    sealed, opening = _committed(event)
    other = EventKind.CHECK_OUT if event.kind is EventKind.CHECK_IN else EventKind.CHECK_IN
    fields = {**dict(opening.sealed or {}), "kind": other.value, "data": {}}
    tampered = Opening(opening.card, opening.salt, fields)
    with pytest.raises(ProtocolError) as caught:
        sealed.opened(tampered)
    assert caught.value.reason.value == "opening_mismatch"


def _long_way(body: bytes, opening: Opening) -> Event | str:
    """What ingest did before :func:`open_canonical`: parse the bytes, then open the event."""
    try:
        return parse_event(body).opened(opening)
    except ProtocolError as exc:
        return exc.reason.value


def _one_pass(body: bytes, opening: Opening) -> Event | str | None:
    try:
        return open_canonical(body, opening)
    except ProtocolError as exc:
        return exc.reason.value


@given(plain_events)
def test_open_canonical_opens_every_valid_event_as_parsing_then_opening_does(event: Event) -> None:
    sealed, opening = _committed(event)
    body = sealed.to_bytes()
    assert _one_pass(body, opening) == _long_way(body, opening) == sealed.opened(opening)


@settings(max_examples=400)
@given(plain_events, st.data())
def test_open_canonical_judges_a_tampered_opening_as_the_long_way_does(
    event: Event, data: st.DataObject
) -> None:
    fields, card = _tampered(event, data, card_too=True)
    sealed, opening = _committed(event, fields)
    opening = Opening(card, opening.salt, opening.sealed)
    body = sealed.to_bytes()
    fast = _one_pass(body, opening)
    assert fast is None or fast == _long_way(body, opening)


@settings(max_examples=300)
@given(plain_events, st.data())
def test_open_canonical_judges_a_mutated_body_as_the_long_way_does(event: Event, data: st.DataObject) -> None:
    sealed, opening = _committed(event)
    body = bytearray(sealed.to_bytes())
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(body) - 1))
        body[index] = data.draw(st.sampled_from(b'0123456789abcdefxyz_"{}:,-ku \\\x00\xff'))
    mutated = bytes(body)
    fast = _one_pass(mutated, opening)
    assert fast is None or fast == _long_way(mutated, opening)


@given(plain_events)
def test_open_canonical_leaves_v1_events_and_card_only_openings_to_the_long_way(event: Event) -> None:
    sealed, opening = _committed(event)
    assert open_canonical(event.to_bytes(), opening) is None
    assert open_canonical(sealed.to_bytes(), Opening(opening.card, opening.salt)) is None
