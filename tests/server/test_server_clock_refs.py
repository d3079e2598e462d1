"""Clock references: a batch's signed clock sample corrects unsynced clocks (``protocol.clockref``).

Within one boot the monotonic clock measures a shift (``test_server_clock_trust``);
what it cannot say is *when* the shift was, or how long one was that spans a
reboot.  The clock sample each sync request carries gives the server's time for
one monotonic reading of the kiosk's boot, so every unsynced event of that boot
gets a real time.  These tests drive the HTTP API with faked kiosk and server
clocks and check shifts, flags, the log and the audit's replay.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from protocol import EventKind, PrivateKey, SignedEvent, encode_batch, ids
from protocol.clockref import REFRESH_MS
from protocol.heartbeat import Heartbeat, sign_heartbeat
from protocol.logentry import parse_entry
from protocol.note import NoteVerifier
from server.datadir import InitResult
from server.models import RedemptionStatus
from tests.audit_helpers import audit_data_folder
from tests.server.server_helpers import HOUR, MINUTE, T0, Api, FakeKiosk, World, assert_error
from tests.server.server_shop_helpers import ShopWorld

BOOT_MONO = 20_000  # 20 s after boot
ANCIENT = 5_000  # a wall clock that starts at 1970 after a power cut


def _sample(
    fake: FakeKiosk, mono_ms: int, *, key: PrivateKey | None = None, **changes: Any
) -> dict[str, str]:
    """The kiosk's clock sample as its sync client signs it (unsynced, its own boot) at ``mono_ms``."""
    fields: dict[str, Any] = {
        "kiosk": fake.kiosk_id,
        "sent_ms": ANCIENT + mono_ms,
        "boot": fake.boot,
        "mono_ms": mono_ms,
        "synced": False,
        "version": "0.1.0",
        "pending": 1,
        "reader": "ok",
        "last_seq": fake.seq,
    }
    fields.update(changes)
    return sign_heartbeat(Heartbeat(**fields), key or fake.key)


def _send(
    api: Api, kiosk: FakeKiosk, events: list[SignedEvent], clock: dict[str, str] | None
) -> httpx.Response:
    return api.post_raw(f"/v1/kiosks/{kiosk.kiosk_id}/events", encode_batch(events, clock=clock))


def _clock_refs(api: Api) -> list[dict[str, Any]]:
    """The log's ``clock_ref`` entries, in order, with the heartbeat each holds."""
    with api.context.storage.read() as tx:
        entries = tx.tlog_entry_range(0, tx.tlog_size())
    found = []
    for data in entries:
        entry = parse_entry(data)
        if entry["kind"] == "clock_ref":
            found.append({"received_ms": entry["received_ms"], **json.loads(entry["body"])})
    return found


def _shifts(api: Api, world: World) -> list[tuple[Any, ...]]:
    return [
        (s["status"], s["reason"], s["minutes"], s["tokens"], s["start_ms"], s["end_ms"])
        for s in api.shifts(world.card_id)
    ]


def _audit(data_dir: tuple[Path, InitResult], tmp_path: Path) -> None:
    folder, init = data_dir
    report = audit_data_folder(folder, [NoteVerifier.parse(init.log_verifier_key)], tmp_path)
    assert report.ok, "\n".join(report.lines())


def test_a_1970_check_in_gets_the_servers_time_and_pays_across_a_reboot(
    api: Api, world: World, data_dir: tuple[Path, InitResult], tmp_path: Path
) -> None:
    k = world.kiosk
    check_in = k.event(EventKind.CHECK_IN, world.card_id, ANCIENT, mono_ms=BOOT_MONO, synced=False)
    # The kiosk syncs 10 s after the tap; the server's clock reads T0 as the request arrives.
    response = _send(api, k, [check_in], _sample(k, BOOT_MONO + 10_000))
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["flags"] == []  # no clock_out_of_range: it counts at T0 - 10 s
    assert [(r["received_ms"], r["mono_ms"], r["boot"]) for r in _clock_refs(api)] == [
        (T0, BOOT_MONO + 10_000, k.boot)
    ]
    # Power cut; NTP reaches the new boot before the check-out two hours later.
    k.reboot()
    api.clock.now = T0 + 2 * HOUR
    check_out = k.event(EventKind.CHECK_OUT, world.card_id, T0 + 2 * HOUR - 10_000, mono_ms=BOOT_MONO)
    assert _send(api, k, [check_out], _sample(k, BOOT_MONO + 5_000, synced=True)).status_code == 200
    assert _shifts(api, world) == [("paid", None, 120, 20, T0 - 10_000, T0 + 2 * HOUR - 10_000)]
    assert len(_clock_refs(api)) == 1  # the synced boot needed none
    _audit(data_dir, tmp_path)


