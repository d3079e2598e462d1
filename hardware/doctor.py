"""Why can't the kiosk find its NFC reader?  Look at the system and print the fix.

A reader that "does not work" almost always fails for one of a handful of
reasons, and each has a known fix:

=====================  ==========================================================
check                  what goes wrong
=====================  ==========================================================
``reader_path``        the configured ``nfc_path`` is not a path nfcpy understands
``usb_reader_present`` no supported reader is plugged in (or it is one nfcpy has
                       no driver for)
``usb_permission``     the kiosk user may not open ``/dev/bus/usb/BBB/DDD``: a udev
                       rule is missing
``pn533_module``       the kernel's own NFC driver (``pn533_usb``, or ``port100``
                       for a Sony RC-S380) has claimed the reader, so nfcpy cannot
``uart_enabled``       the UART is switched off in ``config.txt``
``uart_bluetooth``     on a Pi 3/4 the good UART (``ttyAMA0``) belongs to Bluetooth
``serial_console``     a Linux login console sits on the UART and talks over the reader
``serial_device``      the serial device node does not exist
``serial_permission``  the kiosk user is not in the group (``dialout``) owning the node
``reader_opens``       the final proof: nfcpy opened the reader (or its error)
=====================  ==========================================================

Like nfcpy's ``python -m nfc`` (which prints a udev rule when access is
denied), every failed check carries a concrete fix: the commands to run or the
line to add.  Checks only *read*; nothing here changes the system.

Everything is read through a :class:`SystemView` rooted at a directory, so
tests build a fake ``/sys``, ``/proc``, ``/dev`` and ``/boot`` under a temporary
folder.  Permissions are judged from mode bits and ownership for an explicit
:class:`Identity` (by default the kiosk's service user ``kokreativ``), never
with ``os.access``: the doctor is often run with ``sudo``, and root may open
anything, which proves nothing about the kiosk service.  ACLs are ignored.

nfcpy itself is never imported here.  Opening the reader is the caller's job,
passed in as ``try_open``, so this module runs (and is tested) anywhere.

Example (what ``kokreativ doctor --reader usb:054c:06c3`` does)::

    findings = diagnose("usb:054c:06c3", SystemView("/"), try_open=open_with_nfcpy)
    print(render(findings))
    raise SystemExit(exit_code(findings))
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Literal

KIOSK_USER = "kokreativ"
"""The service user of ``kokreativ-kiosk.service``; the doctor checks access for it when it exists."""

UDEV_RULES = Path(__file__).with_name("udev") / "60-kokreativ-nfc.rules"
UDEV_RULES_INSTALLED = "/etc/udev/rules.d/60-kokreativ-nfc.rules"
UDEV_GROUP = "plugdev"
MODPROBE_BLACKLIST_FILE = "/etc/modprobe.d/blacklist-pn533.conf"
MODPROBE_BLACKLIST = "blacklist pn533_usb\nblacklist pn533\nblacklist port100\nblacklist nfc\n"
# Kernel NFC modules that can hold a USB reader, in the order rmmod must remove them (users first).
_KERNEL_NFC_MODULES = ("pn533_usb", "pn533", "port100", "nfc_digital", "nfc")


class Status(StrEnum):
    """How a check came out; ``fail`` makes :func:`exit_code` non-zero."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Finding:
    """One check's result: a stable ``check`` id, one line saying what was found, and the fix."""

    check: str
    status: Status
    message: str
    fix: str | None = None


@dataclass(frozen=True, slots=True)
class KnownReader:
    """A USB reader nfcpy 1.0.4 has a driver for, and the kernel module that competes for it."""

    vendor: int
    product: int
    name: str
    nfcpy_driver: str
    kernel_driver: str | None

    @property
    def usb_id(self) -> str:
        return f"{self.vendor:04x}:{self.product:04x}"


