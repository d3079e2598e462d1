"""The wired kiosk: a script in, one line per tap out, events synced; and ``kokreativ terminal``."""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import threading

import pytest

from hardware.simulated import SimulatedReader, card_ndef
from protocol import ids
from terminal.cli import configure
from terminal.config import write_config
from terminal.outbox import Outbox
from terminal.service import open_service

CARDS = [ids.new_id(ids.CARD) for _ in range(2)]
SCRIPT = f"""\
# two volunteers arrive, one unknown card, a double tap, then both leave
04000000000001 {CARDS[0]}
04000000000002 {CARDS[1]}
deadbeef
04000000000001 {CARDS[0]}
"""


@pytest.fixture
def config_path(config, kiosk_key, fake_ledger, tmp_path):
    path = tmp_path / "kiosk.toml"
    write_config(path, dataclasses.replace(config, server_url=fake_ledger.url))
    return path


def test_scripted_run_prints_one_line_per_tap_ends_at_eof_and_syncs(config, config_path, fake_ledger):
    from terminal.config import load_config

    stdout = io.StringIO()
    with open_service(load_config(config_path), stdin=io.StringIO(SCRIPT), stdout=stdout) as service:
        final = service.run(threading.Event())
    assert stdout.getvalue().splitlines() == ["OK", "OK", "DENIED", "OK"]  # the 4th tap is a double tap
    assert final is not None and final.ok and final.pending == 0
    assert len(fake_ledger.stored) == 3
    with Outbox(config.outbox_path) as outbox:
        assert outbox.pending_count() == 0 and outbox.open_shift(CARDS[0]) is not None


def test_stop_ends_the_loop_without_a_final_sync(config_path, fake_ledger):
    from terminal.config import load_config

    stop = threading.Event()
    stdout = io.StringIO()
    with open_service(
        load_config(config_path), stdin=io.StringIO(), stdout=stdout, reader="sim", sync=False
    ) as svc:
        assert isinstance(svc.reader, SimulatedReader)
        svc.reader.present_card(b"\x04\x00\x00\x09", card_ndef(CARDS[1]))
        svc.reader.finish()
        assert svc.run(stop) is None
    assert stdout.getvalue() == "OK\n"
    assert fake_ledger.stored == []


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kokreativ terminal")
    configure(parser)
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_run_sync_and_status(config_path, fake_ledger, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(SCRIPT))
    assert _main(["run", "--config", str(config_path), "--no-sync"]) == 0
    assert capsys.readouterr().out.splitlines() == ["OK", "OK", "DENIED", "OK"]

    assert _main(["status", "--config", str(config_path)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["last_seq"], status["pending"], status["alarm"], status["last_sync"]) == (3, 3, None, None)
    assert status["kiosk_id"].startswith("k_") and status["site"]["name"] == "Tafel Linden"

    assert _main(["sync", "--config", str(config_path), "--once"]) == 0
    line = capsys.readouterr().out
    assert json.loads(line) == {"acknowledged": 3, "error": None, "message": None, "pending": 0, "sent": 3}
    assert len(line.splitlines()) == 1

    assert _main(["status", "--config", str(config_path)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["pending"] == 0 and status["last_sync"] is not None


def test_cli_sync_once_exits_1_when_events_remain(config_path, fake_ledger, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(SCRIPT))
    _main(["run", "--config", str(config_path), "--no-sync"])
    capsys.readouterr()
    fake_ledger.fail_next.append((503, "unavailable"))
    assert _main(["sync", "--config", str(config_path), "--once"]) == 1
    assert json.loads(capsys.readouterr().out)["error"] == "unavailable"


def test_every_command_has_help_and_an_example():
    parser = argparse.ArgumentParser()
    configure(parser)
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(subparsers.choices) == {"run", "sync", "status"}
    for name, sub in subparsers.choices.items():
        assert sub.description, name
        assert "examples:" in (sub.epilog or "") and f"kokreativ terminal {name}" in sub.epilog
