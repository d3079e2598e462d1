"""``kokreativ provision card coordinator`` end to end against a real server process."""

from __future__ import annotations

import json

from kokreativ.cli import main
from protocol.clock import now_ms
from provisioning.cards import trust_from_server
from tests.conftest import ServerProcess


def _one_line(capsys) -> dict:
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 1, out  # one JSON object, one line
    return json.loads(out)


def _listed(capsys) -> dict[str, bool]:
    assert main(["provision", "card", "list"]) == 0
    return {card["card_id"]: card["coordinator"] for card in json.loads(capsys.readouterr().out)}


def test_grant_and_withdraw_print_the_card_and_the_list_shows_the_role(cli_env: ServerProcess, capsys):
    with cli_env.admin() as admin:
        site = admin.add_site("Hall", tokens_per_hour=10)["site_id"]
        boss = admin.register_card(name="Coordinator", site_id=site)["card_id"]
        volunteer = admin.register_card(name="Volunteer", site_id=site)["card_id"]

    assert main(["provision", "card", "coordinator", boss]) == 0
    granted = _one_line(capsys)
    assert (granted["card_id"], granted["coordinator"]) == (boss, True)
    assert isinstance(granted["coordinator_ms"], int)
    assert _listed(capsys) == {boss: True, volunteer: False}
    with cli_env.admin() as admin:  # what kiosks will trust: the same, server-wide
        assert trust_from_server(admin, now_ms=now_ms()).coordinators == {boss}

    assert main(["provision", "card", "coordinator", boss]) == 0  # again: unchanged
    assert _one_line(capsys) == granted

    assert main(["provision", "card", "coordinator", boss, "--withdraw"]) == 0
    withdrawn = _one_line(capsys)
    assert (withdrawn["coordinator"], withdrawn["coordinator_ms"]) == (False, None)
    assert _listed(capsys) == {boss: False, volunteer: False}


def test_an_unknown_card_is_one_error_line(cli_env: ServerProcess, capsys):
    assert main(["provision", "card", "coordinator", "c_" + "0" * 32]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("kokreativ: error: unknown_card:") and len(captured.err.splitlines()) == 1


def test_a_blocked_card_cannot_be_made_a_coordinator(cli_env: ServerProcess, capsys):
    with cli_env.admin() as admin:
        site = admin.add_site("Hall", tokens_per_hour=10)["site_id"]
        card = admin.register_card(name="Lost", site_id=site)["card_id"]
        admin.block_card(card, reason="lost")
    assert main(["provision", "card", "coordinator", card]) == 2
    assert capsys.readouterr().err.startswith("kokreativ: error: card_blocked:")