# nfcpy's own table (nfc/clf/device.py) plus the Linux drivers whose ID tables list the same
# devices (drivers/nfc/pn533/usb.c, drivers/nfc/port100.c).
KNOWN_READERS: tuple[KnownReader, ...] = (
    KnownReader(0x054C, 0x06C1, "Sony RC-S380", "rcs380", "port100"),
    KnownReader(0x054C, 0x06C3, "Sony RC-S380", "rcs380", "port100"),
    KnownReader(0x054C, 0x02E1, "Sony RC-S330/360/370", "rcs956", "pn533_usb"),
    KnownReader(0x072F, 0x2200, "ACS ACR122U", "acr122", "pn533_usb"),
    KnownReader(0x04CC, 0x2533, "NXP PN533", "pn533", "pn533_usb"),
    KnownReader(0x04E6, 0x5591, "SCM SCL3711", "pn533", "pn533_usb"),
    KnownReader(0x04E6, 0x5593, "SCM SCL3712", "pn533", None),
    KnownReader(0x04CC, 0x0531, "NXP PN531", "pn531", None),
    KnownReader(0x054C, 0x0193, "Sony PN531", "pn531", None),
)
_BY_ID = {(r.vendor, r.product): r for r in KNOWN_READERS}


def udev_rule(reader: KnownReader) -> str:
    """The udev line giving ``reader`` to the ``plugdev`` group, exactly as in the shipped rules file."""
    return (
        f'SUBSYSTEM=="usb", ATTRS{{idVendor}}=="{reader.vendor:04x}", '
        f'ATTRS{{idProduct}}=="{reader.product:04x}", MODE="0660", GROUP="{UDEV_GROUP}"'
    )


# --------------------------------------------------------------------------- reader paths


class ReaderPathError(ValueError):
    """The reader path is not one nfcpy would accept."""


_TTY_DRIVERS = ("pn532", "arygon", "pn533", "pn531", "rcs956")
PATH_HELP = (
    "Use one of these forms (the same as nfcpy):\n"
    "  usb                  the first supported USB reader\n"
    "  usb:054c:06c3        a USB reader by vendor:product ID (hex)\n"
    "  usb:001:004          a USB reader by bus:device number (lsusb shows them)\n"
    "  tty:AMA0:pn532       a PN532 on the Pi's UART (tty:S0:pn532 for the mini UART)\n"
    "  tty:USB0:pn532       a PN532 behind a USB-serial adapter\n"
    "  udp:localhost:54321  nfcpy's network emulator (tests)"
)


@dataclass(frozen=True, slots=True)
class ReaderPath:
    """A parsed nfcpy reader path; ``str()`` gives the canonical path back.

    ``port`` is the serial device without ``/dev/tty``: ``"AMA0"``, ``"S0"``,
    ``"USB0"``; ``"AMA"`` means any ``ttyAMA<n>``, ``None`` any serial port;
    anything else (``"serial0"``) names ``/dev/<port>`` itself.

    >>> path = parse_reader_path("tty:AMA0:pn532")
    >>> path.kind, path.port, path.driver
    ('tty', 'AMA0', 'pn532')
    >>> str(parse_reader_path("usb:1:4"))
    'usb:001:004'
    """

    kind: Literal["usb", "tty", "udp"]
    vendor: int | None = None
    product: int | None = None
    bus: int | None = None
    device: int | None = None
    port: str | None = None
    driver: str | None = None
    host: str | None = None
    udp_port: int | None = None

    def __str__(self) -> str:
        if self.kind == "usb":
            if self.vendor is not None:
                return "usb:" + ":".join(f"{n:04x}" for n in (self.vendor, self.product) if n is not None)
            if self.bus is not None:
                return "usb:" + ":".join(f"{n:03d}" for n in (self.bus, self.device) if n is not None)
            return "usb"
        if self.kind == "tty":
            if self.driver:
                return f"tty:{self.port or ''}:{self.driver}"
            return f"tty:{self.port}" if self.port else "tty"
        return f"udp:{self.host or 'localhost'}:{self.udp_port or 54321}"

    def matches_tty(self, name: str) -> bool:
        """Whether ``/dev/<name>`` is a device this path would open (nfcpy's rules)."""
        port = self.port
        if port is None:
            return re.fullmatch(r"tty(S|ACM|AMA|USB)\d+", name) is not None
        if re.fullmatch(r"(S|ACM|AMA|USB)\d+", port):
            return name == "tty" + port
        if re.fullmatch(r"S|ACM|AMA|USB", port):
            return re.fullmatch(rf"tty{port}\d+", name) is not None
        return name == port

    @property
    def on_pi_uart(self) -> bool:
        """Whether the path may name the Raspberry Pi's own UART (as opposed to a USB-serial adapter)."""
        return self.port is None or re.fullmatch(r"(AMA|S)\d*|serial\d", self.port) is not None


