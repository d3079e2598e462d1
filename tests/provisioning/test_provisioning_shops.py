"""``kokreativ provision shop …`` end to end against a real server process."""

from __future__ import annotations

from pathlib import Path

import pytest

from kokreativ.cli import main
from protocol import coordinator_id, decision_hash, parse_decision
from protocol.logentry import parse_entry
from provisioning.audit.sources import HttpSource
from provisioning.coordinator_keys import load_coordinator_key
from tests.conftest import ServerProcess
from tests.provisioning.conftest import refused, run


def logged_entry(server: ServerProcess, index: int) -> dict:
    """Entry ``index`` of the server's public transparency log, read from its tiles."""
    source = HttpSource(server.url)
    size = int(source.checkpoint().decode().splitlines()[1])
    assert index < size
    for piece in source.pieces(size):
        if piece.start <= index < piece.start + len(piece.entries):
            return parse_entry(piece.entries[index - piece.start])
    raise AssertionError(f"entry {index} not served")


def test_add_list_and_presets(cli_env: ServerProcess, capsys):
    checkin = run(capsys, "site", "add", "--name", "Freizeitheim", "--tokens-per-hour", "10")
    shop = run(
        capsys,
        *("shop", "add", "--name", "Café Linden", "--max-amount", "30", "--void-window", "10"),
        *("--preset", "Kaffee=2", "--preset", "Stück Kuchen=3"),
    )
    assert shop["kind"] == "shop" and shop["name"] == "Café Linden"
    assert shop["shop"] == {
        "max_amount": 30,
        "offline_allowance": 10,  # the defaults where nothing was given
        "offline_daily_cap": 200,
        "void_window_s": 600,
        "presets": [{"label": "Kaffee", "amount": 2}, {"label": "Stück Kuchen", "amount": 3}],
    }
    listed = run(capsys, "shop", "list")
    assert [s["site_id"] for s in listed] == [shop["site_id"]]  # shops only, not the check-in site
    assert checkin["site_id"] not in {s["site_id"] for s in listed}

    changed = run(capsys, "shop", "presets", shop["site_id"], "--preset", "Tee=1")
    assert changed["shop"]["presets"] == [{"label": "Tee", "amount": 1}]
    assert run(capsys, "shop", "presets", shop["site_id"])["shop"]["presets"] == []

    # A shop's code enrols a shop terminal, through the same command as a kiosk's.
    code = run(capsys, "terminal", "add", "--site", shop["site_id"])
    assert len(code["code"]) == 20


def test_refusals_are_one_line_with_the_reason_code(cli_env: ServerProcess, capsys):
    checkin = run(capsys, "site", "add", "--name", "Freizeitheim", "--tokens-per-hour", "10")
    assert "not_a_shop" in refused(capsys, "shop", "presets", checkin["site_id"], "--preset", "Tee=1")
    error = refused(capsys, "shop", "add", "--name", "Teuer", "--max-amount", "5", "--preset", "Torte=9")
    assert error.startswith("kokreativ: error: malformed_request:")
    with pytest.raises(SystemExit) as exit_info:  # a preset that does not parse never reaches the server
        main(["provision", "shop", "add", "--name", "X", "--preset", "Kaffee"])
    assert exit_info.value.code == 2 and "is not a preset like Kaffee=2" in capsys.readouterr().err


def test_limits_are_a_signed_decision_that_keeps_what_is_not_given(
    cli_env: ServerProcess, capsys, tmp_path: Path, monkeypatch
):
    key_file = tmp_path / "coordinator.key"
    run(capsys, "coordinator", "init", "--name", "Kim", "--key", str(key_file))
    shop = run(capsys, "shop", "add", "--name", "Laden", "--offline-daily-cap", "150", "--preset", "Brot=4")

    answer = run(
        capsys, "shop", "limits", shop["site_id"], "--key", str(key_file), "--offline-allowance", "5"
    )
    assert answer["kind"] == "shop_limits" and answer["duplicate"] is False
    limits = answer["result"]["shop"]
    assert (limits["offline_allowance"], limits["offline_daily_cap"], limits["max_amount"]) == (5, 150, 50)
    assert limits["presets"] == [{"label": "Brot", "amount": 4}]  # presets are not the decision's
    assert run(capsys, "shop", "list")[0]["shop"] == limits

    # The log holds the decision exactly as signed, by this coordinator's key.
    entry = logged_entry(cli_env, answer["log_index"])
    assert entry["kind"] == "decision" and decision_hash(entry["body"]) == answer["decision"]
    decision = parse_decision(entry["body"])
    key = load_coordinator_key(key_file)
    assert decision.coordinator == coordinator_id(key.public_key)
    key.public_key.verify(entry["body"], entry["sig"])
    assert dict(decision.data) == {
        "site": shop["site_id"],
        "max_amount": 50,
        "offline_allowance": 5,
        "offline_daily_cap": 150,
        "void_window_s": 900,
    }

    # The key may come from the environment instead; a check-in site has no shop limits.
    checkin = run(capsys, "site", "add", "--name", "Treff", "--tokens-per-hour", "10")
    monkeypatch.setenv("KOKREATIV_COORDINATOR_KEY", str(key_file))
    run(capsys, "shop", "limits", shop["site_id"], "--void-window", "5")
    assert run(capsys, "shop", "list")[0]["shop"]["void_window_s"] == 300
    assert "not_a_shop" in refused(capsys, "shop", "limits", checkin["site_id"], "--max-amount", "3")
    monkeypatch.delenv("KOKREATIV_COORDINATOR_KEY")
    # Without a key there is nothing to sign with.
    assert "KOKREATIV_COORDINATOR_KEY" in refused(
        capsys, "shop", "limits", shop["site_id"], "--max-amount", "3"
    )
    # A limit the protocol does not allow is refused before anything is signed.
    error = refused(capsys, "shop", "limits", shop["site_id"], "--key", str(key_file), "--max-amount", "0")
    assert error.startswith("kokreativ: error: bad_field:")


def test_unknown_shop(cli_env: ServerProcess, capsys, tmp_path: Path):
    key_file = tmp_path / "c.key"
    run(capsys, "coordinator", "init", "--name", "Kim", "--key", str(key_file))
    error = refused(capsys, "shop", "limits", "s_" + "0" * 32, "--key", str(key_file), "--max-amount", "3")
    assert error.startswith("kokreativ: error: unknown_site:")
