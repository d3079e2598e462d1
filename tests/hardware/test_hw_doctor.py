"""``kokreativ doctor``'s library: each known cause of "reader not found", on a fake system tree.

Each test builds the few files of ``/sys``, ``/proc``, ``/dev`` and ``/boot``
that matter under ``tmp_path`` and checks the statuses and the fix text.
Permissions are judged for an explicit identity that does not own the fake
device files, so the checks behave the same whether the tests run as root
or not.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.doctor import (
    KNOWN_READERS,
    MODPROBE_BLACKLIST_FILE,
    UDEV_RULES,
    Finding,
    Identity,
    ReaderPath,
    ReaderPathError,
    Status,
    SystemView,
    diagnose,
    exit_code,
    parse_reader_path,
    render,
    to_json,
    udev_rule,
)

OK, WARN, FAIL = Status.OK, Status.WARN, Status.FAIL
RCS380 = (0x054C, 0x06C3)
ACR122U = (0x072F, 0x2200)
PI4 = "Raspberry Pi 4 Model B Rev 1.4"
PI5 = "Raspberry Pi 5 Model B Rev 1.0"
CMDLINE_WITH_CONSOLE = (
    "console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait\n"
)
CMDLINE_CLEAN = "console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait\n"
# What Raspberry Pi OS Bookworm ships, with the model sections that come before [all].
CONFIG_STOCK = (
    "dtparam=audio=on\ncamera_auto_detect=1\n\n"
    "[cm4]\notg_mode=1\n\n[cm5]\ndtoverlay=dwc2,dr_mode=host\n\n[all]\n"
)


class FakeSystem:
    """A fake root file system; ``view()`` reads it as the kiosk user ``kiosk`` (uid/gid 54321)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.uid = 54321
        self.gids = {54321}
        self._usb_count = 0
        assert os.getuid() != self.uid

    def file(self, absolute: str, text: str = "", mode: int | None = None) -> Path:
        path = self.root / absolute.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if mode is not None:
            path.chmod(mode)
        return path

    def symlink(self, absolute: str, target: str) -> None:
        path = self.root / absolute.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)

    def usb(self, ids: tuple[int, int], *, mode: int = 0o660, driver: str | None = None) -> str:
        """Plug a USB device in: sysfs entry plus /dev/bus/usb node; returns its ``usb:BUS:DEV`` path."""
        self._usb_count += 1
        name, bus, dev = f"1-1.{self._usb_count}", 1, 3 + self._usb_count
        base = f"/sys/bus/usb/devices/{name}"
        for key, value in (("idVendor", f"{ids[0]:04x}"), ("idProduct", f"{ids[1]:04x}")):
            self.file(f"{base}/{key}", value + "\n")
        self.file(f"{base}/busnum", f"{bus}\n")
        self.file(f"{base}/devnum", f"{dev}\n")
        (self.root / f"sys/bus/usb/devices/{name}:1.0").mkdir(parents=True)
        if driver:
            self.symlink(f"{base}:1.0/driver", f"../../../../bus/usb/drivers/{driver}")
        self.file(f"/dev/bus/usb/{bus:03d}/{dev:03d}", mode=mode)
        return f"usb:{bus:03d}:{dev:03d}"

    def root_hub(self) -> None:
        self.file("/sys/bus/usb/devices/usb1/idVendor", "1d6b\n")
        self.file("/sys/bus/usb/devices/usb1/idProduct", "0002\n")
        self.file("/sys/bus/usb/devices/usb1/busnum", "1\n")
        self.file("/sys/bus/usb/devices/usb1/devnum", "1\n")
        self.file("/dev/bus/usb/001/001", mode=0o664)

    def modules(self, *names: str) -> None:
        self.file("/proc/modules", "".join(f"{n} 65536 0 - Live 0x0000000000000000\n" for n in names))

    def pi(self, model: str, *, config: str, cmdline: str = CMDLINE_CLEAN) -> None:
        self.file("/proc/device-tree/model", model + "\x00")
        self.file("/boot/firmware/config.txt", config)
        self.file("/boot/firmware/cmdline.txt", cmdline)

    def tty(self, name: str, *, mode: int = 0o660, group_member: bool = True) -> None:
        """A serial device node; ``group_member``: the kiosk user is in the node's group (dialout)."""
        path = self.file(f"/dev/{name}", mode=mode)
        if group_member:
            self.gids.add(path.stat().st_gid)

    def view(self) -> SystemView:
        return SystemView(self.root, identity=Identity("kiosk", self.uid, frozenset(self.gids)))


