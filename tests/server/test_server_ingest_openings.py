"""Ingest opens v2 events with the opening sent beside them (the kiosk side of issue 17).

Branch ``p17-ingest`` owns the server's full handling (the ``openings`` table, v2 log
entries); this checks the minimum a kiosk signing v2 needs: a v2 event pays like a v1
one when its opening opens it, and is refused whole without one or with a wrong one.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from server_helpers import HOUR, T0, Api, FakeKiosk, World, assert_error

from protocol import ClockEvidence, EventKind, PrivateKey, SignedEvent, sign_event
from protocol.commitments import Opening, seal_opening
from protocol.events import Event, committed_event
from server.ingest_store import _sealed_json
from server.storage.openings import sealed_json
from tests.protocol.test_protocol_events import events


def _v2(kiosk: FakeKiosk, kind: EventKind, card: str, wall_ms: int) -> SignedEvent:
    event, opening = committed_event(
        kiosk=kiosk.kiosk_id,
        seq=kiosk.seq + 1,
        prev=kiosk.head,
        kind=kind,
        card=card,
        clock=ClockEvidence(wall_ms=wall_ms, synced=True, boot_id=kiosk.boot, mono_ms=wall_ms),
    )
    signed = sign_event(event, kiosk.key, opening)
    kiosk.seq, kiosk.head = signed.event.seq, signed.hash
    return signed


def _post(api: Api, kiosk_id: str, wires: list[dict[str, Any]]) -> Any:
    return api.http.post(
        f"/v1/kiosks/{kiosk_id}/events",
        content=json.dumps({"events": wires}).encode(),
        headers={"Content-Type": "application/json"},
    )


def test_a_v2_shift_with_its_openings_is_paid(api: Api, world: World) -> None:
    kiosk = world.kiosk
    batch = [
        _v2(kiosk, EventKind.CHECK_IN, world.card_id, T0),
        _v2(kiosk, EventKind.CHECK_OUT, world.card_id, T0 + 2 * HOUR),
    ]
    response = _post(api, kiosk.kiosk_id, [s.to_wire() for s in batch])
    assert response.status_code == 200, response.text
    assert api.balance(world.card_id) == 20


def test_a_v2_event_without_its_opening_is_refused_and_nothing_stored(api: Api, world: World) -> None:
    kiosk = world.kiosk
    signed = _v2(kiosk, EventKind.CHECK_IN, world.card_id, T0)
    wire = signed.to_wire()
    del wire["opening"]
    assert_error(_post(api, kiosk.kiosk_id, [wire]), 400, "opening_missing")
    assert api.kiosk_state(kiosk.kiosk_id)["last_seq"] == 0


def test_an_opening_of_another_card_is_refused(api: Api, world: World) -> None:
    kiosk = world.kiosk
    signed = _v2(kiosk, EventKind.CHECK_IN, world.card_id, T0)
    wire = signed.to_wire()
    assert signed.opening is not None
    # the right card and fields, another salt
    wire["opening"] = Opening.fresh(world.card_id, signed.opening.sealed).to_json()
    assert_error(_post(api, kiosk.kiosk_id, [wire]), 400, "opening_mismatch")
    assert api.kiosk_state(kiosk.kiosk_id)["last_seq"] == 0


def test_a_re_fed_v2_event_is_opened_with_its_sealed_opening_and_only_with_the_server_key(
    api: Api, world: World
) -> None:
    """Issue 20 §3: a server restored from a backup takes an event back from its sealed opening."""
    kiosk = world.kiosk
    server_key = api.context.server_key
    check_in = _v2(kiosk, EventKind.CHECK_IN, world.card_id, T0)
    check_out = _v2(kiosk, EventKind.CHECK_OUT, world.card_id, T0 + 2 * HOUR)
    assert check_in.opening is not None and check_out.opening is not None
    stranger_sealed = {k: v for k, v in check_in.to_wire().items() if k != "opening"}
    stranger_sealed["sealed_opening"] = seal_opening(
        check_in.opening, PrivateKey.generate().public_key
    ).to_b64()
    assert_error(_post(api, kiosk.kiosk_id, [stranger_sealed]), 400, "opening_missing")
    assert api.kiosk_state(kiosk.kiosk_id)["last_seq"] == 0
    wires = []
    for signed in (check_in, check_out):
        assert signed.opening is not None
        wire = signed.to_wire()
        del wire["opening"]
        wire["sealed_opening"] = seal_opening(signed.opening, server_key.public_key).to_b64()
        wires.append(wire)
    response = _post(api, kiosk.kiosk_id, wires)
    assert response.status_code == 200, response.text
    assert api.balance(world.card_id) == 20  # paid as if the openings had come in the clear
    # A duplicate needs no opening: a sealed one no key opens is ignored, not refused.
    again = [{**wires[0], "sealed_opening": stranger_sealed["sealed_opening"]}]
    response = _post(api, kiosk.kiosk_id, again)
    assert response.status_code == 200 and response.json()["results"][0]["status"] == "duplicate"


@given(events().filter(lambda event: event.version == 1))
def test_an_openings_sealed_fields_are_stored_as_their_canonical_json(event: Event) -> None:
    """The hot path formats a tap's sealed fields; every event's must equal the general encoding."""
    assert _sealed_json(event) == sealed_json(event.sealed_fields())
    assert json.loads(_sealed_json(event)) == event.sealed_fields()