def parse_reader_path(text: str) -> ReaderPath:
    """Parse an nfcpy reader path; raise :class:`ReaderPathError` (a ``ValueError``) if nfcpy would not.

    The rules follow nfcpy 1.0.4 (``nfc/clf/transport.py``): after ``usb:``
    four hex digits are a vendor (then product) ID, one to three decimal digits
    a bus (then device) number.
    """
    if text == "usb":
        return ReaderPath("usb")
    if m := re.fullmatch(r"usb:([0-9a-fA-F]{4})(?::([0-9a-fA-F]{4}))?", text):
        return ReaderPath("usb", vendor=int(m[1], 16), product=int(m[2], 16) if m[2] else None)
    if m := re.fullmatch(r"usb:([0-9]{1,3})(?::([0-9]{1,3}))?", text):
        return ReaderPath("usb", bus=int(m[1]), device=int(m[2]) if m[2] else None)
    if m := re.fullmatch(r"tty(?::([a-zA-Z0-9-]*))?(?::([a-zA-Z0-9]*))?", text):
        driver = m[2] or None
        if driver is not None and driver not in _TTY_DRIVERS:
            raise ReaderPathError(f"unknown serial reader driver {driver!r} in {text!r} (try pn532)")
        return ReaderPath("tty", port=m[1] or None, driver=driver)
    if m := re.fullmatch(r"udp(?::([^:]*))?(?::([0-9]{1,5}))?", text):
        return ReaderPath("udp", host=m[1] or "localhost", udp_port=int(m[2]) if m[2] else 54321)
    raise ReaderPathError(f"{text!r} is not an nfcpy reader path")


# --------------------------------------------------------------------------- reading the system


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


# --------------------------------------------------------------------------- Raspberry Pi config.txt

_MODEL_FILTERS = frozenset(
    {"pi0", "pi0w", "pi02", "pi1", "pi2", "pi3", "pi3+", "pi4", "pi400", "pi5", "pi500"}
    | {"cm0", "cm3", "cm3+", "cm4", "cm4s", "cm5", "none"}
)


def _model_tags(model: str | None) -> frozenset[str] | None:
    """The ``config.txt`` section filters (``[pi4]``, …) that apply to ``model``; ``None`` if unknown."""
    if model is None:
        return None
    table = (
        (r"Raspberry Pi 500", {"pi5", "pi500"}),
        (r"Raspberry Pi 5", {"pi5"}),
        (r"Compute Module 5", {"pi5", "cm5"}),
        (r"Raspberry Pi 400", {"pi4", "pi400"}),
        (r"Raspberry Pi 4", {"pi4"}),
        (r"Compute Module 4S", {"pi4", "cm4s"}),
        (r"Compute Module 4", {"pi4", "cm4"}),
        (r"Raspberry Pi 3 Model [AB] Plus", {"pi3", "pi3+"}),
        (r"Raspberry Pi 3", {"pi3"}),
        (r"Compute Module 3 Plus", {"pi3", "cm3", "cm3+"}),
        (r"Compute Module 3", {"pi3", "cm3"}),
        (r"Zero 2", {"pi0", "pi02"}),
        (r"Zero W", {"pi0", "pi0w"}),
        (r"Zero", {"pi0"}),
        (r"Raspberry Pi 2", {"pi2"}),
    )
    for pattern, tags in table:
        if re.search(pattern, model):
            return frozenset(tags)
    return frozenset({"pi1"})


def _uart_family(tags: frozenset[str] | None) -> Literal["pi5", "bluetooth", "plain", "unknown"]:
    """How the header UART is set up: Pi 5 style, PL011 lent to Bluetooth (Pi 3/4, Zero W), or plain."""
    if tags is None:
        return "unknown"
    if "pi5" in tags:
        return "pi5"
    if tags & {"pi4", "pi3", "pi0w", "pi02"} and not tags & {"cm3"}:
        return "bluetooth"
    return "plain"


