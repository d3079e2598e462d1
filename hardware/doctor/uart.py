"""Checks for a reader on a serial port: the Pi's UART settings, its console, the device node and access.

These are the ``uart_enabled``, ``uart_bluetooth``, ``serial_console``,
``serial_device`` and ``serial_permission`` rows of the table in
:mod:`hardware.doctor`; :func:`hardware.doctor.diagnose` runs them for ``tty:`` paths.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from hardware.doctor.bootconfig import _BootConfig, _is_on, _model_tags, _uart_family
from hardware.doctor.findings import Finding, Status
from hardware.doctor.paths import ReaderPath
from hardware.doctor.system import SystemView, _mode

_OK, _WARN, _FAIL = Status.OK, Status.WARN, Status.FAIL
_REBOOT = "  sudo reboot"


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
                f'Name the driver: device = "{ReaderPath("tty", port=path.port, driver="pn532")}"',
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
        fix = _config_fix(shown, ["dtoverlay=disable-bt"], then='and set device = "tty:AMA0:pn532".\n')
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
