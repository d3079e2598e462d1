"""Which server a ``kokreativ`` command talks to: ``--server`` or ``KOKREATIV_SERVER``, never a guess.

A coordinator who forgot to set the server gets one line saying how to set it,
not a raw ``HTTPConnectionPool … Max retries exceeded`` from a guessed
127.0.0.1:8080; a server that does not answer is one line with its code too.
Against the real loopback server (:func:`tests.conftest.server_in_thread`).
"""

from __future__ import annotations

import socket
import tomllib
from pathlib import Path

import pytest

from kokreativ.cli import main
from tests.conftest import ServerProcess
from tests.provisioning.conftest import refused


def _dead_url() -> str:
    """A loopback URL on a port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize(
    "argv",
    [
        ("site", "list"),
        ("terminal", "list", "--silent"),
        ("terminal", "enrol", "--code", "1234-5678-9012-3456-7890", "--dir", "kiosk"),
    ],
)
def test_no_server_set_is_one_line_naming_both_ways_to_set_it(
    argv: tuple[str, ...],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.delenv("KOKREATIV_SERVER", raising=False)
    monkeypatch.setenv("KOKREATIV_ADMIN_TOKEN", "any")
    monkeypatch.chdir(tmp_path)
    error = refused(capsys, *argv)
    assert error.startswith("kokreativ: error: server_not_set: ")
    assert "--server" in error and "KOKREATIV_SERVER" in error
    assert not (tmp_path / "kiosk").exists()  # enrol gave up before making anything


@pytest.mark.parametrize(
    "argv",
    [("site", "list"), ("terminal", "enrol", "--code", "1234-5678-9012-3456-7890", "--dir", "kiosk")],
)
def test_an_unreachable_server_is_one_line_with_its_code(
    argv: tuple[str, ...],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    dead = _dead_url()
    monkeypatch.setenv("KOKREATIV_SERVER", dead)
    monkeypatch.setenv("KOKREATIV_ADMIN_TOKEN", "any")
    monkeypatch.chdir(tmp_path)
    error = refused(capsys, *argv)
    assert error.startswith(f"kokreativ: error: server_unreachable: no answer from {dead}")
    assert "Max retries" not in error and "HTTPConnectionPool" not in error
    assert "KOKREATIV_SERVER" in error


def test_terminal_enrol_reads_kokreativ_server(
    server_process: ServerProcess,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    with server_process.admin() as admin:
        site = admin.add_site("Test site", tokens_per_hour=10)
        code = str(admin.create_enrolment_code(site["site_id"])["code"])
    monkeypatch.setenv("KOKREATIV_SERVER", server_process.url)
    assert main(["provision", "terminal", "enrol", "--code", code, "--dir", str(tmp_path / "k")]) == 0
    config = tomllib.loads((tmp_path / "k" / "kiosk.toml").read_text())
    assert server_process.url in str(config)
