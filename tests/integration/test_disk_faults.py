"""Disk full and read-only filesystems under the kiosk and under the server.

Each must give a clear error (a reason code, never a green light or a 500), corrupt
nothing, and recover: the kiosk keeps every event it showed green and syncs it
once space returns; the server refuses a batch with 503 and a reason while it
cannot write, and takes the same events afterwards, once each.  Real filesystems
(tests/integration/disks.py): a tmpfs filled to the last byte, and ext4 on a loop
device that the kernel remounts read-only.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from hardware.indicator import RecordingIndicator
from kokreativ.localserver import free_port, start_server
from protocol import GENESIS_PREV, Reason, encode_batch, verify_event
from protocol.clock import now_ms
from protocol.note import NoteVerifier
from provisioning.enrol import enrol_kiosk
from server import tlog
from server.datadir import init_data_dir
from terminal.clock import SimulatedClock
from terminal.config import KioskConfig
from terminal.keystore import load_key
from terminal.outbox import Outbox
from terminal.sync import SyncClient
from terminal.tap import Kiosk, Outcome, TapOutcome
from terminal.trust import TrustStore
from tests.audit_helpers import audit_data_folder
from tests.cardfactory import TestIssuer
from tests.conftest import EnrolledKiosk, ServerProcess
from tests.integration.disks import ext4, fill, tmpfs
from tests.integration.scale import report_figure

pytestmark = pytest.mark.slow

TAPS_BETWEEN = 40


def _integrity(path: Path) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def _chain(path: Path, config: KioskConfig) -> int:
    """Verify the outbox's whole chain; return its length."""
    public_key = load_key(config.key_path).public_key
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = list(conn.execute("SELECT seq, body, sig FROM events ORDER BY seq"))
    finally:
        conn.close()
    prev = GENESIS_PREV
    for expected, (seq, body, sig) in enumerate(rows, start=1):
        signed = verify_event(bytes(body), bytes(sig), public_key)
        assert seq == expected == signed.event.seq and signed.event.prev == prev
        prev = signed.hash
    return len(rows)


class _Taps:
    """The kiosk's real tap logic on a kiosk data folder moved to ``data_dir``."""

    def __init__(self, kiosk: EnrolledKiosk, data_dir: Path) -> None:
        if not (data_dir / "kiosk.key").exists():
            shutil.copytree(kiosk.config.data_dir, data_dir, dirs_exist_ok=True)
            os.sync()  # the kiosk was enrolled long ago: its files are on the disk, not in the page cache
        self.config = dataclasses.replace(kiosk.config, data_dir=data_dir)
        self.cards = kiosk.taps()
        self.clock = SimulatedClock(start_wall_ms=now_ms() - 10_000 * 60_000)
        self.indicator = RecordingIndicator()
        self.count = 0
        self.outbox: Outbox | None = None
        self.core: Kiosk | None = None

    def open(self) -> None:
        self.outbox = Outbox(self.config.outbox_path)
        self.core = Kiosk(
            config=self.config,
            key=load_key(self.config.key_path),
            outbox=self.outbox,
            clock=self.clock,
            indicator=self.indicator,
            trust=TrustStore(
                self.outbox, server_key=self.config.server_public_key, kiosk_id=self.config.kiosk_id
            ),
        )

    def close(self) -> None:
        assert self.outbox is not None
        self.outbox.close()

    def tap(self) -> TapOutcome:
        assert self.core is not None
        self.clock.advance(60)
        outcome = self.core.handle_tap(self.cards[self.count % len(self.cards)])
        self.count += 1
        return outcome

    def greens(self, count: int) -> None:
        for _ in range(count):
            assert self.tap().kind in (Outcome.CHECK_IN, Outcome.CHECK_OUT)

    def until_refused(self, limit: int = 20_000) -> tuple[int, TapOutcome]:
        """Tap until one is refused; ``(green taps before it, the refused outcome)``."""
        for greens in range(limit):
            outcome = self.tap()
            if outcome.kind is Outcome.ERROR:
                return greens, outcome
            assert self.indicator.signals[-1] == "ok"
        raise AssertionError(f"{limit} taps and none was refused")


def _sync(config: KioskConfig, outbox: Outbox) -> tuple[str | None, int]:
    with SyncClient(config, outbox, connect_timeout_s=5) as client:
        result = client.sync_once()
    return result.error, result.pending


def _server_verified(server: ServerProcess, events: int, config: KioskConfig, work: Path) -> None:
    with server.admin() as admin:
        verify = admin.verify()
    assert verify["ok"], verify["problems"]
    assert verify["events"] == events, "an event was lost or stored twice"
    verifier = NoteVerifier.parse(tlog.verifier_key(config.log_origin, config.server_public_key))
    report = audit_data_folder(server.data_dir, [verifier], work)
    assert report.ok, "\n".join(report.lines())
    assert report.events == events


