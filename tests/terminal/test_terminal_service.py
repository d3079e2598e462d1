"""The wired kiosk: a script in, one line per tap out, events synced; and ``kokreativ terminal``."""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import logging
import threading
import time

import pytest

from hardware.simulated import SimulatedReader
from protocol import ids, parse_event, sign_trust_list
from protocol.heartbeat import verify_heartbeat
from terminal.cli import configure
from terminal.clock import SimulatedClock
from terminal.config import write_config
from terminal.errors import OutboxError
from terminal.outbox import Outbox
from terminal.service import KioskService, open_service
from terminal.tap import Outcome, TapOutcome
from terminal.trust import TrustStore
from tests.cardfactory import TestIssuer, uid_for

CARDS = [ids.new_id(ids.CARD) for _ in range(2)]
ISSUER = TestIssuer()
SCRIPT = f"""\
# two volunteers arrive, one unknown card, a double tap, then both leave
{uid_for(CARDS[0]).hex()} {ISSUER.ndef(CARDS[0]).hex()}
{uid_for(CARDS[1]).hex()} {ISSUER.ndef(CARDS[1]).hex()}
deadbeef
{uid_for(CARDS[0]).hex()} {ISSUER.ndef(CARDS[0]).hex()}
"""


@pytest.fixture
def issuer() -> TestIssuer:
    return ISSUER  # the script above was signed by it


@pytest.fixture
def stored_trust(config, trust, server_key):
    """The kiosk's outbox holds a trust list believing ISSUER, as after enrolment."""
    with Outbox(config.outbox_path) as outbox:
        store = TrustStore(outbox, server_key=server_key.public_key, kiosk_id=config.kiosk_id)
        store.store(sign_trust_list(trust.trust, server_key))


@pytest.fixture
def config_path(config, kiosk_key, fake_ledger, tmp_path):
    path = tmp_path / "kiosk.toml"
    write_config(path, dataclasses.replace(config, server_url=fake_ledger.url))
    return path


def test_scripted_run_prints_one_line_per_tap_ends_at_eof_and_syncs(
    stored_trust, config, config_path, fake_ledger
):
    from terminal.config import load_config

    stdout = io.StringIO()
    with open_service(load_config(config_path), stdin=io.StringIO(SCRIPT), stdout=stdout) as service:
        final = service.run(threading.Event())
    assert stdout.getvalue().splitlines() == ["OK", "OK", "DENIED", "OK"]  # the 4th tap is a double tap
    assert final is not None and final.ok and final.pending == 0
    assert len(fake_ledger.stored) == 3
    with Outbox(config.outbox_path) as outbox:
        assert outbox.pending_count() == 0 and outbox.open_shift(CARDS[0]) is not None


def test_each_batch_carries_a_clock_sample_from_the_clock_the_taps_were_signed_with(
    stored_trust, config, config_path, kiosk_key, fake_ledger
):
    """The sync must sign its sample with the taps' own clock, or the server could not place them."""
    from terminal.config import load_config

    boot = "5f0c1e2a-9b7d-4c3e-8a61-2d4f6b8e0c13"
    clock = SimulatedClock(5_000, synced=False, boot_id=boot)  # a 1970 clock after a power cut
    with open_service(
        load_config(config_path), stdin=io.StringIO(SCRIPT), stdout=io.StringIO(), clock=clock
    ) as service:
        final = service.run(threading.Event())
    assert final is not None and final.ok and len(fake_ledger.stored) == 3
    assert fake_ledger.clocks and all(wire is not None for wire in fake_ledger.clocks)
    beat = verify_heartbeat(fake_ledger.clocks[-1], kiosk_key.public_key, kiosk_id=config.kiosk_id)
    assert (beat.boot, beat.synced, beat.mono_ms) == (boot, False, clock.mono_ms)
    # The clock is sealed in a v2 body; the ledger reads it from the opening sent beside each event.
    assert {parse_event(body).version for body in fake_ledger.stored} == {2}
    assert sorted(fake_ledger.opened) == [1, 2, 3]
    assert {event.clock.boot_id for event in fake_ledger.opened.values()} == {boot}


