"""The USB readers nfcpy drives, and the udev and modprobe settings that hand them to the kiosk.

Kept in one place because the shipped ``hardware/udev/60-kokreativ-nfc.rules``
must list exactly :data:`KNOWN_READERS` (a test compares the two), and the
fixes the checks print are built from these values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# This module lives in hardware/doctor/; the rules file ships in hardware/udev/.
UDEV_RULES = Path(__file__).parents[1] / "udev" / "60-kokreativ-nfc.rules"
UDEV_RULES_INSTALLED = "/etc/udev/rules.d/60-kokreativ-nfc.rules"
UDEV_GROUP = "plugdev"
MODPROBE_BLACKLIST_FILE = "/etc/modprobe.d/blacklist-pn533.conf"
MODPROBE_BLACKLIST = "blacklist pn533_usb\nblacklist pn533\nblacklist port100\nblacklist nfc\n"
# Kernel NFC modules that can hold a USB reader, in the order rmmod must remove them (users first).
_KERNEL_NFC_MODULES = ("pn533_usb", "pn533", "port100", "nfc_digital", "nfc")


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
