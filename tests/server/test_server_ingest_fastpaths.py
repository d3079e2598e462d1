"""The ingest's write half takes shortcuts (issue 21 §3); each must equal the general code it stands for.

Batch templates for log entries, a remembered flags encoding, card flags remembered per card,
sealed fields formatted with a per-batch boot cache and the tree's inlined extend: each is
checked against the slow, general path on inputs Hypothesis varies.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from server_helpers import T0

from protocol import EventKind, Reason, b64encode
from protocol.economy.models import Card, CardKind, Site
from protocol.events import Event
from protocol.logentry import event_entry, private_event_entry
from protocol.merkle import ProofError, inclusion_proof, leaf_hash
from server import tlog
from server.errors import LogCorrupted
from server.ingest_store import _flag_tap, _flags_json, _sealed_json
from server.shifts import Tap
from server.storage import encode_flags
from server.storage.openings import sealed_json
from server.tlogtree import Frontier
from tests.protocol.test_protocol_events import events

reason_codes = st.lists(st.sampled_from([reason.value for reason in Reason]), max_size=4)
times = st.integers(0, 2**53 - 1)
blobs = st.binary(max_size=300)


@given(blobs, blobs, times, reason_codes)
def test_entry_templates_are_the_protocols_entries_byte_for_byte(
    body: bytes, sig: bytes, received_ms: int, flags: list[str]
) -> None:
    v2 = tlog.event_entry_template(received_ms=received_ms)
    assert tlog.fill_event_entry(v2, body, sig) == private_event_entry(body, sig, received_ms=received_ms)
    v1 = tlog.event_entry_template(received_ms=received_ms, flags_json=encode_flags(tuple(flags)))
    assert tlog.fill_event_entry(v1, body, sig) == event_entry(
        body, sig, received_ms=received_ms, flags=flags
    )


def test_a_percent_sign_in_stored_flags_stays_one() -> None:
    """Flags are reason codes, but the template must not read a stored ``%`` as a placeholder."""
    flags_json = encode_flags(("a%b", "%%"))
    template = tlog.event_entry_template(received_ms=T0, flags_json=flags_json)
    assert b'"flags":["a%b","%%"]' in tlog.fill_event_entry(template, b"x", b"y")


@given(reason_codes)
def test_flags_json_is_encode_flags(flags: list[str]) -> None:
    assert _flags_json(flags) == encode_flags(tuple(flags))
    assert _flags_json(flags) == encode_flags(tuple(flags))  # and again, from what it remembered


@given(st.integers(0, 70), st.lists(blobs, max_size=70))
def test_extend_is_append_one_by_one(size: int, entries: list[bytes]) -> None:
    leaves = [leaf_hash(bytes([i % 256, i // 256])) for i in range(size)]
    one_by_one, at_once = Frontier(0, {}), Frontier(0, {})
    for leaf in leaves:
        one_by_one.append(leaf)
    at_once.extend(leaves)
    rows: list[tuple[int, int, bytes]] = []
    for entry in entries:
        rows.extend(one_by_one.append(leaf_hash(entry)))
    assert at_once.extend_entries(entries) == rows
    assert (at_once.size, at_once.root()) == (one_by_one.size, one_by_one.root())


@given(events().filter(lambda event: event.version == 1), st.booleans())
def test_sealed_json_with_a_boot_cache_is_the_canonical_json(event: Event, seen: bool) -> None:
    boots: dict[str, bool] = {}
    if seen:  # the boot's answer remembered from an earlier event of the batch
        _sealed_json(event, boots)
    assert _sealed_json(event, boots) == sealed_json(event.sealed_fields())


_CARDS = ("c_" + "1" * 32, "u_" + "2" * 32, "c_" + "3" * 32)


@st.composite
def tap_events(draw: st.DrawFn) -> tuple[Event, Card | None]:
    """A check-in, check-out or ``denied`` event of one of three cards, registered (blocked or not) or not."""
    event = draw(events().filter(lambda e: e.version == 1 and e.kind in _FLAGGED_KINDS))
    card_id = draw(st.sampled_from(_CARDS))
    event = Event(event.kiosk, event.seq, event.prev, event.kind, card_id, event.clock, event.data)
    if draw(st.booleans()):
        return event, None
    blocked = draw(st.none() | times)
    return event, Card(card_id, "v_" + "9" * 32, CardKind.CREDENTIAL, 0, blocked_ms=blocked)


_FLAGGED_KINDS = frozenset({EventKind.CHECK_IN, EventKind.CHECK_OUT, EventKind.DENIED})


@given(st.lists(st.tuples(tap_events(), times, st.booleans()), max_size=12), st.booleans(), times)
def test_card_flags_remembered_per_card_are_the_rules_flags(
    batch: list[tuple[tuple[Event, Card | None], int, bool]], allow: bool, now: int
) -> None:
    """One batch's events, flagged with the per-card memory and without: the same flags and taps."""
    site = Site("s_" + "5" * 32, "north", 60, 12, allow_uncredentialed=allow)
    standing: dict[str, list[str]] = {}
    fast_taps: list[Tap] = []
    slow_taps: list[Tap] = []
    for index, ((event, card), time_ms, trusted) in enumerate(batch):
        common = {"log_index": index, "trusted": trusted, "enrolled_ms": T0}
        fast = _flag_tap(event, time_ms, card, site, now, taps=fast_taps, standing=standing, **common)
        slow = _flag_tap(event, time_ms, card, site, now, taps=slow_taps, **common)
        assert fast == slow
    assert fast_taps == slow_taps


