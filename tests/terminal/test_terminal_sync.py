"""The sync client against a ledger over real HTTP on loopback (the hand-written fake in conftest)."""

from __future__ import annotations

import dataclasses
import logging
import random
import socket
import threading
import time

from protocol import PrivateKey, ids
from terminal.outbox import Outbox
from terminal.sync import NETWORK_ERROR, STOPPED, SyncClient
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


class _BrokenClock:
    """A clock whose reading fails, as a sample's would on a broken /proc: nothing else may fail with it."""

    def now(self):
        raise OSError("no boot_id")


def test_a_clock_sample_that_cannot_be_made_does_not_hold_back_the_events(
    config, kiosk, outbox, clock, card_tap, fake_ledger, caplog
):
    _fill(kiosk, clock, card_tap, 3)
    with _client(config, outbox, fake_ledger.url, clock=_BrokenClock()) as client:
        result = client.sync_once()
    assert result.ok and result.pending == 0 and len(fake_ledger.stored) == 3
    assert fake_ledger.clocks == [None]
    assert "batch sent without a clock sample: OSError" in caplog.text


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


def test_a_server_restored_from_backup_is_a_log_inconsistency_and_after_clearing_it_is_re_fed(
    config, kiosk, outbox, clock, card_tap, fake_ledger
):
    _fill(kiosk, clock, card_tap, 20)
    with _client(config, outbox, fake_ledger.url) as client:
        assert client.sync_once().ok
        # The server lost 9..20, which the kiosk counts as synced, and its log went back with them:
        # from the kiosk's point of view the server's history was rewritten.
        fake_ledger.restore_backup(8)
        _fill(kiosk, clock, card_tap, 5)
        refused = client.sync_once()
        assert (refused.error, refused.pending, refused.log_size) == ("log_inconsistent", 5, 21)
        assert "shrank" in outbox.alarm and len(fake_ledger.evidence) == 1
        assert len(fake_ledger.stored) == 8  # the server refused the batch: log_size beyond its log
        # A coordinator looks into it and clears the alarm: the kiosk starts again from the server's log,
        # and the sequence_gap answer makes it resend what the server lost.
        outbox.clear_alarm()
        result = client.sync_once()
    assert result.ok, result
    assert result.pending == 0 and result.acknowledged == 5
    assert fake_ledger.first_seqs == [1, 21, 9]  # tried where it left off, then resumed at expected_seq
    assert len(fake_ledger.stored) == 25
    assert fake_ledger.log_sizes == [0, 21, 0, 0]
    assert result.log_size == fake_ledger.log.size == 1 + 8 + 17


def test_after_a_restore_and_clearing_the_alarm_the_next_round_resends_without_a_tap(
    config, kiosk, outbox, clock, card_tap, fake_ledger
):
    """Issue 20 §3: nothing is pending after the restore, yet the server lacks 9..20; no tap may be needed."""
    _fill(kiosk, clock, card_tap, 20)
    with _client(config, outbox, fake_ledger.url) as client:
        assert client.sync_once().ok
        fake_ledger.restore_backup(8)
        alarmed = client.sync_once()  # no batch to send: witnessing the log finds it went back
        assert (alarmed.error, alarmed.pending) == ("log_inconsistent", 0)
        outbox.clear_alarm()
        result = client.sync_once()
        assert result.ok, result
        assert (result.sent, result.acknowledged, result.pending) == (12, 0, 0)  # 9..20, synced already
        assert fake_ledger.first_seqs == [1, 9] and len(fake_ledger.stored) == 20
        assert outbox.log_checkpoint() is not None and fake_ledger.state_requests == 1
        again = client.sync_once()  # a verified checkpoint again: no more state requests, nothing resent
    assert (again.error, again.sent) == (None, 0)
    assert fake_ledger.first_seqs == [1, 9] and fake_ledger.state_requests == 1


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

    def sleep(seconds: float, wake: threading.Event | None = None) -> None:
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


def test_a_tap_never_cuts_a_backoff_short_only_a_normal_pause(
    config, kiosk, outbox, clock, card_tap, fake_ledger
):
    _fill(kiosk, clock, card_tap, 2)
    fake_ledger.fail_next += [(503, "unavailable")] * 2
    stop, wake = threading.Event(), threading.Event()
    pauses: list[tuple[float, bool]] = []

    def sleep(seconds: float, may_wake: threading.Event | None) -> None:
        # ``may_wake`` is the event that may end this pause early; None means only ``stop`` may.
        pauses.append((seconds, may_wake is wake))
        wake.set()  # a volunteer taps during every pause
        if len(pauses) == 4:
            stop.set()

    with _client(config, outbox, fake_ledger.url, rng=random.Random(5), sleep=sleep) as client:
        client.run_forever(stop, wake)
    replay = random.Random(5)
    assert pauses == [
        (replay.uniform(0, 1.0), False),
        (replay.uniform(0, 2.0), False),
        (5.0, True),
        (5.0, True),
    ]
    assert outbox.pending_count() == 0


