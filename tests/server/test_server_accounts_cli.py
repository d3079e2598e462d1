"""``kokreativ provision person add`` (the first admin) and ``kokreativ server token rotate-admin``."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
from server_helpers import Api, assert_error

from kokreativ.cli import main
from protocol import Reason
from server import accounts
from server.datadir import InitResult
from server.http.access import Permission
from server.principals import SHOP_DUTIES
from server.ratelimit import CONSOLE_LOGINS, GuessLimiter


def test_the_first_admin_gets_a_team_with_every_permission_but_settling_and_a_totp_uri(
    api: Api, data_dir: tuple[Path, InitResult], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret_file = tmp_path / "password"
    secret_file.write_text("ein langes Passwort\n", encoding="utf-8")
    argv = ["provision", "person", "add", "--data", str(data_dir[0]), "--email", "ada@example.org"]
    assert (
        main([*argv, "--name", "Ada Admin", "--admin", "--password-file", str(secret_file), "--no-qr"]) == 0
    )
    captured = capsys.readouterr()
    made = json.loads(captured.out)
    uri = next(line for line in captured.err.splitlines() if line.startswith("otpauth://"))
    secret = parse_qs(urlparse(uri).query)["secret"][0]
    ctx = api.context
    attempt = GuessLimiter(ctx.now_ms).attempt(CONSOLE_LOGINS, "test")
    assert (
        accounts.check_password(ctx, "ada@example.org", "ein langes Passwort", attempt=attempt)
        == made["person_id"]
    )
    accounts.check_totp(ctx, made["person_id"], pyotp.TOTP(secret).at(ctx.now_ms() // 1000))
    cookie = accounts.open_console_session(ctx, made["person_id"])
    admin = accounts.console_principal(ctx, cookie)
    assert admin is not None and admin.may(Permission.MANAGE_TEAMS, None)
    assert admin.permissions == frozenset(Permission) - SHOP_DUTIES
    # The same address again: one clear line, exit 2.
    assert main([*argv, "--name", "Ada", "--password-file", str(secret_file), "--no-qr"]) == 2
    assert "person_exists" in capsys.readouterr().err


def test_rotating_the_admin_token_stops_the_old_one_at_once(
    api: Api, data_dir: tuple[Path, InitResult], capsys: pytest.CaptureFixture[str]
) -> None:
    assert api.admin("GET", "/v1/admin/report").status_code == 200
    assert main(["server", "token", "rotate-admin", "--data", str(data_dir[0])]) == 0
    captured = capsys.readouterr()
    new = captured.err.strip().rpartition(": ")[2]
    assert len(new) == 43 and new not in captured.out
    assert_error(api.admin("GET", "/v1/admin/report"), 401, Reason.UNAUTHORIZED)
    headers = {"Authorization": f"Bearer {new}"}
    assert api.http.get("/v1/admin/report", headers=headers).status_code == 200


def test_an_organisation_is_made_with_its_sites(
    api: Api, data_dir: tuple[Path, InitResult], capsys: pytest.CaptureFixture[str]
) -> None:
    site = api.create_site()["site_id"]
    argv = ["provision", "organisation", "add", "--data", str(data_dir[0]), "--name", "Träger e.V."]
    assert main([*argv, "--site", site]) == 0
    org_id = json.loads(capsys.readouterr().out)["org_id"]
    with api.context.storage.read() as tx:
        assert tx.sites_of_organisations([org_id]) == {site}
    assert main([*argv, "--site", "s_" + "0" * 32]) == 2
    assert "unknown_site" in capsys.readouterr().err
