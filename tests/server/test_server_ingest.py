"""Batch ingest over a real loopback server: the happy path, receipts, and every refusal.

Each refusal test checks three things: the documented status and reason code,
that nothing changed (kiosk chain position, event count, shifts, balances),
and that the server still answers afterwards.
"""

from __future__ import annotations

import base64
import json
import socket

import pytest
from server_helpers import HOUR, MINUTE, T0, Api, World, assert_error

from protocol import (
    MAX_BATCH_EVENTS,
    EventKind,
    PrivateKey,
    Reason,
    b64encode,
    encode_batch,
    event_hash,
    verify_receipt,
)
from protocol.receipts import Receipt


def events_url(kiosk_id: str) -> str:
    return f"/v1/kiosks/{kiosk_id}/events"


def test_batch_is_admitted_and_receipt_verifies(api: Api, world: World, server_key) -> None:
    kiosk = world.kiosk
    batch = [
        kiosk.event(EventKind.CHECK_IN, world.card_id, T0),
        kiosk.event(EventKind.CHECK_OUT, world.card_id, T0 + 2 * HOUR),
    ]
    response = api.send(kiosk.kiosk_id, batch)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["results"] == [
        {"seq": 1, "status": "accepted", "flags": []},
        {"seq": 2, "status": "accepted", "flags": []},
    ]
    receipt = verify_receipt(body["receipt"], server_key, kiosk_id=kiosk.kiosk_id)
    assert receipt == Receipt(kiosk=kiosk.kiosk_id, seq=2, head=batch[-1].hash, issued_ms=T0)
    state = api.kiosk_state(kiosk.kiosk_id)
    assert (state["last_seq"], state["head"], state["status"]) == (2, batch[-1].hash, "active")
    assert api.balance(world.card_id) == 20


def test_receipt_is_signed_by_the_enrolment_server_key(api: Api, world: World) -> None:
    kiosk = world.kiosk
    response = api.send(kiosk.kiosk_id, [kiosk.event(EventKind.CHECK_IN, world.card_id, T0)])
    from protocol import PublicKey

    key = PublicKey.from_b64(kiosk.enrolment["server_public_key"])
    assert verify_receipt(response.json()["receipt"], key, kiosk_id=kiosk.kiosk_id).seq == 1


def test_stored_bytes_are_the_bytes_sent(api: Api, world: World) -> None:
    kiosk = world.kiosk
    event = kiosk.event(EventKind.CHECK_IN, world.card_id, T0)
    assert api.send(kiosk.kiosk_id, [event]).status_code == 200
    with api.context.storage.read() as tx:
        stored = list(tx.iter_events(kiosk.kiosk_id))
    assert [(s.seq, s.body, s.sig, s.hash) for s in stored] == [(1, event.body, event.signature, event.hash)]


def test_replayed_batch_is_duplicate_and_idempotent(api: Api, world: World, server_key) -> None:
    kiosk = world.kiosk
    batch = [
        kiosk.event(EventKind.CHECK_IN, world.card_id, T0),
        kiosk.event(EventKind.CHECK_OUT, world.card_id, T0 + HOUR),
    ]
    first = api.send(kiosk.kiosk_id, batch)
    assert first.status_code == 200
    before = api.snapshot()
    api.clock.now += 5000
    again = api.send(kiosk.kiosk_id, batch)
    assert again.status_code == 200, again.text
    assert [r["status"] for r in again.json()["results"]] == ["duplicate", "duplicate"]
    r1 = verify_receipt(first.json()["receipt"], server_key, kiosk_id=kiosk.kiosk_id)
    r2 = verify_receipt(again.json()["receipt"], server_key, kiosk_id=kiosk.kiosk_id)
    assert (r2.seq, r2.head) == (r1.seq, r1.head) == (2, batch[-1].hash)
    assert api.snapshot() == before
    assert api.balance(world.card_id) == 10