def _tree_of(size: int) -> Callable[[int, int], bytes]:
    """A reader of every stored hash ``(level, index)`` of a tree of ``size`` two-byte entries."""
    stored: dict[tuple[int, int], bytes] = {}
    for level, index, value in Frontier(0, {}).extend_entries([i.to_bytes(2, "big") for i in range(size)]):
        stored[(level, index)] = value

    def read(level: int, index: int) -> bytes:
        return stored[(level, index)]

    return read


@given(st.integers(1, 300), st.data())
def test_batch_proofs_are_the_protocols_inclusion_proofs(size: int, data: st.DataObject) -> None:
    """Every index of a tree (and one past it, refused the same way), proof by proof, in base64."""
    read = _tree_of(size)
    proofs = tlog.BatchProofs(size, read)
    first = data.draw(st.integers(0, size - 1))
    for index in [*range(first, size), *range(first)]:  # a batch starts anywhere
        assert proofs(index) == [b64encode(h) for h in inclusion_proof(index, size, read)]
    for outside in (-1, size):
        with pytest.raises(ProofError):
            proofs(outside)


@given(st.integers(1, 300), st.data())
def test_batch_proofs_many_are_the_protocols_inclusion_proofs(size: int, data: st.DataObject) -> None:
    """Proofs of any indices at once (a batch's new entries, duplicates anywhere, repeats), in their order."""
    read = _tree_of(size)
    indices = data.draw(st.lists(st.integers(0, size - 1), max_size=40))
    first = data.draw(st.integers(0, size - 1))
    indices += range(first, min(size, first + data.draw(st.integers(0, 40))))
    expected = [[b64encode(h) for h in inclusion_proof(index, size, read)] for index in indices]
    assert tlog.BatchProofs(size, read).many(indices) == expected
    with pytest.raises(ProofError):
        tlog.BatchProofs(size, read).many([*indices, size])


def test_batch_proofs_many_names_the_hash_the_one_by_one_walk_misses() -> None:
    """A log missing a hash fails as inclusion_proof fails: at the first proof that needs it, naming it."""
    size = 37
    stored = dict(
        ((level, index), value)
        for level, index, value in Frontier(0, {}).extend_entries([bytes([i]) for i in range(size)])
    )
    del stored[(0, 30)]
    reads: list[tuple[int, int]] = []

    def read(level: int, index: int) -> bytes:
        reads.append((level, index))
        if (level, index) not in stored:
            raise LogCorrupted(f"the log has no hash at level {level}, index {index}")
        return stored[(level, index)]

    with pytest.raises(LogCorrupted) as slow:
        for index in (3, 31, 30):
            inclusion_proof(index, size, read)
    with pytest.raises(LogCorrupted) as fast:
        tlog.BatchProofs(size, read).many([3, 31, 30])
    assert str(fast.value) == str(slow.value)