@dataclass(frozen=True, slots=True)
class _BootConfig:
    """The settings of ``config.txt`` that apply to this model, in file order."""

    settings: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, text: str, tags: frozenset[str] | None) -> _BootConfig:
        applies = True
        settings: list[tuple[str, str]] = []
        for raw in text.splitlines():
            line = raw.split("#", 1)[0].strip()
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1].strip().lower()
                # Model filters apply to their family; other filters ([HDMI:0], [gpio4=1], …) depend on
                # things we cannot see, so they are assumed to apply.
                if section == "all":
                    applies = True
                elif section in _MODEL_FILTERS:
                    applies = section != "none" and (tags is None or section in tags)
                else:
                    applies = True
            elif "=" in line and applies:
                key, value = line.split("=", 1)
                settings.append((key.strip(), value.strip()))
        return cls(tuple(settings))

    def last(self, key: str) -> str | None:
        values = [v for k, v in self.settings if k == key]
        return values[-1] if values else None

    def dtparams(self) -> dict[str, str]:
        params: dict[str, str] = {}
        for key, value in self.settings:
            if key in ("dtparam", "device_tree_param"):
                for item in value.split(","):
                    name, _, val = item.partition("=")
                    params[name.strip()] = val.strip() or "on"
        return params

    def overlays(self) -> list[str]:
        return [
            v.split(",", 1)[0].strip() for k, v in self.settings if k in ("dtoverlay", "device_tree_overlay")
        ]


def _is_on(value: str | None) -> bool:
    return value is not None and value.lower() in ("on", "true", "yes", "1")


# --------------------------------------------------------------------------- the checks

_OK, _WARN, _FAIL = Status.OK, Status.WARN, Status.FAIL
_REBOOT = "  sudo reboot"
_STOP_KIOSK = (
    "Stop the kiosk while testing (sudo systemctl stop kokreativ-kiosk): only one program can hold a reader."
)


def diagnose(
    reader_path: str | None,
    view: SystemView,
    *,
    try_open: Callable[[str], str | None] | None = None,
) -> list[Finding]:
    """Check everything that stands between the kiosk and the reader at ``reader_path``.

    ``reader_path`` is the kiosk's ``nfc_path`` (``usb:054c:06c3``, ``tty:AMA0:pn532``, …).
    ``None`` looks for any supported USB reader and, failing that on a Pi, checks the UART
    for a PN532.  ``udp:`` paths skip the hardware checks.

    ``try_open(path)`` is called last, if given: it should open the reader (``nfc.ContactlessFrontend``)
    and return ``None`` on success or the error as a string; its result is the ``reader_opens`` finding.
    Nothing here raises for a bad system or a bad path; problems come back as findings.
    """
    findings: list[Finding] = []
    candidate: str | None = reader_path
    parsed: ReaderPath | None = None
    if reader_path is None:
        usb_findings, readers = _usb_checks(
            ReaderPath("usb"), view, absent=_WARN if view.pi_model() else _FAIL
        )
        findings += usb_findings
        if readers:
            candidate = readers[0].path
        elif view.pi_model():
            parsed = ReaderPath("tty", port="AMA0", driver="pn532")
            findings += _tty_checks(parsed, view)
            candidate = str(parsed)
        else:
            candidate = None
    else:
        try:
            parsed = parse_reader_path(reader_path)
        except ReaderPathError as exc:
            return [Finding("reader_path", _FAIL, str(exc), PATH_HELP)]
        if parsed.kind == "usb":
            findings += _usb_checks(parsed, view, absent=_FAIL)[0]
        elif parsed.kind == "tty":
            findings += _tty_checks(parsed, view)
        else:
            findings.append(
                Finding("reader_path", _OK, f"{parsed} is nfcpy's network emulator; no hardware to check")
            )
    if try_open is not None:
        findings.append(_open_check(candidate, parsed, try_open, findings))
    return findings


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


def _supported_list() -> str:
    lines = [f"  {r.usb_id}  {r.name}" for r in KNOWN_READERS]
    return "Readers nfcpy supports over USB:\n" + "\n".join(lines)