@pytest.fixture
def fake(tmp_path: Path) -> FakeSystem:
    system = FakeSystem(tmp_path)
    system.root_hub()
    system.modules("snd_bcm2835", "brcmfmac")
    return system


def by_check(findings: list[Finding]) -> dict[str, Finding]:
    checks = [f.check for f in findings]
    assert len(checks) == len(set(checks)), checks  # one finding per check for a single reader
    return {f.check: f for f in findings}


def statuses(findings: list[Finding]) -> dict[str, Status]:
    return {f.check: f.status for f in findings}


# --------------------------------------------------------------------------- USB readers


def test_healthy_usb_reader_is_all_ok(fake):
    fake.usb(RCS380, mode=0o666)
    findings = diagnose("usb:054c:06c3", fake.view(), try_open=lambda path: None)
    assert statuses(findings) == {
        "usb_reader_present": OK,
        "usb_permission": OK,
        "pn533_module": OK,
        "reader_opens": OK,
    }
    assert exit_code(findings) == 0
    assert "Sony RC-S380 (054c:06c3) at usb:001:004" in by_check(findings)["usb_reader_present"].message


def test_group_access_counts_when_the_user_is_in_the_devices_group(fake):
    fake.usb(RCS380, mode=0o660)  # what the udev rule produces: rw for plugdev only
    node = fake.root / "dev/bus/usb/001/004"
    fake.gids.add(node.stat().st_gid)
    assert by_check(diagnose("usb", fake.view()))["usb_permission"].status is OK


def test_missing_permission_on_the_usb_device_prints_the_udev_rule(fake):
    fake.usb(RCS380, mode=0o600)  # root-only, as without a udev rule
    findings = by_check(diagnose("usb:054c:06c3", fake.view()))
    permission = findings["usb_permission"]
    assert permission.status is FAIL
    assert "user kiosk cannot read and write /dev/bus/usb/001/004" in permission.message
    assert "mode 0600" in permission.message
    fix = permission.fix or ""
    assert 'SUBSYSTEM=="usb", ATTRS{idVendor}=="054c", ATTRS{idProduct}=="06c3", MODE="0660"' in fix
    assert "sudo cp hardware/udev/60-kokreativ-nfc.rules /etc/udev/rules.d/" in fix
    assert "sudo udevadm control --reload && sudo udevadm trigger" in fix
    assert "sudo usermod -aG plugdev kiosk" in fix
    assert "no /etc/udev/rules.d/60-kokreativ-nfc.rules yet" in fix


def test_permission_fix_notices_an_installed_rule(fake):
    fake.usb(RCS380, mode=0o600)
    fake.file("/etc/udev/rules.d/60-kokreativ-nfc.rules", udev_rule(KNOWN_READERS[1]) + "\n")
    fix = by_check(diagnose("usb", fake.view()))["usb_permission"].fix or ""
    assert "is installed: reload udev and check that kiosk is in plugdev" in fix


def test_root_may_open_anything(fake):
    fake.usb(RCS380, mode=0o600)
    view = SystemView(fake.root, identity=Identity("root", 0, frozenset({0})))
    assert by_check(diagnose("usb", view))["usb_permission"].status is OK


def test_kernel_pn533_driver_holding_the_reader_fails_with_rmmod_and_blacklist(fake):
    fake.usb(ACR122U, mode=0o666, driver="pn533_usb")
    fake.modules("pn533_usb", "pn533", "nfc", "snd_bcm2835")
    finding = by_check(diagnose("usb:072f:2200", fake.view()))["pn533_module"]
    assert finding.status is FAIL
    assert "pn533_usb driver holds the ACS ACR122U" in finding.message
    fix = finding.fix or ""
    assert "sudo rmmod pn533_usb pn533 nfc" in fix
    assert MODPROBE_BLACKLIST_FILE == "/etc/modprobe.d/blacklist-pn533.conf"
    assert f"sudo tee {MODPROBE_BLACKLIST_FILE}" in fix
    for module in ("pn533_usb", "pn533", "nfc"):
        assert f"blacklist {module}\\n" in fix


def test_rcs380_is_claimed_by_port100_not_pn533(fake):
    fake.usb(RCS380, mode=0o666, driver="port100")
    fake.modules("port100", "nfc_digital", "nfc")
    finding = by_check(diagnose("usb", fake.view()))["pn533_module"]
    assert finding.status is FAIL
    assert "port100" in finding.message
    assert "sudo rmmod port100 nfc_digital nfc" in (finding.fix or "")


