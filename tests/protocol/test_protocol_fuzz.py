"""Fuzz every parser of untrusted bytes: only its documented errors may escape.

The targets (tests/fuzz_targets.py) cover NDEF messages, credentials, batches,
events, checkpoints, notes, tlog proofs, entry bundles, receipts, trust lists,
heartbeats, balance sheets, decisions, log entries and key transitions.  Each gets
random bytes and mutated valid inputs (bytes flipped, inserted, deleted, cut,
repeated); signed documents also with the mutated body re-signed, so the parser
behind the signature is reached.  60 examples per target and kind in the normal
suite, 5,000 under ``make chaos`` (``KOKREATIV_CHAOS_SCALE``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import ProtocolError, Reason
from tests.fuzz_targets import COMMON_SEEDS, TARGETS, Target
from tests.integration.scale import report_figure, scaled

EXAMPLES = scaled(ci=60, full=5000)
_INTERESTING = [b'"', b"{", b"}", b"[", b"]", b",", b":", b"\\", b"\n", b"\x00", b"0", b"9", b"-", b"e", b"."]
_INTERESTING += [
    b"\xff",
    b"\xc0\x80",
    b"\xed\xa0\x80",
    b"+",
    b"=",
    b"/",
    b" ",
    b"\x7f",
    b"99999999999999999999",
]
_CASES: Counter[str] = Counter()


@st.composite
def mutated(draw: st.DrawFn, seeds: tuple[bytes, ...]) -> bytes:
    """A valid input with one to eight mutations: the inputs a random byte string rarely reaches."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["flip", "insert", "delete", "cut", "repeat", "byte"]))
        if op == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[at:at] = draw(st.sampled_from(_INTERESTING) | st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "cut":
            del data[at:]
        elif op == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 32))]
        elif at < len(data):
            data[at] = draw(st.integers(0, 255))
    return bytes(data)


def _check(target: Target, data: bytes) -> None:
    _CASES[target.name] += 1
    try:
        target.run(data)
    except target.allowed as exc:
        if isinstance(exc, ProtocolError):
            assert isinstance(exc.reason, Reason)  # a stable code, never a bare message
            assert exc.message
    # Anything else propagates: a crash Hypothesis shrinks and reports with the input.


_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module", autouse=True)
def _report_cases() -> Iterator[None]:
    yield
    report_figure("parser fuzz cases", sum(_CASES.values()), targets=len(_CASES))


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_random_bytes_raise_only_documented_errors(target: Target) -> None:
    @_SETTINGS
    @given(st.binary(max_size=2048))
    def run(data: bytes) -> None:
        _check(target, data)

    run()


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_mutated_valid_inputs_raise_only_documented_errors(target: Target) -> None:
    @_SETTINGS
    @given(mutated(target.seeds + COMMON_SEEDS))
    def run(data: bytes) -> None:
        _check(target, data)

    run()