def _usb_checks(
    path: ReaderPath, view: SystemView, *, absent: Status
) -> tuple[list[Finding], list[UsbDevice]]:
    """``usb_reader_present``, then ``usb_permission`` and ``pn533_module`` for each supported reader."""
    devices = [
        d
        for d in view.usb_devices()
        if (path.vendor is None or d.vendor == path.vendor)
        and (path.product is None or d.product == path.product)
        and (path.bus is None or d.bus == path.bus)
        and (path.device is None or d.devnum == path.device)
    ]
    readers = [d for d in devices if d.reader is not None]
    if not readers:
        if devices and path != ReaderPath("usb"):
            ids = ", ".join(f"{d.vendor:04x}:{d.product:04x}" for d in devices)
            message = f"{path} is USB device {ids}, which nfcpy has no driver for"
            fix = "Use a supported reader (and set nfc_path to it).\n" + _supported_list()
        else:
            where = "on USB" if path == ReaderPath("usb") else f"matching {path}"
            message = f"no supported NFC reader {where} ({len(view.usb_devices())} USB devices seen)"
            fix = (
                "Plug the reader in (directly, or through a powered hub) and run this again; "
                "`lsusb` lists what the Pi sees.\n" + _supported_list()
            )
            if absent is _WARN:
                message += "; checking the UART for a PN532 instead"
                fix = "If the reader is a USB one, plug it in. " + fix
        return [Finding("usb_reader_present", absent, message, fix)], []
    found = ", ".join(f"{d.reader.name} ({d.reader.usb_id}) at {d.path}" for d in readers if d.reader)
    findings = [Finding("usb_reader_present", _OK, f"found {found}")]
    loaded, blacklisted = view.loaded_modules(), view.blacklisted_modules()
    for device in readers:
        findings.append(_usb_permission(device, view))
        findings.append(_kernel_driver(device, loaded, blacklisted))
    return findings, readers


def _usb_permission(device: UsbDevice, view: SystemView) -> Finding:
    reader = device.reader
    assert reader is not None
    who = view.identity
    st = view.stat(device.node)
    if st is not None and who.can_read_write(st):
        return Finding("usb_permission", _OK, f"{device.node} is readable and writable by user {who.name}")
    if st is None:
        message = f"{device.node} ({reader.name}) does not exist, so nobody can open the reader"
    else:
        message = f"user {who.name} cannot read and write {device.node} ({reader.name}): " + _mode(st)
    installed = view.exists(UDEV_RULES_INSTALLED)
    state = (
        f"{UDEV_RULES_INSTALLED} is installed: reload udev and check that {who.name} is in {UDEV_GROUP}"
        if installed
        else f"no {UDEV_RULES_INSTALLED} yet"
    )
    fix = (
        f"Give the reader to the {UDEV_GROUP} group with kokreativ's udev rule ({state}):\n"
        f"  sudo cp hardware/udev/60-kokreativ-nfc.rules /etc/udev/rules.d/    # from the kokreativ source\n"
        f"  sudo udevadm control --reload && sudo udevadm trigger\n"
        f"  sudo usermod -aG {UDEV_GROUP} {who.name}    # then restart the kiosk (or log in again)\n"
        f"The file's rule for this reader:\n"
        f"  {udev_rule(reader)}"
    )
    return Finding("usb_permission", _FAIL, message, fix)


def _blacklist_fix(loaded: Iterable[str]) -> str:
    to_remove = [m for m in _KERNEL_NFC_MODULES if m in set(loaded)] or ["pn533_usb", "pn533", "nfc"]
    # printf rather than a here-document: the fix is shown indented, and an indented EOF ends nothing.
    content = MODPROBE_BLACKLIST.replace("\n", "\\n")
    return (
        "nfcpy drives the reader itself: unload the kernel's NFC drivers now, and blacklist them\n"
        "so they stay unloaded after a reboot or a re-plug:\n"
        f"  sudo rmmod {' '.join(to_remove)}\n"
        f"  printf '{content}' | sudo tee {MODPROBE_BLACKLIST_FILE}"
    )


def _kernel_driver(device: UsbDevice, loaded: frozenset[str], blacklisted: frozenset[str]) -> Finding:
    reader = device.reader
    assert reader is not None
    module = reader.kernel_driver
    claimed = device.drivers & set(_KERNEL_NFC_MODULES)
    if claimed:
        holder = ", ".join(sorted(claimed))
        message = (
            f"the kernel's {holder} driver holds the {reader.name} at {device.path}; nfcpy cannot open it"
        )
        return Finding("pn533_module", _FAIL, message, _blacklist_fix(loaded))
    if module is None:
        return Finding("pn533_module", _OK, f"the kernel has no driver for the {reader.name}")
    if module in loaded:
        message = f"kernel module {module} is loaded; it claims the {reader.name} as soon as it is re-plugged"
        return Finding("pn533_module", _WARN, message, _blacklist_fix(loaded))
    note = " (blacklisted)" if module in blacklisted else ""
    return Finding(
        "pn533_module", _OK, f"kernel module {module} is not loaded{note}; the reader is free for nfcpy"
    )


