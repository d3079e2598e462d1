"""Issuing cards onto emulated tags through nfcpy, and ``kokreativ card inspect`` end to end."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import httpx
import pytest
import segno

from hardware.cardrecord import find_credential
from hardware.emulator import EmulatedType2Tag, serve_tag
from hardware.nfc import NoTagError, TagTooSmallError, read_one_tag, write_one_tag
from kokreativ.cli import main
from protocol import PrivateKey, Reason, TrustList, ids, issuer_key_id, parse_credential, verify_credential
from protocol.clock import now_ms
from provisioning.cards import issue_card, trust_from_server
from provisioning.errors import ServerRefused
from terminal.keystore import create_key
from tests.cardfactory import TestIssuer, uid_for
from tests.conftest import EnrolledKiosk, ServerProcess

UID = bytes.fromhex("04a1b2c3d4e5f6")
OTHER_UID = bytes.fromhex("04ffffffffffff")


@pytest.fixture
def admin(server_process: ServerProcess):
    with server_process.admin() as client:
        yield client


@pytest.fixture
def site(admin) -> str:
    """New volunteers' home site (issue 17: each has one)."""
    return str(admin.add_site("Repair café", tokens_per_hour=10)["site_id"])


@pytest.fixture
def issuer_key(admin, tmp_path: Path) -> PrivateKey:
    key = create_key(tmp_path / "issuer.key")
    admin.add_issuer_key(key.public_key.to_b64())
    return key


def _trust(admin) -> TrustList:
    return trust_from_server(admin, now_ms=now_ms())


@pytest.mark.parametrize("product", ["NTAG213", "NTAG215", "NTAG216"])
def test_issue_writes_a_credential_bound_to_the_uid_locks_the_tag_and_registers_the_card(
    admin, issuer_key, site, product
):
    tag = EmulatedType2Tag(UID, product=product)
    with serve_tag(tag) as emulation:
        issued = issue_card(
            admin,
            issuer_key,
            lambda make: write_one_tag(emulation.path, make, lock=True, timeout_s=10),
            name="Alex Beispiel",
            site_id=site,
            ehrenamtskarte="NI-12345",
        )
        reading = read_one_tag(emulation.path, timeout_s=10)  # read it back through nfcpy
    assert tag.read_only and issued.locked is True
    payload = find_credential(reading.ndef)
    assert payload is not None
    credential = verify_credential(payload, uid=UID, trust=_trust(admin).card_trust, now_s=int(time.time()))
    assert credential.card_id == issued.card_id and credential.key_id == issuer_key_id(issuer_key.public_key)
    (card,) = admin.list_cards(volunteer_id=issued.volunteer_id)
    assert (card["card_id"], card["issuer_key_id"], card["valid_until_s"]) == (
        issued.card_id,
        issued.issuer_key_id,
        issued.valid_until_s,
    )
    assert card["blocked_ms"] is None
    assert issued.access_secret is not None and issued.access_secret not in json.dumps(issued.to_json())


def test_a_replacement_card_keeps_the_volunteer_and_the_lost_one_is_blocked(admin, issuer_key, site):
    first = EmulatedType2Tag(UID)
    with serve_tag(first) as emulation:
        lost = issue_card(
            admin,
            issuer_key,
            lambda m: write_one_tag(emulation.path, m, lock=True, timeout_s=10),
            name="Bo",
            site_id=site,
        )
    admin.block_card(lost.card_id, reason="lost")
    second = EmulatedType2Tag(bytes.fromhex("04000000000002"))
    with serve_tag(second) as emulation:
        replacement = issue_card(
            admin,
            issuer_key,
            lambda m: write_one_tag(emulation.path, m, lock=True, timeout_s=10),
            volunteer_id=lost.volunteer_id,
        )
    assert replacement.volunteer_id == lost.volunteer_id and replacement.card_id != lost.card_id
    assert replacement.access_secret is None  # the volunteer keeps their secret
    trust = _trust(admin)
    assert lost.card_id in trust.blocked and replacement.card_id not in trust.blocked


