"""The sync client against a ledger over real HTTP on loopback (the hand-written fake in conftest)."""

from __future__ import annotations

import dataclasses
import random
import socket
import threading
import time

from protocol import PrivateKey, ids
from terminal.outbox import Outbox
from terminal.sync import NETWORK_ERROR, SyncClient
from terminal.tap import Kiosk


def _fill(kiosk: Kiosk, clock, card_tap, count: int) -> None:
    cards = [ids.new_id(ids.CARD) for _ in range(7)]
    for i in range(count):
        clock.advance(61)
        kiosk.handle_tap(card_tap(cards[i % len(cards)]))


def _client(config, outbox: Outbox, url: str, **kwargs) -> SyncClient:
    return SyncClient(dataclasses.replace(config, server_url=url), outbox, **kwargs)


def _dead_url() -> str:
    """A loopback URL where nothing listens: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_drains_more_than_one_batch_and_marks_everything_synced(
    config, kiosk, outbox, clock, card_tap, fake_ledger
):
    _fill(kiosk, clock, card_tap, 1203)
    with _client(config, outbox, fake_ledger.url) as client:
        result = client.sync_once()
    assert result.ok, result
    assert (result.sent, result.acknowledged, result.pending) == (1203, 1203, 0)
    assert fake_ledger.batch_sizes == [500, 500, 203]
    assert len(fake_ledger.stored) == 1203
    assert outbox.pending_count() == 0
    assert fake_ledger.stored[-1] == outbox.events_from(1203, 1)[0].body


def test_resending_what_the_server_already_holds_is_success(
    config, kiosk, outbox, clock, card_tap, fake_ledger
):
    _fill(kiosk, clock, card_tap, 10)
    fake_ledger.lose_next_answers = 1  # the server stores the batch, but its answer never arrives
    with _client(config, outbox, fake_ledger.url) as client:
        lost = client.sync_once()
        assert lost.error == "bad_gateway" and lost.pending == 10 and len(fake_ledger.stored) == 10
        result = client.sync_once()
    assert result.ok and result.pending == 0 and result.acknowledged == 10
    assert fake_ledger.batch_sizes == [10, 10] and len(fake_ledger.stored) == 10


def test_sequence_gap_after_a_server_restore_resends_retained_synced_events(
    config, kiosk, outbox, clock, card_tap, fake_ledger
):
    _fill(kiosk, clock, card_tap, 20)
    with _client(config, outbox, fake_ledger.url) as client:
        assert client.sync_once().ok
        fake_ledger.restore_backup(8)  # the server lost 9..20, which the kiosk already counts as synced
        _fill(kiosk, clock, card_tap, 5)
        result = client.sync_once()
    assert result.ok, result
    assert result.pending == 0 and result.acknowledged == 5
    assert fake_ledger.first_seqs == [1, 21, 9]  # tried where it left off, then resumed at expected_seq
    assert len(fake_ledger.stored) == 25


def test_server_ahead_of_the_kiosk_stops_with_sequence_gap(
    config, kiosk, outbox, clock, card_tap, fake_ledger
):
    _fill(kiosk, clock, card_tap, 3)
    fake_ledger.fail_next.append((409, "sequence_gap"))  # no expected_seq at all: nothing sensible to do
    with _client(config, outbox, fake_ledger.url) as client:
        result = client.sync_once()
    assert result.error == "sequence_gap" and result.pending == 3


def test_unreachable_server_leaves_everything_pending(config, kiosk, outbox, clock, card_tap):
    _fill(kiosk, clock, card_tap, 3)
    with _client(config, outbox, _dead_url()) as client:
        result = client.sync_once()
    assert (result.error, result.sent, result.pending) == (NETWORK_ERROR, 0, 3)
    assert outbox.pending_count() == 3


def test_server_errors_keep_events_and_report_the_code(config, kiosk, outbox, clock, card_tap, fake_ledger):
    _fill(kiosk, clock, card_tap, 3)
    fake_ledger.fail_next += [(503, "unavailable"), (423, "kiosk_suspended")]
    with _client(config, outbox, fake_ledger.url) as client:
        assert client.sync_once().error == "unavailable"
        assert client.sync_once().error == "kiosk_suspended"
        assert outbox.pending_count() == 3
        assert client.sync_once().ok
    assert outbox.pending_count() == 0


def test_receipt_signed_by_another_key_is_bad_receipt_and_nothing_is_synced(
    config, kiosk, outbox, clock, card_tap, fake_ledger
):
    _fill(kiosk, clock, card_tap, 3)
    fake_ledger.receipt_key = PrivateKey.generate()
    with _client(config, outbox, fake_ledger.url) as client:
        result = client.sync_once()
    assert result.error == "bad_receipt" and result.pending == 3
    assert outbox.alarm is None


def test_validly_signed_receipt_with_another_head_raises_the_fork_alarm_and_halts_sync(
    config, kiosk, outbox, clock, card_tap, fake_ledger
):
    _fill(kiosk, clock, card_tap, 3)
    fake_ledger.lie_about_head = True
    with _client(config, outbox, fake_ledger.url) as client:
        assert client.sync_once().error == "fork_detected"
        assert outbox.alarm is not None and outbox.pending_count() == 3
        fake_ledger.lie_about_head = False
        assert client.sync_once().error == "fork_detected"  # halted until a coordinator clears the alarm
        outbox.clear_alarm()
        assert client.sync_once().ok


def _recording_sleep(stop: threading.Event, rounds: int) -> tuple[list[float], object]:
    delays: list[float] = []

    def sleep(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) == rounds:
            stop.set()

    return delays, sleep


def test_backoff_grows_exponentially_with_full_jitter_up_to_the_cap(config, kiosk, outbox, clock, card_tap):
    _fill(kiosk, clock, card_tap, 1)
    stop = threading.Event()
    delays, sleep = _recording_sleep(stop, 12)
    with _client(config, outbox, _dead_url(), rng=random.Random(7), sleep=sleep) as client:
        client.run_forever(stop)
    replay = random.Random(7)
    assert delays == [replay.uniform(0, min(300.0, 2.0**n)) for n in range(12)]
    assert all(0 <= d <= min(300.0, 2.0**n) for n, d in enumerate(delays))
    assert len(set(delays)) == len(delays)  # jittered, not a fixed ladder
    assert outbox.pending_count() == 1


def test_backoff_resets_to_the_normal_interval_after_a_success(
    config, kiosk, outbox, clock, card_tap, fake_ledger
):
    _fill(kiosk, clock, card_tap, 2)
    fake_ledger.fail_next += [(503, "unavailable")] * 3
    stop = threading.Event()
    delays, sleep = _recording_sleep(stop, 5)
    with _client(config, outbox, fake_ledger.url, rng=random.Random(3), sleep=sleep) as client:
        client.run_forever(stop)
    replay = random.Random(3)
    assert delays == [replay.uniform(0, 1.0), replay.uniform(0, 2.0), replay.uniform(0, 4.0), 5.0, 5.0]
    assert outbox.pending_count() == 0


def test_wake_cuts_the_pause_short_and_stop_ends_the_loop(
    config, kiosk, outbox, clock, card_tap, fake_ledger
):
    stop, wake = threading.Event(), threading.Event()
    with _client(config, outbox, fake_ledger.url, interval_s=3600) as client:
        thread = threading.Thread(target=client.run_forever, args=(stop, wake))
        thread.start()
        try:
            _fill(kiosk, clock, card_tap, 4)
            wake.set()
            deadline = time.monotonic() + 60  # a safety net against hanging, not a timing assertion
            while len(fake_ledger.stored) < 4 and time.monotonic() < deadline:  # without wake: an hour
                thread.join(0.01)
        finally:
            stop.set()
            wake.set()
            thread.join()
    assert outbox.pending_count() == 0