def test_batch_overlapping_held_events_admits_only_the_new_ones(api: Api, world: World) -> None:
    kiosk = world.kiosk
    first = [kiosk.event(EventKind.CHECK_IN, world.card_id, T0)]
    assert api.send(kiosk.kiosk_id, first).status_code == 200
    second = kiosk.event(EventKind.CHECK_OUT, world.card_id, T0 + HOUR)
    response = api.send(kiosk.kiosk_id, [*first, second])
    assert [(r["seq"], r["status"]) for r in response.json()["results"]] == [
        (1, "duplicate"),
        (2, "accepted"),
    ]
    assert api.kiosk_state(kiosk.kiosk_id)["last_seq"] == 2


def test_forged_signature_is_refused(api: Api, world: World) -> None:
    kiosk = world.kiosk
    good = kiosk.event(EventKind.CHECK_IN, world.card_id, T0)
    forged = kiosk.event(EventKind.CHECK_OUT, world.card_id, T0 + HOUR)
    sig = bytearray(forged.signature)
    sig[0] ^= 1
    wire = [good.to_wire(), {**forged.to_wire(), "sig": b64encode(bytes(sig))}]
    before = api.snapshot()
    response = api.post_raw(events_url(kiosk.kiosk_id), json.dumps({"events": wire}).encode())
    assert assert_error(response, 400, Reason.BAD_SIGNATURE)["index"] == 1
    assert api.snapshot() == before
    api.assert_serving()


def test_event_signed_by_another_key_is_refused(api: Api, world: World) -> None:
    kiosk = world.kiosk
    kiosk.key = PrivateKey.generate()  # the right kiosk ID and chain, the wrong key
    before = api.snapshot()
    response = api.send(kiosk.kiosk_id, [kiosk.event(EventKind.CHECK_IN, world.card_id, T0)])
    assert assert_error(response, 400, Reason.BAD_SIGNATURE)["index"] == 0
    assert api.snapshot() == before
    api.assert_serving()


def test_unknown_kiosk_is_refused(api: Api, world: World) -> None:
    from server_helpers import FakeKiosk

    stranger = FakeKiosk(key=PrivateKey.generate(), kiosk_id="k_" + "0" * 32)
    before = api.snapshot()
    response = api.send(stranger.kiosk_id, [stranger.event(EventKind.CHECK_IN, world.card_id, T0)])
    assert_error(response, 404, Reason.UNKNOWN_KIOSK)
    assert api.snapshot() == before
    assert_error(api.http.get(f"/v1/kiosks/{stranger.kiosk_id}"), 404, Reason.UNKNOWN_KIOSK)
    api.assert_serving()


def test_event_for_another_kiosk_is_refused(api: Api, world: World) -> None:
    other = api.enrol_kiosk(world.site["site_id"])
    before = api.snapshot()
    response = api.send(world.kiosk.kiosk_id, [other.event(EventKind.CHECK_IN, world.card_id, T0)])
    assert assert_error(response, 400, Reason.KIOSK_MISMATCH)["index"] == 0
    assert api.snapshot() == before
    api.assert_serving()


def test_revoked_kiosk_is_refused(api: Api, world: World) -> None:
    kiosk = world.kiosk
    assert api.send(kiosk.kiosk_id, [kiosk.event(EventKind.CHECK_IN, world.card_id, T0)]).status_code == 200
    revoked = api.admin("POST", f"/v1/admin/kiosks/{kiosk.kiosk_id}/revoke", expect=200).json()
    assert revoked["status"] == "revoked"
    before = api.snapshot()
    response = api.send(kiosk.kiosk_id, [kiosk.event(EventKind.CHECK_OUT, world.card_id, T0 + HOUR)])
    assert_error(response, 403, Reason.KIOSK_REVOKED)
    assert api.snapshot() == before
    # Clearing does not bring a revoked kiosk back.
    assert_error(api.admin("POST", f"/v1/admin/kiosks/{kiosk.kiosk_id}/clear"), 403, Reason.KIOSK_REVOKED)
    api.assert_serving()


def test_sequence_gap_reports_expected_seq(api: Api, world: World) -> None:
    kiosk = world.kiosk
    assert api.send(kiosk.kiosk_id, [kiosk.event(EventKind.CHECK_IN, world.card_id, T0)]).status_code == 200
    kiosk.event(EventKind.CHECK_OUT, world.card_id, T0 + HOUR)  # seq 2, never sent
    third = kiosk.event(EventKind.CHECK_IN, world.card_id, T0 + 2 * HOUR)
    before = api.snapshot()
    error = assert_error(api.send(kiosk.kiosk_id, [third]), 409, Reason.SEQUENCE_GAP)
    assert error["expected_seq"] == 2
    assert api.snapshot() == before
    api.assert_serving()