def _config_fix(config_file: str, lines: Sequence[str], *, raspi: str | None = None, then: str = "") -> str:
    text = (
        f"Add under the [all] section of {config_file}\n"
        "(settings after a line like [cm4] apply to that model only):\n"
    )
    text += "".join(f"  {line}\n" for line in lines)
    if raspi:
        text += f"(`{raspi}` writes {lines[0]} for you.)\n"
    text += then
    if "dtoverlay=disable-bt" in lines:
        return (
            text
            + "Then stop the Bluetooth modem service, which would use that UART, and reboot:\n"
            + ("  sudo systemctl disable hciuart\n" + _REBOOT)
        )
    return text + "Then reboot:\n" + _REBOOT


def _tty_checks(path: ReaderPath, view: SystemView) -> list[Finding]:
    findings: list[Finding] = []
    if path.driver is None:
        findings.append(
            Finding(
                "reader_path",
                _WARN,
                f"{path} names no driver, so nfcpy tries arygon, then pn532",
                f'Name the driver: nfc_path = "{ReaderPath("tty", port=path.port, driver="pn532")}"',
            )
        )
    model = view.pi_model()
    config_file = view.boot_file("config.txt")
    on_pi = model is not None or config_file is not None
    if path.on_pi_uart and on_pi:
        findings += _uart_config_checks(path, view, model, config_file)
    findings += _serial_node_checks(path, view, on_pi=on_pi)
    return findings


def _uart_config_checks(
    path: ReaderPath, view: SystemView, model: str | None, config_file: str | None
) -> list[Finding]:
    """``uart_enabled``, ``uart_bluetooth`` (Pi 3/4) and ``serial_console`` for a reader on the Pi's UART."""
    tags = _model_tags(model)
    family = _uart_family(tags)
    what = model or "this system"
    shown = config_file or "/boot/firmware/config.txt"
    config = _BootConfig.parse((view.read_text(config_file) or "") if config_file else "", tags)
    wants_pl011 = family == "bluetooth" and (path.port is None or not path.port.startswith("S"))
    return [
        _uart_enabled(config, family, what, config_file, shown, wants_pl011),
        *([_uart_bluetooth(path, config, what, shown)] if family == "bluetooth" else []),
        _serial_console(path, view, family),
    ]


def _uart_enabled(
    config: _BootConfig, family: str, what: str, config_file: str | None, shown: str, wants_pl011: bool
) -> Finding:
    # A Pi 5 switches GPIO14/15 on with dtparam=uart0 (its enable_uart is about the debug connector);
    # older models with enable_uart=1.  That is also what `raspi-config nonint do_serial_hw 0` writes.
    params = config.dtparams()
    uart0 = _is_on(params.get("uart0")) or _is_on(params.get("uart0_console"))
    enable_uart = config.last("enable_uart") == "1"
    setting = "dtparam=uart0=on" if family == "pi5" else "enable_uart=1"
    if family == "pi5":
        enabled = uart0
    elif family == "unknown":
        enabled = uart0 or enable_uart
        setting = "dtparam=uart0=on" if uart0 else setting
    else:
        enabled = enable_uart
    wanted = [setting, *(["dtoverlay=disable-bt"] if wants_pl011 else [])]
    if config_file is None:
        message = f"no config.txt in /boot/firmware or /boot, so the UART of {what} is off"
        return Finding("uart_enabled", _FAIL, message, _config_fix(shown, wanted))
    if enabled:
        return Finding("uart_enabled", _OK, f"the UART is enabled ({setting} in {config_file})")
    message = f"the UART on GPIO14/15 is not enabled: no {setting} in {config_file} for {what}"
    fix = _config_fix(config_file, wanted, raspi="sudo raspi-config nonint do_serial_hw 0")
    return Finding("uart_enabled", _FAIL, message, fix)


