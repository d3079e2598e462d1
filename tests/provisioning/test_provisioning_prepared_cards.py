"""``provision card issue --prepared``: writing a card the console prepared, confirmed by its read-back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hardware.cardrecord import find_credential
from hardware.emulator import EmulatedType2Tag, serve_tag
from kokreativ.cli import main
from protocol import Reason, parse_credential
from tests.conftest import ServerProcess

UID = bytes.fromhex("04a1b2c3d4e5f7")


@pytest.fixture
def prepared(server_process: ServerProcess, tmp_path: Path, capsys, monkeypatch) -> tuple[str, str, Path]:
    """A volunteer with a card ID prepared for them (as the console's button does), and an issuer key file."""
    monkeypatch.setenv("KOKREATIV_ADMIN_TOKEN", server_process.admin_token)
    monkeypatch.setenv("KOKREATIV_SERVER", server_process.url)
    key_file = tmp_path / "issuer.key"
    assert main(["provision", "issuer", "create", "--key", str(key_file)]) == 0
    with server_process.admin() as admin:
        site = admin.add_site("Treff", tokens_per_hour=10)["site_id"]
        volunteer = admin.register_card(name="Alex Beispiel", site_id=site)["volunteer_id"]
        card_id = admin.prepare_card(volunteer)["card_id"]
    capsys.readouterr()
    return card_id, volunteer, key_file


def test_issuing_a_prepared_card_writes_it_and_its_read_back_makes_it_active(
    server_process: ServerProcess, prepared: tuple[str, str, Path], capsys
) -> None:
    card_id, volunteer, key_file = prepared
    with server_process.admin() as admin:
        assert admin.prepared_card(card_id)["status"] == "pending"
    tag = EmulatedType2Tag(UID)
    with serve_tag(tag) as emulation:
        argv = ["provision", "card", "issue", "--issuer-key", str(key_file), "--device", emulation.path]
        assert main([*argv, "--prepared", card_id, "--timeout", "10"]) == 0
    issued = json.loads(capsys.readouterr().out)
    assert (issued["card_id"], issued["volunteer_id"], issued["read_only"]) == (card_id, volunteer, True)
    payload = find_credential(tag.ndef_message)
    assert payload is not None and parse_credential(payload).card_id == card_id
    with server_process.admin() as admin:
        assert admin.prepared_card(card_id)["status"] == "active"
        assert card_id in [c["card_id"] for c in admin.list_cards(volunteer_id=volunteer)]
    # A second write of the same prepared card is refused before any tag is touched.
    blank = EmulatedType2Tag(bytes.fromhex("04000000000001"))
    with serve_tag(blank) as emulation:
        argv = ["provision", "card", "issue", "--issuer-key", str(key_file), "--device", emulation.path]
        assert main([*argv, "--prepared", card_id, "--timeout", "10"]) == 2
    assert Reason.CARD_NOT_PENDING.value in capsys.readouterr().err
    assert find_credential(blank.ndef_message) is None


def test_a_failed_write_leaves_the_prepared_card_pending(
    server_process: ServerProcess, prepared: tuple[str, str, Path], capsys
) -> None:
    card_id, _, key_file = prepared
    tag = EmulatedType2Tag(UID, formatted=False)  # nfcpy cannot write it
    with serve_tag(tag) as emulation:
        argv = ["provision", "card", "issue", "--issuer-key", str(key_file), "--device", emulation.path]
        assert main([*argv, "--prepared", card_id, "--timeout", "10"]) == 2
    capsys.readouterr()
    with server_process.admin() as admin:
        assert admin.prepared_card(card_id)["status"] == "pending"
