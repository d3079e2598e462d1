"""The console's fleet (server.fleet): health and alarms by scope, enrolment codes, revocation."""

from __future__ import annotations

import sqlite3

import pytest
from server_helpers import MINUTE, T0, Api, FakeKiosk

from protocol import EventKind, PrivateKey, Reason
from protocol.heartbeat import Heartbeat, sign_heartbeat
from server import fleet, health
from server.accounts.activity import list_activity
from server.errors import ServiceError
from server.principals import Grant, Permission, Principal


def _heartbeat(api: Api, kiosk: FakeKiosk, *, sent_ms: int, synced: bool = True) -> None:
    beat = Heartbeat(
        kiosk=kiosk.kiosk_id,
        sent_ms=sent_ms,
        boot=kiosk.boot,
        mono_ms=5_000,
        synced=synced,
        version="1.2.3",
        pending=4,
        reader="ok",
        last_seq=kiosk.seq,
    )
    response = api.http.post(f"/v1/kiosks/{kiosk.kiosk_id}/heartbeat", json=sign_heartbeat(beat, kiosk.key))
    assert response.status_code == 200, response.text


def _by_id(rows: list[dict[str, object]]) -> dict[object, dict[str, object]]:
    return {row["kiosk_id"]: row for row in rows}


def test_the_fleet_shows_the_callers_kiosks_with_health_and_no_others(api: Api) -> None:
    a = api.create_site()["site_id"]
    b = api.create_site()["site_id"]
    here, there = api.enrol_kiosk(a), api.enrol_kiosk(b)
    _heartbeat(api, here, sent_ms=T0 - 1_000)

    rows = fleet.fleet(api.context, frozenset({a}))
    assert [r["kiosk_id"] for r in rows] == [here.kiosk_id]
    row = rows[0]
    assert (row["version"], row["pending"], row["clock"], row["terminal"], row["alarms"]) == (
        "1.2.3",
        4,
        "ok",
        "kiosk",
        [],
    )
    assert set(_by_id(fleet.fleet(api.context, None))) == {here.kiosk_id, there.kiosk_id}


def test_silence_equivocation_and_a_wrong_clock_are_alarms(api: Api) -> None:
    site = api.create_site()["site_id"]
    quiet, liar, late = (api.enrol_kiosk(site) for _ in range(3))
    card = api.create_card("Ada", site_id=site)["card_id"]
    api.clock.now = T0 + 2 * health.DEFAULT_SILENT_AFTER_S * 1000
    now = api.clock.now
    assert api.send(liar.kiosk_id, [liar.event(EventKind.CHECK_IN, card, now - MINUTE)]).status_code == 200
    liar.seq, liar.head = 0, "0" * 64
    assert api.send(liar.kiosk_id, [liar.event(EventKind.CHECK_IN, card, now)]).status_code == 409
    _heartbeat(api, late, sent_ms=now - 10 * MINUTE)

    rows = _by_id(fleet.fleet(api.context, frozenset({site})))
    assert rows[quiet.kiosk_id]["alarms"] == ["silent"]
    assert rows[liar.kiosk_id]["alarms"] == ["equivocation"]
    assert rows[liar.kiosk_id]["equivocations"] == 1
    assert (rows[late.kiosk_id]["clock"], rows[late.kiosk_id]["alarms"]) == ("off", ["clock"])


def test_an_unsynced_clock_is_an_alarm(api: Api) -> None:
    site = api.create_site()["site_id"]
    kiosk = api.enrol_kiosk(site)
    _heartbeat(api, kiosk, sent_ms=T0, synced=False)
    (row,) = fleet.fleet(api.context, None)
    assert (row["clock"], row["alarms"]) == ("unsynced", ["clock"])


def test_a_code_made_for_the_console_enrols_a_kiosk_that_then_shows_in_the_fleet(api: Api) -> None:
    site = api.create_site()["site_id"]
    made = fleet.create_code(api.context, frozenset({site}), site)
    assert len(made["groups"]) == 5 and all(len(g) == 4 and g.isdigit() for g in made["groups"])
    assert made["qr_svg"].startswith("<svg") and "<path" in made["qr_svg"]

    response = api.enrol_request(made["code"], PrivateKey.generate())
    assert response.status_code == 200, response.text
    assert [r["kiosk_id"] for r in fleet.fleet(api.context, frozenset({site}))] == [
        response.json()["kiosk_id"]
    ]


def test_no_code_for_a_site_outside_the_callers(api: Api) -> None:
    a = api.create_site()["site_id"]
    b = api.create_site()["site_id"]
    with pytest.raises(ServiceError) as refused:
        fleet.create_code(api.context, frozenset({a}), b)
    assert refused.value.reason is Reason.UNKNOWN_SITE
    assert [s["site_id"] for s in fleet.enrolment_sites(api.context, frozenset({a}))] == [a]


def test_revoking_is_for_the_callers_kiosks_and_ends_their_alarms(api: Api) -> None:
    a = api.create_site()["site_id"]
    b = api.create_site()["site_id"]
    here, there = api.enrol_kiosk(a), api.enrol_kiosk(b)
    with pytest.raises(ServiceError) as refused:
        fleet.revoke(api.context, frozenset({a}), there.kiosk_id)
    assert refused.value.reason is Reason.UNKNOWN_KIOSK
    assert api.kiosk_state(there.kiosk_id)["status"] == "active"

    api.clock.now = T0 + 2 * health.DEFAULT_SILENT_AFTER_S * 1000
    coordinator = Principal.of_grants("Kim", [Grant(frozenset({Permission.MANAGE_FLEET}), frozenset({a}))])
    assert fleet.revoke(api.context, frozenset({a}), here.kiosk_id, by=coordinator)["status"] == "revoked"
    (row,) = fleet.fleet(api.context, frozenset({a}))
    assert (row["status"], row["alarms"]) == ("revoked", [])
    made = fleet.create_code(api.context, frozenset({a}), a, by=coordinator)
    recorded = list_activity(api.context, coordinator, Permission.MANAGE_FLEET)
    assert [(r.actor, r.action, r.object_id, r.site_id) for r in recorded] == [
        ("Kim", "kiosk.code", a, a),
        ("Kim", "kiosk.revoke", here.kiosk_id, a),
    ]
    assert made["code"] not in str([r.data for r in recorded])  # the code itself is never recorded


@pytest.mark.sqlite_only
def test_the_last_batch_of_each_kiosk_is_found_by_key_not_by_reading_every_event(api: Api) -> None:
    """The fleet page reads each kiosk's newest event by its key: its cost grows with kiosks, not events."""
    site = api.create_site()["site_id"]
    kiosk = api.enrol_kiosk(site)
    card = api.create_card("Ada", site_id=site)["card_id"]
    assert api.send(kiosk.kiosk_id, [kiosk.event(EventKind.CHECK_IN, card, T0 - MINUTE)]).status_code == 200
    statements: list[str] = []
    with api.context.storage.traced(statements.append), api.context.storage.read() as tx:
        assert tx.last_batch_ms() == {kiosk.kiosk_id: T0}
    (query,) = [s for s in statements if "events" in s]
    with sqlite3.connect(api.context.storage.path) as conn:
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {query}")]
    assert not any(step.startswith("SCAN e") for step in plan), plan
