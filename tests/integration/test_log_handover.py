"""A data folder from before issue 17 moves its log to a new origin, and a real kiosk follows.

The upgrade as it happens in the field: the old data folder is made and run by
the code of the commit before issue 17 (``git archive`` of it, run in
subprocesses), and a kiosk of that old code (:mod:`tests.integration.old_kiosk`)
enrols and syncs against it, so it pinned the old origin and a checkpoint of it,
and keeps a v1 event it signed but has not sent yet.  Then today's server starts
on that folder: the log moves to ``<old origin>/2`` with a signed hand-over.
Later the kiosk is updated: today's kiosk code opens the same configuration and
outbox (the outbox migrations run), follows the hand-over or, when the hand-over
is forged or does not fit its pinned checkpoint, stays at ``log_inconsistent``;
its v1 event is logged ``event_sealed``, its new taps are v2 events.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from hardware.indicator import RecordingIndicator
from kokreativ.localserver import free_port, start_server, stop_server
from protocol import PrivateKey, PublicKey, Reason
from protocol.checkpoint import verify_checkpoint
from protocol.events import EventKind, verify_event
from protocol.handover import Handover, sign_handover, verify_handover
from protocol.logentry import parse_entry
from protocol.note import NoteVerifier
from provisioning.client import ApiClient
from server.datadir import LEDGER
from server.keyfiles import read_secret
from server.keyrotation import SERVER_KEY
from terminal.clock import SimulatedClock
from terminal.config import KioskConfig, load_config
from terminal.keystore import load_key
from terminal.outbox import Outbox
from terminal.status import status_report
from terminal.sync import SyncClient
from terminal.tap import Kiosk, Outcome
from terminal.trust import TrustStore
from tests.cardfactory import TestIssuer

BEFORE_ISSUE_17 = "8bdeefb"  # main before issue 17: its log names cards (entry v1)
REPO = Path(__file__).resolve().parents[2]
UPDATE_MIGRATIONS = {"m010_event_openings", "m011_log_handover"}  # the outbox's since issue 17
UPDATED_BOOT = "00000000-0000-4000-8000-000000000017"  # the kiosk restarts with its new software


@pytest.fixture(scope="module")
def old_code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The source tree of the commit before issue 17, unpacked from git (no worktree is touched)."""
    target = tmp_path_factory.mktemp("before17")
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", BEFORE_ISSUE_17], capture_output=True, check=False
    )
    if archive.returncode != 0:
        pytest.skip(f"no git history with {BEFORE_ISSUE_17} here: {archive.stderr.decode()[:200]}")
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


@dataclass
class OldFolder:
    """A data folder made and served by the old code, and a kiosk of today synced against it."""

    data_dir: Path
    admin_token: str
    config: KioskConfig
    config_path: Path  # kiosk.toml, as the old code wrote it
    kiosk_ms: int  # the old kiosk's clock when it stopped: today's kiosk goes on from there
    issuer: TestIssuer
    cards: list[str]
    volunteers: list[str]
    old_origin: str
    server_key: PublicKey
    port: int  # the kiosk's config names it: today's server comes back on it