def test_a_loaded_module_not_yet_bound_is_a_warning(fake):
    fake.usb(ACR122U, mode=0o666)
    fake.modules("pn533_usb", "pn533", "nfc")
    finding = by_check(diagnose("usb", fake.view()))["pn533_module"]
    assert finding.status is WARN
    assert "blacklist pn533_usb" in (finding.fix or "")


def test_blacklisted_module_is_reported_ok(fake):
    fake.usb(ACR122U, mode=0o666)
    fake.file(MODPROBE_BLACKLIST_FILE, "blacklist pn533_usb\nblacklist pn533\nblacklist nfc\n")
    finding = by_check(diagnose("usb", fake.view()))["pn533_module"]
    assert finding.status is OK
    assert "(blacklisted)" in finding.message


def test_no_reader_plugged_in_fails_and_lists_supported_readers(fake):
    findings = diagnose("usb", fake.view(), try_open=lambda path: "No such device")
    assert statuses(findings) == {"usb_reader_present": FAIL, "reader_opens": FAIL}
    present = by_check(findings)["usb_reader_present"]
    assert "no supported NFC reader on USB" in present.message
    assert "054c:06c3  Sony RC-S380" in (present.fix or "")
    assert by_check(findings)["reader_opens"].fix == "Fix the FAIL items above first, then run this again."
    assert exit_code(findings) == 1


def test_an_unsupported_usb_device_at_the_configured_path(fake):
    fake.usb((0x1234, 0x5678))
    finding = by_check(diagnose("usb:1234:5678", fake.view()))["usb_reader_present"]
    assert finding.status is FAIL
    assert "nfcpy has no driver for" in finding.message


def test_bus_and_device_path_selects_one_device(fake):
    fake.usb(ACR122U, mode=0o666)
    second = fake.usb(RCS380, mode=0o600)
    assert second == "usb:001:005"
    findings = by_check(diagnose(second, fake.view()))
    assert "Sony RC-S380" in findings["usb_reader_present"].message
    assert "ACR122U" not in findings["usb_reader_present"].message
    assert findings["usb_permission"].status is FAIL


def test_no_path_finds_the_usb_reader_and_opens_it_by_bus_and_device(fake):
    path = fake.usb(RCS380, mode=0o666)
    opened: list[str] = []
    findings = diagnose(None, fake.view(), try_open=lambda p: opened.append(p))
    assert opened == [path]
    assert statuses(findings)["reader_opens"] is OK


def test_no_path_and_no_reader_off_a_pi_fails(fake):
    findings = diagnose(None, fake.view(), try_open=lambda p: None)
    assert statuses(findings) == {"usb_reader_present": FAIL, "reader_opens": FAIL}
    assert "no reader found to open" in by_check(findings)["reader_opens"].message


# --------------------------------------------------------------------------- the UART (PN532)


def healthy_pi4(fake: FakeSystem, *, cmdline: str = CMDLINE_CLEAN) -> None:
    fake.pi(PI4, config=CONFIG_STOCK + "enable_uart=1\ndtoverlay=disable-bt\n", cmdline=cmdline)
    fake.tty("ttyAMA0")
    fake.symlink("/dev/serial0", "ttyAMA0")


def test_healthy_uart_setup_is_all_ok(fake):
    healthy_pi4(fake)
    findings = diagnose("tty:AMA0:pn532", fake.view(), try_open=lambda p: None)
    assert statuses(findings) == {
        "uart_enabled": OK,
        "uart_bluetooth": OK,
        "serial_console": OK,
        "serial_device": OK,
        "serial_permission": OK,
        "reader_opens": OK,
    }
    assert exit_code(findings) == 0
    assert render(findings).endswith("All 6 checks passed.")


def test_healthy_pi5_uart_uses_dtparam_uart0(fake):
    # Pi 5: GPIO14/15 is uart0 (ttyAMA0) once dtparam=uart0=on; serial0 stays on the debug connector.
    fake.pi(PI5, config=CONFIG_STOCK + "dtparam=uart0=on\n", cmdline=CMDLINE_WITH_CONSOLE)
    fake.tty("ttyAMA0")
    fake.tty("ttyAMA10")
    fake.symlink("/dev/serial0", "ttyAMA10")
    findings = diagnose("tty:AMA0:pn532", fake.view())
    assert statuses(findings) == {
        "uart_enabled": OK,
        "serial_console": OK,  # console=serial0 is the debug UART here, not the reader's
        "serial_device": OK,
        "serial_permission": OK,
    }