# -- the kiosk ----------------------------------------------------------------------------------------


def test_kiosk_disk_full_refuses_the_tap_keeps_every_green_and_recovers(
    enrolled_kiosk: EnrolledKiosk, server_process: ServerProcess, tmp_path: Path
):
    with tmpfs(tmp_path / "disk", "2m") as disk:
        kiosk = _Taps(enrolled_kiosk, disk / "kiosk")
        kiosk.open()
        kiosk.greens(TAPS_BETWEEN)
        ballast = fill(disk)
        greens, refused = kiosk.until_refused()
        # A clear refusal: the error light, and the reason on the outcome for the screen and the log.
        assert kiosk.indicator.signals[-1] == "error"
        assert refused.reason is Reason.STORAGE_FULL, refused
        assert refused.seq is None
        assert kiosk.tap().reason is Reason.STORAGE_FULL  # and again, while the disk stays full
        stored = TAPS_BETWEEN + greens
        assert _chain(kiosk.config.outbox_path, kiosk.config) == stored  # every green, nothing more

        ballast.unlink()  # space returns
        kiosk.greens(TAPS_BETWEEN)
        assert _integrity(kiosk.config.outbox_path) == "ok"
        assert _chain(kiosk.config.outbox_path, kiosk.config) == stored + TAPS_BETWEEN
        assert kiosk.outbox is not None
        assert _sync(kiosk.config, kiosk.outbox) == (None, 0)
        kiosk.close()
    _server_verified(server_process, stored + TAPS_BETWEEN, kiosk.config, tmp_path / "audit")
    report_figure("kiosk disk full: taps refused clearly, then recovered", 1, greens_kept=stored)


def test_kiosk_read_only_disk_refuses_the_tap_keeps_every_green_and_recovers(
    enrolled_kiosk: EnrolledKiosk, server_process: ServerProcess, tmp_path: Path
):
    with ext4(tmp_path / "ext4") as disk:
        kiosk = _Taps(enrolled_kiosk, disk.mount / "kiosk")
        kiosk.open()
        kiosk.greens(TAPS_BETWEEN)
        disk.break_to_read_only()
        assert disk.is_read_only()
        refused = kiosk.tap()
        assert refused.kind is Outcome.ERROR and kiosk.indicator.signals[-1] == "error"
        assert refused.reason is Reason.STORAGE_UNAVAILABLE, refused
        kiosk.close()

        # The operator repairs the disk; every green tap survived the kernel's emergency remount.
        disk.repair()
        assert _integrity(kiosk.config.outbox_path) == "ok"
        assert _chain(kiosk.config.outbox_path, kiosk.config) == TAPS_BETWEEN
        kiosk.open()
        kiosk.greens(TAPS_BETWEEN)
        assert kiosk.outbox is not None
        assert _sync(kiosk.config, kiosk.outbox) == (None, 0)
        kiosk.close()
    _server_verified(server_process, 2 * TAPS_BETWEEN, kiosk.config, tmp_path / "audit")
    report_figure("kiosk read-only disk: taps refused clearly, then recovered", 1)


