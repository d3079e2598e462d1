"""Planned rotation of the server key (``server.keyrotation``): the two steps, crashes between, the audit.

Kiosks pinned the old key; what they need is a transition signed by both keys
(``GET /v1/server-keys``), new documents signed by the new key, and checkpoints
they can still verify until the operator finishes the rotation.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kokreativ.cli import main
from protocol import (
    EventKind,
    PrivateKey,
    PublicKey,
    Reason,
    encode_batch,
    verify_receipt,
)
from protocol.checkpoint import verify_checkpoint
from protocol.errors import VerificationError
from protocol.note import NoteVerifier
from protocol.serverkeys import follow_transitions, sign_transition
from server import admin, cards, ingest, keyrotation, logviews, tlog
from server.datadir import SERVER_KEY, InitResult, open_data_dir, rotate_key
from server.errors import DataDirError
from tests.audit_helpers import audit_data_folder
from tests.server.server_helpers import T0, FakeClock, FakeKiosk, enrol_fake_kiosk


def _enrolled(folder: Path) -> tuple[FakeKiosk, str]:
    """A site, a kiosk and a card in the data folder, through the services (as the API would)."""
    with open_data_dir(folder, now_ms=FakeClock(T0)) as ctx:
        site = admin.create_site(ctx, {"name": "Hall", "tokens_per_hour": 10})
        kiosk = enrol_fake_kiosk(ctx, site["site_id"])
        card_id = cards.create_card(ctx, {"name": "Ada", "site_id": site["site_id"]})["card_id"]
    return kiosk, card_id


def _sync(folder: Path, kiosk: FakeKiosk, card_id: str, kind: EventKind, wall_ms: int) -> dict[str, object]:
    with open_data_dir(folder, now_ms=FakeClock(wall_ms)) as ctx:
        return ingest.ingest_batch(ctx, kiosk.kiosk_id, encode_batch([kiosk.event(kind, card_id, wall_ms)]))


def _checkpoint(folder: Path) -> bytes:
    with open_data_dir(folder) as ctx, ctx.storage.read() as tx:
        return tlog.latest_checkpoint(tx)[1]


def _verifier(init: InitResult, key: PublicKey) -> NoteVerifier:
    return NoteVerifier.for_key(init.log_origin, key)


def _audit(folder: Path, tmp_path: Path, *verifiers: NoteVerifier) -> list[str]:
    report = audit_data_folder(folder, verifiers, tmp_path)
    return [] if report.ok else report.lines()


def test_step_one_moves_signing_to_a_new_key_that_kiosks_can_follow(
    data_dir: tuple[Path, InitResult], tmp_path: Path
) -> None:
    folder, init = data_dir
    old = init.server_public_key
    kiosk, card_id = _enrolled(folder)
    _sync(folder, kiosk, card_id, EventKind.CHECK_IN, T0)

    done = rotate_key(folder, now_ms=T0 + 1000)
    assert done.old_public_key == old and done.new_public_key != old
    assert PrivateKey((folder / SERVER_KEY).read_bytes()).public_key == done.new_public_key
    assert (folder / keyrotation.PREVIOUS_KEY).exists() and not (folder / keyrotation.NEXT_KEY).exists()
    assert done.log_verifier_key == tlog.verifier_key(init.log_origin, done.new_public_key)

    with open_data_dir(folder) as ctx:
        wires = logviews.server_keys(ctx)["transitions"]
    assert follow_transitions(wires, old) == done.new_public_key  # what a kiosk that pinned the old key does

    # Receipts now come from the new key: a kiosk still on the old one cannot verify them (and follows).
    answer = _sync(folder, kiosk, card_id, EventKind.CHECK_OUT, T0 + 3_600_000)
    verify_receipt(answer["receipt"], done.new_public_key, kiosk_id=kiosk.kiosk_id)
    with pytest.raises(VerificationError):
        verify_receipt(answer["receipt"], old, kiosk_id=kiosk.kiosk_id)
    # Checkpoints carry both signatures until step 2: old verifiers still work.
    note = _checkpoint(folder)
    for key in (old, done.new_public_key):
        verify_checkpoint(note, [_verifier(init, key)])
    # The audit with the published (old) key passes and checks the logged transition.
    assert _audit(folder, tmp_path, _verifier(init, old)) == []


def test_step_two_ends_the_old_keys_signatures(data_dir: tuple[Path, InitResult], tmp_path: Path) -> None:
    folder, init = data_dir
    kiosk, card_id = _enrolled(folder)
    done = rotate_key(folder, now_ms=T0)
    assert keyrotation.finish_rotation(folder) == init.server_public_key
    assert keyrotation.finish_rotation(folder) is None  # nothing left to finish
    _sync(folder, kiosk, card_id, EventKind.CHECK_IN, T0 + 1000)
    note = _checkpoint(folder)
    verify_checkpoint(note, [_verifier(init, done.new_public_key)])
    with pytest.raises(VerificationError) as info:
        verify_checkpoint(note, [_verifier(init, init.server_public_key)])
    assert info.value.reason is Reason.NOTE_UNVERIFIED
    # An auditor keeps the old verifier key for the checkpoints from before and adds the new one.
    both = (_verifier(init, init.server_public_key), _verifier(init, done.new_public_key))
    assert _audit(folder, tmp_path, *both) == []


def test_a_second_rotation_waits_for_the_first_to_finish(data_dir: tuple[Path, InitResult]) -> None:
    folder, _ = data_dir
    first = rotate_key(folder, now_ms=T0)
    with pytest.raises(DataDirError, match="finish the last rotation first"):
        rotate_key(folder, now_ms=T0 + 1)
    keyrotation.finish_rotation(folder)
    second = rotate_key(folder, now_ms=T0 + 2)
    assert second.old_public_key == first.new_public_key
    with open_data_dir(folder) as ctx:
        wires = logviews.server_keys(ctx)["transitions"]
    assert len(wires) == 2
    assert (
        follow_transitions(wires, first.old_public_key) == second.new_public_key
    )  # a kiosk that missed both
    assert follow_transitions(wires, first.new_public_key) == second.new_public_key


def test_a_crash_after_the_commit_is_completed_when_the_folder_opens(
    data_dir: tuple[Path, InitResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, init = data_dir

    def power_cut(_: Path) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(keyrotation, "_swap", power_cut)
    with pytest.raises(OSError, match="power cut"):
        rotate_key(folder, now_ms=T0)
    monkeypatch.undo()
    assert (folder / keyrotation.NEXT_KEY).exists()  # the transition is committed, the files not yet swapped
    with open_data_dir(folder) as ctx:
        new = logviews.server_keys(ctx)["transitions"]
        assert ctx.server_key.public_key == follow_transitions(new, init.server_public_key)
        assert [k.public_key for k in ctx.cosign_keys] == [init.server_public_key]
    assert not (folder / keyrotation.NEXT_KEY).exists()


def test_a_crash_before_the_commit_leaves_the_old_key(data_dir: tuple[Path, InitResult]) -> None:
    folder, init = data_dir
    (folder / keyrotation.NEXT_KEY).write_bytes(PrivateKey.generate().seed)  # written, never committed
    with open_data_dir(folder) as ctx:
        assert ctx.server_key.public_key == init.server_public_key
        assert ctx.cosign_keys == ()
        assert logviews.server_keys(ctx) == {"transitions": []}
    assert not (folder / keyrotation.NEXT_KEY).exists()


def test_the_audit_names_a_transition_the_old_key_did_not_sign(
    data_dir: tuple[Path, InitResult], tmp_path: Path
) -> None:
    folder, init = data_dir
    impostor = sign_transition(PrivateKey.generate(), PrivateKey.generate(), at_ms=T0)
    with open_data_dir(folder) as ctx, ctx.storage.write() as tx:
        entry = tlog.server_key_entry(impostor.body, bytes(64), impostor.sig_new)
        tlog.append(ctx, tx, [entry], now_ms=T0)
    problems = _audit(folder, tmp_path, _verifier(init, init.server_public_key))
    assert any("bad_signature" in line and "server key transition" in line for line in problems), problems


def test_the_cli_runs_both_steps_and_prints_json(
    data_dir: tuple[Path, InitResult], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, init = data_dir
    assert main(["server", "rotate-key", "--data", str(folder)]) == 0
    step_one = json.loads(capsys.readouterr().out)
    assert step_one["old_public_key"] == init.server_public_key.to_b64()
    assert step_one["log_verifier_key"].startswith(init.log_origin + "+")
    assert main(["server", "rotate-key", "--data", str(folder)]) == 2  # not before --finish
    capsys.readouterr()
    assert main(["server", "rotate-key", "--data", str(folder), "--finish"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "finished": True,
        "old_public_key": init.server_public_key.to_b64(),
    }