def test_non_consecutive_batch_is_a_gap(api: Api, world: World) -> None:
    kiosk = world.kiosk
    first = kiosk.event(EventKind.CHECK_IN, world.card_id, T0)
    kiosk.event(EventKind.CHECK_OUT, world.card_id, T0 + HOUR)
    third = kiosk.event(EventKind.CHECK_IN, world.card_id, T0 + 2 * HOUR)
    before = api.snapshot()
    error = assert_error(api.send(kiosk.kiosk_id, [first, third]), 409, Reason.SEQUENCE_GAP)
    assert (error["expected_seq"], error["index"]) == (2, 1)
    assert api.snapshot() == before


def test_broken_hash_chain_is_refused(api: Api, world: World) -> None:
    kiosk = world.kiosk
    assert api.send(kiosk.kiosk_id, [kiosk.event(EventKind.CHECK_IN, world.card_id, T0)]).status_code == 200
    kiosk.head = event_hash(b"some other history")
    before = api.snapshot()
    response = api.send(kiosk.kiosk_id, [kiosk.event(EventKind.CHECK_OUT, world.card_id, T0 + HOUR)])
    assert assert_error(response, 409, Reason.CHAIN_BROKEN)["index"] == 0
    assert api.snapshot() == before
    api.assert_serving()


def test_equivocation_suspends_until_cleared(api: Api, world: World) -> None:
    kiosk = world.kiosk
    honest = kiosk.event(EventKind.CHECK_IN, world.card_id, T0)
    assert api.send(kiosk.kiosk_id, [honest]).status_code == 200
    # Rewind and sign a different event 1: same seq, different bytes, valid signature.
    kiosk.seq, kiosk.head = 0, "0" * 64
    liar = kiosk.event(EventKind.CHECK_IN, world.card_id, T0 + MINUTE)
    before = api.snapshot()
    error = assert_error(api.send(kiosk.kiosk_id, [liar]), 409, Reason.EQUIVOCATION)
    assert error["seq"] == 1
    after = api.snapshot()
    assert after["events"] == before["events"]
    assert after["volunteers"] == before["volunteers"]
    state = api.kiosk_state(kiosk.kiosk_id)
    assert (state["status"], state["last_seq"], state["head"]) == ("suspended", 1, honest.hash)
    with api.context.storage.read() as tx:
        assert tx.count_equivocations(kiosk.kiosk_id) == 1

    # Even an honest follow-up is refused while suspended, and changes nothing.
    kiosk.seq, kiosk.head = 1, honest.hash
    follow_up = kiosk.event(EventKind.CHECK_OUT, world.card_id, T0 + HOUR)
    assert_error(api.send(kiosk.kiosk_id, [follow_up]), 423, Reason.KIOSK_SUSPENDED)
    assert api.kiosk_state(kiosk.kiosk_id)["last_seq"] == 1

    cleared = api.admin("POST", f"/v1/admin/kiosks/{kiosk.kiosk_id}/clear", expect=200).json()
    assert cleared["status"] == "active"
    response = api.send(kiosk.kiosk_id, [follow_up])
    assert response.status_code == 200, response.text
    assert api.balance(world.card_id) == 10
    with api.context.storage.read() as tx:
        assert tx.count_equivocations(kiosk.kiosk_id) == 1  # the evidence stays


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"{not json", Reason.MALFORMED_REQUEST),
        (b"", Reason.MALFORMED_REQUEST),
        (b"\xff\xfe", Reason.MALFORMED_REQUEST),
        (b"[]", Reason.MALFORMED_REQUEST),
        (b'{"events": {}}', Reason.MALFORMED_REQUEST),
        (b'{"events": []}', Reason.MALFORMED_REQUEST),
        (b'{"events": [], "extra": 1}', Reason.MALFORMED_REQUEST),
        (b'{"events": [1]}', Reason.BAD_FIELD),
        (b'{"events": [{"body": 1, "sig": 2}]}', Reason.BAD_FIELD),
        (b'{"events": [{"body": "AAAA"}]}', Reason.MISSING_FIELD),
        (b'{"events": [{"body": "not base64!", "sig": "AAAA"}]}', Reason.BAD_ENCODING),
        (b'{"events": [{"body": "e30=", "sig": "AAAA"}]}', Reason.BAD_FIELD),
        (b'{"events": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}", Reason.MALFORMED_REQUEST),
    ],
)
def test_malformed_batches_are_refused(api: Api, world: World, content: bytes, code: Reason) -> None:
    before = api.snapshot()
    assert_error(api.post_raw(events_url(world.kiosk.kiosk_id), content), 400, code)
    assert api.snapshot() == before
    api.assert_serving()