def test_kiosk_refuses_to_start_on_a_read_only_disk_with_one_clear_line(
    enrolled_kiosk: EnrolledKiosk, tmp_path: Path
):
    """The kiosk process itself, started on a disk that is already read-only: one line, non-zero exit."""
    with ext4(tmp_path / "ext4") as disk:
        kiosk = _Taps(enrolled_kiosk, disk.mount / "kiosk")
        config_path = kiosk.config.data_dir / enrolled_kiosk.config_path.name  # data_dir: its folder
        assert config_path.is_file() and "data_dir" not in config_path.read_text()
        disk.break_to_read_only()
        card = enrolled_kiosk.card_ids[0]
        run = subprocess.run(
            [
                *_kokreativ(),
                "terminal",
                "run",
                "--headless",
                "--config",
                str(config_path),
                "--reader",
                "stdin",
                "--indicator",
                "console",
                "--no-sync",
            ],
            input=f"{enrolled_kiosk.issuer.tap(card).uid.hex()} {enrolled_kiosk.issuer.ndef(card).hex()}\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode != 0
        assert "OK" not in run.stdout.split()
        assert "Traceback" not in run.stderr, run.stderr
        assert Reason.STORAGE_UNAVAILABLE.value in run.stderr, run.stderr


def _kokreativ() -> list[str]:
    import sys

    return [sys.executable, "-m", "kokreativ"]


# -- the server ---------------------------------------------------------------------------------------


class _DiskServer(ServerProcess):
    """A server process whose data folder is on the test's filesystem and whose log is not."""

    log_path: Path = Path()

    def start(self) -> None:
        self.process = start_server(self.data_dir, self.port, self.log_path)


@pytest.fixture
def disk_server() -> Iterator[list[_DiskServer]]:
    servers: list[_DiskServer] = []
    yield servers
    for server in servers:
        server.stop()


def _server_on(data_dir: Path, log_path: Path, servers: list[_DiskServer]) -> _DiskServer:
    init = init_data_dir(data_dir)
    server = _DiskServer(data_dir, free_port(), init.admin_token)
    server.log_path = log_path
    server.start()
    servers.append(server)
    return server


def _enrol(server: ServerProcess, work: Path) -> EnrolledKiosk:
    issuer = TestIssuer()
    with server.admin() as admin:
        site = admin.add_site("Test site", tokens_per_hour=10)
        admin.add_issuer_key(issuer.key.public_key.to_b64())
        cards = [
            admin.register_card(name=f"Volunteer {i}", site_id=site["site_id"])["card_id"] for i in range(3)
        ]
        code = admin.create_enrolment_code(site["site_id"])["code"]
        config_path, config = enrol_kiosk(server.url, code, work / "kiosk")
    return EnrolledKiosk(config_path, config, cards, issuer)


def _refused_batch(server: ServerProcess, kiosk: _Taps) -> requests.Response:
    """POST the kiosk's pending events as the sync client would; the server's raw answer."""
    assert kiosk.outbox is not None
    return requests.post(
        f"{server.url}/v1/kiosks/{kiosk.config.kiosk_id}/events",
        data=encode_batch(kiosk.outbox.pending(limit=500)),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )


def _assert_storage_refusal(response: requests.Response, reason: Reason) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == reason.value
    assert int(response.headers["Retry-After"]) > 0


def test_server_disk_full_refuses_ingest_with_503_and_takes_it_all_later(
    disk_server: list[_DiskServer], tmp_path: Path
):
    with tmpfs(tmp_path / "disk", "6m") as disk:
        server = _server_on(disk / "server", tmp_path / "server.log", disk_server)
        kiosk = _Taps(_enrol(server, tmp_path), tmp_path / "kiosk")
        kiosk.open()
        assert kiosk.outbox is not None
        kiosk.greens(TAPS_BETWEEN)
        assert _sync(kiosk.config, kiosk.outbox) == (None, 0)

        ballast = fill(disk)
        # Until the server's free pages run out it may still take a batch or two; then it refuses.
        for _ in range(100):
            kiosk.greens(500)
            error, pending = _sync(kiosk.config, kiosk.outbox)
            if error is not None:
                break
        assert error == Reason.STORAGE_FULL.value and pending > 0
        _assert_storage_refusal(_refused_batch(server, kiosk), Reason.STORAGE_FULL)
        assert kiosk.outbox.pending_count() == pending  # the kiosk keeps them all

        ballast.unlink()  # space returns: the same server process takes everything
        assert _sync(kiosk.config, kiosk.outbox) == (None, 0)
        total = kiosk.count
        kiosk.close()
        assert _integrity(server.data_dir / "ledger.db") == "ok"
        _server_verified(server, total, kiosk.config, tmp_path / "audit")
    report_figure("server disk full: ingest refused with 503, then recovered", 1, events=total)


def test_server_read_only_disk_refuses_ingest_with_503_and_takes_it_all_after_repair(
    disk_server: list[_DiskServer], tmp_path: Path
):
    with ext4(tmp_path / "ext4", size_mib=32) as disk:
        server = _server_on(disk.mount / "server", tmp_path / "server.log", disk_server)
        kiosk = _Taps(_enrol(server, tmp_path), tmp_path / "kiosk")
        kiosk.open()
        assert kiosk.outbox is not None
        kiosk.greens(TAPS_BETWEEN)
        assert _sync(kiosk.config, kiosk.outbox) == (None, 0)

        disk.break_to_read_only()
        kiosk.greens(TAPS_BETWEEN)
        error, pending = _sync(kiosk.config, kiosk.outbox)
        assert (error, pending) == (Reason.STORAGE_UNAVAILABLE.value, TAPS_BETWEEN)
        _assert_storage_refusal(_refused_batch(server, kiosk), Reason.STORAGE_UNAVAILABLE)

        server.stop()
        disk.repair()
        server.start()
        assert _integrity(server.data_dir / "ledger.db") == "ok"
        assert _sync(kiosk.config, kiosk.outbox) == (None, 0)
        kiosk.close()
        _server_verified(server, 2 * TAPS_BETWEEN, kiosk.config, tmp_path / "audit")
    report_figure("server read-only disk: ingest refused with 503, then recovered after repair", 1)
