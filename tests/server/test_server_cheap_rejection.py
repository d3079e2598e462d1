"""Cheap rejection: a batch of junk signatures costs one signature check and no write transaction.

The ingest checks size and shape, then the kiosk and the first event, then the
signatures (stopping at the first bad one), all before it opens the write
transaction.  A counting verifier passed through ``ingest_batch``'s ``verify``
seam counts the checks; ``Storage.traced`` shows whether a write transaction
(``BEGIN IMMEDIATE``) was opened.  No timing anywhere.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from server_helpers import MINUTE, T0, Api, World

from protocol import EventKind, PublicKey, Reason, SignedEvent, encode_batch, event_hash
from server import ingest
from server.context import ServerContext
from server.errors import ServiceError
from server.storage.postgres import BEGIN_WRITE


class CountingVerifier:
    """The real signature check, counted (thread-safe: the pool calls it from several threads)."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, key: PublicKey, body: bytes, sig: bytes) -> bool:
        with self._lock:
            self.calls += 1
        return ingest.verify_signature(key, body, sig)


# What opens a write transaction, as the storage's trace shows it: SQLite's, and PostgreSQL's writers' lock.
WRITE_BEGINS = ("BEGIN IMMEDIATE", BEGIN_WRITE.split("{")[0].upper())


@contextmanager
def statements(context: ServerContext) -> Iterator[list[str]]:
    """Every SQL statement the storage runs inside the block."""
    seen: list[str] = []
    with context.storage.traced(seen.append):
        yield seen


def _events(world: World, count: int) -> list[SignedEvent]:
    kinds = (EventKind.CHECK_IN, EventKind.CHECK_OUT)
    return [world.kiosk.event(kinds[i % 2], world.card_id, T0 + i * MINUTE) for i in range(count)]


def _forge(events: list[SignedEvent], index: int) -> bytes:
    """The batch of ``events`` with the signature of the event at ``index`` broken."""
    wire = encode_batch(events)
    sig = events[index].to_wire()["sig"]
    broken = ("B" if sig[0] != "B" else "C") + sig[1:]
    assert wire.count(sig.encode()) == 1
    return wire.replace(sig.encode(), broken.encode())


def _refusal(context: ServerContext, kiosk_id: str, data: bytes, **kwargs: object) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        ingest.ingest_batch(context, kiosk_id, data, **kwargs)  # type: ignore[arg-type]
    return info.value


def _wrote(seen: list[str]) -> bool:
    return any(statement.strip().upper().startswith(WRITE_BEGINS) for statement in seen)


def test_bad_first_signature_costs_one_check_and_no_write(
    api: Api, world: World, context: ServerContext
) -> None:
    events = _events(world, 300)
    verifier = CountingVerifier()
    with statements(context) as seen:
        error = _refusal(context, world.kiosk.kiosk_id, _forge(events, 0), verify=verifier)
    assert error.reason is Reason.BAD_SIGNATURE and error.extra["index"] == 0
    assert verifier.calls == 1
    assert not _wrote(seen), seen


def test_checks_stop_at_the_first_bad_signature(api: Api, world: World, context: ServerContext) -> None:
    events = _events(world, 100)
    verifier = CountingVerifier()
    with statements(context) as seen:
        error = _refusal(context, world.kiosk.kiosk_id, _forge(events, 10), verify=verifier)
    assert error.reason is Reason.BAD_SIGNATURE and error.extra["index"] == 10
    assert verifier.calls == 11
    assert not _wrote(seen), seen


def test_checks_on_a_pool_stop_at_the_first_bad_signature(
    api: Api, world: World, context: ServerContext
) -> None:
    events = _events(world, 300)
    verifier = CountingVerifier()
    with ThreadPoolExecutor(max_workers=2) as pool, statements(context) as seen:
        error = _refusal(context, world.kiosk.kiosk_id, _forge(events, 70), verify=verifier, verify_pool=pool)
    assert error.reason is Reason.BAD_SIGNATURE and error.extra["index"] == 70
    # The chunk holding index 70 stops there, so the rest of it (71 to its end) is never checked.
    assert verifier.calls <= 300 - (127 - 70)
    assert not _wrote(seen), seen


def test_unknown_kiosk_is_refused_without_a_check_or_a_write(
    api: Api, world: World, context: ServerContext
) -> None:
    from server_helpers import FakeKiosk

    from protocol import PrivateKey

    stranger = FakeKiosk(key=PrivateKey.generate(), kiosk_id="k_" + "0" * 32)
    data = encode_batch([stranger.event(EventKind.CHECK_IN, world.card_id, T0)])
    verifier = CountingVerifier()
    with statements(context) as seen:
        error = _refusal(context, stranger.kiosk_id, data, verify=verifier)
    assert error.reason is Reason.UNKNOWN_KIOSK
    assert verifier.calls == 0
    assert not _wrote(seen), seen


def test_a_good_batch_checks_each_signature_once(api: Api, world: World, context: ServerContext) -> None:
    events = _events(world, 200)
    verifier = CountingVerifier()
    with ThreadPoolExecutor(max_workers=2) as pool, statements(context) as seen:
        answer = ingest.ingest_batch(
            context, world.kiosk.kiosk_id, encode_batch(events), verify=verifier, verify_pool=pool
        )
    assert [result["status"] for result in answer["results"]] == ["accepted"] * 200
    assert verifier.calls == 200
    assert sum(1 for statement in seen if statement.strip().upper().startswith(WRITE_BEGINS)) == 1


def test_an_earlier_refusal_still_comes_before_a_later_bad_signature(
    api: Api, world: World, context: ServerContext
) -> None:
    events = _events(world, 8)
    gapped = [*events[:2], *events[3:]]  # seq 3 missing: the event at index 2 is a gap
    data = _forge(gapped, 5)
    with statements(context) as seen:
        error = _refusal(context, world.kiosk.kiosk_id, data, verify=CountingVerifier())
    assert error.reason is Reason.SEQUENCE_GAP and error.extra["index"] == 2
    assert not _wrote(seen), seen


def test_equivocation_before_a_bad_signature_is_still_kept_as_evidence(
    api: Api, world: World, context: ServerContext
) -> None:
    kiosk = world.kiosk
    assert api.send(kiosk.kiosk_id, _events(world, 2)).status_code == 200
    with context.storage.read() as tx:
        first = tx.stored_events(kiosk.kiosk_id, 1, 1)[1].body
    kiosk.seq, kiosk.head = 1, event_hash(first)  # rewind: a different seq 2 is an equivocation
    other = [kiosk.event(EventKind.DENIED, world.card_id, T0 + 5 * MINUTE) for _ in range(4)]
    error = _refusal(context, kiosk.kiosk_id, _forge(other, 3), verify=CountingVerifier())
    assert error.reason is Reason.EQUIVOCATION and error.extra["index"] == 0
    assert api.kiosk_state(kiosk.kiosk_id)["status"] == "suspended"


@pytest.mark.parametrize("path", ["/v1/enrol", "/v1/kiosks/k_x/evidence", "/v1/kiosks/k_x/heartbeat"])
def test_chunked_bodies_without_a_length_are_capped_too(api: Api, path: str) -> None:
    # Every route that reads a body goes through server.http.common.read_body; no Content-Length here.
    def chunks() -> Iterator[bytes]:
        for _ in range(4):
            yield b" " * 65536

    response = api.http.post(path, content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "body_too_large"