def test_serial_console_on_the_uart_fails_with_raspi_config_and_cmdline_fix(fake):
    healthy_pi4(fake, cmdline=CMDLINE_WITH_CONSOLE)
    finding = by_check(diagnose("tty:AMA0:pn532", fake.view()))["serial_console"]
    assert finding.status is FAIL
    assert "console=serial0,115200 in /boot/firmware/cmdline.txt" in finding.message
    fix = finding.fix or ""
    assert "sudo raspi-config nonint do_serial_cons 1" in fix
    assert "delete console=serial0,115200 from /boot/firmware/cmdline.txt" in fix
    assert "sudo reboot" in fix


def test_enabled_serial_getty_on_the_uart_fails(fake):
    healthy_pi4(fake)
    fake.symlink(
        "/etc/systemd/system/getty.target.wants/serial-getty@ttyAMA0.service",
        "/lib/systemd/system/serial-getty@.service",
    )
    finding = by_check(diagnose("tty:AMA0:pn532", fake.view()))["serial_console"]
    assert finding.status is FAIL
    assert "sudo systemctl disable --now serial-getty@ttyAMA0.service" in (finding.fix or "")


def test_legacy_boot_paths_are_read_too(fake):
    fake.file("/proc/device-tree/model", PI4 + "\x00")
    fake.file("/boot/config.txt", "enable_uart=1\ndtoverlay=disable-bt\n")
    fake.file("/boot/cmdline.txt", CMDLINE_WITH_CONSOLE)
    fake.tty("ttyAMA0")
    findings = by_check(diagnose("tty:AMA0:pn532", fake.view()))
    assert findings["uart_enabled"].status is OK
    assert "/boot/cmdline.txt" in findings["serial_console"].message


def test_uart_not_enabled_fails_with_config_txt_lines(fake):
    fake.pi(PI4, config=CONFIG_STOCK)
    fake.tty("ttyAMA0")  # exists, but it is Bluetooth's
    findings = by_check(diagnose("tty:AMA0:pn532", fake.view()))
    enabled = findings["uart_enabled"]
    assert enabled.status is FAIL
    assert "no enable_uart=1 in /boot/firmware/config.txt" in enabled.message
    fix = enabled.fix or ""
    assert "  enable_uart=1\n  dtoverlay=disable-bt\n" in fix
    assert "sudo raspi-config nonint do_serial_hw 0" in fix
    assert "sudo systemctl disable hciuart" in fix
    assert findings["uart_bluetooth"].status is FAIL
    assert "wired to Bluetooth" in findings["uart_bluetooth"].message


def test_uart_enabled_only_in_another_models_section_does_not_count(fake):
    fake.pi(PI4, config="[cm5]\nenable_uart=1\ndtoverlay=disable-bt\n")
    fake.tty("ttyAMA0")
    findings = by_check(diagnose("tty:AMA0:pn532", fake.view()))
    assert findings["uart_enabled"].status is FAIL
    assert findings["uart_bluetooth"].status is FAIL


def test_uart_enabled_in_the_models_own_section_counts(fake):
    fake.pi(PI4, config="[pi4]\nenable_uart=1\ndtoverlay=disable-bt\n[all]\n")
    fake.tty("ttyAMA0")
    assert by_check(diagnose("tty:AMA0:pn532", fake.view()))["uart_enabled"].status is OK


def test_pi5_without_dtparam_uart0_fails_with_the_pi5_setting(fake):
    fake.pi(PI5, config=CONFIG_STOCK + "enable_uart=1\n")
    finding = by_check(diagnose("tty:AMA0:pn532", fake.view()))["uart_enabled"]
    assert finding.status is FAIL
    assert "dtparam=uart0=on" in (finding.fix or "")
    assert "disable-bt" not in (finding.fix or "")


def test_mini_uart_on_a_pi4_is_a_warning(fake):
    fake.pi(PI4, config="enable_uart=1\n")
    fake.tty("ttyS0")
    findings = by_check(diagnose("tty:S0:pn532", fake.view()))
    assert findings["uart_enabled"].status is OK
    assert findings["uart_bluetooth"].status is WARN
    assert 'device = "tty:AMA0:pn532"' in (findings["uart_bluetooth"].fix or "")


def test_missing_serial_device_fails(fake):
    fake.pi(PI5, config="dtparam=uart0=on\n")
    finding = by_check(diagnose("tty:AMA0:pn532", fake.view()))["serial_device"]
    assert finding.status is FAIL
    assert finding.message == "/dev/ttyAMA0 does not exist"