def test_stop_ends_a_round_between_batches_and_the_rest_stays_pending(
    config, kiosk, outbox, clock, card_tap, fake_ledger
):
    _fill(kiosk, clock, card_tap, 1203)
    stop = threading.Event()
    fake_ledger.on_request = stop.set  # SIGTERM arrives while the first batch is on the wire
    with _client(config, outbox, fake_ledger.url) as client:
        result = client.sync_once(stop)
    assert (result.error, result.sent, result.acknowledged, result.pending) == (STOPPED, 500, 500, 703)
    assert fake_ledger.batch_sizes == [500]
    assert outbox.pending_count() == 703 and outbox.pending(limit=1)[0].event.seq == 501


def test_run_forever_returns_after_the_batch_in_flight_when_stopped(
    config, kiosk, outbox, clock, card_tap, fake_ledger
):
    _fill(kiosk, clock, card_tap, 1203)
    stop = threading.Event()
    fake_ledger.on_request = stop.set
    with _client(config, outbox, fake_ledger.url, interval_s=3600) as client:
        thread = threading.Thread(target=client.run_forever, args=(stop, threading.Event()))
        thread.start()
        thread.join(10)  # a liveness check, not a performance threshold
        alive = thread.is_alive()
        if alive:
            fake_ledger.on_request = None
            thread.join()
    assert not alive
    assert fake_ledger.batch_sizes == [500] and outbox.pending_count() == 703


def test_an_unanswered_request_ends_with_the_read_timeout_and_keeps_the_events(
    config, kiosk, outbox, clock, card_tap, silent_server
):
    _fill(kiosk, clock, card_tap, 3)
    with _client(config, outbox, silent_server.url, timeout_s=0.2) as client:
        result = client.sync_once()
    assert silent_server.connected.is_set()
    assert (result.error, result.sent, result.pending) == (NETWORK_ERROR, 0, 3)


def test_an_internal_failure_is_one_warning_line_without_a_traceback(config, outbox, caplog):
    outbox.close()  # every outbox call now fails: an internal error, not a network one
    stop = threading.Event()
    delays, sleep = _recording_sleep(stop, 1)
    with (
        caplog.at_level(logging.INFO, logger="terminal.sync"),
        _client(config, outbox, _dead_url(), sleep=sleep) as client,
    ):
        client.run_forever(stop)
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.getMessage(), r.exc_info) for r in records] == [("sync round failed: ProgrammingError", None)]
    assert len(delays) == 1  # the loop carried on to its (backoff) pause


def test_each_round_is_noted_for_the_screen_but_an_unchanged_one_only_every_minute(config, outbox):
    stop = threading.Event()
    round_times = [1_000, 2_000, 60_999, 61_000]  # the kiosk's clock during each of four failed rounds
    clock = {"now": round_times[0]}

    def sleep(seconds: float, wake: threading.Event | None = None) -> None:
        noted.append(outbox.status().sync_round_ms)
        if len(noted) == len(round_times):
            stop.set()
        else:
            clock["now"] = round_times[len(noted)]

    noted: list[int | None] = []
    with _client(config, outbox, _dead_url(), sleep=sleep, now_ms=lambda: clock["now"]) as client:
        client.run_forever(stop)
    # The same outcome again within a minute is not written again; after a minute it is.
    assert noted == [1_000, 1_000, 1_000, 61_000]
    assert outbox.status().sync_round_error == "network_error"
    outbox.record_sync_round(None, 80_000)
    assert (outbox.status().sync_round_ms, outbox.status().sync_round_error) == (80_000, None)


def test_sync_now_from_another_process_cuts_even_a_backoff_short(config, outbox):
    stop = threading.Event()
    with _client(config, outbox, _dead_url(), backoff_base_s=3600, backoff_cap_s=3600) as client:
        thread = threading.Thread(target=client.run_forever, args=(stop,), daemon=True)
        thread.start()
        try:
            _wait_until(lambda: client.last_result is not None)
            first = client.last_result
            with Outbox(config.outbox_path) as screen_side:  # the screen's own connection
                screen_side.request_sync()
            _wait_until(lambda: client.last_result is not first)
            assert client.last_result is not None and client.last_result.error == "network_error"
        finally:
            stop.set()
            thread.join(5)
    assert not thread.is_alive()


def _wait_until(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_the_backlog_a_heartbeat_reports_follows_taps_and_receipts(
    config, kiosk, outbox, clock, card_tap, fake_ledger
):
    assert outbox.backlog() == (0, 0)
    _fill(kiosk, clock, card_tap, 3)
    assert outbox.backlog() == (3, 3)
    with _client(config, outbox, fake_ledger.url) as client:
        assert client.sync_once().ok
    assert outbox.backlog() == (3, 0)
