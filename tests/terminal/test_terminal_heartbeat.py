"""The kiosk's heartbeats through a real ``kokreativ server run`` process: at most one a minute,
after good and failed rounds alike, the server's clock offset stored and shown by ``terminal status``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from protocol.clock import now_ms
from protocol.heartbeat import parse_heartbeat
from protocol.sealed import open_sealed
from terminal.cli import configure
from terminal.clock import SimulatedClock
from terminal.keystore import load_key
from terminal.outbox import Outbox
from terminal.sync import SyncClient
from tests.conftest import EnrolledKiosk, ServerProcess, server_in_process

HOUR_MS = 3_600_000


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[ServerProcess]:
    """A real ``kokreativ server run`` process here (the other kiosk tests serve from a thread)."""
    with server_in_process(tmp_path / "server") as server:
        yield server


class RecordingSession(requests.Session):
    """A real session that notes each request's method, URL and JSON body before sending it."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str, Any]] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        self.sent.append((str(method), str(url), kwargs.get("json")))
        return super().request(method, url, *args, **kwargs)

    def heartbeats(self) -> list[Any]:
        return [body for method, url, body in self.sent if url.endswith("/heartbeat")]


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kokreativ terminal")
    configure(parser)
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_one_heartbeat_a_minute_through_a_real_server_and_the_offset_in_terminal_status(
    enrolled_kiosk: EnrolledKiosk, server_process: ServerProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    config = enrolled_kiosk.config
    # The kiosk's wall clock is an hour behind the server's real one (a stale fake-hwclock, say).
    kiosk_clock = SimulatedClock(now_ms() - HOUR_MS, synced=False)
    now = {"ms": 1_000_000}  # the sync loop's own clock, which paces heartbeats
    stop = threading.Event()
    rounds = 0

    def sleep(seconds: float, wake: threading.Event | None = None) -> None:
        nonlocal rounds
        rounds += 1
        now["ms"] += 20_000  # each pause: twenty seconds on the loop's clock
        kiosk_clock.advance(20)
        if rounds == 7:
            stop.set()

    session = RecordingSession()
    with (
        Outbox(config.outbox_path) as outbox,
        SyncClient(
            config,
            outbox,
            session=session,
            sleep=sleep,
            now_ms=lambda: now["ms"],
            clock=kiosk_clock,
            reader_status=lambda: "missing",
        ) as client,
    ):
        client.run_forever(stop)
        status = outbox.status()

    # Rounds at 0, 20, …, 120 s: heartbeats at 0, 60 and 120 s.
    beats = session.heartbeats()
    assert rounds == 7 and len(beats) == 3
    key = load_key(config.key_path).public_key
    first = parse_heartbeat(open_sealed(beats[0], key, what="heartbeat", field="heartbeat"))
    assert (first.kiosk, first.reader, first.synced, first.pending) == (config.kiosk_id, "missing", False, 0)
    assert first.boot == kiosk_clock.boot_id
    later = [parse_heartbeat(open_sealed(b, key, what="heartbeat", field="heartbeat")) for b in beats[1:]]
    assert [b.mono_ms - first.mono_ms for b in later] == [60_000, 120_000]

    # The kiosk's clock started an hour behind and then ran 120 simulated seconds ahead of real
    # time, so the server measured a little under 58 minutes (plus the test's real run time, which
    # only the lower bound depends on); whatever it said exactly is what the outbox keeps.
    offset = status.clock_offset_ms
    assert offset is not None and HOUR_MS - 120_000 <= offset < HOUR_MS
    assert status.heartbeat_ms == 1_000_000 + 120_000
    assert _main(["status", "--config", str(enrolled_kiosk.config_path)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["clock_offset_ms"] == status.clock_offset_ms

    # The server stored the first heartbeat only: the others came within ten of its real seconds
    # (its rate limit), though it answered them all.  The first one's offset is an hour and a bit.
    with server_process.admin() as admin:
        [listed] = admin.list_kiosks()
    assert (listed["reader"], listed["clock_synced"], listed["pending"]) == ("missing", False, 0)
    assert HOUR_MS <= listed["clock_offset_ms"] < HOUR_MS + 60_000


def test_heartbeats_go_on_while_rounds_fail_and_a_failed_one_waits_a_minute(
    enrolled_kiosk: EnrolledKiosk,
) -> None:
    config = enrolled_kiosk.config
    now = {"ms": 0}
    stop = threading.Event()
    rounds = 0

    def sleep(seconds: float, wake: threading.Event | None = None) -> None:
        nonlocal rounds
        rounds += 1
        now["ms"] += 30_000
        if rounds == 4:
            stop.set()

    session = RecordingSession()
    dead = dataclasses.replace(config, server_url="http://127.0.0.1:9")  # nothing listens there
    with (
        Outbox(config.outbox_path) as outbox,
        SyncClient(dead, outbox, session=session, sleep=sleep, now_ms=lambda: now["ms"]) as client,
    ):
        client.run_forever(stop)
        assert outbox.status().clock_offset_ms is None
        assert client.last_result is not None and client.last_result.error == "network_error"
    # Rounds at 0, 30, 60 and 90 s all failed; heartbeats were tried at 0 and 60 s only.
    assert rounds == 4 and len(session.heartbeats()) == 2
