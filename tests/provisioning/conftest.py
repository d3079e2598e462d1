"""What the provisioning CLI tests share: a coordinator's environment and the CLI runners."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kokreativ.cli import main
from tests.conftest import ServerProcess


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