def _uart_bluetooth(path: ReaderPath, config: _BootConfig, what: str, shown: str) -> Finding:
    # On Pi 3/4 (and Zero W) the good UART, the PL011 (ttyAMA0), drives Bluetooth unless an overlay
    # frees it; the mini UART (ttyS0) left on the pins changes speed with the CPU clock.
    if path.port is not None and path.port.startswith("S"):
        message = (
            "the mini UART (ttyS0) changes speed with the CPU clock; a PN532 is more reliable on ttyAMA0"
        )
        fix = _config_fix(shown, ["dtoverlay=disable-bt"], then='and set nfc_path = "tty:AMA0:pn532".\n')
        return Finding("uart_bluetooth", _WARN, message, fix)
    freed = {"disable-bt", "pi3-disable-bt", "miniuart-bt", "pi3-miniuart-bt"} & set(config.overlays())
    if freed:
        return Finding("uart_bluetooth", _OK, f"dtoverlay={sorted(freed)[0]} frees ttyAMA0 from Bluetooth")
    message = f"on {what} ttyAMA0 is wired to Bluetooth, not to GPIO14/15: dtoverlay=disable-bt is missing"
    return Finding("uart_bluetooth", _FAIL, message, _config_fix(shown, ["dtoverlay=disable-bt"]))


def _serial_console(path: ReaderPath, view: SystemView, family: str) -> Finding:
    # A console (and its login prompt) on the reader's UART answers the PN532 with text.
    reader_nodes = {
        os.path.basename(view.resolve(f"/dev/{n}")) for n in view.listdir("/dev") if path.matches_tty(n)
    }
    if path.port and re.fullmatch(r"(S|AMA)\d+", path.port):
        reader_nodes.add("tty" + path.port)
    elif not reader_nodes:
        reader_nodes = {"ttyAMA0", "ttyS0"}
    # serial0 is the "primary" UART.  Before dtoverlay=disable-bt it may still point at ttyS0, but the fix
    # above moves it to ttyAMA0, so a console on serial0 counts.  Only a Pi 5 keeps serial0 on its separate
    # debug connector (ttyAMA10) unless told otherwise.
    serial0 = os.path.basename(view.resolve("/dev/serial0")) if view.exists("/dev/serial0") else None
    if family != "pi5" or serial0 in reader_nodes:
        reader_nodes.add("serial0")
    cmdline_file = view.boot_file("cmdline.txt")
    words = (view.read_text(cmdline_file) or "").split() if cmdline_file else []
    consoles = [w for w in words if w.startswith("console=") and w[8:].split(",")[0] in reader_nodes]
    gettys = [
        f"serial-getty@{n}.service"
        for n in sorted(reader_nodes)
        if view.exists(f"/etc/systemd/system/getty.target.wants/serial-getty@{n}.service")
    ]
    if not consoles and not gettys:
        return Finding(
            "serial_console", _OK, f"no serial console on the UART ({cmdline_file or 'no cmdline.txt'})"
        )
    found = ", ".join([*(f"{c} in {cmdline_file}" for c in consoles), *(f"{g} enabled" for g in gettys)])
    fix = "Take the Linux console off the UART, then reboot:\n  sudo raspi-config nonint do_serial_cons 1\n"
    if consoles:
        fix += f"  (or delete {' and '.join(consoles)} from {cmdline_file}; it must stay one line)\n"
    fix += "".join(f"  sudo systemctl disable --now {g}\n" for g in gettys) + _REBOOT
    return Finding("serial_console", _FAIL, f"a serial console occupies the UART: {found}", fix)


def _serial_node_checks(path: ReaderPath, view: SystemView, *, on_pi: bool) -> list[Finding]:
    names = [n for n in view.listdir("/dev") if path.matches_tty(n)]
    if not names:
        wanted = (
            f"/dev/{path.port}" if path.port and not path.port.startswith("tty") else f"a device for {path}"
        )
        if path.port and re.fullmatch(r"(S|ACM|AMA|USB)\d+", path.port):
            wanted = f"/dev/tty{path.port}"
        if path.on_pi_uart and on_pi:
            fix = (
                "Enable the UART (see uart_enabled above) and reboot; `ls -l /dev/ttyAMA*` shows the result."
            )
        elif path.on_pi_uart:
            fix = (
                "This does not look like a Raspberry Pi; a reader on a USB-serial adapter is tty:USB0:pn532."
            )
        else:
            fix = "Plug in the USB-serial adapter; `dmesg | tail` shows the name it got (ttyUSB0, ttyACM0)."
        return [Finding("serial_device", _FAIL, f"{wanted} does not exist", fix)]
    node = f"/dev/{names[0]}"
    real = view.resolve(node)
    shown = node if real == node else f"{node} (→ {real})"
    findings = [Finding("serial_device", _OK, f"{shown} exists")]
    who = view.identity
    st = view.stat(node)
    if st is not None and who.can_read_write(st):
        findings.append(
            Finding("serial_permission", _OK, f"{real} is readable and writable by user {who.name}")
        )
    else:
        mode = _mode(st) if st else "unreadable"
        fix = (
            "Serial ports belong to the dialout group; add the kiosk user to it:\n"
            f"  sudo usermod -aG dialout {who.name}    # then restart the kiosk (or log in again)"
        )
        findings.append(
            Finding("serial_permission", _FAIL, f"user {who.name} cannot read and write {real}: {mode}", fix)
        )
    return findings


