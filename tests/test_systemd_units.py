"""The systemd units in ``systemd/`` start the right command, sandboxed.

The parsing checks run everywhere.  ``systemd-analyze verify`` (syntax, unknown
settings, missing binaries) and ``systemd-analyze security --offline`` (the
exposure score) need systemd's tools; ``.ci/run`` installs them, so CI never
skips those.
"""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from kokreativ.cli import build_parser
from server import config as server_config

UNITS = Path(__file__).resolve().parents[1] / "systemd"
KOKREATIV = "/opt/kokreativ/.venv/bin/kokreativ"

CAGE = "/usr/bin/cage"
# Under cage the app is not the unit's main process: it must not inherit cage's WATCHDOG_PID.
UNSET_WATCHDOG_PID = ("/usr/bin/env", "-u", "WATCHDOG_PID")

# unit file -> the sub-command its ExecStart must run
EXPECTED = {
    "kokreativ-kiosk.service": ["terminal", "run"],
    "kokreativ-kiosk-headless.service": ["terminal", "run"],
    "kokreativ-sync.service": ["terminal", "sync"],
    "kokreativ-server.service": ["server", "run"],
}
# Highest `systemd-analyze security` exposure each unit may have (0 = locked down, 10 = none).
MAX_EXPOSURE = {
    "kokreativ-server.service": 3.0,
    "kokreativ-sync.service": 3.0,
    # The screen kiosk needs more (GPU, input, network for enrolment): systemd/README.md says why.
    "kokreativ-kiosk.service": 3.0,
    "kokreativ-kiosk-headless.service": 3.0,
}


def load(name: str) -> configparser.ConfigParser:
    # strict=False: systemd allows repeated keys; interpolation=None: "%" is a systemd specifier.
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string((UNITS / name).read_text(encoding="utf-8"), source=name)
    return parser


def all_values(name: str, key: str, section: str = "Service") -> list[str]:
    """Every value of a repeated setting such as ``DeviceAllow=`` (configparser keeps only the last)."""
    values, current = [], None
    for line in (UNITS / name).read_text(encoding="utf-8").splitlines():
        if line.startswith("["):
            current = line.strip("[]")
        elif current == section and line.startswith(f"{key}="):
            values.append(line.split("=", 1)[1])
    return values


def exec_start(name: str) -> list[str]:
    """The kokreativ command line of ``name``: for the screen kiosk, what cage runs after ``--``."""
    argv = shlex.split(load(name)["Service"]["ExecStart"])
    if CAGE in argv:
        argv = argv[argv.index("--", argv.index(CAGE)) + 1 :]
        if argv[:3] == [*UNSET_WATCHDOG_PID]:
            argv = argv[3:]
    return argv


