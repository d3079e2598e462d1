"""Clock evidence: wall time, the timesync flag, the boot ID, monotonic time; paths point at a fake tree."""

from __future__ import annotations

import time
import uuid

from terminal.clock import SimulatedClock, SystemClock

BOOT = "b08d2866-f413-4cb3-a8a0-cd36bb39ffe3"


def test_system_clock_reads_the_boot_id_and_the_synced_flag(tmp_path):
    (tmp_path / "boot_id").write_text(BOOT.upper() + "\n")
    flag = tmp_path / "synchronized"
    clock = SystemClock(synced_flag=flag, boot_id_path=tmp_path / "boot_id")
    before = time.time_ns() // 1_000_000
    first = clock.now()
    assert first.boot_id == BOOT and first.synced is False
    assert first.wall_ms >= before and first.mono_ms >= 0
    flag.touch()
    second = clock.now()
    assert second.synced is True
    assert second.mono_ms >= first.mono_ms


def test_unreadable_or_garbage_boot_id_falls_back_to_one_random_uuid_per_process(tmp_path):
    (tmp_path / "garbage").write_text("not a uuid")
    for path in (tmp_path / "missing", tmp_path / "garbage"):
        clock = SystemClock(synced_flag=tmp_path / "flag", boot_id_path=path)
        boot = clock.now().boot_id
        assert str(uuid.UUID(boot)) == boot
        assert clock.now().boot_id == boot  # stable for the life of the process


def test_simulated_clock_moves_only_when_told():
    clock = SimulatedClock(1_000_000, synced=False)
    start = clock.now()
    clock.advance(1.5)
    later = clock.now()
    assert (later.wall_ms - start.wall_ms, later.mono_ms - start.mono_ms) == (1500, 1500)
    assert later.synced is False and later.boot_id == start.boot_id
    clock.set_wall(5, synced=True)
    jumped = clock.now()
    assert (jumped.wall_ms, jumped.mono_ms, jumped.synced) == (5, later.mono_ms, True)
