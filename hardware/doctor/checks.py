"""The doctor's entry point, :func:`diagnose`, with the USB checks and the final ``reader_opens`` check.

The serial (UART) checks for a PN532 are in :mod:`hardware.doctor.uart`;
see :mod:`hardware.doctor` for the whole table of checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from hardware.doctor.findings import Finding, Status
from hardware.doctor.paths import PATH_HELP, ReaderPath, ReaderPathError, parse_reader_path
from hardware.doctor.readers import (
    _KERNEL_NFC_MODULES,
    KNOWN_READERS,
    MODPROBE_BLACKLIST,
    MODPROBE_BLACKLIST_FILE,
    UDEV_GROUP,
    UDEV_RULES_INSTALLED,
    udev_rule,
)
from hardware.doctor.system import SystemView, UsbDevice, _mode
from hardware.doctor.uart import _tty_checks

_OK, _WARN, _FAIL = Status.OK, Status.WARN, Status.FAIL
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

    ``reader_path`` is the kiosk's ``device`` (kiosk.toml) (``usb:054c:06c3``, ``tty:AMA0:pn532``, …).
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
            fix = "Use a supported reader (and set the kiosk's device to it).\n" + _supported_list()
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
            "Connect a reader and name it with --device PATH.\n" + PATH_HELP,
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