def test_without_a_sample_the_same_taps_go_to_review(api: Api, world: World) -> None:
    k = world.kiosk
    response = _send(
        api, k, [k.event(EventKind.CHECK_IN, world.card_id, ANCIENT, mono_ms=BOOT_MONO, synced=False)], None
    )
    assert response.json()["results"][0]["flags"] == ["clock_out_of_range"]
    k.reboot()
    _send(api, k, [k.event(EventKind.CHECK_OUT, world.card_id, T0 + 2 * HOUR, mono_ms=BOOT_MONO)], None)
    assert [s[:2] for s in _shifts(api, world)] == [("review", "clock_out_of_range")]
    assert _clock_refs(api) == []


def test_stale_clocks_in_two_boots_each_with_a_reference_pay_the_true_length(
    api: Api, world: World, data_dir: tuple[Path, InitResult], tmp_path: Path
) -> None:
    k = world.kiosk
    stale = T0 - 30 * 24 * HOUR  # fake-hwclock saved a month ago; NTP never comes
    check_in = k.event(EventKind.CHECK_IN, world.card_id, stale, mono_ms=BOOT_MONO, synced=False)
    _send(api, k, [check_in], _sample(k, BOOT_MONO + MINUTE))
    k.reboot()
    api.clock.now = T0 + 3 * HOUR
    # The stale clock starts again from the same saved time: its wall length (0) says nothing.
    check_out = k.event(EventKind.CHECK_OUT, world.card_id, stale, mono_ms=BOOT_MONO, synced=False)
    _send(api, k, [check_out], _sample(k, BOOT_MONO + 2 * MINUTE))
    assert _shifts(api, world) == [("paid", None, 179, 29, T0 - MINUTE, T0 + 3 * HOUR - 2 * MINUTE)]
    assert len(_clock_refs(api)) == 2
    _audit(data_dir, tmp_path)


def test_a_corrected_check_in_keeps_its_time_and_trust_when_paired_from_storage(
    api: Api, world: World
) -> None:
    k = world.kiosk
    _send(
        api,
        k,
        [k.event(EventKind.CHECK_IN, world.card_id, ANCIENT, mono_ms=BOOT_MONO, synced=False)],
        _sample(k, BOOT_MONO),
    )
    # Another kiosk of the site, synced, takes the check-out (the volunteer left by the other door).
    other = api.enrol_kiosk(world.site["site_id"])
    api.clock.now = T0 + HOUR
    response = api.send(other.kiosk_id, [other.event(EventKind.CHECK_OUT, world.card_id, T0 + HOUR)])
    assert response.status_code == 200, response.text
    assert _shifts(api, world) == [("paid", None, 60, 10, T0, T0 + HOUR)]


def test_no_reference_is_logged_when_no_event_needs_one(api: Api, world: World) -> None:
    k = world.kiosk
    synced = k.event(EventKind.CHECK_IN, world.card_id, T0 - MINUTE, mono_ms=BOOT_MONO)
    _send(api, k, [synced], _sample(k, BOOT_MONO + MINUTE))
    old_boot = k.event(EventKind.CHECK_OUT, world.card_id, ANCIENT, mono_ms=BOOT_MONO + HOUR, synced=False)
    k.boot = str(uuid.uuid4())  # the sample comes from a later boot than the unsynced event
    response = _send(api, k, [old_boot], _sample(k, BOOT_MONO))
    assert response.json()["results"][0]["flags"] == ["clock_out_of_range"]
    assert _clock_refs(api) == []