def test_serial_permission_needs_dialout(fake):
    healthy_pi4(fake)
    fake.gids.clear()  # the kiosk user lost its groups: /dev/ttyAMA0 is 0660
    finding = by_check(diagnose("tty:serial0:pn532", fake.view()))["serial_permission"]
    assert finding.status is FAIL
    assert "cannot read and write /dev/ttyAMA0" in finding.message  # serial0 followed to its target
    assert "sudo usermod -aG dialout kiosk" in (finding.fix or "")


def test_usb_serial_adapter_skips_the_pi_uart_checks(fake):
    fake.pi(PI4, config=CONFIG_STOCK)  # UART off: irrelevant for a USB-serial adapter
    fake.tty("ttyUSB0", mode=0o666, group_member=False)
    findings = diagnose("tty:USB0:pn532", fake.view())
    assert statuses(findings) == {"serial_device": OK, "serial_permission": OK}


def test_serial_path_without_driver_warns(fake):
    healthy_pi4(fake)
    finding = by_check(diagnose("tty:AMA0", fake.view()))["reader_path"]
    assert finding.status is WARN
    assert finding.fix == 'Name the driver: device = "tty:AMA0:pn532"'


def test_no_path_on_a_pi_without_usb_reader_checks_the_uart(fake):
    healthy_pi4(fake)
    opened: list[str] = []
    findings = diagnose(None, fake.view(), try_open=lambda p: opened.append(p))
    assert opened == ["tty:AMA0:pn532"]
    assert statuses(findings)["usb_reader_present"] is WARN
    assert statuses(findings)["uart_enabled"] is OK
    assert exit_code(findings) == 0


def test_opening_failure_on_a_healthy_uart_points_at_the_wiring(fake):
    healthy_pi4(fake)
    findings = diagnose("tty:AMA0:pn532", fake.view(), try_open=lambda p: "no reader answered")
    opens = by_check(findings)["reader_opens"]
    assert opens.status is FAIL
    assert opens.message == "nfcpy could not open tty:AMA0:pn532: no reader answered"
    assert "HSU" in (opens.fix or "")


def test_a_raising_opener_is_reported_not_raised(fake):
    def opener(path: str) -> str | None:
        raise OSError(13, "Permission denied")

    findings = diagnose("udp:localhost:54321", fake.view(), try_open=opener)
    assert statuses(findings) == {"reader_path": OK, "reader_opens": FAIL}
    assert "PermissionError: [Errno 13] Permission denied" in by_check(findings)["reader_opens"].message


# --------------------------------------------------------------------------- paths, output, the rules file


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("usb", ReaderPath("usb")),
        ("usb:054c", ReaderPath("usb", vendor=0x054C)),
        ("usb:054c:06c3", ReaderPath("usb", vendor=0x054C, product=0x06C3)),
        ("usb:072F:2200", ReaderPath("usb", vendor=0x072F, product=0x2200)),
        ("usb:001:004", ReaderPath("usb", bus=1, device=4)),
        ("usb:1:4", ReaderPath("usb", bus=1, device=4)),
        ("usb:001", ReaderPath("usb", bus=1)),
        ("tty", ReaderPath("tty")),
        ("tty:AMA0:pn532", ReaderPath("tty", port="AMA0", driver="pn532")),
        ("tty:S0:pn532", ReaderPath("tty", port="S0", driver="pn532")),
        ("tty:USB0:pn532", ReaderPath("tty", port="USB0", driver="pn532")),
        ("tty:AMA", ReaderPath("tty", port="AMA")),
        ("tty:serial0:pn532", ReaderPath("tty", port="serial0", driver="pn532")),
        ("udp", ReaderPath("udp", host="localhost", udp_port=54321)),
        ("udp:127.0.0.1:60000", ReaderPath("udp", host="127.0.0.1", udp_port=60000)),
    ],
)
def test_parse_reader_path(text, expected):
    assert parse_reader_path(text) == expected


@pytest.mark.parametrize(
    "text", ["", "usb:", "usb:54c:6c3x", "usb:0001:004", "usb:1234:56789", "tty:AMA0:pn999", "pcsc", "com:1"]
)
def test_parse_reader_path_rejects(text):
    with pytest.raises(ReaderPathError):
        parse_reader_path(text)


