"""Why can't the kiosk find its NFC reader?  Look at the system and print the fix.

Every failed check carries the commands or the line that fix it, like nfcpy's
``python -m nfc``.  Checks only read, through a :class:`SystemView` rooted at a
directory (tests fake ``/sys``, ``/dev``, ``/boot``), and judge permissions for
the kiosk's service user, never with ``os.access`` (the doctor often runs as
root).  nfcpy is not imported here: the caller passes ``try_open``.  The checks
and the modules: docs/hardware.md, "The doctor's checks".

Example (what ``kokreativ doctor --device usb:054c:06c3`` does)::

    findings = diagnose("usb:054c:06c3", SystemView("/"), try_open=open_with_nfcpy)
    print(render(findings))
    raise SystemExit(exit_code(findings))

Import from here; each concern has its own module.
"""

from hardware.doctor.checks import diagnose
from hardware.doctor.findings import Finding, Status
from hardware.doctor.output import exit_code, render, to_json, worst
from hardware.doctor.paths import PATH_HELP, ReaderPath, ReaderPathError, parse_reader_path
from hardware.doctor.readers import (
    KNOWN_READERS,
    MODPROBE_BLACKLIST,
    MODPROBE_BLACKLIST_FILE,
    UDEV_GROUP,
    UDEV_RULES,
    UDEV_RULES_INSTALLED,
    KnownReader,
    udev_rule,
)
from hardware.doctor.system import KIOSK_USER, Identity, SystemView, UsbDevice

__all__ = [
    "KIOSK_USER",
    "KNOWN_READERS",
    "MODPROBE_BLACKLIST",
    "MODPROBE_BLACKLIST_FILE",
    "PATH_HELP",
    "UDEV_GROUP",
    "UDEV_RULES",
    "UDEV_RULES_INSTALLED",
    "Finding",
    "Identity",
    "KnownReader",
    "ReaderPath",
    "ReaderPathError",
    "Status",
    "SystemView",
    "UsbDevice",
    "diagnose",
    "exit_code",
    "parse_reader_path",
    "render",
    "to_json",
    "udev_rule",
    "worst",
]
