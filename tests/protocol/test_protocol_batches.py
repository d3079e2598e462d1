"""The sync request body: a batch of signed events, and every limit on it."""

from __future__ import annotations

import json

import pytest

from protocol import (
    GENESIS_PREV,
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    ClockEvidence,
    Event,
    EventKind,
    MalformedError,
    PrivateKey,
    Reason,
    SignedEvent,
    decode_batch,
    encode_batch,
    sign_event,
    verify_event,
)

KEY = PrivateKey(bytes(range(32)))
KIOSK = "k_559fa9c0eb2eb94da892084c943b1b27"
CARD = "c_00a71ed80fa1e76c198371c3ece0dc0e"
BOOT = "b08d2866-f413-4cb3-a8a0-cd36bb39ffe3"


def chain(count: int) -> list[SignedEvent]:
    """``count`` consecutive check-ins/outs from one kiosk, each linked to the one before."""
    signed: list[SignedEvent] = []
    prev = GENESIS_PREV
    for seq in range(1, count + 1):
        event = Event(
            kiosk=KIOSK,
            seq=seq,
            prev=prev,
            kind=EventKind.CHECK_IN if seq % 2 else EventKind.CHECK_OUT,
            card=CARD,
            clock=ClockEvidence(wall_ms=1764400000000 + seq, synced=True, boot_id=BOOT, mono_ms=seq),
        )
        signed.append(sign_event(event, KEY))
        prev = signed[-1].hash
    return signed


EVENTS = chain(MAX_BATCH_EVENTS + 1)


def envelope(items: object) -> bytes:
    return json.dumps({"events": items}).encode()


def reason_of(data: bytes) -> Reason:
    with pytest.raises(MalformedError) as info:
        decode_batch(data)
    return info.value.reason


@pytest.mark.parametrize("count", [1, 2, MAX_BATCH_EVENTS])
def test_round_trip(count: int) -> None:
    events = EVENTS[:count]
    pairs = decode_batch(encode_batch(events))
    assert pairs == [(e.body, e.signature) for e in events]
    for (body, signature), original in zip(pairs, events, strict=True):
        assert verify_event(body, signature, KEY.public_key).event == original.event


def test_encoded_batch_is_the_documented_envelope() -> None:
    data = json.loads(encode_batch(EVENTS[:2]))
    assert data == {"events": [EVENTS[0].to_wire(), EVENTS[1].to_wire()]}


def test_encode_refuses_more_than_the_limit() -> None:
    with pytest.raises(ValueError, match=str(MAX_BATCH_EVENTS)):
        encode_batch(EVENTS[: MAX_BATCH_EVENTS + 1])


def test_501_events_is_batch_too_large() -> None:
    data = envelope([e.to_wire() for e in EVENTS[: MAX_BATCH_EVENTS + 1]])
    assert len(data) <= MAX_BATCH_BYTES  # so the count, not the size, decides
    assert reason_of(data) is Reason.BATCH_TOO_LARGE


def test_count_is_checked_before_any_event_is_decoded() -> None:
    # Even garbage items: the count limit refuses the batch before per-event work.
    assert reason_of(envelope([1] * (MAX_BATCH_EVENTS + 1))) is Reason.BATCH_TOO_LARGE


def test_body_size_limit_is_inclusive() -> None:
    data = encode_batch(EVENTS[:1])
    at_limit = data + b" " * (MAX_BATCH_BYTES - len(data))  # trailing whitespace is valid JSON
    assert len(at_limit) == MAX_BATCH_BYTES
    assert decode_batch(at_limit) == [(EVENTS[0].body, EVENTS[0].signature)]
    assert reason_of(at_limit + b" ") is Reason.BODY_TOO_LARGE


def test_body_over_1_mib_is_body_too_large_whatever_it_holds() -> None:
    assert reason_of(b"x" * (MAX_BATCH_BYTES + 1)) is Reason.BODY_TOO_LARGE
    assert MAX_BATCH_BYTES == 1024 * 1024  # docs/protocol.md: "at most 1 MiB"
    assert MAX_BATCH_EVENTS == 500  # docs/protocol.md: "1 to 500 events"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty-body"),
        pytest.param(b"not json", id="not-json"),
        pytest.param(b'{"events":[', id="truncated"),
        pytest.param(b"\xff\xfe\x00", id="binary"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deeply-nested"),
        pytest.param(b"[]", id="list"),
        pytest.param(b"null", id="null"),
        pytest.param(b'"events"', id="string"),
        pytest.param(b"{}", id="empty-object"),
        pytest.param(b'{"event":[]}', id="misspelt-key"),
        pytest.param(b'{"events":{}}', id="events-object"),
        pytest.param(b'{"events":"x"}', id="events-string"),
        pytest.param(b'{"events":null}', id="events-null"),
        pytest.param(b'{"events":[]}', id="no-events"),
        pytest.param(envelope([EVENTS[0].to_wire()])[:-1] + b',"kiosk":"k_x"}', id="extra-key"),
    ],
)
def test_malformed_request(data: bytes) -> None:
    assert reason_of(data) is Reason.MALFORMED_REQUEST


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        pytest.param(1, Reason.BAD_FIELD, id="not-an-object"),
        pytest.param({"body": EVENTS[0].to_wire()["body"]}, Reason.MISSING_FIELD, id="no-sig"),
        pytest.param({**EVENTS[0].to_wire(), "x": 1}, Reason.UNKNOWN_FIELD, id="extra-key"),
        pytest.param({**EVENTS[0].to_wire(), "sig": "QQ"}, Reason.BAD_ENCODING, id="unpadded-sig"),
    ],
)
def test_a_bad_item_is_refused_with_the_event_reason(item: object, reason: Reason) -> None:
    # Per-event problems keep their event-level reason (the server adds the index).
    assert reason_of(envelope([EVENTS[0].to_wire(), item])) is reason


def test_decode_does_not_verify_or_parse_bodies() -> None:
    # decode_batch only splits the envelope; parsing and signatures are verify_event's job.
    item = {"body": "QQ==", "sig": EVENTS[0].to_wire()["sig"]}
    assert decode_batch(envelope([item])) == [(b"A", EVENTS[0].signature)]


def test_integer_past_pythons_digit_limit_is_malformed_not_a_crash():
    from protocol import MalformedError, decode_batch
    from protocol.reasons import Reason

    with pytest.raises(MalformedError) as info:
        decode_batch(b'{"events": [' + b"9" * 5000 + b"]}")
    assert info.value.reason == Reason.MALFORMED_REQUEST
