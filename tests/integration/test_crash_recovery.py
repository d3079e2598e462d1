"""Lose nothing, duplicate nothing: SIGKILL the kiosk mid-burst, and the server mid-ingest."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from protocol import GENESIS_PREV, ids, verify_event
from protocol.clock import now_ms
from terminal.clock import SimulatedClock
from terminal.keystore import load_key
from terminal.outbox import Outbox
from terminal.sync import SyncClient
from tests.cardfactory import uid_for
from tests.conftest import EnrolledKiosk, ServerProcess

pytestmark = pytest.mark.slow


def _outbox_events(path: Path) -> list[tuple[int, bytes, bytes]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(conn.execute("SELECT seq, body, sig FROM events ORDER BY seq"))
    finally:
        conn.close()


def _check_chain(rows: list[tuple[int, bytes, bytes]], kiosk: EnrolledKiosk) -> list[str]:
    """Verify every signature and hash link; return the card IDs in order."""
    public_key = load_key(kiosk.config.key_path).public_key
    prev = GENESIS_PREV
    cards = []
    for expected_seq, (seq, body, sig) in enumerate(rows, start=1):
        signed = verify_event(bytes(body), bytes(sig), public_key)
        assert seq == expected_seq == signed.event.seq
        assert signed.event.prev == prev
        prev = signed.hash
        cards.append(signed.event.card)
    return cards


def _kiosk_process(kiosk: EnrolledKiosk) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kokreativ",
            "terminal",
            "run",
            "--headless",
            "--config",
            str(kiosk.config_path),
            "--reader",
            "stdin",
            "--indicator",
            "console",
            "--no-sync",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        bufsize=1,
    )


def test_sigkill_kiosk_mid_burst_loses_and_duplicates_nothing(
    enrolled_kiosk: EnrolledKiosk, server_process: ServerProcess
):
    kiosk, server = enrolled_kiosk, server_process
    # More taps than the pipe holds, so the kiosk cannot have finished them all before the kill.
    taps = [ids.new_id(ids.CARD) for _ in range(2000)]
    lines = [f"{uid_for(card).hex()} {kiosk.issuer.ndef(card).hex()}\n" for card in taps]
    process = _kiosk_process(kiosk)
    assert process.stdin is not None and process.stdout is not None

    def feed() -> None:
        assert process.stdin is not None
        try:
            for line in lines:
                process.stdin.write(line)
                process.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the kiosk was killed while we were still tapping

    feeder = threading.Thread(target=feed)
    feeder.start()
    greens = 0
    for line in process.stdout:
        if line.split()[:1] == ["OK"]:
            greens += 1
        if greens == 120:
            os.kill(process.pid, signal.SIGKILL)
            break
    # Lines the kiosk wrote before it died are still in the pipe: count them too.
    greens += sum(1 for line in process.stdout if line.split()[:1] == ["OK"])
    process.wait()
    feeder.join()
    process.stdout.close()
    with contextlib.suppress(BrokenPipeError):
        process.stdin.close()
    assert process.returncode == -signal.SIGKILL
    assert 120 <= greens < len(taps), "the kill must land in the middle of the burst"

    rows = _outbox_events(kiosk.config.outbox_path)
    recorded = _check_chain(rows, kiosk)
    # Every tap that showed green is on disk, in tap order, and nothing is there twice.
    assert recorded[:greens] == taps[:greens]
    assert recorded == taps[: len(recorded)]
    assert len(set(recorded)) == len(recorded)

    # After a restart the kiosk continues the same chain.
    restarted = _kiosk_process(kiosk)
    first = kiosk.card_ids[0]
    out, _ = restarted.communicate(f"{uid_for(first).hex()} {kiosk.issuer.ndef(first).hex()}\n", timeout=60)
    assert restarted.returncode == 0
    assert out.split()[:1] == ["OK"]
    rows = _outbox_events(kiosk.config.outbox_path)
    assert len(rows) == len(recorded) + 1
    assert _check_chain(rows, kiosk)[-1] == kiosk.card_ids[0]

    # And the whole chain syncs and verifies on the server.
    with Outbox(kiosk.config.outbox_path) as outbox:
        result = SyncClient(kiosk.config, outbox).sync_once()
        assert result.error is None and result.pending == 0
    with server.admin() as admin:
        verify = admin.verify()
    assert verify["ok"] and verify["events"] == len(rows)


def _fill(kiosk: EnrolledKiosk, count: int) -> None:
    clock = SimulatedClock(start_wall_ms=now_ms() - count * 60_000)
    taps = kiosk.taps()
    with Outbox(kiosk.config.outbox_path) as outbox:
        core = kiosk.tap_kiosk(outbox, clock)
        for i in range(count):
            clock.advance(60)
            core.handle_tap(taps[i % len(taps)])


def test_sigkill_server_mid_ingest_then_sync_stores_each_event_once(
    enrolled_kiosk: EnrolledKiosk, server_process: ServerProcess
):
    kiosk, server = enrolled_kiosk, server_process
    count = 6000
    _fill(kiosk, count)
    state_url = f"{server.url}/v1/kiosks/{kiosk.config.kiosk_id}"

    sync = subprocess.Popen(
        [sys.executable, "-m", "kokreativ", "terminal", "sync", "--config", str(kiosk.config_path), "--once"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    # Kill the server once it has taken some batches, but not all.
    killed_at = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        last_seq = requests.get(state_url, timeout=5).json()["last_seq"]
        if last_seq >= 500:
            server.kill()
            killed_at = last_seq
            break
        time.sleep(0.005)
    sync.communicate(timeout=120)
    assert killed_at is not None and killed_at < count, "the kill must land in the middle of ingest"

    with Outbox(kiosk.config.outbox_path) as outbox:
        assert outbox.pending_count() > 0
        server.start()
        result = SyncClient(kiosk.config, outbox).sync_once()
        assert result.error is None and result.pending == 0

    with server.admin() as admin:
        verify = admin.verify()
    assert verify["ok"], verify["problems"]
    assert verify["events"] == count
    state = requests.get(state_url, timeout=5).json()
    assert state["last_seq"] == count
    rows = _outbox_events(kiosk.config.outbox_path)
    assert (
        state["head"]
        == verify_event(
            bytes(rows[-1][1]), bytes(rows[-1][2]), load_key(kiosk.config.key_path).public_key
        ).hash
    )