def test_stop_ends_the_loop_without_a_final_sync(stored_trust, config_path, fake_ledger):
    from terminal.config import load_config

    stop = threading.Event()
    stdout = io.StringIO()
    with open_service(
        load_config(config_path), stdin=io.StringIO(), stdout=stdout, reader="sim", sync=False
    ) as svc:
        assert isinstance(svc.reader, SimulatedReader)
        svc.reader.present_card(uid_for(CARDS[1]), ISSUER.ndef(CARDS[1]))
        svc.reader.finish()
        assert svc.run(stop) is None
    assert stdout.getvalue() == "OK\n"
    assert fake_ledger.stored == []


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kokreativ terminal")
    configure(parser)
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_run_sync_and_status(stored_trust, config_path, fake_ledger, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(SCRIPT))
    assert _main(["run", "--headless", "--config", str(config_path), "--no-sync"]) == 0
    assert capsys.readouterr().out.splitlines() == ["OK", "OK", "DENIED", "OK"]

    assert _main(["status", "--config", str(config_path)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["last_seq"], status["pending"], status["alarm"], status["last_sync"]) == (3, 3, None, None)
    assert status["sync_round"] is None  # run --no-sync: no round yet
    assert status["kiosk_id"].startswith("k_") and status["site"]["name"] == "Tafel Linden"
    assert status["trust_list"] == {
        "issued": "2025-11-29T08:06:40+01:00",  # ISO 8601 in the site's zone, with its offset
        "issuer_keys": 1,
        "blocked_cards": 0,
        "allow_uncredentialed": False,
    }

    assert _main(["sync", "--config", str(config_path), "--once"]) == 0
    line = capsys.readouterr().out
    answer = json.loads(line)
    assert answer.pop("trust_issued_ms") == fake_ledger.trust.issued_ms
    assert answer.pop("clock_offset_ms") == 0  # the fake ledger's answer to the heartbeat
    assert len(fake_ledger.heartbeats) == 1
    assert answer == {
        "acknowledged": 3,
        "error": None,
        "message": None,
        "pending": 0,
        "sent": 3,
        "log_size": 4,  # the kiosk's enrolment and its three events
    }
    assert len(line.splitlines()) == 1

    assert _main(["status", "--config", str(config_path)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["pending"] == 0 and status["last_sync"] is not None
    assert status["sync_round"]["error"] is None and status["sync_round"]["at"] is not None


def test_cli_sync_once_exits_1_when_events_remain(
    stored_trust, config_path, fake_ledger, monkeypatch, capsys
):
    monkeypatch.setattr("sys.stdin", io.StringIO(SCRIPT))
    _main(["run", "--headless", "--config", str(config_path), "--no-sync"])
    capsys.readouterr()
    fake_ledger.fail_next.append((503, "unavailable"))
    assert _main(["sync", "--config", str(config_path), "--once"]) == 1
    assert json.loads(capsys.readouterr().out)["error"] == "unavailable"


def test_cli_sync_once_also_writes_the_metrics_file(
    stored_trust, config, fake_ledger, tmp_path, monkeypatch, capsys
):
    prom = tmp_path / "textfile" / "kokreativ.prom"
    prom.parent.mkdir()
    path = tmp_path / "kiosk.toml"
    write_config(path, dataclasses.replace(config, server_url=fake_ledger.url, metrics_file=prom))
    monkeypatch.setattr("sys.stdin", io.StringIO(SCRIPT))
    _main(["run", "--headless", "--config", str(path), "--no-sync"])
    assert not prom.exists()  # the run did not sync, so it wrote nothing
    assert _main(["sync", "--config", str(path), "--once"]) == 0
    capsys.readouterr()
    text = prom.read_text()
    assert "kokreativ_kiosk_outbox_pending_events 0" in text and config.kiosk_id in text


def test_every_command_has_help_and_an_example():
    parser = argparse.ArgumentParser()
    configure(parser)
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(subparsers.choices) == {"run", "sync", "status", "evidence", "clear-alarm", "set-pin"}
    for name, sub in subparsers.choices.items():
        assert sub.description, name
        assert "examples:" in (sub.epilog or "") and f"kokreativ terminal {name}" in sub.epilog


def test_status_without_an_outbox_fails_in_one_line_and_creates_nothing(config, config_path, capsys):
    from kokreativ.cli import main

    assert main(["terminal", "status", "--config", str(config_path)]) != 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1 and "not_found" in captured.err
    assert not config.outbox_path.exists()
    with pytest.raises(OutboxError) as info:
        _main(["status", "--config", str(config_path)])
    assert info.value.code == "not_found"
    assert not config.outbox_path.exists()


def test_status_does_not_migrate_a_foreign_database(config, config_path):
    import sqlite3

    conn = sqlite3.connect(config.outbox_path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    with pytest.raises(OutboxError) as info:
        _main(["status", "--config", str(config_path)])
    assert info.value.code == "outbox_outdated"
    conn = sqlite3.connect(config.outbox_path)
    try:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []  # nothing was created
    finally:
        conn.close()


def test_cli_clear_alarm_lifts_a_fork_alarm_and_sync_resumes(
    stored_trust, config_path, fake_ledger, monkeypatch, capsys
):
    monkeypatch.setattr("sys.stdin", io.StringIO(SCRIPT))
    assert _main(["run", "--headless", "--config", str(config_path), "--no-sync"]) == 0
    fake_ledger.lie_about_head = True
    assert _main(["sync", "--config", str(config_path), "--once"]) == 1
    capsys.readouterr()
    assert _main(["status", "--config", str(config_path)]) == 0
    alarm = json.loads(capsys.readouterr().out)["alarm"]
    assert alarm

    fake_ledger.lie_about_head = False
    assert _main(["sync", "--config", str(config_path), "--once"]) == 1  # halted while the alarm is set
    assert json.loads(capsys.readouterr().out)["error"] == "fork_detected"

    assert _main(["clear-alarm", "--config", str(config_path)]) == 0
    assert capsys.readouterr().out == json.dumps({"alarm_cleared": alarm}) + "\n"
    assert _main(["clear-alarm", "--config", str(config_path)]) == 0
    assert json.loads(capsys.readouterr().out) == {"alarm_cleared": None}
    assert _main(["sync", "--config", str(config_path), "--once"]) == 0
    assert json.loads(capsys.readouterr().out)["pending"] == 0


def test_clear_alarm_without_an_outbox_creates_nothing(config, config_path):
    with pytest.raises(OutboxError):
        _main(["clear-alarm", "--config", str(config_path)])
    assert not config.outbox_path.exists()


END_OF_INPUT = "card reader 'stdin' has no more taps (end of input); stopping"


def test_end_of_input_is_logged_once_as_a_warning_and_the_run_exits_0(
    config_path, fake_ledger, monkeypatch, caplog
):
    monkeypatch.setattr("sys.stdin", io.StringIO(SCRIPT))
    with caplog.at_level(logging.INFO):
        assert _main(["run", "--headless", "--config", str(config_path), "--no-sync"]) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [END_OF_INPUT]


def test_shutdown_does_not_wait_for_a_server_that_never_answers(
    stored_trust, config, kiosk_key, silent_server
):
    from terminal.config import load_config, write_config

    path = config.data_dir / "kiosk.toml"
    write_config(path, dataclasses.replace(config, server_url=silent_server.url))
    stop = threading.Event()
    stdout = io.StringIO()
    with open_service(load_config(path), stdin=io.StringIO(), stdout=stdout, reader="sim") as svc:
        assert isinstance(svc.reader, SimulatedReader)
        svc.reader.present_card(uid_for(CARDS[1]), ISSUER.ndef(CARDS[1]))
        runner = threading.Thread(target=svc.run, args=(stop,))
        runner.start()
        try:
            # The sync thread's first request (the tap's batch, or an idle round's checkpoint fetch, which
            # can start before the tap loop takes the tap) hangs; the tap is recorded regardless.
            assert silent_server.connected.wait(60)
            deadline = time.monotonic() + 60  # a hang guard, not a timing assertion
            while stdout.getvalue() != "OK\n" and time.monotonic() < deadline:
                time.sleep(0.01)
            stop.set()  # what SIGTERM does
            runner.join(10)  # a liveness check: the default read timeout is 30 s
            stuck = runner.is_alive()
        finally:
            stop.set()
            if runner.is_alive():
                silent_server.hang_up()
                runner.join()
    assert not stuck
    assert stdout.getvalue() == "OK\n"  # the tap path did not wait for the network either
    with Outbox(config.outbox_path) as outbox:  # nothing pending was lost
        assert outbox.pending_count() == 1 and outbox.pending()[0].event.card == CARDS[1]
    # The abandoned sync thread ends as soon as its connection drops; no thread outlives the test.
    silent_server.hang_up()
    for thread in [t for t in threading.enumerate() if t.name == "kokreativ-sync"]:
        thread.join(10)
        assert not thread.is_alive()


def test_cli_sync_returns_on_sigterm_without_waiting_for_a_silent_server(
    stored_trust, config, kiosk_key, silent_server
):
    import os
    import signal

    from terminal.config import write_config

    path = config.data_dir / "kiosk.toml"
    write_config(path, dataclasses.replace(config, server_url=silent_server.url))
    with open_service(
        dataclasses.replace(config, server_url=silent_server.url),
        stdin=io.StringIO(),
        stdout=io.StringIO(),
        reader="sim",
        sync=False,
    ) as svc:
        svc.reader.present_card(uid_for(CARDS[0]), ISSUER.ndef(CARDS[0]))
        svc.reader.finish()
        svc.run(threading.Event())

    def terminate_once_connected() -> None:
        if silent_server.connected.wait(60):  # the loop is inside stop_on_signals, its request on the wire
            os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=terminate_once_connected)
    killer.start()
    try:
        assert _main(["sync", "--config", str(path)]) == 0
        # It returned while the request was still unanswered: the sync thread is still waiting.
        waiting = [t for t in threading.enumerate() if t.name == "kokreativ-sync" and t.is_alive()]
    finally:
        killer.join()
        silent_server.hang_up()
    assert waiting
    for thread in waiting:
        thread.join(10)
        assert not thread.is_alive()
    with Outbox(config.outbox_path) as outbox:
        assert outbox.pending_count() == 1


def test_the_button_wakes_sync_and_shows_green_only_when_the_kiosk_is_healthy(
    kiosk, indicator, outbox, trust, config, server_key
):
    from gpiozero.pins.mock import MockFactory

    from hardware.button import GpioButton
    from terminal.service import KioskService

    service = KioskService(kiosk=kiosk, reader=SimulatedReader(), sync=None)
    factory = MockFactory()
    pressed = threading.Event()

    def press() -> None:
        service.button_pressed()
        pressed.set()

    with GpioButton(23, on_press=press, pin_factory=factory, bounce_s=None):
        factory.pin(23).drive_low()
        assert pressed.wait(5)
        assert indicator.signals == ["ok"] and service.wake.is_set()

        trust.trust = None  # a kiosk that never received a trust list denies every card
        pressed.clear()
        factory.pin(23).drive_high()
        factory.pin(23).drive_low()
        assert pressed.wait(5)
        assert indicator.signals == ["ok", "error"]
    factory.reset()


class _FlakyReader(SimulatedReader):
    """A reader whose first waits raise, like a driver that lost its device, then recovers."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def wait_for_tap(self, timeout):
        if self.failures:
            self.failures -= 1
            raise OSError(5, "Input/output error")
        return super().wait_for_tap(timeout)


def test_a_reader_that_raises_does_not_end_the_tap_loop(stored_trust, config_path, caplog):
    from terminal.config import load_config

    stdout = io.StringIO()
    reader = _FlakyReader(failures=3)
    with open_service(load_config(config_path), stdin=io.StringIO(), stdout=stdout, sync=False) as svc:
        flaky = KioskService(kiosk=svc.kiosk, reader=reader, sync=None, reader_name="flaky", poll_s=0.01)
        reader.present_card(uid_for(CARDS[0]), ISSUER.ndef(CARDS[0]))
        reader.finish()
        outcomes: list[TapOutcome] = []
        with caplog.at_level(logging.WARNING, logger="terminal.service"):
            flaky.run(threading.Event(), on_outcome=outcomes.append)
    assert [o.kind for o in outcomes] == [Outcome.CHECK_IN]
    assert [r.getMessage() for r in caplog.records].count("card reader 'flaky' failed: OSError (EIO)") == 3


def test_cli_set_pin_stores_a_hash_that_verifies_and_refuses_a_short_pin(config_path, monkeypatch, capsys):
    from terminal.config import load_config
    from terminal.errors import TerminalError
    from terminal.pin import verify_pin

    monkeypatch.setattr("sys.stdin", io.StringIO("482913\n"))
    assert _main(["set-pin", "--config", str(config_path), "--pin-stdin"]) == 0
    assert json.loads(capsys.readouterr().out) == {"coordinator_pin": "set"}
    stored = load_config(config_path).coordinator_pin
    assert stored is not None and "482913" not in config_path.read_text()
    assert verify_pin(stored, "482913") and not verify_pin(stored, "482914")

    monkeypatch.setattr("sys.stdin", io.StringIO("123\n"))
    with pytest.raises(TerminalError, match="4 to 8 digits"):
        _main(["set-pin", "--config", str(config_path), "--pin-stdin"])
    assert load_config(config_path).coordinator_pin == stored  # unchanged


def test_sync_now_reaches_a_separate_sync_service_through_the_outbox(kiosk, outbox):
    service = KioskService(kiosk=kiosk, reader=SimulatedReader(), sync=None, outbox=outbox)
    assert outbox.sync_requested_ms() is None
    service.sync_now()
    assert outbox.sync_requested_ms() is not None and service.wake.is_set()


def test_commands_find_the_config_in_kokreativ_config_then_the_default_place(
    stored_trust, config, config_path, fake_ledger, monkeypatch, capsys, tmp_path
):
    """docs/operations.md runs ``terminal sync --once`` and ``terminal status`` without --config."""
    from kokreativ.cli import main

    monkeypatch.setenv("KOKREATIV_CONFIG", str(config_path))
    assert main(["terminal", "status"]) == 0
    assert json.loads(capsys.readouterr().out)["kiosk_id"] == config.kiosk_id
    assert main(["terminal", "sync", "--once"]) == 0
    assert json.loads(capsys.readouterr().out)["error"] is None

    # --config wins over the variable; an empty variable counts as unset.
    monkeypatch.setenv("KOKREATIV_CONFIG", str(tmp_path / "elsewhere" / "kiosk.toml"))
    assert main(["terminal", "status", "--config", str(config_path)]) == 0
    capsys.readouterr()
    monkeypatch.setenv("KOKREATIV_CONFIG", "")
    monkeypatch.setattr("terminal.config.DEFAULT_CONFIG_PATH", config_path)  # where enrolment writes it
    assert main(["terminal", "status"]) == 0
    assert json.loads(capsys.readouterr().out)["kiosk_id"] == config.kiosk_id


@pytest.mark.parametrize(
    "argv",
    [
        ["status"],
        ["sync", "--once"],
        ["evidence"],
        ["clear-alarm"],
        ["set-pin", "--pin-stdin"],
        ["run", "--headless", "--no-sync"],
    ],
)
def test_a_missing_config_says_so_in_one_line_naming_both_ways_to_point_at_it(
    argv, tmp_path, monkeypatch, capsys
):
    from kokreativ.cli import main

    missing = tmp_path / "nowhere" / "kiosk.toml"
    monkeypatch.delenv("KOKREATIV_CONFIG", raising=False)
    monkeypatch.setattr("terminal.config.DEFAULT_CONFIG_PATH", missing)
    assert main(["terminal", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"kokreativ: error: not_found: no kiosk config at {missing}")
    assert len(captured.err.splitlines()) == 1
    assert "--config" in captured.err and "KOKREATIV_CONFIG" in captured.err
    assert not missing.parent.exists()  # nothing made on the way
