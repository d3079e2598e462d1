"""Read-only access to the system under test: sysfs, ``/proc``, ``/dev``, ``/boot`` and who may open what.

Every check reads through :class:`SystemView`, rooted at a directory, so tests
point it at a fake tree; nothing outside this module touches the real file system.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from dataclasses import dataclass, field
from pathlib import Path

from hardware.doctor.readers import _BY_ID, KnownReader

KIOSK_USER = "kokreativ"
"""The service user of ``kokreativ-kiosk.service``; the doctor checks access for it when it exists."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who must be able to open the reader: a user name, uid and all group ids."""

    name: str
    uid: int
    gids: frozenset[int] = field(default_factory=frozenset)

    @classmethod
    def current(cls) -> Identity:
        """The user running this process."""
        uid = os.geteuid()
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            name = str(uid)
        return cls(name, uid, frozenset([os.getegid(), *os.getgroups()]))

    @classmethod
    def for_user(cls, name: str) -> Identity:
        """A user from the password database, with the supplementary groups it will have at its next login.

        Raises ``KeyError`` if there is no such user.
        """
        entry = pwd.getpwnam(name)
        return cls(name, entry.pw_uid, frozenset(os.getgrouplist(name, entry.pw_gid)))

    @classmethod
    def default(cls) -> Identity:
        """The kiosk's service user when it exists (that is who opens the reader), else the current user."""
        try:
            return cls.for_user(KIOSK_USER)
        except KeyError:
            return cls.current()

    def can_read_write(self, st: os.stat_result) -> bool:
        """Whether mode bits and ownership in ``st`` let this identity read and write (root always may)."""
        if self.uid == 0:
            return True
        if st.st_uid == self.uid:
            bits = st.st_mode >> 6
        elif st.st_gid in self.gids:
            bits = st.st_mode >> 3
        else:
            bits = st.st_mode
        return bits & 0o6 == 0o6


@dataclass(frozen=True, slots=True)
class UsbDevice:
    """One entry of ``/sys/bus/usb/devices``; ``drivers`` are the kernel drivers bound to its interfaces."""

    sysfs_name: str
    vendor: int
    product: int
    bus: int
    devnum: int
    drivers: frozenset[str] = frozenset()

    @property
    def node(self) -> str:
        return f"/dev/bus/usb/{self.bus:03d}/{self.devnum:03d}"

    @property
    def path(self) -> str:
        return f"usb:{self.bus:03d}:{self.devnum:03d}"

    @property
    def reader(self) -> KnownReader | None:
        return _BY_ID.get((self.vendor, self.product))


class SystemView:
    """Read-only access to a Linux system rooted at ``root`` (``/`` on the kiosk, a temp folder in tests).

    ``identity`` is whose access to device nodes is judged (default: :meth:`Identity.default`).
    """

    def __init__(self, root: str | os.PathLike[str] = "/", *, identity: Identity | None = None) -> None:
        self.root = Path(root)
        self.identity = identity if identity is not None else Identity.default()

    def path(self, absolute: str) -> Path:
        """Where the system path ``absolute`` lives under the root."""
        return self.root / absolute.lstrip("/")

    def read_text(self, absolute: str) -> str | None:
        try:
            return self.path(absolute).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    def exists(self, absolute: str) -> bool:
        return os.path.lexists(self.path(absolute))

    def first_existing(self, *candidates: str) -> str | None:
        return next((c for c in candidates if self.exists(c)), None)

    def resolve(self, absolute: str) -> str:
        """Follow symlinks (``/dev/serial0`` → ``/dev/ttyAMA0``) without leaving the root."""
        current = absolute
        for _ in range(16):
            p = self.path(current)
            if not p.is_symlink():
                return current
            target = os.readlink(p)
            current = os.path.normpath(
                target if target.startswith("/") else os.path.join(os.path.dirname(current), target)
            )
        return current

    def stat(self, absolute: str) -> os.stat_result | None:
        try:
            return self.path(self.resolve(absolute)).stat()
        except OSError:
            return None

    def listdir(self, absolute: str) -> list[str]:
        try:
            return sorted(os.listdir(self.path(absolute)))
        except OSError:
            return []

    def usb_devices(self) -> list[UsbDevice]:
        """Every USB device the kernel lists in sysfs, with the drivers bound to its interfaces."""
        base = "/sys/bus/usb/devices"
        names = self.listdir(base)
        devices: list[UsbDevice] = []
        for name in names:
            if ":" in name:
                continue  # an interface, not a device
            fields = [
                self.read_text(f"{base}/{name}/{f}") for f in ("idVendor", "idProduct", "busnum", "devnum")
            ]
            try:
                vendor, product = int(fields[0] or "", 16), int(fields[1] or "", 16)
                bus, devnum = int(fields[2] or ""), int(fields[3] or "")
            except ValueError:
                continue
            drivers = set()
            for interface in names:
                link = self.path(f"{base}/{interface}/driver")
                if interface.startswith(name + ":") and link.is_symlink():
                    drivers.add(os.path.basename(os.readlink(link)))
            devices.append(UsbDevice(name, vendor, product, bus, devnum, frozenset(drivers)))
        return devices

    def loaded_modules(self) -> frozenset[str]:
        text = self.read_text("/proc/modules") or ""
        return frozenset(line.split()[0] for line in text.splitlines() if line.strip())

    def blacklisted_modules(self) -> frozenset[str]:
        """Modules that ``/etc/modprobe.d`` keeps from loading automatically."""
        found: set[str] = set()
        for name in self.listdir("/etc/modprobe.d"):
            if not name.endswith(".conf"):
                continue
            for line in (self.read_text(f"/etc/modprobe.d/{name}") or "").splitlines():
                words = line.split("#", 1)[0].split()
                # "install MOD /bin/false" is the other common way to keep a module out.
                off = len(words) >= 3 and words[0] == "install" and words[2] in ("/bin/false", "/bin/true")
                if off or (len(words) >= 2 and words[0] == "blacklist"):
                    found.add(words[1])
        return frozenset(found)

    def pi_model(self) -> str | None:
        """The Raspberry Pi model string (``Raspberry Pi 4 Model B Rev 1.4``), or ``None`` elsewhere."""
        text = self.read_text("/proc/device-tree/model")
        if text is None or "Raspberry Pi" not in text:
            return None
        return text.strip("\x00\n ")

    def boot_file(self, name: str) -> str | None:
        """``/boot/firmware/<name>`` (Bookworm and later) or the legacy ``/boot/<name>``, whichever exists."""
        return self.first_existing(f"/boot/firmware/{name}", f"/boot/{name}")


def _mode(st: os.stat_result) -> str:
    """``mode 0660, owner root, group dialout`` (numbers where the name is unknown here)."""
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = f"uid {st.st_uid}"
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = f"gid {st.st_gid}"
    return f"mode {stat.S_IMODE(st.st_mode):04o}, owner {owner}, group {group}"
