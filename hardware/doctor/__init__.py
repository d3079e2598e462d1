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
passed in as ``try_open``, so this package runs (and is tested) anywhere.

Example (what ``kokreativ doctor --reader usb:054c:06c3`` does)::

    findings = diagnose("usb:054c:06c3", SystemView("/"), try_open=open_with_nfcpy)
    print(render(findings))
    raise SystemExit(exit_code(findings))

The package, one concern per module: :mod:`~hardware.doctor.paths` (reader
paths), :mod:`~hardware.doctor.readers` (supported USB readers, udev and
modprobe settings), :mod:`~hardware.doctor.system` (:class:`SystemView`),
:mod:`~hardware.doctor.bootconfig` (the Pi's ``config.txt``),
:mod:`~hardware.doctor.checks` (:func:`diagnose` and the USB checks),
:mod:`~hardware.doctor.uart` (the serial checks), :mod:`~hardware.doctor.findings`
and :mod:`~hardware.doctor.output` (the report).  Import from here.
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
