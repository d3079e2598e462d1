"""Log evidence: the kiosk's signed report of a log inconsistency, bounded whatever the server sent."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import MalformedError, PrivateKey, Reason, VerificationError, b64decode, b64encode
from protocol.encoding import MAX_SAFE_INT
from protocol.evidence import (
    EVIDENCE_TYPE,
    MAX_CHECKPOINT_CHARS,
    MAX_CONSISTENCY_HASHES,
    MAX_DETAIL_CHARS,
    MAX_EVIDENCE_BYTES,
    MAX_HASH_CHARS,
    EvidenceReport,
    open_evidence,
    parse_evidence,
    sign_evidence,
)
from protocol.heartbeat import Heartbeat, sign_heartbeat

KIOSK_KEY = PrivateKey(bytes(range(32)))
OTHER_KEY = PrivateKey(bytes(range(100, 132)))
KIOSK = "k_559fa9c0eb2eb94da892084c943b1b27"
OTHER_KIOSK = "k_" + "1" * 32
NOTE = "ledger.example.org\n7\nsFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n\n— ledger.example.org abc=\n"
REPORT = EvidenceReport(
    kiosk=KIOSK,
    number=1,
    kind="log_inconsistent",
    old_checkpoint=NOTE,
    new_checkpoint=NOTE.replace("7", "5"),
    consistency=("sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=",),
    detail="checkpoint of size 5 does not extend the verified one of size 7: the log shrank",
    detected_ms=1764400000000,
)


def without(name: str) -> dict[str, Any]:
    return {k: v for k, v in REPORT.to_json().items() if k != name}


def raw(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def signed_wire(body: bytes, key: PrivateKey = KIOSK_KEY) -> dict[str, str]:
    """A wire report over arbitrary bytes, as a buggy or hostile kiosk could send."""
    return {"body": b64encode(body), "sig": b64encode(key.sign(body))}


def refused(wire: object, kiosk_id: str = KIOSK) -> Reason:
    with pytest.raises((MalformedError, VerificationError)) as info:
        open_evidence(wire, KIOSK_KEY.public_key, kiosk_id=kiosk_id)
    assert isinstance(info.value, MalformedError | VerificationError)
    return info.value.reason


def test_round_trip_keeps_the_signed_bytes() -> None:
    wire = sign_evidence(REPORT, KIOSK_KEY)
    opened = open_evidence(wire, KIOSK_KEY.public_key, kiosk_id=KIOSK)
    assert opened.report == REPORT
    assert opened.body == REPORT.to_bytes() == b64decode(wire["body"], field="body")
    KIOSK_KEY.public_key.verify(opened.body, opened.sig)


texts = st.text(max_size=300)


@given(
    number=st.integers(1, MAX_SAFE_INT),
    detected_ms=st.integers(0, MAX_SAFE_INT),
    old=texts,
    new=texts,
    consistency=st.lists(st.text(max_size=80), max_size=150),
    detail=st.text(max_size=1500),
)
def test_any_evidence_clips_to_a_report_that_round_trips(
    number: int, detected_ms: int, old: str, new: str, consistency: list[str], detail: str
) -> None:
    report = EvidenceReport.clipped(
        kiosk=KIOSK,
        number=number,
        kind="log_inconsistent",
        old_checkpoint=old,
        new_checkpoint=new,
        consistency=consistency,
        detail=detail,
        detected_ms=detected_ms,
    )
    wire = json.loads(json.dumps(sign_evidence(report, KIOSK_KEY)))
    assert open_evidence(wire, KIOSK_KEY.public_key, kiosk_id=KIOSK).report == report
    # Clipping only cuts, and says so exactly when it did.
    kept = (report.old_checkpoint, report.new_checkpoint, report.detail, list(report.consistency))
    assert report.truncated == (kept != (old, new, detail, consistency))
    assert old.startswith(report.old_checkpoint) and detail.startswith(report.detail)


def test_the_largest_report_fits_the_byte_limit() -> None:
    # Every character of a control string is escaped to six, so this is the worst case of each limit.
    worst = "\x01" * (MAX_CHECKPOINT_CHARS * 2)
    report = EvidenceReport.clipped(
        kiosk=KIOSK,
        number=MAX_SAFE_INT,
        kind="log_inconsistent",
        old_checkpoint=worst,
        new_checkpoint=worst,
        consistency=["\x01" * MAX_HASH_CHARS] * (MAX_CONSISTENCY_HASHES + 5),
        detail="\U0001f600" * MAX_DETAIL_CHARS,
        detected_ms=MAX_SAFE_INT,
    )
    assert report.truncated and len(report.consistency) == MAX_CONSISTENCY_HASHES
    body = report.to_bytes()
    assert len(body) <= MAX_EVIDENCE_BYTES
    # The wire form fits the server's limit for small bodies (64 KiB) with room to spare.
    assert len(json.dumps(sign_evidence(report, KIOSK_KEY))) < 64 * 1024
    assert parse_evidence(body) == report


def test_a_heartbeat_signed_by_the_kiosk_is_no_evidence() -> None:
    beat = Heartbeat(
        kiosk=KIOSK,
        sent_ms=1,
        boot="5f0c0000-0000-4000-8000-000000000001",
        mono_ms=1,
        synced=True,
        version="0.1.0",
        pending=0,
        reader="ok",
        last_seq=0,
    )
    assert refused(sign_heartbeat(beat, KIOSK_KEY)) is Reason.UNKNOWN_TYPE


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        (sign_evidence(REPORT, OTHER_KEY), Reason.BAD_SIGNATURE),
        ({"body": sign_evidence(REPORT, KIOSK_KEY)["body"], "sig": ""}, Reason.BAD_FIELD),
        (REPORT.to_json(), Reason.BAD_FIELD),  # unsigned: the bare report
        ({"body": "not base64!", "sig": b64encode(bytes(64))}, Reason.BAD_ENCODING),
        (signed_wire(b'{"type": "kokreativ.evidence"}'), Reason.NOT_CANONICAL),
        (signed_wire(raw({**REPORT.to_json(), "extra": 1})), Reason.UNKNOWN_FIELD),
        (
            signed_wire(raw({k: v for k, v in REPORT.to_json().items() if k != "number"})),
            Reason.MISSING_FIELD,
        ),
        (signed_wire(raw({**REPORT.to_json(), "v": 2})), Reason.UNKNOWN_VERSION),
        (signed_wire(raw({**REPORT.to_json(), "type": "kokreativ.heartbeat"})), Reason.UNKNOWN_TYPE),
        (signed_wire(raw({**REPORT.to_json(), "number": 0})), Reason.BAD_FIELD),
        (signed_wire(raw({**REPORT.to_json(), "number": True})), Reason.BAD_FIELD),
        (signed_wire(raw({**REPORT.to_json(), "kind": "anything"})), Reason.BAD_FIELD),
        (signed_wire(raw({**REPORT.to_json(), "kind": {}})), Reason.BAD_FIELD),
        (signed_wire(raw({**REPORT.to_json(), "truncated": 0})), Reason.BAD_FIELD),
        (signed_wire(raw({**REPORT.to_json(), "detail": "x" * MAX_DETAIL_CHARS})), Reason.BAD_FIELD),
        (signed_wire(raw({**REPORT.to_json(), "consistency": [1]})), Reason.BAD_FIELD),
        (signed_wire(raw({**REPORT.to_json(), "consistency": ["A"] * 129})), Reason.BAD_FIELD),
        (signed_wire(raw({**REPORT.to_json(), "old_checkpoint": "x" * 40_000})), Reason.TOO_LARGE),
        (sign_evidence(dataclasses.replace(REPORT, kiosk=OTHER_KIOSK), KIOSK_KEY), Reason.KIOSK_MISMATCH),
    ],
)
def test_refused(wire: object, reason: Reason) -> None:
    assert refused(wire) is reason


def test_the_type_separates_the_domain() -> None:
    assert REPORT.to_json()["type"] == EVIDENCE_TYPE == "kokreativ.evidence"
