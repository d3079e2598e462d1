"""What the provisioning CLI tests share: a coordinator's environment and the CLI runners."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kokreativ.cli import main
from tests.conftest import ServerProcess, server_in_thread


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[ServerProcess]:
    """The ledger server, here from a thread of the test process (:class:`tests.conftest.ServerThread`).

    These tests are about the coordinator's tools, which talk HTTP to the server
    as they would to a process; starting one process per test cost a second or
    more each.  ``kokreativ server run`` as a real process is tested where the
    process matters (tests/server/test_server_cli.py, the kiosk and crash tests).
    """
    with server_in_thread(tmp_path / "server") as server:
        yield server


@pytest.fixture
def cli_env(server_process: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> ServerProcess:
    """The server and admin token in the environment, as in a coordinator's shell; no coordinator key."""
    monkeypatch.setenv("KOKREATIV_ADMIN_TOKEN", server_process.admin_token)
    monkeypatch.setenv("KOKREATIV_SERVER", server_process.url)
    monkeypatch.delenv("KOKREATIV_COORDINATOR_KEY", raising=False)
    return server_process


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    """Run ``kokreativ provision …`` through main() and return the JSON it printed."""
    assert main(["provision", *argv]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def refused(capsys: pytest.CaptureFixture[str], *argv: str, command: str = "provision") -> str:
    """Run a ``kokreativ COMMAND …`` that must fail; return its one error line."""
    assert main([command, *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1, captured
    return captured.err.strip()