def test_a_failed_write_blocks_the_registered_card_at_once(admin, issuer_key, site):
    tag = EmulatedType2Tag(UID, product="NTAG213")

    def write_too_much(make):
        def bigger(reading):
            return make(reading) + b"\x00" * 200  # no longer fits an NTAG213

        return write_one_tag(emulation.path, bigger, lock=True, timeout_s=10)

    with serve_tag(tag) as emulation, pytest.raises(TagTooSmallError):
        issue_card(admin, issuer_key, write_too_much, name="Chris", site_id=site)
    (card,) = admin.list_cards()
    assert card["blocked_ms"] is not None and "not written" in card["block_reason"]
    assert not tag.read_only and tag.ndef_message == b""


def test_no_tag_on_the_reader_registers_nothing(admin, issuer_key, site, tmp_path):
    with serve_tag(EmulatedType2Tag(UID)) as emulation:
        emulation.tag.remove()
        with pytest.raises(NoTagError):
            issue_card(
                admin,
                issuer_key,
                lambda m: write_one_tag(emulation.path, m, lock=True, timeout_s=0.5),
                name="D",
                site_id=site,
            )
    assert admin.list_cards() == []


def test_a_retired_key_issues_no_more_cards(admin, issuer_key, site):
    admin.set_issuer_key_status(issuer_key_id(issuer_key.public_key), "retire")
    with serve_tag(EmulatedType2Tag(UID)) as emulation, pytest.raises(ServerRefused) as info:
        issue_card(
            admin,
            issuer_key,
            lambda m: write_one_tag(emulation.path, m, lock=True, timeout_s=10),
            name="E",
            site_id=site,
        )
    assert info.value.reason == Reason.ISSUER_KEY_INACTIVE
    assert emulation.tag.ndef_message == b""  # the tag was not written


# -- kokreativ card inspect -------------------------------------------------------------------------


def _inspect(capsys, *args: str) -> dict:
    assert main(["card", "inspect", "--timeout", "10", *args]) == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 1  # one JSON object, one line
    return json.loads(out)


def test_inspect_with_a_kiosk_config_reports_a_valid_card(enrolled_kiosk: EnrolledKiosk, capsys):
    card = enrolled_kiosk.card_ids[0]
    tag = EmulatedType2Tag(uid_for(card), enrolled_kiosk.issuer.ndef(card))
    with serve_tag(tag) as emulation:
        result = _inspect(capsys, "--device", emulation.path, "--config", str(enrolled_kiosk.config_path))
    assert result["uid"] == uid_for(card).hex()
    assert (result["credential"], result["card_id"], result["accepted"]) == ("valid", card, True)
    assert result["tag_type"] == "Type2Tag" and result["issuer_key_id"] == enrolled_kiosk.issuer.key_id
    assert result["ndef_hex"] == enrolled_kiosk.issuer.ndef(card).hex()


def test_inspect_against_the_server_names_a_blocked_card(
    enrolled_kiosk: EnrolledKiosk, server_process: ServerProcess, capsys, monkeypatch
):
    card = enrolled_kiosk.card_ids[1]
    with server_process.admin() as client:
        client.block_card(card, reason="stolen")
    monkeypatch.setenv("KOKREATIV_ADMIN_TOKEN", server_process.admin_token)
    tag = EmulatedType2Tag(uid_for(card), enrolled_kiosk.issuer.ndef(card))
    with serve_tag(tag) as emulation:
        result = _inspect(capsys, "--device", emulation.path, "--server", server_process.url)
    assert (result["credential"], result["card_id"], result["accepted"]) == ("card_blocked", card, False)


@pytest.mark.parametrize(
    ("make_tag", "status"),
    [
        (lambda issuer, card: EmulatedType2Tag(OTHER_UID, issuer.ndef(card)), "uid_mismatch"),
        (lambda issuer, card: EmulatedType2Tag(uid_for(card), b"\xde\xad not ndef"), "bad_credential"),
        (lambda issuer, card: EmulatedType2Tag(uid_for(card)), "unknown_card"),
        (lambda issuer, card: EmulatedType2Tag(uid_for(card), TestIssuer().ndef(card)), "unknown_issuer"),
    ],
    ids=["copied", "garbage", "empty", "foreign-issuer"],
)  # fmt: skip
def test_inspect_says_what_is_wrong_with_a_card(enrolled_kiosk: EnrolledKiosk, capsys, make_tag, status):
    card = ids.new_id(ids.CARD)
    with serve_tag(make_tag(enrolled_kiosk.issuer, card)) as emulation:
        result = _inspect(capsys, "--device", emulation.path, "--config", str(enrolled_kiosk.config_path))
    assert result["credential"] == status and result["accepted"] is False
    assert "card_id" not in result
    assert result["uid_card"].startswith("u_")  # the pseudonym a kiosk would record