def _wire(body: bytes, key: PrivateKey) -> dict[str, str]:
    return {"body": b64encode(body), "sig": b64encode(key.sign(body))}


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda e: {**e, "seq": "1"}, Reason.BAD_FIELD),
        (lambda e: {**e, "seq": 0}, Reason.BAD_FIELD),
        (lambda e: {**e, "kind": "teleport"}, Reason.UNKNOWN_KIND),
        (lambda e: {**e, "v": 3}, Reason.UNKNOWN_VERSION),
        (lambda e: {**e, "type": "other"}, Reason.UNKNOWN_TYPE),
        (lambda e: {**e, "extra": 1}, Reason.UNKNOWN_FIELD),
        (lambda e: {k: v for k, v in e.items() if k != "card"}, Reason.MISSING_FIELD),
        (lambda e: {**e, "card": "Ada Lovelace"}, Reason.BAD_FIELD),
        (lambda e: {**e, "clock": {**e["clock"], "wall_ms": -1}}, Reason.BAD_FIELD),
    ],
)
def test_wrong_event_types_are_refused(api: Api, world: World, mutate, code: Reason) -> None:
    kiosk = world.kiosk
    good = json.loads(kiosk.event(EventKind.CHECK_IN, world.card_id, T0, version=1).body)  # a v1 kiosk
    body = json.dumps(mutate(good), sort_keys=True, separators=(",", ":")).encode()
    before = api.snapshot()
    content = json.dumps({"events": [_wire(body, kiosk.key)]}).encode()
    assert assert_error(api.post_raw(events_url(kiosk.kiosk_id), content), 400, code)["index"] == 0
    assert api.snapshot() == before
    api.assert_serving()


def test_non_canonical_event_bytes_are_refused(api: Api, world: World) -> None:
    kiosk = world.kiosk
    event = kiosk.event(EventKind.CHECK_IN, world.card_id, T0)
    spaced = json.dumps(json.loads(event.body), sort_keys=True).encode()  # ", " and ": " separators
    before = api.snapshot()
    content = json.dumps({"events": [_wire(spaced, kiosk.key)]}).encode()
    assert_error(api.post_raw(events_url(kiosk.kiosk_id), content), 400, Reason.NOT_CANONICAL)
    assert api.snapshot() == before


def test_more_than_500_events_is_batch_too_large(api: Api, world: World) -> None:
    kiosk = world.kiosk
    events = [kiosk.event(EventKind.DENIED, world.card_id, T0 + i) for i in range(MAX_BATCH_EVENTS + 1)]
    content = json.dumps({"events": [e.to_wire() for e in events]}).encode()
    before = api.snapshot()
    assert_error(api.post_raw(events_url(kiosk.kiosk_id), content), 413, Reason.BATCH_TOO_LARGE)
    assert api.snapshot() == before
    # Exactly 500 is fine.
    response = api.post_raw(events_url(kiosk.kiosk_id), encode_batch(events[:MAX_BATCH_EVENTS]))
    assert response.status_code == 200, response.text
    assert api.kiosk_state(kiosk.kiosk_id)["last_seq"] == MAX_BATCH_EVENTS


def test_body_over_one_mib_is_refused(api: Api, world: World) -> None:
    padding = base64.b64encode(b"\0" * 800_000).decode()
    content = json.dumps({"events": [{"body": padding, "sig": padding}]}).encode()
    assert len(content) > 1024 * 1024
    before = api.snapshot()
    assert_error(api.post_raw(events_url(world.kiosk.kiosk_id), content), 413, Reason.BODY_TOO_LARGE)
    assert api.snapshot() == before
    api.assert_serving()


