"""The systemd units in ``systemd/`` start the right command with the basic settings.

``systemd-analyze verify`` checks the syntax where systemd is installed; this
test runs everywhere and checks what matters to us.
"""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[1] / "systemd"
KOKREATIV = "/opt/kokreativ/.venv/bin/kokreativ"

# unit file -> the sub-command its ExecStart must run
EXPECTED = {
    "kokreativ-kiosk.service": ["terminal", "run"],
    "kokreativ-sync.service": ["terminal", "sync"],
    "kokreativ-server.service": ["server", "run"],
}


def load(name: str) -> configparser.ConfigParser:
    # strict=False: systemd allows repeated keys; interpolation=None: "%" is a systemd specifier.
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string((UNITS / name).read_text(encoding="utf-8"), source=name)
    return parser


def exec_start(name: str) -> list[str]:
    return shlex.split(load(name)["Service"]["ExecStart"])


def test_every_unit_in_the_folder_is_checked() -> None:
    assert sorted(p.name for p in UNITS.glob("*.service")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_unit_basics(name: str) -> None:
    unit = load(name)
    assert unit["Unit"]["Description"].strip()
    service = unit["Service"]
    assert service["Restart"] == "on-failure"
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
    for flag in ("--config", "--data"):
        if flag in argv:
            assert argv[argv.index(flag) + 1].startswith(f"/var/lib/{state}")


def test_kiosk_runs_offline_and_keeps_its_devices() -> None:
    argv = exec_start("kokreativ-kiosk.service")
    assert "--no-sync" in argv
    assert "--headless" in argv  # no display server under systemd yet: the screen needs cage
    # PrivateDevices=yes would hide the reader and GPIO; DeviceAllow= comes with the hardening issue.
    assert "PrivateDevices" not in load("kokreativ-kiosk.service")["Service"]


def test_sync_loops_and_waits_for_the_network() -> None:
    assert "--once" not in exec_start("kokreativ-sync.service")
    unit = load("kokreativ-sync.service")["Unit"]
    assert "network-online.target" in unit["After"].split()
    assert "network-online.target" in unit["Wants"].split()


def test_server_listens_on_loopback_only() -> None:
    argv = exec_start("kokreativ-server.service")
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert argv[argv.index("--port") + 1] == "8080"
    assert load("kokreativ-server.service")["Service"]["User"] == "kokreativ-server"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_cli_accepts_the_arguments(name: str) -> None:
    try:
        from kokreativ.cli import build_parser

        parser = build_parser()
    except ImportError as exc:  # the terminal and server commands land in other issues
        pytest.skip(f"kokreativ CLI not complete yet: {exc}")
    try:
        args = parser.parse_args(exec_start(name)[1:])
    except SystemExit:
        pytest.fail(f"kokreativ rejects the ExecStart arguments of {name}")
    assert callable(getattr(args, "func", None))
