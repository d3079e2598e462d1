"""The bench's ceilings measure what they say: every core's verifications and a tap's floor."""

from __future__ import annotations

import os
from pathlib import Path

from bench.__main__ import BareCommit, TapFloor, _signed_day
from bench.ceilings import verify_all_cores
from protocol import PrivateKey, ids


def test_the_all_cores_ceiling_runs_a_process_per_core_and_counts_real_verifications() -> None:
    key = PrivateKey.generate()
    events = _signed_day(key, ids.new_id(ids.KIOSK), [ids.new_id(ids.CARD)], 20)
    assert verify_all_cores(events, key.public_key.raw, seconds=0.2) > 0
    forged = [type(e)(body=e.body, signature=bytes(64), event=e.event) for e in events]
    try:
        verify_all_cores(forged, key.public_key.raw, seconds=0.2)
    except Exception as exc:  # a process that verified nothing real fails the figure, loudly
        assert "Signature" in type(exc).__name__ or "signature" in str(exc).lower()
    else:
        raise AssertionError("bad signatures were counted as verifications")
    assert (os.cpu_count() or 1) >= 1


def test_the_tap_floor_holds_a_credential_check_a_signature_and_a_durable_commit(tmp_path: Path) -> None:
    floor = TapFloor(BareCommit(tmp_path))
    try:
        whole, commit = floor.timed()
        assert whole > commit > 0
    finally:
        floor.commit.close()
