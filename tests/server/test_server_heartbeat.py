"""Kiosk heartbeats at the real server: signed, stored at most once per 10 s, the clock offset
measured, silent kiosks listed by the server's (fake) clock."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from server_helpers import MINUTE, T0, Api, FakeKiosk, World, assert_error

from protocol import PrivateKey, Reason, b64encode
from protocol.heartbeat import Heartbeat, parse_heartbeat, sign_heartbeat
from server.models import KioskStatus

BOOT = "00000000-0000-4000-8000-00000000000b"


def beat(sender: FakeKiosk, sent_ms: int, **changes: Any) -> Heartbeat:
    fields: dict[str, Any] = {
        "kiosk": sender.kiosk_id,
        "sent_ms": sent_ms,
        "boot": BOOT,
        "mono_ms": 5_000,
        "synced": True,
        "version": "0.1.0",
        "pending": 3,
        "reader": "ok",
        "last_seq": 7,
    }
    fields.update(changes)
    return Heartbeat(**fields)


def post(api: Api, kiosk_id: str, wire: object) -> httpx.Response:
    return api.http.post(f"/v1/kiosks/{kiosk_id}/heartbeat", json=wire)


def kiosks(api: Api, query: str = "") -> list[dict[str, Any]]:
    return list(api.admin("GET", f"/v1/admin/kiosks{query}", expect=200).json()["kiosks"])


def test_a_signed_heartbeat_is_stored_with_the_offset_the_server_measured(api: Api, world: World) -> None:
    kiosk = world.kiosk
    response = post(api, kiosk.kiosk_id, sign_heartbeat(beat(kiosk, T0 - 2_500), kiosk.key))
    assert response.status_code == 200, response.text
    assert response.json() == {"offset_ms": 2_500, "server_ms": T0, "stored": True}
    [listed] = kiosks(api)
    assert {
        k: listed[k] for k in ("last_heartbeat_ms", "version", "pending", "reader", "clock_offset_ms")
    } == {
        "last_heartbeat_ms": T0,
        "version": "0.1.0",
        "pending": 3,
        "reader": "ok",
        "clock_offset_ms": 2_500,
    }
    assert listed["silent"] is False and listed["clock_synced"] is True
    # A kiosk clock ahead of the server's gives a negative offset.
    api.clock.now += MINUTE
    answer = post(api, kiosk.kiosk_id, sign_heartbeat(beat(kiosk, T0 + 2 * MINUTE, mono_ms=9_000), kiosk.key))
    assert answer.json()["offset_ms"] == -MINUTE
    assert kiosks(api)[0]["clock_offset_ms"] == -MINUTE


def test_health_stays_out_of_the_transparency_log(api: Api, world: World) -> None:
    before = api.http.get("/checkpoint").text
    assert (
        post(api, world.kiosk.kiosk_id, sign_heartbeat(beat(world.kiosk, T0), world.kiosk.key)).status_code
        == 200
    )
    assert api.http.get("/checkpoint").text == before


def test_a_forged_or_unsigned_heartbeat_is_refused_and_changes_nothing(api: Api, world: World) -> None:
    kiosk = world.kiosk
    forged = sign_heartbeat(beat(kiosk, T0), PrivateKey.generate())  # someone else's key
    assert_error(post(api, kiosk.kiosk_id, forged), 400, Reason.BAD_SIGNATURE)
    genuine = sign_heartbeat(beat(kiosk, T0), kiosk.key)
    changed = beat(kiosk, T0, reader="missing").to_bytes()  # the body altered after signing
    assert_error(
        post(api, kiosk.kiosk_id, {"body": b64encode(changed), "sig": genuine["sig"]}), 400, "bad_signature"
    )
    assert_error(post(api, kiosk.kiosk_id, {"body": genuine["body"]}), 400, Reason.BAD_FIELD)
    assert_error(post(api, kiosk.kiosk_id, json.loads(beat(kiosk, T0).to_bytes())), 400, Reason.BAD_FIELD)
    assert_error(
        api.http.post(f"/v1/kiosks/{kiosk.kiosk_id}/heartbeat", content=b"{"), 400, "malformed_request"
    )
    assert kiosks(api)[0]["last_heartbeat_ms"] is None


def test_a_heartbeat_for_another_kiosk_is_refused(api: Api, world: World) -> None:
    other = api.enrol_kiosk(world.site["site_id"])
    # Signed by the right key (the path's kiosk), but naming the other kiosk: not replayable across kiosks.
    wire = sign_heartbeat(beat(world.kiosk, T0, kiosk=other.kiosk_id), world.kiosk.key)
    assert_error(post(api, world.kiosk.kiosk_id, wire), 400, Reason.KIOSK_MISMATCH)


def test_unknown_and_revoked_kiosks_are_refused_a_suspended_one_is_heard(api: Api, world: World) -> None:
    kiosk = world.kiosk
    unknown = "k_" + "0" * 32
    assert_error(
        post(api, unknown, sign_heartbeat(beat(kiosk, T0, kiosk=unknown), kiosk.key)), 404, "unknown_kiosk"
    )
    with api.context.storage.write() as tx:  # as equivocation would (tested in test_server_ingest)
        tx.set_kiosk_status(kiosk.kiosk_id, KioskStatus.SUSPENDED)
    assert post(api, kiosk.kiosk_id, sign_heartbeat(beat(kiosk, T0), kiosk.key)).status_code == 200
    api.admin("POST", f"/v1/admin/kiosks/{kiosk.kiosk_id}/revoke", expect=200)
    api.clock.now += MINUTE
    refused = post(api, kiosk.kiosk_id, sign_heartbeat(beat(kiosk, T0 + MINUTE, mono_ms=70_000), kiosk.key))
    assert_error(refused, 403, Reason.KIOSK_REVOKED)
    assert kiosks(api)[0]["last_heartbeat_ms"] == T0


def test_heartbeats_closer_than_ten_seconds_are_answered_but_not_stored(api: Api, world: World) -> None:
    kiosk = world.kiosk
    assert post(api, kiosk.kiosk_id, sign_heartbeat(beat(kiosk, T0, pending=1), kiosk.key)).json()["stored"]
    api.clock.now += 9_999
    early = post(
        api, kiosk.kiosk_id, sign_heartbeat(beat(kiosk, T0 + 9_999, pending=2, mono_ms=15_000), kiosk.key)
    )
    assert early.status_code == 200 and early.json() == {
        "offset_ms": 0,
        "server_ms": T0 + 9_999,
        "stored": False,
    }
    assert (kiosks(api)[0]["pending"], kiosks(api)[0]["last_heartbeat_ms"]) == (1, T0)
    api.clock.now += 1
    later = post(
        api, kiosk.kiosk_id, sign_heartbeat(beat(kiosk, T0 + 10_000, pending=2, mono_ms=15_001), kiosk.key)
    )
    assert later.json()["stored"] is True
    assert (kiosks(api)[0]["pending"], kiosks(api)[0]["last_heartbeat_ms"]) == (2, T0 + 10_000)


def test_a_replayed_older_heartbeat_of_the_same_boot_is_not_stored(api: Api, world: World) -> None:
    kiosk = world.kiosk
    old = sign_heartbeat(beat(kiosk, T0, pending=9, mono_ms=1_000), kiosk.key)
    new = sign_heartbeat(beat(kiosk, T0, pending=0, mono_ms=2_000), kiosk.key)
    assert post(api, kiosk.kiosk_id, new).json()["stored"] is True
    api.clock.now += MINUTE
    assert post(api, kiosk.kiosk_id, old).json()["stored"] is False
    assert kiosks(api)[0]["pending"] == 0
    # After a reboot (another boot ID) the monotonic clock starts again; that is news, not a replay.
    api.clock.now += MINUTE
    rebooted = sign_heartbeat(
        beat(kiosk, T0, boot="00000000-0000-4000-8000-0000000000cc", mono_ms=10), kiosk.key
    )
    assert post(api, kiosk.kiosk_id, rebooted).json()["stored"] is True


def test_silent_kiosks_are_listed_by_the_server_clock(api: Api) -> None:
    site_id, card_id = api.create_site()["site_id"], api.create_card()["card_id"]
    quiet = api.enrol_kiosk(site_id, enrolled_ms=T0)  # never heard from again
    talking = api.enrol_kiosk(site_id, enrolled_ms=T0)
    revoked = api.enrol_kiosk(site_id, enrolled_ms=T0)
    api.admin("POST", f"/v1/admin/kiosks/{revoked.kiosk_id}/revoke", expect=200)

    api.clock.now = T0 + 14 * MINUTE
    post(api, talking.kiosk_id, sign_heartbeat(beat(talking, api.clock.now), talking.key))
    assert [k["silent"] for k in kiosks(api)] == [False, False, False]

    api.clock.now = T0 + 15 * MINUTE + 1  # 900 s and a bit after the quiet kiosk's enrolment
    listed = {k["kiosk_id"]: k for k in kiosks(api)}
    assert (listed[quiet.kiosk_id]["silent"], listed[talking.kiosk_id]["silent"]) == (True, False)
    assert listed[revoked.kiosk_id]["silent"] is False  # expected to be quiet
    assert listed[quiet.kiosk_id]["last_seen_ms"] == listed[quiet.kiosk_id]["enrolled_ms"]
    # A batch counts as being heard from: the quiet kiosk syncs a tap.
    response = api.send(quiet.kiosk_id, [quiet.event("check_in", card_id, api.clock.now)])
    assert response.status_code == 200, response.text
    listed = {k["kiosk_id"]: k for k in kiosks(api)}
    assert listed[quiet.kiosk_id]["silent"] is False
    assert listed[quiet.kiosk_id]["last_sync_ms"] == api.clock.now

    api.clock.now += 30 * MINUTE
    assert [k["silent"] for k in kiosks(api)] == [True, True, False]
    assert [k["silent"] for k in kiosks(api, "?silent_after_s=3600")] == [False, False, False]
    answer = api.admin("GET", "/v1/admin/kiosks?silent_after_s=3600", expect=200).json()
    assert answer["silent_after_s"] == 3600


@pytest.mark.parametrize("value", ["0", "-5", "ten", "1.5", str(400 * 86_400)])
def test_a_bad_silent_after_is_refused(api: Api, value: str) -> None:
    assert_error(api.admin("GET", f"/v1/admin/kiosks?silent_after_s={value}"), 400, Reason.BAD_FIELD)


def test_the_heartbeat_body_is_strict() -> None:
    kiosk = FakeKiosk(key=PrivateKey.generate(), kiosk_id="k_" + "1" * 32)
    good = beat(kiosk, T0)
    assert parse_heartbeat(good.to_bytes()) == good
    for changes, reason in (
        ({"reader": "flaky"}, Reason.BAD_FIELD),
        ({"pending": -1}, Reason.BAD_FIELD),
        ({"synced": 1}, Reason.BAD_FIELD),
        ({"version": "1.0 beta"}, Reason.BAD_FIELD),
        ({"boot": "not-a-uuid"}, Reason.BAD_FIELD),
        ({"kiosk": "s_" + "1" * 32}, Reason.BAD_FIELD),
    ):
        obj = {**good.to_json(), **changes}
        data = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
        with pytest.raises(ValueError) as caught:
            parse_heartbeat(data)
        assert caught.value.reason is reason, changes  # type: ignore[attr-defined]
    for obj, reason in (
        ({**good.to_json(), "extra": 1}, Reason.UNKNOWN_FIELD),
        ({k: v for k, v in good.to_json().items() if k != "pending"}, Reason.MISSING_FIELD),
        ({**good.to_json(), "type": "kokreativ.event"}, Reason.UNKNOWN_TYPE),
        ({**good.to_json(), "v": 2}, Reason.UNKNOWN_VERSION),
    ):
        data = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
        with pytest.raises(ValueError) as caught:
            parse_heartbeat(data)
        assert caught.value.reason is reason  # type: ignore[attr-defined]
