"""The designated auditor replays a realistic economy from the sealed log and its openings.

The stranger test shows what the public log hides; this shows what it still
proves.  Over weeks of habitual shifts, purchases, voids, replaced and
uncredentialed cards, a stranger without the auditor's token verifies every
signature, chain and daily total, and the auditor with it opens every entry and
replays the whole economy to exactly the server's balances.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kokreativ.cli import main
from server import tlog
from tests.privacy.conftest import loopback_api
from tests.privacy.economy import EconomySpec, EventFormat, build_economy


def _verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    code = main(["verify", "ledger", *args, "--json", "--workers", "1"])
    out, err = capsys.readouterr()
    assert out, err
    return code, json.loads(out)


def test_the_auditor_replays_the_economy_to_the_servers_balances_and_a_stranger_checks_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with loopback_api(tmp_path / "data") as (api, _routes):
        economy = build_economy(api, EconomySpec(), EventFormat.V2)
        with api.context.storage.read() as tx:
            key = tlog.verifier_key(tlog.origin(tx), api.context.server_key.public_key)
            balances = tx.balances()
            issued, redeemed = tx.ledger_sums()
        token = tmp_path / "auditor.token"
        token.write_text(api.admin_token)  # the admin token holds audit_log
        public_code, public = _verify(capsys, api.base_url, "--key", key, "--state", str(tmp_path / "public"))
        code, audited = _verify(
            capsys,
            api.base_url,
            "--key",
            key,
            "--state",
            str(tmp_path / "audit"),
            "--auditor-token",
            str(token),
        )
        # The same run fails when the server's record of one shift's pay is off by one token.
        with api.context.storage.write() as tx:
            tx._conn.execute(
                "UPDATE openings SET issued = issued + 1 WHERE log_index = "
                "(SELECT MIN(log_index) FROM openings WHERE issued > 0)"
            )
        bad_code, bad = _verify(
            capsys,
            api.base_url,
            "--key",
            key,
            "--state",
            str(tmp_path / "bad"),
            "--auditor-token",
            str(token),
        )
    assert economy.truth is not None and issued > 0 and redeemed > 0
    assert public_code == 0 and public["ok"] and public["mode"] == "public", public
    assert "balances_compared" not in public or public["balances_compared"] is None
    assert code == 0 and audited["ok"] and audited["mode"] == "auditor", audited
    assert audited["balances_compared"] == len(balances) >= 30
    assert audited["opened"] >= audited["events"] > 300
    assert audited["problem_count"] == 0
    assert bad_code != 0 and not bad["ok"] and bad["problem_count"] >= 1, bad