def test_a_bad_path_becomes_a_finding_with_the_accepted_forms(fake):
    findings = diagnose("usb:nonsense", fake.view())
    assert [(f.check, f.status) for f in findings] == [("reader_path", FAIL)]
    assert "tty:AMA0:pn532" in (findings[0].fix or "")


@given(st.integers(0, 0xFFFF), st.one_of(st.none(), st.integers(0, 0xFFFF)))
def test_usb_id_paths_round_trip(vendor, product):
    path = ReaderPath("usb", vendor=vendor, product=product)
    assert parse_reader_path(str(path)) == path


@given(st.integers(0, 999), st.one_of(st.none(), st.integers(0, 999)))
def test_usb_bus_paths_round_trip(bus, device):
    path = ReaderPath("usb", bus=bus, device=device)
    assert parse_reader_path(str(path)) == path


@given(
    st.one_of(st.none(), st.from_regex(r"(AMA|S|USB|ACM)[0-9]{0,2}", fullmatch=True)),
    st.sampled_from([None, "pn532", "arygon"]),
)
def test_tty_paths_round_trip(port, driver):
    path = ReaderPath("tty", port=port, driver=driver)
    assert parse_reader_path(str(path)) == path


def test_tty_matching_follows_nfcpy():
    assert ReaderPath("tty", port="AMA0").matches_tty("ttyAMA0")
    assert not ReaderPath("tty", port="AMA0").matches_tty("ttyAMA10")
    assert ReaderPath("tty", port="AMA").matches_tty("ttyAMA10")
    assert ReaderPath("tty", port="serial0").matches_tty("serial0")
    assert ReaderPath("tty").matches_tty("ttyUSB3")
    assert not ReaderPath("tty").matches_tty("tty1")


def test_render_puts_the_fix_under_its_line_and_ends_with_a_summary():
    findings = [
        Finding("usb_reader_present", OK, "found it"),
        Finding("usb_permission", FAIL, "no access", "do this:\n  sudo thing"),
        Finding("pn533_module", WARN, "module loaded", "unload it"),
    ]
    assert render(findings).splitlines() == [
        "OK    usb_reader_present: found it",
        "FAIL  usb_permission: no access",
        "      do this:",
        "        sudo thing",
        "WARN  pn533_module: module loaded",
        "      unload it",
        "1 failed, 1 warnings: apply the fixes from the top, then run this again.",
    ]


def test_to_json_and_exit_code():
    findings = [Finding("reader_opens", OK, "opened"), Finding("pn533_module", WARN, "loaded", "fix")]
    data = json.loads(to_json(findings))
    assert data == {
        "status": "warn",
        "findings": [
            {"check": "reader_opens", "status": "ok", "message": "opened", "fix": None},
            {"check": "pn533_module", "status": "warn", "message": "loaded", "fix": "fix"},
        ],
    }
    assert exit_code(findings) == 0
    assert exit_code([*findings, Finding("usb_permission", FAIL, "x")]) == 1
    assert exit_code([]) == 0


def _rules() -> list[str]:
    return [line for line in UDEV_RULES.read_text().splitlines() if line.strip() and not line.startswith("#")]


_RULE = (
    r'SUBSYSTEM=="usb", ATTRS\{idVendor\}=="([0-9a-f]{4})", ATTRS\{idProduct\}=="([0-9a-f]{4})", '
    r'MODE="0660", GROUP="plugdev"'
)


def test_udev_rules_file_lists_every_known_reader():
    ids = set()
    for line in _rules():
        m = re.fullmatch(_RULE, line)
        assert m, line
        ids.add((int(m[1], 16), int(m[2], 16)))
    assert ids == {(r.vendor, r.product) for r in KNOWN_READERS}


def test_the_fix_quotes_the_rules_files_own_lines():
    assert sorted(udev_rule(r) for r in KNOWN_READERS) == sorted(_rules())


def test_pi_uart_path_off_a_pi_says_so(fake):
    finding = by_check(diagnose("tty:AMA0:pn532", fake.view()))["serial_device"]
    assert finding.status is FAIL
    assert "does not look like a Raspberry Pi" in (finding.fix or "")


def test_a_missing_libusb_names_the_package_to_install(tmp_path):
    findings = diagnose(
        "usb",
        SystemView(tmp_path),
        try_open=lambda path: "FileNotFoundError: cannot find a suitable libusb-1.0",
    )
    opens = next(f for f in findings if f.check == "reader_opens")
    assert opens.status is Status.FAIL and "apt-get install libusb-1.0-0" in (opens.fix or "")
