"""Lose nothing, duplicate nothing: SIGKILL the kiosk mid-burst, and the server mid-ingest."""

from __future__ import annotations

import contextlib
import os
import random
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
from tests.integration.scale import chaos_seed, report_figure, scaled

pytestmark = pytest.mark.slow


def _outbox_events(path: Path, after_seq: int = 0) -> list[tuple[int, bytes, bytes, str]]:
    """``(seq, body, sig, card_id)``: a v2 body names no card, the outbox keeps it until a receipt."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        query = "SELECT seq, body, sig, card_id FROM events WHERE seq > ? ORDER BY seq"
        return list(conn.execute(query, (after_seq,)))
    finally:
        conn.close()


def _check_chain(
    rows: list[tuple[int, bytes, bytes, str]],
    kiosk: EnrolledKiosk,
    *,
    after: tuple[int, str] = (0, GENESIS_PREV),
) -> list[str]:
    """Verify every signature and hash link from ``after`` (seq, hash); return the card IDs in order."""
    public_key = load_key(kiosk.config.key_path).public_key
    last_seq, prev = after
    cards = []
    for expected_seq, (seq, body, sig, card_id) in enumerate(rows, start=last_seq + 1):
        signed = verify_event(bytes(body), bytes(sig), public_key)
        assert seq == expected_seq == signed.event.seq
        assert signed.event.prev == prev
        prev = signed.hash
        cards.append(card_id)
    return cards


def _head_hash(rows: list[tuple[int, bytes, bytes, str]], kiosk: EnrolledKiosk) -> str:
    public_key = load_key(kiosk.config.key_path).public_key
    return verify_event(bytes(rows[-1][1]), bytes(rows[-1][2]), public_key).hash


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


def _burst_then_kill(kiosk: EnrolledKiosk, taps: list[str], kill_after: int) -> int:
    """Feed ``taps`` to a fresh kiosk process, SIGKILL it after ``kill_after`` greens; return the greens.

    ``kill_after`` 0 kills it as soon as it runs, before or while it opens the outbox.
    """
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
    if kill_after == 0:
        os.kill(process.pid, signal.SIGKILL)
    else:
        for line in process.stdout:
            if line.split()[:1] == ["OK"]:
                greens += 1
            if greens == kill_after:
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
    assert greens < len(taps), "the kill must land in the middle of the burst"
    return greens


def test_sigkill_kiosk_mid_burst_loses_and_duplicates_nothing(
    enrolled_kiosk: EnrolledKiosk, server_process: ServerProcess
):
    """SIGKILL the kiosk mid-burst again and again; each time every green tap is on disk, once, in order.

    5 kills in the normal suite, 1,000 under ``make chaos`` (``KOKREATIV_CHAOS_SCALE``).
    """
    kiosk, server = enrolled_kiosk, server_process
    kills = scaled(ci=5, full=1000)
    rng = random.Random(chaos_seed())
    after: tuple[int, str] = (0, GENESIS_PREV)
    total_greens = 0
    for round_ in range(kills):
        # More taps than the pipe holds, so the kiosk cannot have finished them all before the kill.
        taps = [ids.new_id(ids.CARD) for _ in range(600)]
        kill_after = 120 if round_ == 0 else rng.choice([0, *range(1, 81)])
        greens = _burst_then_kill(kiosk, taps, kill_after)
        total_greens += greens
        rows = _outbox_events(kiosk.config.outbox_path, after_seq=after[0])
        recorded = _check_chain(rows, kiosk, after=after)
        # Every tap that showed green is on disk, in tap order, and nothing is there twice.
        assert recorded[:greens] == taps[:greens], f"kill {round_ + 1}: a green tap was lost"
        assert recorded == taps[: len(recorded)], f"kill {round_ + 1}: twice or out of order"
        if rows:
            after = (rows[-1][0], _head_hash(rows, kiosk))

    # After a restart the kiosk continues the same chain.
    restarted = _kiosk_process(kiosk)
    first = kiosk.card_ids[0]
    out, _ = restarted.communicate(f"{uid_for(first).hex()} {kiosk.issuer.ndef(first).hex()}\n", timeout=60)
    assert restarted.returncode == 0
    assert out.split()[:1] == ["OK"]
    rows = _outbox_events(kiosk.config.outbox_path, after_seq=after[0])
    assert len(rows) == 1
    assert _check_chain(rows, kiosk, after=after)[-1] == kiosk.card_ids[0]
    last_seq = rows[-1][0]
    assert last_seq >= total_greens + 1

    # And the whole chain syncs and verifies on the server.
    with Outbox(kiosk.config.outbox_path) as outbox:
        result = SyncClient(kiosk.config, outbox).sync_once()
        assert result.error is None and result.pending == 0
    with server.admin() as admin:
        verify = admin.verify()
    assert verify["ok"] and verify["events"] == last_seq
    report_figure("kiosk SIGKILLs survived", kills, events=last_seq, greens=total_greens)


def _last_seq(url: str) -> int:
    return int(requests.get(url, timeout=5).json()["last_seq"])


def test_sigkill_server_mid_ingest_then_sync_stores_each_event_once(
    enrolled_kiosk: EnrolledKiosk, server_process: ServerProcess
):
    """SIGKILL the server while it ingests, again and again; in the end each event is stored once.

    Each round taps more events, syncs them in a thread and kills the server once it has
    taken some of the round's batches but not all.  3 kills in the normal suite, 100 under
    ``make chaos``.
    """
    kiosk, server = enrolled_kiosk, server_process
    kills = scaled(ci=3, full=100)
    per_round = 1500  # three batches: the kill lands after the first or second of them
    rng = random.Random(chaos_seed())
    state_url = f"{server.url}/v1/kiosks/{kiosk.config.kiosk_id}"
    clock = SimulatedClock(start_wall_ms=now_ms() - kills * per_round * 60_000)
    taps = kiosk.taps()
    count = 0
    with Outbox(kiosk.config.outbox_path) as outbox:
        core = kiosk.tap_kiosk(outbox, clock)
        mid_ingest = rounds = 0
        while mid_ingest < kills:
            # A kill that comes after the sync ended (a starved poller on a busy machine) proves
            # nothing about ingest: such a round is tapped and killed again, not counted.
            rounds += 1
            assert rounds <= 3 * kills, f"{rounds - 1} rounds and only {mid_ingest} kills landed mid-ingest"
            for _ in range(per_round):
                clock.advance(60)
                core.handle_tap(taps[count % len(taps)])
                count += 1
            start = _last_seq(state_url)
            target = start + rng.randint(1, per_round // 2)
            client = SyncClient(kiosk.config, outbox, connect_timeout_s=2)
            sync = threading.Thread(target=client.sync_once)
            sync.start()
            # Kill the server once it has taken some batches of the round, but not all.
            killed_at = None
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                last_seq = _last_seq(state_url)
                if last_seq >= target:
                    server.kill()
                    killed_at = last_seq
                    break
                time.sleep(0.005)
            sync.join(timeout=120)
            client.close()
            assert killed_at is not None, f"round {rounds}: ingest never reached seq {target}"
            if killed_at < count and outbox.pending_count() > 0:
                mid_ingest += 1
            server.start()
        result = SyncClient(kiosk.config, outbox).sync_once()
        assert result.error is None and result.pending == 0

    with server.admin() as admin:
        verify = admin.verify()
    assert verify["ok"], verify["problems"]
    assert verify["events"] == count
    state = requests.get(state_url, timeout=5).json()
    assert state["last_seq"] == count
    rows = _outbox_events(kiosk.config.outbox_path, after_seq=count - 1)
    assert state["head"] == _head_hash(rows, kiosk)
    report_figure("server SIGKILLs survived mid-ingest", kills, events=count, rounds=rounds)
