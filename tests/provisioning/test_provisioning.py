"""Provisioning end to end against a real server process, and the CLI's own promises."""

from __future__ import annotations

import argparse
import json
import stat
import tomllib
from pathlib import Path

import pytest

from kokreativ.cli import build_parser, main
from protocol import Reason, b64encode
from provisioning.enrol import enrol_kiosk, normalise_code
from provisioning.errors import ProvisioningError, ServerRefused
from terminal.config import load_config
from terminal.keystore import load_key
from tests.conftest import ServerProcess


def _leaf_parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not actions:
        yield path, parser
        return
    for action in actions:
        for name, sub in action.choices.items():
            yield from _leaf_parsers(sub, (*path, name))


def test_every_command_has_help_and_an_example():
    leaves = list(_leaf_parsers(build_parser()))
    names = {" ".join(path) for path, _ in leaves}
    assert {
        "demo",
        "server run",
        "terminal run",
        "terminal sync",
        "provision init",
        "provision card register",
    } <= names
    for path, parser in leaves:
        text = parser.format_help()
        assert parser.description, f"{' '.join(path)} has no description"
        assert "example" in text, f"{' '.join(path)} has no example"
        assert "kokreativ " + path[0] in text, f"{' '.join(path)}'s example does not show the command"


@pytest.mark.parametrize(
    "typed", ["1234-5678-9012-3456-7890", "1234 5678 9012 3456 7890", "12345678901234567890"]
)
def test_enrolment_code_may_be_typed_with_dashes_or_spaces(typed: str):
    assert normalise_code(typed) == "12345678901234567890"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "1234-5678-9012",
        "1234-5678-9012-3456-789",
        "1234-5678-9012-3456-78901",
        "abcd-5678-9012-3456-7890",
    ],
)
def test_malformed_enrolment_code_is_refused_before_any_request(typed: str):
    with pytest.raises(ProvisioningError) as info:
        normalise_code(typed)
    assert info.value.reason == Reason.ENROLMENT_CODE_INVALID


