"""``kokreativ server token add|list|revoke``: named tokens made on the data folder, then used over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from server_helpers import Api

from kokreativ.cli import main
from server.datadir import InitResult
from tests.server.ledger_file import ledger_text


def _token_from(err: str) -> str:
    (line,) = [line for line in err.splitlines() if line.startswith("Token (shown once")]
    return line.rpartition(": ")[2]


def test_add_list_and_revoke_a_site_token(
    api: Api, data_dir: tuple[Path, InitResult], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(data_dir[0])
    site = api.create_site()["site_id"]
    ada = api.create_card("Ada", site_id=site)
    argv = ["server", "token", "add", "--data", folder, "--name", "café", "--permission", "read_personal"]
    assert main([*argv, "--site", site]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"name": "café", "permissions": ["read_personal"], "sites": [site]}
    token = _token_from(captured.err)
    assert len(token) == 43 and token not in captured.out
    assert token not in ledger_text(api.context.storage)  # stored as its hash only

    headers = {"Authorization": f"Bearer {token}"}
    assert api.http.get(f"/v1/cards/{ada['card_id']}/balance", headers=headers).status_code == 200
    assert api.http.get("/v1/admin/report", headers=headers).status_code == 403  # no `reports`

    assert main(["server", "token", "list", "--data", folder]) == 0
    (listed,) = json.loads(capsys.readouterr().out)["tokens"]
    assert (listed["name"], listed["sites"], listed["revoked_ms"]) == ("café", [site], None)
    assert token not in json.dumps(listed)

    assert main(["server", "token", "revoke", "--data", folder, "--name", "café"]) == 0
    assert json.loads(capsys.readouterr().out) == {"revoked": "café"}
    refused = api.http.get(f"/v1/cards/{ada['card_id']}/balance", headers=headers)
    assert refused.status_code == 401
    assert main(["server", "token", "revoke", "--data", folder, "--name", "café"]) == 2
    assert capsys.readouterr().err.startswith("kokreativ: error: not_found:")
    assert main([*argv]) == 2  # the name stays taken
    assert "exists" in capsys.readouterr().err


def test_token_add_refuses_an_unknown_permission_or_site(
    data_dir: tuple[Path, InitResult], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(data_dir[0])
    with pytest.raises(SystemExit):
        main(["server", "token", "add", "--data", folder, "--name", "x", "--permission", "everything"])
    capsys.readouterr()
    unknown = ["--site", "s_" + "0" * 32]
    assert (
        main(["server", "token", "add", "--data", folder, "--name", "x", "--permission", "review", *unknown])
        == 2
    )
    assert capsys.readouterr().err.startswith("kokreativ: error: unknown_site:")


def test_token_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["server", "token", "add", "--help"])
    out = capsys.readouterr().out
    assert "kokreativ server token add --data" in out and "read_personal" in out