def _open_check(
    candidate: str | None,
    parsed: ReaderPath | None,
    try_open: Callable[[str], str | None],
    earlier: Sequence[Finding],
) -> Finding:
    if candidate is None:
        return Finding(
            "reader_opens",
            _FAIL,
            "no reader found to open",
            "Connect a reader and name it with --reader PATH.\n" + PATH_HELP,
        )
    try:
        error = try_open(candidate)
    except Exception as exc:  # the opener is the caller's code: report, never crash the doctor
        error = f"{type(exc).__name__}: {exc}"
    if error is None:
        return Finding("reader_opens", _OK, f"nfcpy opened {candidate}")
    message = f"nfcpy could not open {candidate}: {error}"
    if "libusb" in error:  # nfcpy's USB path needs the C library, whatever else is wrong
        return Finding("reader_opens", _FAIL, message, "Install libusb: sudo apt-get install libusb-1.0-0")
    if any(f.status is _FAIL for f in earlier):
        return Finding("reader_opens", _FAIL, message, "Fix the FAIL items above first, then run this again.")
    kind = parsed.kind if parsed is not None else "usb"
    if kind == "tty":
        fix = (
            "The system looks right, so check the board and its wiring:\n"
            "  reader TXD → Pi RXD (GPIO15, pin 10), reader RXD → Pi TXD (GPIO14, pin 8), GND → pin 6,\n"
            "  VCC → 3.3 V (pin 1) or 5 V (pin 2) as the board requires;\n"
            "  the board's mode switches set to HSU (UART): nfcpy cannot use I2C or SPI.\n" + _STOP_KIOSK
        )
    elif kind == "udp":
        fix = "Start the nfcpy emulator on that host and port first."
    else:
        fix = (
            _STOP_KIOSK + "\n"
            "Otherwise re-plug the reader, try another port or cable; `python -m nfc` shows what nfcpy sees."
        )
    return Finding("reader_opens", _FAIL, message, fix)


# --------------------------------------------------------------------------- output

_LABELS = {Status.OK: "OK", Status.WARN: "WARN", Status.FAIL: "FAIL"}


def worst(findings: Iterable[Finding]) -> Status:
    """The most serious status among ``findings`` (``ok`` for none)."""
    statuses = {f.status for f in findings}
    return _FAIL if _FAIL in statuses else _WARN if _WARN in statuses else _OK


def exit_code(findings: Iterable[Finding]) -> int:
    """0 when nothing failed (warnings allowed), 1 otherwise."""
    return 1 if worst(findings) is _FAIL else 0


def render(findings: Sequence[Finding]) -> str:
    """Human-readable report: one line per finding, its fix indented below, and a summary line.

    >>> print(render([Finding("uart_enabled", Status.OK, "the UART is enabled")]))
    OK    uart_enabled: the UART is enabled
    All 1 checks passed.
    """
    lines: list[str] = []
    for f in findings:
        lines.append(f"{_LABELS[f.status]:<4}  {f.check}: {f.message}")
        if f.fix:
            lines.extend(f"      {line}" if line else "" for line in f.fix.splitlines())
    failed = sum(f.status is _FAIL for f in findings)
    warned = sum(f.status is _WARN for f in findings)
    if failed:
        lines.append(
            f"{failed} failed, {warned} warnings: apply the fixes from the top, then run this again."
        )
    elif warned:
        lines.append(f"No failures, {warned} warnings.")
    else:
        lines.append(f"All {len(findings)} checks passed.")
    return "\n".join(lines)


def to_json(findings: Sequence[Finding]) -> str:
    """Machine-readable report: ``{"status": worst, "findings": [{check, status, message, fix}, …]}``."""
    data = {
        "status": worst(findings).value,
        "findings": [
            {"check": f.check, "status": f.status.value, "message": f.message, "fix": f.fix} for f in findings
        ],
    }
    return json.dumps(data, indent=2, ensure_ascii=False)