def test_enrol_writes_private_config_and_key_and_a_code_works_once(
    server_process: ServerProcess, tmp_path: Path
):
    with server_process.admin() as admin:
        site = admin.add_site("Stadtteilzentrum", tokens_per_hour=12, max_shift_hours=10)
        code = admin.create_enrolment_code(site["site_id"])["code"]
    config_path, config = enrol_kiosk(server_process.url, code, tmp_path / "k1")

    assert config.site_id == site["site_id"] and config.tokens_per_hour == 12 and config.max_shift_hours == 10
    assert load_config(config_path) == config
    for path in (config_path, config.key_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    # The private key lives only in kiosk.key, in no other form in the config.
    seed = load_key(config.key_path).seed
    config_bytes = config_path.read_bytes()
    assert b64encode(seed).encode() not in config_bytes and seed.hex().encode() not in config_bytes
    with open(config_path, "rb") as handle:
        assert tomllib.load(handle)["kiosk_id"] == config.kiosk_id

    # A second kiosk cannot reuse the code; the server says why.
    with pytest.raises(ServerRefused) as info:
        enrol_kiosk(server_process.url, code, tmp_path / "k2")
    assert info.value.reason == Reason.ENROLMENT_CODE_USED
    # The enrolled kiosk refuses to enrol again: a kiosk's key never changes.
    with pytest.raises(ProvisioningError) as again:
        enrol_kiosk(server_process.url, code, tmp_path / "k1")
    assert again.value.reason == "already_enrolled"


def test_enrol_stores_the_log_origin_and_refuses_a_log_verifier_key_that_does_not_match(
    server_process: ServerProcess, tmp_path: Path
):
    from protocol import PrivateKey
    from protocol.note import NoteVerifier
    from provisioning.client import ApiClient

    with server_process.admin() as admin:
        site = admin.add_site("Nachbarschaftsladen", tokens_per_hour=10)
        codes = [admin.create_enrolment_code(site["site_id"])["code"] for _ in range(2)]
    config_path, config = enrol_kiosk(server_process.url, codes[0], tmp_path / "k1")
    with ApiClient(server_process.url) as api:
        log_key = api.request("GET", "/v1/log/key")
    # The kiosk pins the origin; the verifier key follows from it and the server key it pinned already.
    assert config.log_origin == log_key["origin"] and load_config(config_path).log_origin == config.log_origin
    assert str(NoteVerifier.for_key(config.log_origin, config.server_public_key)) == log_key["verifier_key"]

    class Tampered(ApiClient):
        def enrol(self, body):
            answer = super().enrol(body)
            other = NoteVerifier.for_key(answer["log_origin"], PrivateKey.generate().public_key)
            return {**answer, "log_verifier_key": str(other)}

    with Tampered(server_process.url) as client, pytest.raises(ProvisioningError) as info:
        enrol_kiosk(server_process.url, codes[1], tmp_path / "k2", client=client)
    assert info.value.reason == Reason.MALFORMED_REQUEST and "log_verifier_key" in info.value.message
    assert not (tmp_path / "k2" / "kiosk.toml").exists()


def test_cli_provisions_a_site_a_code_and_a_card(server_process: ServerProcess, capsys, monkeypatch):
    monkeypatch.setenv("KOKREATIV_SERVER", server_process.url)
    monkeypatch.setenv("KOKREATIV_ADMIN_TOKEN", server_process.admin_token)
    assert main(["provision", "site", "add", "--name", "Jugendcafé Süd", "--tokens-per-hour", "8"]) == 0
    printed = capsys.readouterr().out
    assert "Jugendcafé Süd" in printed  # JSON for people keeps umlauts readable, not "Jugendcaf\u00e9"
    site = json.loads(printed)
    assert main(["provision", "terminal", "add", "--site", site["site_id"]]) == 0
    code = json.loads(capsys.readouterr().out)
    assert len(code["code"]) == 20 and code["code_display"].count("-") == 4
    assert main(["provision", "card", "register", "--name", "Dana Beispiel", "--site", site["site_id"]]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["card_id"].startswith("c_") and card["volunteer_id"].startswith("v_")
    assert main(["provision", "report"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [v["name"] for v in report] == ["Dana Beispiel"]


def test_cli_errors_are_one_line_with_the_reason_code(server_process: ServerProcess, capsys, monkeypatch):
    monkeypatch.setenv("KOKREATIV_SERVER", server_process.url)
    monkeypatch.setenv("KOKREATIV_ADMIN_TOKEN", "not-the-token")
    assert main(["provision", "site", "list"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unauthorized" in err

    monkeypatch.delenv("KOKREATIV_ADMIN_TOKEN")
    assert main(["provision", "site", "list"]) == 2
    assert "unauthorized" in capsys.readouterr().err


def test_init_refuses_an_existing_data_folder(tmp_path: Path, capsys):
    assert main(["provision", "init", "--data", str(tmp_path / "srv")]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["server_public_key"]
    assert "Admin token" in captured.err
    assert main(["provision", "init", "--data", str(tmp_path / "srv")]) == 2
    refused = capsys.readouterr().err
    assert refused.startswith("kokreativ: error: data_dir_not_empty:") and "new folder" in refused, refused
    # A server started on a folder init never made says how to make one (issue 20).
    assert main(["server", "run", "--data", str(tmp_path / "nothing")]) == 2
    missing = capsys.readouterr().err
    assert missing.startswith("kokreativ: error: data_dir_missing:"), missing
    assert f"kokreativ provision init --data {tmp_path / 'nothing'}" in missing


def test_a_bad_reader_is_refused_before_the_code_is_spent(server_process: ServerProcess, tmp_path: Path):
    with server_process.admin() as admin:
        site = admin.add_site("Bürgerhaus", tokens_per_hour=10)
        code = admin.create_enrolment_code(site["site_id"])["code"]
    with pytest.raises(ProvisioningError) as info:
        enrol_kiosk(server_process.url, code, tmp_path / "k", reader="pcsc")
    assert info.value.reason == Reason.BAD_FIELD
    with pytest.raises(ProvisioningError) as info:
        enrol_kiosk(server_process.url, code, tmp_path / "k", reader="nfc", device="i2c:1:pn532")
    assert info.value.reason == Reason.BAD_FIELD
    assert not (tmp_path / "k" / "kiosk.toml").exists()
    # The same code still works: nothing was sent.
    _, config = enrol_kiosk(server_process.url, code, tmp_path / "k", reader="nfc", device="tty:AMA0:pn532")
    assert (config.reader, config.device) == ("nfc", "tty:AMA0:pn532")
    assert load_config(tmp_path / "k" / "kiosk.toml").device == "tty:AMA0:pn532"
    # Enrolment creates the outbox, so the kiosk and sync services never race to create it.
    assert config.outbox_path.exists()


def test_api_client_reports_odd_error_bodies_as_one_reason(tmp_path: Path):
    import http.server
    import threading

    from provisioning.client import ApiClient

    class OddServer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"error": "not an object"}' if self.path == "/v1/admin/sites" else b'{"sites": 3}'
            self.send_response(500 if self.path == "/v1/admin/sites" else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), OddServer)
    thread = threading.Thread(target=httpd.serve_forever)
    thread.start()
    try:
        with ApiClient(f"http://127.0.0.1:{httpd.server_address[1]}", admin_token="t") as client:
            with pytest.raises(ServerRefused) as info:
                client.list_sites()
            assert info.value.reason == "http_500"
            with pytest.raises(ServerRefused) as shape:
                client.list_kiosks()
            assert shape.value.reason == Reason.MALFORMED_REQUEST
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_cli_error_line_starts_with_the_reason_code(tmp_path: Path, capsys):
    config = tmp_path / "missing" / "kiosk.toml"
    assert main(["terminal", "sync", "--config", str(config), "--once"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kokreativ: error: ") and err.count("\n") == 0
    assert err.split(": ")[2] in {r.value for r in Reason}