def test_every_unit_in_the_folder_is_checked() -> None:
    assert sorted(p.name for p in UNITS.glob("*.service")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_unit_basics(name: str) -> None:
    unit = load(name)
    assert unit["Unit"]["Description"].strip()
    service = unit["Service"]
    # The screen kiosk restarts always: cage exits 0 even when the app crashed.
    assert service["Restart"] == ("always" if name == "kokreativ-kiosk.service" else "on-failure")
    assert service["NoNewPrivileges"] == "yes"
    assert service["PrivateTmp"] == "yes"
    assert service["ProtectHome"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service.get("User", "").startswith("kokreativ")
    assert unit["Install"]["WantedBy"].strip()


@pytest.mark.parametrize(("name", "subcommand"), sorted(EXPECTED.items()))
def test_exec_start_runs_the_venv_binary_with_the_right_subcommand(name: str, subcommand: list[str]) -> None:
    argv = exec_start(name)
    assert argv[0] == KOKREATIV
    assert argv[1:3] == subcommand


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_data_folder_is_the_state_directory(name: str) -> None:
    service = load(name)["Service"]
    state = service["StateDirectory"]
    assert service["WorkingDirectory"] == f"/var/lib/{state}"
    argv = exec_start(name)
    # --config/--data point into the folder systemd makes writable under ProtectSystem=strict.
    # The server's --config is different: a settings file it only reads, in /etc, whose
    # data_dir is that folder (test_server_listens_on_loopback_only).
    flags = ("--data",) if name == "kokreativ-server.service" else ("--config", "--data")
    for flag in flags:
        if flag in argv:
            assert argv[argv.index(flag) + 1].startswith(f"/var/lib/{state}")


@pytest.mark.parametrize("name", ["kokreativ-kiosk.service", "kokreativ-kiosk-headless.service"])
def test_kiosk_runs_offline_and_keeps_only_its_devices(name: str) -> None:
    assert "--no-sync" in exec_start(name)
    service = load(name)["Service"]
    # PrivateDevices=yes would hide the reader and GPIO: a closed device policy with an allow list instead.
    assert "PrivateDevices" not in service
    assert service["DevicePolicy"] == "closed"
    allowed = set(all_values(name, "DeviceAllow"))
    assert {"char-usb_device rw", "char-ttyAMA rw", "char-gpiochip rw"} <= allowed
    if name == "kokreativ-kiosk.service":
        assert {"char-drm rw", "char-input rw", "/dev/tty1 rw"} <= allowed


def test_the_screen_kiosk_runs_the_app_under_cage_on_tty1() -> None:
    unit = load("kokreativ-kiosk.service")
    service = unit["Service"]
    argv = shlex.split(service["ExecStart"])
    assert CAGE in argv
    app = exec_start("kokreativ-kiosk.service")
    assert "--headless" not in app
    assert app[app.index("--server") + 1] == "${KOKREATIV_SERVER}"
    assert service["EnvironmentFile"].lstrip("-") == "/etc/kokreativ/kiosk.env"
    assert service["TTYPath"] == "/dev/tty1"
    assert service["PAMName"]
    assert service["NotifyAccess"] == "all"  # the app is cage's child, not the main process
    # ... so systemd's WATCHDOG_PID names cage, and the app would never ping: it runs without it.
    after_cage = argv[argv.index("--", argv.index(CAGE)) + 1 :]
    assert after_cage[:3] == [*UNSET_WATCHDOG_PID] and after_cage[3] == KOKREATIV
    assert (
        "getty@tty1.service" in " ".join(all_values("kokreativ-kiosk.service", "Conflicts", "Unit")).split()
    )
    assert (
        "systemd-user-sessions.service"
        in " ".join(all_values("kokreativ-kiosk.service", "After", "Unit")).split()
    )
    # MemoryDenyWriteExecute would break Mesa's shader JIT: left out on purpose (and said why).
    assert "MemoryDenyWriteExecute" not in service
    assert "--headless" in exec_start("kokreativ-kiosk-headless.service")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_unit_is_sandboxed_and_watched(name: str) -> None:
    service = load(name)["Service"]
    assert service["Type"] == "notify"
    assert service["WatchdogSec"]
    for setting in (
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectControlGroups",
        "RestrictNamespaces",
        "RestrictRealtime",
        "LockPersonality",
    ):
        assert service[setting] == "yes", setting
    assert service["CapabilityBoundingSet"] == ""
    assert all_values(name, "SystemCallFilter")[0] == "@system-service"
    families = set(service["RestrictAddressFamilies"].split())
    assert "AF_UNIX" in families  # sd_notify
    assert families <= {"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"}
    if name != "kokreativ-kiosk.service":
        assert service["MemoryDenyWriteExecute"] == "yes"
    if name in {"kokreativ-server.service", "kokreativ-sync.service"}:
        assert "AF_NETLINK" not in families
        assert service["PrivateDevices"] == "yes"


def test_sync_loops_and_waits_for_the_network() -> None:
    assert "--once" not in exec_start("kokreativ-sync.service")
    unit = load("kokreativ-sync.service")["Unit"]
    assert "network-online.target" in unit["After"].split()
    assert "network-online.target" in unit["Wants"].split()


def test_server_listens_on_loopback_only() -> None:
    # The unit reads the shipped settings file (flags would override it; it gives none that do).
    argv = exec_start("kokreativ-server.service")
    assert argv[argv.index("--config") + 1] == "/etc/kokreativ/server.toml"
    assert not {"--host", "--port", "--data"} & set(argv)
    settings = server_config.load(UNITS.parent / "deploy" / "server.toml")
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    service = load("kokreativ-server.service")["Service"]
    assert service["User"] == "kokreativ-server"
    # The data folder the file names is the one systemd makes writable.
    assert settings.data_dir == Path("/var/lib") / service["StateDirectory"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_cli_accepts_the_arguments(name: str) -> None:
    parser = build_parser()  # an import that breaks fails here, never skips
    try:
        args = parser.parse_args(exec_start(name)[1:])
    except SystemExit:
        pytest.fail(f"kokreativ rejects the ExecStart arguments of {name}")
    assert callable(getattr(args, "func", None))


SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed (.ci/run installs the systemd package)"
)


def stub_units(folder: Path) -> list[Path]:
    """Copy every unit into ``folder`` with the binaries it runs replaced by stub scripts.

    ``verify`` fails on an ExecStart binary that does not exist, and neither
    kokreativ's virtualenv nor cage is installed where the tests run.
    """
    stubs = {KOKREATIV: folder / "bin" / "kokreativ", CAGE: folder / "bin" / "cage"}
    for stub in stubs.values():
        stub.parent.mkdir(exist_ok=True)
        stub.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
        stub.chmod(0o755)
    copies = []
    for name in sorted(EXPECTED):
        text = (UNITS / name).read_text(encoding="utf-8")
        for real, stub in stubs.items():
            text = text.replace(real, str(stub))
        copy = folder / name
        copy.write_text(text, encoding="utf-8")
        copies.append(copy)
    return copies


@needs_systemd_analyze
def test_systemd_analyze_verify_accepts_every_unit(tmp_path: Path) -> None:
    assert SYSTEMD_ANALYZE is not None
    copies = stub_units(tmp_path)
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", "--generators=no", *map(str, copies)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # verify exits 0 on some problems (an unknown key is "ignored"), so any output is a failure too.
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


def exposure(name: str) -> float:
    """The overall exposure `systemd-analyze security --offline` gives the unit file (0.0 to 10.0)."""
    assert SYSTEMD_ANALYZE is not None
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "security", "--offline=true", "--no-pager", str(UNITS / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
    assert match, result.stdout + result.stderr
    return float(match.group(1))


def documented_scores(name: str) -> tuple[float, float]:
    """The score the unit's own comment states, and the one systemd/README.md's table gives it."""
    comment = re.search(r"scores it (\d+\.\d)", (UNITS / name).read_text(encoding="utf-8"))
    table = re.search(
        rf"^\| `{re.escape(name)}` \| (\d+\.\d) \|$", (UNITS / "README.md").read_text(encoding="utf-8"), re.M
    )
    assert comment and table, f"{name}: no score in its comment or in systemd/README.md's table"
    return float(comment.group(1)), float(table.group(1))


@needs_systemd_analyze
@pytest.mark.parametrize("name", sorted(MAX_EXPOSURE))
def test_the_documented_score_is_the_measured_one(name: str) -> None:
    """The unit's comment, systemd/README.md and systemd-analyze say the same (issue 20: they drifted)."""
    assert documented_scores(name) == (exposure(name), exposure(name))


@needs_systemd_analyze
@pytest.mark.parametrize(("name", "ceiling"), sorted(MAX_EXPOSURE.items()))
def test_exposure_score_stays_below_the_ceiling(name: str, ceiling: float) -> None:
    assert SYSTEMD_ANALYZE is not None
    assert exposure(name) <= ceiling
    # --threshold counts tenths (30 = 3.0) and fails the command above it: what an admin would run.
    result = subprocess.run(
        [
            SYSTEMD_ANALYZE,
            "security",
            "--offline=true",
            f"--threshold={round(ceiling * 10)}",
            "--no-pager",
            str(UNITS / name),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr


def test_the_ui_docs_name_the_unit_that_runs_headless() -> None:
    """docs/ui.md says which unit runs ``--headless``, and the units agree (issue 20: they drifted)."""
    ui = " ".join((UNITS.parent / "docs" / "ui.md").read_text(encoding="utf-8").split())
    assert "`kokreativ-kiosk.service` starts the screen under `cage`" in ui
    assert "runs `kokreativ-kiosk-headless.service`, the tap loop `--headless`" in ui
    assert "--headless" in exec_start("kokreativ-kiosk-headless.service")
    assert "--headless" not in exec_start("kokreativ-kiosk.service")


def test_server_allows_its_signature_checks_to_lower_their_priority() -> None:
    # server.app.lower_thread_priority calls setpriority; @resources (removed before) holds it, so it
    # comes back after the removal (systemd applies the lines in order), or the unit refuses it (EPERM).
    filters = all_values("kokreativ-server.service", "SystemCallFilter")
    assert filters.index("~@privileged @resources") < filters.index("setpriority")
    assert load("kokreativ-server.service")["Service"]["CapabilityBoundingSet"] == ""  # lowering only
