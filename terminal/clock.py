"""Where a kiosk's notion of time comes from, with the evidence the server needs to judge it.

A Raspberry Pi has no battery-backed clock: after a power cut ``fake-hwclock``
restores the last saved time and the wall clock is wrong until NTP syncs.
So each event carries, besides the wall time, whether the clock was
synchronised, the boot ID and the monotonic time since boot; with those the
server can reconstruct or flag times.  The kiosk itself uses the monotonic
time (same boot only) for the double-tap window, which must not jump.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from pathlib import Path
from typing import Protocol

from protocol import ClockEvidence
from protocol.clock import now_ms

SYNCED_FLAG = Path("/run/systemd/timesync/synchronized")
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Clock(Protocol):
    """Gives the current time as evidence for an event."""

    def now(self) -> ClockEvidence: ...


def read_boot_id(path: Path = BOOT_ID) -> str:
    """The kernel's boot ID, or a random per-process UUID if it cannot be read (not Linux, sandbox)."""
    try:
        text = path.read_text(encoding="ascii").strip().lower()
    except (OSError, UnicodeDecodeError):
        text = ""
    return text if _UUID.fullmatch(text) else str(uuid.uuid4())


def _boottime_ms() -> int:
    # CLOCK_BOOTTIME keeps counting through suspend, unlike CLOCK_MONOTONIC; it is Linux-only.
    clock_id = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)
    return time.clock_gettime_ns(clock_id) // 1_000_000


class SystemClock:
    """The machine's clocks; ``synced`` follows systemd-timesyncd's flag file.

    Both paths are injectable so tests can point them at a fake tree.
    """

    def __init__(self, *, synced_flag: Path = SYNCED_FLAG, boot_id_path: Path = BOOT_ID) -> None:
        self._synced_flag = synced_flag
        self.boot_id = read_boot_id(boot_id_path)  # fixed for the life of the process

    def now(self) -> ClockEvidence:
        return ClockEvidence(
            wall_ms=now_ms(),
            synced=self._synced_flag.exists(),
            boot_id=self.boot_id,
            mono_ms=_boottime_ms(),
        )


class SimulatedClock:
    """A clock that moves only when told to; for tests and the simulator.

    ``advance`` moves wall and monotonic time together; ``set_wall`` moves only
    the wall clock, as NTP correcting a stale clock would.
    """

    def __init__(
        self,
        start_wall_ms: int,
        synced: bool = True,
        *,
        boot_id: str = "00000000-0000-4000-8000-000000000001",
        start_mono_ms: int = 1_000,
    ) -> None:
        self._lock = threading.Lock()
        self.wall_ms = start_wall_ms
        self.mono_ms = start_mono_ms
        self.synced = synced
        self.boot_id = boot_id

    def advance(self, seconds: float) -> None:
        with self._lock:
            delta = round(seconds * 1000)
            self.wall_ms += delta
            self.mono_ms += delta

    def set_wall(self, wall_ms: int, *, synced: bool | None = None) -> None:
        with self._lock:
            self.wall_ms = wall_ms
            if synced is not None:
                self.synced = synced

    def now(self) -> ClockEvidence:
        with self._lock:
            return ClockEvidence(
                wall_ms=self.wall_ms, synced=self.synced, boot_id=self.boot_id, mono_ms=self.mono_ms
            )
