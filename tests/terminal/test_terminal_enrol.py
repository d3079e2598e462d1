"""The kiosk enrols itself (terminal.enrol) with terminal's own errors; provisioning only adapts them.

The coordinator-side behaviour (ServerRefused, ServerUnreachable, the CLI) is
tested through :mod:`provisioning.enrol` in tests/provisioning.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kokreativ.localserver import free_port
from protocol import Reason
from terminal.config import load_config
from terminal.enrol import enrol_kiosk, normalise_code
from terminal.errors import EnrolmentError
from tests.conftest import ServerProcess


def test_a_code_is_twenty_digits_typed_any_way():
    assert normalise_code("1234-5678 9012-3456 7890") == "12345678901234567890"
    for short in ("1234-5678", "1234-5678-9012"):  # twelve digits were enough once; no longer
        with pytest.raises(EnrolmentError) as info:
            normalise_code(short)
    assert info.value.reason == Reason.ENROLMENT_CODE_INVALID and not info.value.from_server


def test_enrols_and_then_the_server_refuses_the_spent_code(server_process: ServerProcess, tmp_path: Path):
    with server_process.admin() as admin:
        site = admin.add_site("Jugendtreff", tokens_per_hour=6)
        code = admin.create_enrolment_code(site["site_id"])["code"]
    config_path, config = enrol_kiosk(server_process.url, code, tmp_path / "k1")
    assert load_config(config_path) == config and config.site_id == site["site_id"]

    with pytest.raises(EnrolmentError) as info:
        enrol_kiosk(server_process.url, code, tmp_path / "k2")
    assert info.value.reason == Reason.ENROLMENT_CODE_USED and info.value.from_server
    assert not (tmp_path / "k2" / "kiosk.toml").exists()
    # The server refused, so it registered nothing: no key is left to look like an enrolled kiosk.
    assert not (tmp_path / "k2" / "kiosk.key").exists()
    # A local refusal has a local code, not a Reason.
    with pytest.raises(EnrolmentError) as again:
        enrol_kiosk(server_process.url, code, tmp_path / "k1")
    refusal = again.value
    assert (refusal.code, refusal.reason, refusal.from_server) == ("already_enrolled", None, False)


def test_no_server_is_a_network_error_and_writes_no_config(tmp_path: Path):
    with pytest.raises(EnrolmentError) as info:
        enrol_kiosk(f"http://127.0.0.1:{free_port()}", "12345678901234567890", tmp_path / "k")
    assert info.value.reason == Reason.NETWORK_ERROR and not info.value.from_server
    assert not (tmp_path / "k" / "kiosk.toml").exists()
    # No answer: the server may have registered the key, so it stays for the next try to reuse.
    assert (tmp_path / "k" / "kiosk.key").exists()
