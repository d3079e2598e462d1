"""nfcpy reader paths (``usb:054c:06c3``, ``tty:AMA0:pn532``, …): parsed and checked before anything else.

The kiosk config names its reader with the same path string nfcpy opens, so a
typo there is the first thing the doctor can catch, without touching the system.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal


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
