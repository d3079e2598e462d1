"""The headless tap loop and the sync loop tell systemd READY and ping the watchdog; a hang stops the pings.

A real unix datagram socket is ``NOTIFY_SOCKET`` (:mod:`tests.notify_helpers`);
markers the test puts into the same socket bound each window, so the checks
are on order and counts.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time

import pytest

from hardware.sdnotify import Watchdog
from hardware.simulated import SimulatedReader
from terminal.outbox import Outbox
from terminal.service import KioskService
from terminal.sync import SyncClient
from terminal.tap import TapOutcome
from tests.notify_helpers import PINGS, READY, WATCHDOG, between, notify_listener, pings_since, watchdog_env

INTERVAL_MS = 400
WINDOW_S = 1.2  # three watchdog intervals


@pytest.mark.parametrize("kind", ["path", "abstract"])
def test_the_headless_loop_says_ready_pings_while_it_runs_and_stops_pinging_while_a_tap_hangs(kiosk, kind):
    reader = SimulatedReader()
    service = KioskService(kiosk=kiosk, reader=reader, sync=None)  # poll_s 0.5: the watchdog cuts it
    stop, release = threading.Event(), threading.Event()
    with notify_listener(kind) as listener:

        def hang(_outcome: TapOutcome) -> None:  # the tap loop is stuck inside a tap
            listener.mark("BLOCK-START")
            release.wait(30)
            listener.mark("BLOCK-END")

        watchdog = Watchdog(environ=watchdog_env(listener, INTERVAL_MS))
        thread = threading.Thread(target=service.run, args=(stop, hang), kwargs={"watchdog": watchdog})
        thread.start()
        try:
            listener.wait_for(lambda m: READY in m)
            listener.mark("WINDOW-START")
            listener.wait_for(lambda m: pings_since(m, "WINDOW-START") >= PINGS)
            listener.mark("WINDOW-END")
            assert reader.present_card(b"\xde\xad\xbe\xef")  # an unknown card: on_outcome hangs
            listener.wait_for_mark("BLOCK-START")
            time.sleep(WINDOW_S)  # three intervals: a pinging thread would have sent a dozen
            release.set()
            listener.wait_for_mark("BLOCK-END")
            listener.wait_for(lambda m: m[m.index("BLOCK-END") + 1 :].count(WATCHDOG) >= 2)
        finally:
            release.set()
            stop.set()
            thread.join(30)
        listener.mark("END")
        messages = listener.wait_for_mark("END")
    assert messages[0] == READY
    assert between(messages, "WINDOW-START", "WINDOW-END").count(WATCHDOG) >= PINGS
    assert between(messages, "BLOCK-START", "BLOCK-END") == []
    assert between(messages, "BLOCK-END", "END")[-1] == "STOPPING=1"


def test_the_headless_loop_of_a_child_process_does_not_ping(kiosk):
    service = KioskService(kiosk=kiosk, reader=SimulatedReader(), sync=None)
    stop = threading.Event()
    with notify_listener() as listener:
        watchdog = Watchdog(environ=watchdog_env(listener, INTERVAL_MS, pid=os.getppid()))
        thread = threading.Thread(target=service.run, args=(stop,), kwargs={"watchdog": watchdog})
        thread.start()
        try:
            listener.wait_for(lambda m: READY in m)
            time.sleep(WINDOW_S)
        finally:
            stop.set()
            thread.join(30)
        listener.mark("END")
        messages = listener.wait_for_mark("END")
    assert WATCHDOG not in messages


def test_the_headless_loop_without_notify_socket_runs_and_sends_nothing(kiosk, monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    service = KioskService(kiosk=kiosk, reader=SimulatedReader(), sync=None, poll_s=0.01)
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,), kwargs={"watchdog": Watchdog()})
    thread.start()
    time.sleep(0.1)
    stop.set()
    thread.join(30)
    assert not thread.is_alive()


def test_the_sync_loop_says_ready_and_pings_through_its_pauses(config, kiosk_key, fake_ledger):
    stop = threading.Event()
    with notify_listener() as listener, Outbox(config.outbox_path) as outbox:
        ledger = dataclasses.replace(config, server_url=fake_ledger.url)
        client = SyncClient(ledger, outbox, interval_s=60)  # one round, then a long pause
        watchdog = Watchdog(environ=watchdog_env(listener, INTERVAL_MS))
        thread = threading.Thread(target=client.run_forever, args=(stop, None, watchdog))
        thread.start()
        try:
            listener.wait_for(lambda m: READY in m)
            listener.wait_for(lambda m: client.last_result is not None)  # the round is over: pausing
            listener.mark("WINDOW-START")
            listener.wait_for(lambda m: pings_since(m, "WINDOW-START") >= PINGS)
            listener.mark("WINDOW-END")
        finally:
            stop.set()
            thread.join(30)
            client.close()
        listener.mark("END")
        messages = listener.wait_for_mark("END")
    assert messages[0] == READY
    assert between(messages, "WINDOW-START", "WINDOW-END").count(WATCHDOG) >= PINGS
    assert messages[-2] == "STOPPING=1"


def test_a_sync_round_that_hangs_stops_the_pings(config, silent_server):
    stop = threading.Event()
    silent = dataclasses.replace(config, server_url=silent_server.url)
    with notify_listener() as listener, Outbox(config.outbox_path) as outbox:
        client = SyncClient(silent, outbox, timeout_s=60)
        watchdog = Watchdog(environ=watchdog_env(listener, INTERVAL_MS))
        thread = threading.Thread(target=client.run_forever, args=(stop, None, watchdog))
        thread.start()
        try:
            assert silent_server.connected.wait(30)  # the round waits for an answer that never comes
            listener.mark("BLOCK-START")
            time.sleep(WINDOW_S)
            listener.mark("BLOCK-END")
        finally:
            stop.set()
            silent_server.hang_up()
            thread.join(30)
            client.close()
        listener.mark("END")
        messages = listener.wait_for_mark("END")
    assert messages[0] == READY
    assert between(messages, "BLOCK-START", "BLOCK-END") == []