def _env(pythonpath: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return env


@pytest.fixture
def old_folder(old_code: Path, tmp_path: Path) -> OldFolder:
    return _old_folder(old_code, tmp_path, lost_receipt=False)


@pytest.fixture
def old_folder_lost_receipt(old_code: Path, tmp_path: Path) -> OldFolder:
    """As :func:`old_folder`, and the old server stored the kiosk's check-out whose answer was lost."""
    return _old_folder(old_code, tmp_path, lost_receipt=True)


def _old_folder(old_code: Path, tmp_path: Path, *, lost_receipt: bool) -> OldFolder:
    data_dir = tmp_path / "server"
    made = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys; from pathlib import Path; from server.datadir import init_data_dir; "
            "r = init_data_dir(Path(sys.argv[1])); "
            "print(json.dumps({'token': r.admin_token, 'key': r.server_public_key.to_b64()}))",
            str(data_dir),
        ],
        env=_env(old_code),
        capture_output=True,
        check=True,
        cwd=old_code,
    )
    init = json.loads(made.stdout)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_server(data_dir, port, tmp_path / "old-server.log", env=_env(old_code), cwd=old_code)
    try:
        issuer = TestIssuer()
        with ApiClient(url, admin_token=init["token"]) as admin:
            site = admin.add_site("Tafel", tokens_per_hour=10)
            admin.add_issuer_key(issuer.key.public_key.to_b64())
            # The old server knows no home site (the client of today asks for one): the old request.
            registered = [
                admin.request("POST", "/v1/admin/cards", {"name": f"Volunteer {i}"}) for i in range(3)
            ]
            admin.block_card(registered[2]["card_id"], reason="lost")
            code = admin.create_enrolment_code(site["site_id"])["code"]
        cards = [card["card_id"] for card in registered]
        mode = "lost_receipt" if lost_receipt else "pending"
        kiosk = _run_old_kiosk(
            old_code, ["enrol", url, code, str(tmp_path / "kiosk"), issuer.key.seed.hex(), cards[0], mode]
        )
        log_key = requests.get(f"{url}/v1/log/key", timeout=10).json()
    finally:
        stop_server(process)
    return OldFolder(
        data_dir,
        init["token"],
        load_config(Path(kiosk["config"])),
        Path(kiosk["config"]),
        int(kiosk["wall_ms"]),
        issuer,
        cards,
        [card["volunteer_id"] for card in registered],
        log_key["origin"],
        PublicKey.from_b64(init["key"]),
        port,
    )


def _run_old_kiosk(old_code: Path, args: list[str]) -> dict[str, Any]:
    """Run :mod:`tests.integration.old_kiosk` by the old code; its JSON answer."""
    source = (Path(__file__).parent / "old_kiosk.py").read_text()
    ran = subprocess.run(
        [sys.executable, "-c", source, *args],
        env=_env(old_code),
        capture_output=True,
        check=False,
        cwd=old_code,
    )
    assert ran.returncode == 0, ran.stderr.decode()[-3000:]
    answer: dict[str, Any] = json.loads(ran.stdout)
    return answer


def _outbox_migrations(config: KioskConfig) -> set[str]:
    """The names of the outbox migrations that ran on the kiosk's outbox file."""
    conn = sqlite3.connect(config.outbox_path)
    try:
        return {name for (name,) in conn.execute("SELECT name FROM _sqlite_migrations")}
    finally:
        conn.close()


def _updated_kiosk(old: OldFolder, outbox: Outbox) -> tuple[Kiosk, SimulatedClock]:
    """Today's kiosk code on the old kiosk's configuration and outbox, started after its update:
    a new boot whose wall clock goes on from where the old kiosk stopped."""
    clock = SimulatedClock(old.kiosk_ms + 60_000, boot_id=UPDATED_BOOT)
    kiosk = Kiosk(
        config=old.config,
        key=load_key(old.config.key_path),
        outbox=outbox,
        clock=clock,
        indicator=RecordingIndicator(),
        trust=TrustStore(outbox, server_key=old.config.server_public_key, kiosk_id=old.config.kiosk_id),
    )
    return kiosk, clock


@pytest.fixture
def upgraded(old_folder: OldFolder, tmp_path: Path) -> Iterator[tuple[OldFolder, str]]:
    """Today's server on the old folder: the hand-over happens at its start."""
    port = old_folder.port
    process = start_server(old_folder.data_dir, port, tmp_path / "server.log")
    try:
        yield old_folder, f"http://127.0.0.1:{port}"
    finally:
        stop_server(process)


