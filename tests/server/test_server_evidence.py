"""Kiosks' log evidence on the server: only the enrolled kiosk's signed reports are kept, once each, and
no more than its quota; whatever is refused stores nothing."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from protocol import PrivateKey, Reason
from protocol.evidence import EvidenceReport, parse_evidence, sign_evidence
from server import quotas
from server.models import KioskStatus
from tests.server.server_helpers import T0, Api, FakeKiosk, World, assert_error


def report(kiosk: FakeKiosk, number: int = 1, **changes: Any) -> EvidenceReport:
    base = EvidenceReport(
        kiosk=kiosk.kiosk_id,
        number=number,
        kind="log_inconsistent",
        old_checkpoint="a\n1\nAA==\n\n— a AAAA\n",
        new_checkpoint="a\n2\nAA==\n\n— a AAAA\n",
        consistency=("AAAA",),
        detail="consistency proof does not match the roots",
        detected_ms=T0 - 5,
    )
    return dataclasses.replace(base, **changes)


def post(api: Api, kiosk_id: str, wire: object) -> Any:
    return api.post_raw(f"/v1/kiosks/{kiosk_id}/evidence", json.dumps(wire).encode())


def held(api: Api, kiosk_id: str) -> list[tuple[str, bytes, int]]:
    with api.context.storage.read() as tx:
        return tx.list_log_evidence(kiosk_id)


def test_a_signed_report_is_kept_with_its_bytes_and_signature(api: Api, world: World) -> None:
    kiosk = world.kiosk
    wire = sign_evidence(report(kiosk), kiosk.key)
    response = post(api, kiosk.kiosk_id, wire)
    assert response.status_code == 202 and response.json() == {"stored": True, "number": 1}
    [(kind, body, received_ms)] = held(api, kiosk.kiosk_id)
    assert (kind, parse_evidence(body), received_ms) == ("log_inconsistent", report(kiosk), T0)
    with api.context.storage.read() as tx:
        (sig,) = tx._conn.execute("SELECT sig FROM log_evidence").fetchone()
    kiosk.key.public_key.verify(body, bytes(sig))  # anyone can check later that the kiosk made it


def test_unsigned_forged_and_misaddressed_reports_store_nothing(api: Api, world: World) -> None:
    kiosk = world.kiosk
    other = api.enrol_kiosk(world.site["site_id"])
    good = report(kiosk)
    refusals = [
        (good.to_json(), 400, Reason.BAD_FIELD),  # unsigned: what kiosks sent before
        ({"kind": "log_inconsistent", "detail": "x"}, 400, Reason.BAD_FIELD),  # the old format
        (sign_evidence(good, PrivateKey.generate()), 400, Reason.BAD_SIGNATURE),  # forged
        (sign_evidence(report(other), other.key), 400, Reason.BAD_SIGNATURE),  # another kiosk's, sent here
        (sign_evidence(good, other.key), 400, Reason.BAD_SIGNATURE),  # a kiosk signing in another's name
        (sign_evidence(dataclasses.replace(good, kiosk=other.kiosk_id), kiosk.key), 400, "kiosk_mismatch"),
        ({"body": sign_evidence(good, kiosk.key)["body"], "sig": "AAAA"}, 400, Reason.BAD_FIELD),
    ]
    for wire, status, code in refusals:
        assert_error(post(api, kiosk.kiosk_id, wire), status, code)
    assert_error(api.post_raw(f"/v1/kiosks/{kiosk.kiosk_id}/evidence", b"not json"), 400, "malformed_request")
    too_big = json.dumps({"body": "A" * 70_000, "sig": ""}).encode()
    assert_error(api.post_raw(f"/v1/kiosks/{kiosk.kiosk_id}/evidence", too_big), 413, Reason.BODY_TOO_LARGE)
    assert held(api, kiosk.kiosk_id) == [] and held(api, other.kiosk_id) == []


def test_a_replayed_report_is_refused_as_a_duplicate_and_stores_nothing(api: Api, world: World) -> None:
    kiosk = world.kiosk
    first = sign_evidence(report(kiosk, 2), kiosk.key)
    assert post(api, kiosk.kiosk_id, first).status_code == 202
    stored = held(api, kiosk.kiosk_id)
    # The same bytes again (a replay, or the kiosk's retry after a lost answer), and an older number.
    error = assert_error(post(api, kiosk.kiosk_id, first), 409, Reason.DUPLICATE)
    assert error["number"] == 2
    assert_error(post(api, kiosk.kiosk_id, sign_evidence(report(kiosk, 1), kiosk.key)), 409, Reason.DUPLICATE)
    assert held(api, kiosk.kiosk_id) == stored
    assert post(api, kiosk.kiosk_id, sign_evidence(report(kiosk, 3), kiosk.key)).status_code == 202


def test_revoked_and_unknown_kiosks_are_refused_a_suspended_one_may_report(api: Api, world: World) -> None:
    kiosk = world.kiosk
    wire = sign_evidence(report(kiosk), kiosk.key)
    assert_error(post(api, "k_" + "0" * 32, wire), 404, Reason.UNKNOWN_KIOSK)
    with api.context.storage.write() as tx:
        tx.set_kiosk_status(kiosk.kiosk_id, KioskStatus.SUSPENDED)
    assert post(api, kiosk.kiosk_id, wire).status_code == 202
    api.admin("POST", f"/v1/admin/kiosks/{kiosk.kiosk_id}/revoke", expect=200)
    assert_error(post(api, kiosk.kiosk_id, sign_evidence(report(kiosk, 2), kiosk.key)), 403, "kiosk_revoked")
    assert len(held(api, kiosk.kiosk_id)) == 1


def test_a_kiosk_over_its_quota_is_refused_and_others_still_report(api: Api, world: World) -> None:
    kiosk = world.kiosk
    limit = quotas.EVIDENCE_PER_KIOSK
    for number in range(1, limit + 1):
        assert post(api, kiosk.kiosk_id, sign_evidence(report(kiosk, number), kiosk.key)).status_code == 202
    stored = held(api, kiosk.kiosk_id)
    over = sign_evidence(report(kiosk, limit + 1), kiosk.key)
    error = assert_error(post(api, kiosk.kiosk_id, over), 429, Reason.QUOTA_EXCEEDED)
    assert error["limit"] == limit
    assert held(api, kiosk.kiosk_id) == stored  # the first reports are kept, nothing more
    # A retry of one it holds is still acknowledged as such, so the kiosk stops sending it.
    assert_error(post(api, kiosk.kiosk_id, sign_evidence(report(kiosk, 1), kiosk.key)), 409, "duplicate")
    other = api.enrol_kiosk(world.site["site_id"])
    assert post(api, other.kiosk_id, sign_evidence(report(other), other.key)).status_code == 202
