"""Ledger verification from stored bytes: clean ledgers pass, tampering is named by kiosk and seq."""

from __future__ import annotations

import json

from server_helpers import HOUR, T0, Api, World

from server.verify import verify_ledger, verify_store
from tests.server.ledger_file import ledger_file


def _forge(body: bytes) -> bytes:
    """``body`` changed in one hex digit of its commitment: still canonical and parseable (a v2 event
    seals its kind and clock, so changing what it says means changing ``ref``)."""
    ref = json.loads(body)["ref"]
    forged = ref[:-1] + ("1" if ref[-1] == "0" else "0")
    return body.replace(ref.encode(), forged.encode())


def _fill(api: Api, world: World, n: int = 6) -> None:
    k = world.kiosk
    events = [
        k.event("check_in" if i % 2 == 0 else "check_out", world.card_id, T0 + i * HOUR) for i in range(n)
    ]
    assert api.send(k.kiosk_id, events).status_code == 200


def test_clean_ledger_verifies(api: Api, world: World) -> None:
    _fill(api, world)
    other = api.enrol_kiosk(world.site["site_id"])
    assert api.send(other.kiosk_id, [other.event("denied", world.card_id, T0)]).status_code == 200
    result = api.admin("GET", "/v1/admin/verify", expect=200).json()
    assert result == {"ok": True, "events": 7, "kiosks": 2, "problems": []}


def test_tampered_body_is_named(api: Api, world: World) -> None:
    _fill(api, world)
    with ledger_file(api.context.storage, write=True) as conn:  # as an attacker with file access would
        (body,) = conn.execute(
            "SELECT body FROM events WHERE kiosk_id = ? AND seq = 3", (world.kiosk.kiosk_id,)
        ).fetchone()
        forged = _forge(bytes(body))
        conn.execute(
            "UPDATE events SET body = ? WHERE kiosk_id = ? AND seq = 3", (forged, world.kiosk.kiosk_id)
        )
    result = api.admin("GET", "/v1/admin/verify", expect=200).json()
    assert result["ok"] is False
    assert result["events"] == 6
    problems = {(p["kiosk_id"], p["seq"], p["reason"]) for p in result["problems"]}
    assert (world.kiosk.kiosk_id, 3, "bad_signature") in problems
    assert (world.kiosk.kiosk_id, 4, "chain_broken") in problems
    assert {p["seq"] for p in result["problems"]} <= {3, 4}


def test_resigned_looking_body_fails_signature(api: Api, world: World) -> None:
    _fill(api, world)
    with ledger_file(api.context.storage, write=True) as conn:
        (body,) = conn.execute(
            "SELECT body FROM events WHERE kiosk_id = ? AND seq = 2", (world.kiosk.kiosk_id,)
        ).fetchone()
        # Same length, still canonical and parseable: only the signature can catch it.
        forged = _forge(bytes(body))
        conn.execute(
            "UPDATE events SET body = ? WHERE kiosk_id = ? AND seq = 2", (forged, world.kiosk.kiosk_id)
        )
    report = verify_ledger(api.context.storage)
    assert not report.ok
    assert [(p.kiosk_id, p.seq, p.reason.value) for p in report.problems] == [
        (world.kiosk.kiosk_id, 2, "bad_signature"),
        (world.kiosk.kiosk_id, 3, "chain_broken"),
    ]


def test_deleted_event_is_a_gap(api: Api, world: World) -> None:
    _fill(api, world)
    with ledger_file(api.context.storage, write=True) as conn:
        conn.execute("DELETE FROM events WHERE kiosk_id = ? AND seq = 6", (world.kiosk.kiosk_id,))
    report = verify_ledger(api.context.storage)
    assert [(p.seq, p.reason.value) for p in report.problems] == [(6, "sequence_gap")]


def test_the_store_agrees_with_its_log(api: Api, world: World) -> None:
    _fill(api, world)
    report = verify_store(api.context.storage)
    assert report.ok, report.problems
    assert report.events == 6 and report.entries > 6


def test_an_event_changed_in_the_database_differs_from_its_log(api: Api, world: World) -> None:
    _fill(api, world)
    with ledger_file(api.context.storage, write=True) as conn:  # below the storage, as an attacker would
        (body,) = conn.execute(
            "SELECT body FROM events WHERE kiosk_id = ? AND seq = 3", (world.kiosk.kiosk_id,)
        ).fetchone()
        forged = _forge(bytes(body))
        conn.execute(
            "UPDATE events SET body = ? WHERE kiosk_id = ? AND seq = 3", (forged, world.kiosk.kiosk_id)
        )
        conn.execute("DELETE FROM events WHERE kiosk_id = ? AND seq = 6", (world.kiosk.kiosk_id,))
    report = verify_store(api.context.storage)
    assert [p.code for p in report.problems] == ["log_inconsistent", "log_inconsistent"]
    assert f"kiosk {world.kiosk.kiosk_id} seq 3 differs from its log entry" in report.problems[0].message
    assert report.problems[1].message.endswith(f"(kiosk {world.kiosk.kiosk_id} seq 6) is not stored")


def test_a_balance_changed_in_the_database_is_named(api: Api, world: World) -> None:
    _fill(api, world)
    with ledger_file(api.context.storage, write=True) as conn:
        conn.execute("UPDATE balances SET balance = balance + 5")
    report = verify_store(api.context.storage)
    assert [p.code for p in report.problems] == ["balance_mismatch"]
    assert report.to_json()["ok"] is False