def _entries(
    url: str,
    size: int,
    *,
    prefix: str = "/tile/entries",
    params: dict[str, str] | None = None,
    token: str | None = None,
) -> list[bytes]:
    """Every entry of a log of ``size`` from its entry tiles."""
    found: list[bytes] = []
    for tile in range((size + 255) // 256):
        width = min(256, size - tile * 256)
        path = f"{tile:03d}" if width == 256 else f"{tile:03d}.p/{width}"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = requests.get(f"{url}{prefix}/{path}", params=params, headers=headers, timeout=10)
        assert response.status_code == 200, response.text
        data = response.content
        if response.headers.get("content-encoding") == "gzip" and data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        while data:
            length = int.from_bytes(data[:2], "big")
            found.append(data[2 : 2 + length])
            data = data[2 + length :]
    return found


def test_an_old_log_moves_to_a_new_origin_and_an_enrolled_kiosk_follows(
    upgraded: tuple[OldFolder, str], old_code: Path
) -> None:
    old, url = upgraded
    new_origin = old.old_origin + "/2"
    note = requests.get(f"{url}/checkpoint", timeout=10).content
    checkpoint = verify_checkpoint(
        note, [NoteVerifier.for_key(new_origin, old.server_key)], origin=new_origin
    )

    answer = requests.get(f"{url}/v1/log/handover", timeout=10).json()
    handover = verify_handover(answer["handover"], old.server_key)
    final_note = requests.get(
        f"{url}/v1/log/archive/checkpoint", params={"origin": old.old_origin}, timeout=10
    ).content
    final = verify_checkpoint(final_note, [NoteVerifier.for_key(old.old_origin, old.server_key)])
    assert (handover.old_origin, handover.old_size, handover.old_root) == (
        old.old_origin,
        final.size,
        final.root_hash,
    )
    assert handover.new_origin == new_origin

    entries = _entries(url, checkpoint.size)
    first = parse_entry(entries[0])
    assert first["kind"] == "handover" and first["v"] == 2
    assert (first["old_origin"], first["old_size"], first["old_root"]) == (
        old.old_origin,
        final.size,
        final.root_hash.hex(),
    )
    assert first["kiosks"][old.config.kiosk_id]["seq"] == 1
    kinds = [parse_entry(entry)["kind"] for entry in entries]
    assert kinds.count("card") == 3 and kinds.count("card_blocked") == 1 and "kiosk_enrolled" in kinds
    for entry in entries:
        assert parse_entry(entry)["v"] == 2
        for name in (*old.cards, *old.volunteers):
            assert name.encode() not in entry, f"{name} in {entry[:120]!r}"

    # The kiosk pinned the old origin and holds the check-out the old code signed (v1, seq 2).  Updated,
    # it checks the next volunteer in (v2, seq 3); its next round follows the hand-over and sends both.
    # Not updated yet, the kiosk cannot verify the new origin's checkpoints: it keeps its event and
    # raises no alarm (its old code knows no hand-over; it follows once updated).
    waiting = _run_old_kiosk(old_code, ["sync", str(old.config_path)])
    assert waiting == {"error": Reason.NOTE_UNVERIFIED.value, "alarm": None, "pending": 1}
    assert not _outbox_migrations(old.config) & UPDATE_MIGRATIONS  # the old code made the outbox
    with Outbox(old.config.outbox_path) as outbox:
        assert _outbox_migrations(old.config) >= UPDATE_MIGRATIONS  # today's code migrated it
        assert [(e.event.seq, e.event.version) for e in outbox.pending()] == [(2, 1)]
        kiosk, clock = _updated_kiosk(old, outbox)
        assert kiosk.handle_tap(old.issuer.tap(old.cards[1])).kind is Outcome.CHECK_IN
        assert [(e.event.seq, e.event.version) for e in outbox.pending()] == [(2, 1), (3, 2)]
        with SyncClient(old.config, outbox) as client:
            result = client.sync_once()
        assert result.ok and result.pending == 0, result
        pinned = outbox.log_checkpoint()
        assert pinned is not None and pinned.origin == new_origin
        assert outbox.alarm is None
        clock.advance(3600)
        assert kiosk.handle_tap(old.issuer.tap(old.cards[1])).kind is Outcome.CHECK_OUT
        with SyncClient(old.config, outbox) as client:
            result = client.sync_once()  # and keeps syncing under the new origin
        assert result.ok and result.pending == 0 and result.acknowledged == 1, result
        assert outbox.alarm is None
    assert status_report(old.config)["log"]["origin"] == new_origin  # what `terminal status` shows

    size = verify_checkpoint(
        requests.get(f"{url}/checkpoint", timeout=10).content,
        [NoteVerifier.for_key(new_origin, old.server_key)],
    ).size
    logged = [parse_entry(e) for e in _entries(url, size)]
    sealed = [e for e in logged if e["kind"] == "event_sealed"]
    assert [(e["kiosk"], e["seq"]) for e in sealed] == [(old.config.kiosk_id, 2)]
    assert [json.loads(e["body"])["seq"] for e in logged if e["kind"] == "event"] == [3, 4]
    for entry in _entries(url, size):
        for name in (*old.cards, *old.volunteers):
            assert name.encode() not in entry, f"{name} in {entry[:120]!r}"

    # The auditor gets what the sealed entry no longer shows: the v1 event as the kiosk signed it.
    openings = requests.get(
        f"{url}/v1/audit/openings",
        headers={"Authorization": f"Bearer {old.admin_token}"},
        timeout=10,
    )
    assert openings.status_code == 200, openings.text
    items = [item for item in openings.json()["openings"] if item["kind"] == "event_sealed"]
    assert len(items) == 1, items
    (item,) = items
    assert (item["kiosk"], item["seq"], item["card"]) == (old.config.kiosk_id, 2, old.cards[0])
    assert item["issued"] == 10  # the check-out paid the one-hour shift
    kiosk_key = load_key(old.config.key_path).public_key
    signed = verify_event(base64.b64decode(item["body"]), base64.b64decode(item["sig"]), kiosk_key)
    assert (signed.event.version, signed.event.seq, signed.event.card) == (1, 2, old.cards[0])
    assert signed.event.kind is EventKind.CHECK_OUT and signed.hash == sealed[0]["hash"]


def test_the_archived_entries_are_for_the_auditor_only(upgraded: tuple[OldFolder, str]) -> None:
    old, url = upgraded
    handover = requests.get(f"{url}/v1/log/handover", timeout=10).json()["handover"]
    size = json.loads(base64.b64decode(handover["body"]))["old_size"]
    params = {"origin": old.old_origin}
    path = f"000.p/{size}"
    public = requests.get(f"{url}/v1/log/archive/tile/entries/{path}", params=params, timeout=10)
    assert public.status_code == 404
    assert requests.get(f"{url}/v1/log/archive/tile/0/{path}", params=params, timeout=10).status_code == 200
    anonymous = requests.get(f"{url}/v1/audit/archive/tile/entries/{path}", params=params, timeout=10)
    assert anonymous.status_code == 401
    archived = _entries(
        url, size, prefix="/v1/audit/archive/tile/entries", params=params, token=old.admin_token
    )
    assert any(old.cards[0].encode() in entry for entry in archived)
    proof = requests.get(
        f"{url}/v1/log/consistency",
        params={"origin": old.old_origin, "from": "1", "to": str(size)},
        timeout=10,
    )
    assert proof.status_code == 200 and proof.json()["hashes"]


def test_a_kiosk_that_lost_its_receipt_resends_an_old_event_after_the_upgrade(
    old_folder_lost_receipt: OldFolder, tmp_path: Path
) -> None:
    """The old server stored the check-out, its answer was lost; after the upgrade the kiosk
    resends it and accepts the duplicate's proof in the archived log (``origin``), no new entry."""
    old = old_folder_lost_receipt
    process = start_server(old.data_dir, old.port, tmp_path / "server.log")
    url = f"http://127.0.0.1:{old.port}"
    try:
        handover = requests.get(f"{url}/v1/log/handover", timeout=10).json()["handover"]
        old_size = json.loads(base64.b64decode(handover["body"]))["old_size"]
        with Outbox(old.config.outbox_path) as outbox:
            assert [e.event.seq for e in outbox.pending()] == [2]
            with SyncClient(old.config, outbox) as client:
                result = client.sync_once()
            assert result.ok and result.pending == 0 and result.acknowledged == 1, result
            assert outbox.alarm is None
            pinned = outbox.log_checkpoint()
            assert pinned is not None and pinned.origin == old.old_origin + "/2"
            assert [h.old_origin for h in outbox.log_handovers()] == [old.old_origin]
        size = verify_checkpoint(
            requests.get(f"{url}/checkpoint", timeout=10).content,
            [NoteVerifier.for_key(pinned.origin, old.server_key)],
        ).size
        assert size == pinned.size  # the resend added nothing to the new log
        new_kinds = [parse_entry(entry)["kind"] for entry in _entries(url, size)]
        assert "event" not in new_kinds and "event_sealed" not in new_kinds
        archived = [
            parse_entry(entry)
            for entry in _entries(
                url,
                old_size,
                prefix="/v1/audit/archive/tile/entries",
                params={"origin": old.old_origin},
                token=old.admin_token,
            )
        ]
        assert [e["kind"] for e in archived].count("event") == 2  # the check-in and the check-out
        # The shift the check-out paid was logged before the hand-over: its statement line says so.
        statement = requests.get(
            f"{url}/v1/admin/statements/volunteers/{old.volunteers[0]}",
            headers={"Authorization": f"Bearer {old.admin_token}"},
            timeout=10,
        )
        assert statement.status_code == 200, statement.text
        assert [(e["kind"], e["delta"], e["log_index"]) for e in statement.json()["entries"]] == [
            ("shift", 10, "archived")
        ]
    finally:
        stop_server(process)


@pytest.mark.parametrize("tamper", ["forged", "inconsistent"])
def test_a_kiosk_does_not_follow_a_bad_hand_over(old_folder: OldFolder, tmp_path: Path, tamper: str) -> None:
    """A hand-over not signed by the pinned key, or one whose old log does not extend the kiosk's
    pinned checkpoint (signed by the real key), leaves the kiosk at ``log_inconsistent``."""
    port = old_folder.port
    process = start_server(old_folder.data_dir, port, tmp_path / "server.log")
    stop_server(process)  # the hand-over happened at start; now spoil it
    conn = sqlite3.connect(old_folder.data_dir / LEDGER)
    with conn:
        old_origin, old_size, new_origin, new_size, at_ms = conn.execute(
            "SELECT old_origin, old_size, new_origin, new_size, at_ms FROM log_handovers"
        ).fetchone()
        if tamper == "forged":
            key = PrivateKey.generate()
            root = conn.execute("SELECT old_root FROM log_handovers").fetchone()[0]
        else:
            key = PrivateKey(read_secret(old_folder.data_dir / SERVER_KEY))
            root = bytes(32)  # not the root the kiosk's checkpoint is a prefix of
        wire = sign_handover(Handover(old_origin, old_size, bytes(root), new_origin, new_size, at_ms), key)
        conn.execute(
            "UPDATE log_handovers SET body = ?, sig = ?",
            (base64.b64decode(wire["body"]), base64.b64decode(wire["sig"])),
        )
    conn.close()
    process = start_server(old_folder.data_dir, port, tmp_path / "server.log")
    try:
        with Outbox(old_folder.config.outbox_path) as outbox:
            with SyncClient(old_folder.config, outbox) as client:
                result = client.sync_once()
            assert result.error == Reason.LOG_INCONSISTENT.value, result
            assert outbox.alarm_code == Reason.LOG_INCONSISTENT.value
            pinned = outbox.log_checkpoint()
            assert pinned is not None and pinned.origin == old_folder.old_origin
            assert outbox.evidence()
    finally:
        stop_server(process)