def test_inspect_without_any_trust_fails_closed(enrolled_kiosk: EnrolledKiosk, capsys):
    card = enrolled_kiosk.card_ids[0]
    with serve_tag(EmulatedType2Tag(uid_for(card), enrolled_kiosk.issuer.ndef(card))) as emulation:
        result = _inspect(capsys, "--device", emulation.path)
    assert (result["credential"], result["trust"]) == ("unknown_issuer", "none")


def test_inspect_with_no_card_exits_2_with_the_reason(capsys):
    with serve_tag(EmulatedType2Tag(UID)) as emulation:
        emulation.tag.remove()
        assert main(["card", "inspect", "--device", emulation.path, "--timeout", "0.5"]) == 2
    assert capsys.readouterr().err.startswith("kokreativ: error: no_tag:")


def test_issue_cli_end_to_end(server_process: ServerProcess, tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("KOKREATIV_ADMIN_TOKEN", server_process.admin_token)
    monkeypatch.setenv("KOKREATIV_SERVER", server_process.url)
    key_file = tmp_path / "coordinator" / "issuer.key"
    assert main(["provision", "issuer", "create", "--key", str(key_file)]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["status"] == "active" and oct(os.stat(key_file).st_mode & 0o777) == "0o600"
    seed = key_file.read_bytes()
    assert main(["provision", "issuer", "create", "--key", str(key_file)]) == 2  # never overwritten
    refused = capsys.readouterr().err
    assert refused.startswith("kokreativ: error: key_exists:") and "an issuer key" in refused, refused
    assert key_file.read_bytes() == seed
    assert main(["provision", "site", "add", "--name", "Treff", "--tokens-per-hour", "10"]) == 0
    site = json.loads(capsys.readouterr().out)["site_id"]
    tag = EmulatedType2Tag(UID)
    sheets = tmp_path / "sheets"
    with serve_tag(tag) as emulation:
        argv = ["provision", "card", "issue", "--issuer-key", str(key_file), "--device", emulation.path]
        assert main([*argv, "--name", "Alex", "--timeout", "10"]) == 2  # a new volunteer needs --site
        assert "needs --site" in capsys.readouterr().err
        argv += ["--site", site, "--sheet-dir", str(sheets)]
        assert main([*argv, "--name", "Alex Beispiel", "--timeout", "10"]) == 0
    captured = capsys.readouterr()
    issued = json.loads(captured.out)
    assert issued["read_only"] is True and issued["issuer_key_id"] == created["key_id"]
    # The access link: on the sheet, in the QR code and on the terminal, never in the JSON.
    (link,) = [line for line in captured.err.splitlines() if "/ich#k=" in line]
    assert link.startswith(f"{server_process.url}/ich#k=") and "?" not in link
    secret = link.partition("#k=")[2]
    assert len(secret) == 43 and secret not in captured.out
    assert "▀" in captured.err or "█" in captured.err  # the QR code drawn in the terminal
    sheet, qr = Path(issued["sheet"]), Path(issued["access_qr"])
    assert sheet.parent == qr.parent == sheets
    assert link in sheet.read_text(encoding="utf-8")
    expected = io.BytesIO()
    segno.make(link, error="m").save(expected, kind="svg", scale=4, border=4)
    assert qr.read_bytes() == expected.getvalue()  # the QR code encodes exactly the link
    assert oct(sheet.stat().st_mode & 0o777) == oct(qr.stat().st_mode & 0o777) == "0o600"
    opened = httpx.post(f"{server_process.url}/v1/me/session", json={"secret": secret}, timeout=10)
    assert opened.status_code == 204
    payload = find_credential(tag.ndef_message)
    assert payload is not None and parse_credential(payload).card_id == issued["card_id"]
    assert main(["provision", "card", "block", issued["card_id"], "--reason", "lost"]) == 0
    assert json.loads(capsys.readouterr().out)["blocked_ms"] is not None
