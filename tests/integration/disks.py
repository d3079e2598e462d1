"""Small real filesystems that fill up or turn read-only under a running kiosk or server.

Disk full: a ``tmpfs`` of a few MiB, filled with a ballast file until the kernel
says ENOSPC; deleting the ballast gives the space back.  Read-only: an ext4 image
on a loop device mounted ``errors=remount-ro``; writing to ext4's
``trigger_fs_error`` makes the kernel remount it read-only at once, open files
and all, as it does when an SD card fails.  Recovery is what an operator does:
stop the service, unmount, ``e2fsck``, mount again.

Both need root (CI runs as root).  Where mounting is impossible the tests skip,
saying why; nothing here fakes a filesystem.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=60)


def _can_mount() -> str | None:
    """Why this machine cannot mount filesystems for the tests, or ``None`` if it can."""
    if os.geteuid() != 0:
        return "mounting a tmpfs or a loop device needs root (CI runs as root)"
    for tool in ("mount", "umount", "losetup", "mkfs.ext4", "e2fsck"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def require_mounts() -> None:
    reason = _can_mount()
    if reason is not None:
        pytest.skip(reason)


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (``"4m"``) mounted at ``path`` for the block."""
    require_mounts()
    path.mkdir(parents=True, exist_ok=True)
    try:
        _run("mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path))
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc.stderr.decode(errors='replace').strip()}")
    try:
        yield path
    finally:
        _unmount(path)


def fill(directory: Path) -> Path:
    """Write a ballast file in ``directory`` until the filesystem is full; return it (delete it to free)."""
    ballast = directory / "ballast"
    block = b"\0" * 4096
    with open(ballast, "wb", buffering=0) as out:
        try:
            while True:
                out.write(block)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
        # Smaller pieces too, so not even a page is left.
        try:
            while True:
                out.write(b"\0" * 512)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return ballast


@dataclass
class Ext4:
    """An ext4 image on a loop device mounted at ``mount`` with ``errors=remount-ro``."""

    image: Path
    mount: Path

    def device(self) -> str:
        found = subprocess.run(
            ["findmnt", "-n", "-o", "SOURCE", str(self.mount)], capture_output=True, text=True, check=True
        )
        return found.stdout.strip()

    def break_to_read_only(self) -> None:
        """Make the kernel remount it read-only now, as after an I/O error (ext4's trigger_fs_error)."""
        name = Path(self.device()).name
        Path(f"/sys/fs/ext4/{name}/trigger_fs_error").write_text("kokreativ reliability test\n")

    def is_read_only(self) -> bool:
        options = subprocess.run(
            ["findmnt", "-n", "-o", "OPTIONS", str(self.mount)], capture_output=True, text=True, check=True
        )
        return "ro" in options.stdout.strip().split(",") or "emergency_ro" in options.stdout

    def repair(self) -> None:
        """What an operator does: unmount, ``e2fsck -fy``, mount read-write again."""
        _run("umount", str(self.mount))
        # e2fsck exits 1 when it fixed something (the error the trigger recorded): not a failure.
        subprocess.run(["e2fsck", "-fy", str(self.image)], capture_output=True, timeout=60, check=False)
        self._mount()

    def _mount(self) -> None:
        _run("mount", "-o", "loop,errors=remount-ro", str(self.image), str(self.mount))


@contextlib.contextmanager
def ext4(work: Path, size_mib: int = 16) -> Iterator[Ext4]:
    """An ext4 image of ``size_mib`` under ``work``, mounted at ``work/mnt`` for the block."""
    require_mounts()
    if not Path("/sys/fs/ext4").is_dir():
        pytest.skip("the kernel has no ext4 (no /sys/fs/ext4)")
    image, mount = work / "ext4.img", work / "mnt"
    mount.mkdir(parents=True, exist_ok=True)
    with open(image, "wb") as out:
        out.truncate(size_mib * 1024 * 1024)
    _run("mkfs.ext4", "-q", "-F", str(image))
    disk = Ext4(image, mount)
    try:
        disk._mount()
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot mount a loop device here: {exc.stderr.decode(errors='replace').strip()}")
    try:
        yield disk
    finally:
        _unmount(mount)


def _unmount(mount: Path) -> None:
    """Unmount ``mount``; lazily if a failed test left a file open on it, so its folder can be removed."""
    if subprocess.run(["umount", str(mount)], capture_output=True, check=False).returncode != 0:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, check=False)