def test_body_over_one_mib_without_content_length_is_refused(api: Api, world: World) -> None:
    def chunks():
        for _ in range(20):
            yield b" " * 65536

    response = api.http.post(events_url(world.kiosk.kiosk_id), content=chunks())
    assert_error(response, 413, Reason.BODY_TOO_LARGE)
    api.assert_serving()


def test_declared_content_length_over_limit_is_refused_before_reading(api: Api, world: World) -> None:
    # A raw socket: HTTP clients refuse to send a body shorter than its Content-Length.
    host, port = api.base_url.removeprefix("http://").split(":")
    request = (
        f"POST {events_url(world.kiosk.kiosk_id)} HTTP/1.1\r\nHost: {host}\r\n"
        "Content-Type: application/json\r\nContent-Length: 2000000\r\nConnection: close\r\n\r\n{}"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert json.loads(body)["error"]["code"] == "body_too_large"
    api.assert_serving()


@pytest.mark.parametrize("wall_ms", [1_577_836_799_999, 0, T0 + 24 * HOUR + 1, T0 + 365 * 24 * HOUR])
def test_clock_out_of_range_is_flagged_and_never_pays(api: Api, world: World, wall_ms: int) -> None:
    kiosk = world.kiosk
    batch = [
        kiosk.event(EventKind.CHECK_IN, world.card_id, wall_ms),
        kiosk.event(EventKind.CHECK_OUT, world.card_id, wall_ms + HOUR),
    ]
    response = api.send(kiosk.kiosk_id, batch)
    assert response.status_code == 200, response.text
    flags = [r["flags"] for r in response.json()["results"]]
    assert flags[0] == ["clock_out_of_range"]
    assert flags[1] == ([] if wall_ms + HOUR == 1_577_836_799_999 + HOUR else ["clock_out_of_range"])
    assert api.balance(world.card_id) == 0
    shifts = api.shifts(world.card_id)
    assert [(s["status"], s["reason"], s["tokens"]) for s in shifts] == [("review", "clock_out_of_range", 0)]


def test_clock_at_the_edges_is_in_range(api: Api, world: World) -> None:
    kiosk = world.kiosk
    batch = [
        kiosk.event(EventKind.DENIED, world.card_id, 1_577_836_800_000),
        kiosk.event(EventKind.DENIED, world.card_id, T0 + 24 * HOUR),
    ]
    assert [r["flags"] for r in api.send(kiosk.kiosk_id, batch).json()["results"]] == [[], []]


def test_unknown_card_is_flagged_and_never_pays(api: Api, world: World) -> None:
    kiosk = world.kiosk
    stranger = "c_" + "f" * 32
    pseudonym = "u_" + "e" * 32
    batch = [
        kiosk.event(EventKind.CHECK_IN, stranger, T0),
        kiosk.event(EventKind.CHECK_OUT, stranger, T0 + HOUR),
        kiosk.event(EventKind.DENIED, pseudonym, T0 + HOUR),
    ]
    response = api.send(kiosk.kiosk_id, batch)
    assert response.status_code == 200, response.text
    assert [r["flags"] for r in response.json()["results"]] == [["unknown_card"]] * 3
    assert_error(api.admin("GET", f"/v1/cards/{stranger}/balance"), 404, Reason.UNKNOWN_CARD)
    assert_error(api.admin("GET", f"/v1/cards/{stranger}/shifts"), 404, Reason.UNKNOWN_CARD)
    assert api.admin("GET", "/v1/admin/review", expect=200).json()["items"] == []
    report = api.admin("GET", "/v1/admin/report", expect=200).json()
    assert [v["balance"] for v in report["volunteers"]] == [0]
    assert api.kiosk_state(kiosk.kiosk_id)["last_seq"] == 3


def test_denied_events_are_stored_without_effect(api: Api, world: World) -> None:
    kiosk = world.kiosk
    response = api.send(kiosk.kiosk_id, [kiosk.event(EventKind.DENIED, world.card_id, T0)])
    assert response.json()["results"] == [{"seq": 1, "status": "accepted", "flags": []}]
    assert api.shifts(world.card_id) == []