def test_a_sample_older_than_the_events_it_would_correct_is_not_taken(api: Api, world: World) -> None:
    k = world.kiosk
    event = k.event(EventKind.CHECK_IN, world.card_id, ANCIENT, mono_ms=BOOT_MONO + HOUR, synced=False)
    response = _send(api, k, [event], _sample(k, BOOT_MONO))
    assert response.json()["results"][0]["flags"] == ["clock_out_of_range"]
    assert _clock_refs(api) == []


def test_one_reference_per_boot_until_the_refresh_interval(api: Api, world: World) -> None:
    k = world.kiosk
    mono = BOOT_MONO
    for step in range(3):  # three batches, an hour apart: the first reference serves them all
        event = k.event(EventKind.CHECK_IN, world.card_id, ANCIENT, mono_ms=mono, synced=False)
        response = _send(api, k, [event], _sample(k, mono + 1_000))
        assert response.json()["results"][0]["flags"] == [], step
        mono += HOUR
        api.clock.now += HOUR
    assert len(_clock_refs(api)) == 1
    mono = BOOT_MONO + REFRESH_MS
    api.clock.now = T0 + REFRESH_MS
    event = k.event(EventKind.CHECK_IN, world.card_id, ANCIENT, mono_ms=mono, synced=False)
    _send(api, k, [event], _sample(k, mono + 1_000))
    assert [r["mono_ms"] for r in _clock_refs(api)] == [BOOT_MONO + 1_000, mono + 1_000]


@pytest.mark.parametrize(
    ("make_clock", "status", "code"),
    [
        (lambda k: _sample(k, BOOT_MONO, key=PrivateKey.generate()), 400, "bad_signature"),
        (lambda k: _sample(k, BOOT_MONO, kiosk="k_" + "0" * 32), 400, "kiosk_mismatch"),
        (lambda k: {"body": "AA=="}, 400, "bad_field"),
        (lambda k: {**_sample(k, BOOT_MONO), "sig": "!!"}, 400, "bad_encoding"),
    ],
    ids=["other_key", "other_kiosk", "no_sig", "garbled_sig"],
)
def test_a_bad_sample_refuses_the_batch_and_stores_nothing(
    api: Api, world: World, make_clock: Any, status: int, code: str
) -> None:
    k = world.kiosk
    before = api.snapshot()
    event = k.event(EventKind.CHECK_IN, world.card_id, ANCIENT, mono_ms=BOOT_MONO, synced=False)
    error = assert_error(_send(api, k, [event], make_clock(k)), status, code)
    assert error["field"] == "clock"
    assert api.snapshot() == before
    assert _clock_refs(api) == []


def test_an_offline_redemption_on_a_1970_till_is_dated_by_the_reference_and_voids_in_its_window(
    api: Api, data_dir: tuple[Path, InitResult], tmp_path: Path
) -> None:
    """Shops settle by date: a sale at a till that lost its clock belongs to the day it happened."""
    w = ShopWorld(api, max_amount=30, void_window_s=600)
    ada = w.holder(tokens=20)
    till = w.till
    rid = ids.new_id(ids.REDEMPTION)
    data = {"amount": 5, "id": rid, "online": False}
    sale = till.event(EventKind.REDEEM, ada.card_id, ANCIENT, data=data, mono_ms=BOOT_MONO, synced=False)
    # A void 20 minutes later by the monotonic clock: outside the 10-minute window.
    late = till.event(
        EventKind.VOID,
        ada.card_id,
        ANCIENT + 20 * MINUTE,
        data={"id": rid},
        mono_ms=BOOT_MONO + 20 * MINUTE,
        synced=False,
    )
    api.clock.now = T0 + HOUR
    response = _send(api, till, [sale, late], _sample(till, BOOT_MONO + HOUR))
    assert response.status_code == 200, response.text
    assert [r["flags"] for r in response.json()["results"]] == [[], ["void_too_late"]]
    record = w.record(rid)
    assert (record.status, record.wall_ms) == (RedemptionStatus.DEBITED, T0)  # an hour before the sync
    assert w.balance(ada) == 15
    _audit(data_dir, tmp_path)
