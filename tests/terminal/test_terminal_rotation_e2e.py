"""A server key rotation end to end: ``kokreativ server rotate-key`` on a real server, a real kiosk follows.

The kiosk was enrolled under the old key and never hears about the rotation
except through the server's own answers: after the restart its next sync meets
a receipt it cannot verify, follows the transition from the key it pinned, and
goes on.  Cards still work at the kiosk, and after ``--finish`` (checkpoints by
the new key only) it keeps syncing.  The public audit passes with both verifier keys.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kokreativ.cli import main
from protocol import PublicKey
from protocol.note import NoteVerifier
from provisioning.audit import AuditOptions, audit_ledger
from provisioning.audit.sources import HttpSource
from terminal.clock import SimulatedClock
from terminal.outbox import Outbox
from terminal.sync import SyncClient
from terminal.tap import Outcome
from tests.conftest import EnrolledKiosk, ServerProcess

START_MS = 1_764_400_000_000


def _rotate(server: ServerProcess, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, object]:
    """Stop the server, run ``kokreativ server rotate-key`` on its data folder, start it again."""
    server.stop()
    capsys.readouterr()
    assert main(["server", "rotate-key", "--data", str(server.data_dir), *extra]) == 0
    answer: dict[str, object] = json.loads(capsys.readouterr().out)
    server.start()
    return answer


def test_a_kiosk_enrolled_under_the_old_key_follows_a_rotation_and_keeps_working(
    enrolled_kiosk: EnrolledKiosk,
    server_process: ServerProcess,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    config = enrolled_kiosk.config
    old_key = config.server_public_key
    clock = SimulatedClock(START_MS)
    taps = enrolled_kiosk.taps()
    with Outbox(config.outbox_path) as outbox:
        kiosk = enrolled_kiosk.tap_kiosk(outbox, clock)
        assert kiosk.handle_tap(taps[0]).kind is Outcome.CHECK_IN
        with SyncClient(config, outbox) as client:
            assert client.sync_once().ok
        rotated = _rotate(server_process, capsys)
        new_key = PublicKey.from_b64(rotated["new_public_key"])
        assert rotated["old_public_key"] == old_key.to_b64()

        clock.advance(3600)
        assert kiosk.handle_tap(taps[0]).kind is Outcome.CHECK_OUT
        with SyncClient(config, outbox) as client:
            result = client.sync_once()  # meets the new key's receipt, follows, and retries at once
        assert result.ok and result.pending == 0, result
        assert outbox.server_key() == new_key
        # The tap path checks cards against the list the new key signed.
        clock.advance(60)
        assert kiosk.handle_tap(taps[1]).kind is Outcome.CHECK_IN

        assert _rotate(server_process, capsys, "--finish")["finished"] is True
        clock.advance(60)
        assert kiosk.handle_tap(taps[1]).kind is Outcome.CHECK_OUT
        with SyncClient(config, outbox) as client:
            after = client.sync_once()  # checkpoints now carry the new key's signature only
        assert after.ok and after.pending == 0, after
        assert outbox.server_key() == new_key

    verifiers = [
        NoteVerifier.parse(str(rotated["log_verifier_key"])),
        NoteVerifier.for_key(config.log_origin or "", old_key),
    ]
    report = audit_ledger(
        HttpSource(server_process.url), AuditOptions(verifiers, state_dir=tmp_path, workers=1)
    )
    assert report.ok, "\n".join(report.lines())
