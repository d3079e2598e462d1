"""hardware.sdnotify against a real unix datagram socket: READY, rate-limited pings, WATCHDOG_PID."""

from __future__ import annotations

import itertools
import os

import pytest

from hardware.sdnotify import Watchdog, notify, watchdog_interval_s
from tests.notify_helpers import READY, WATCHDOG, notify_listener, watchdog_env


@pytest.mark.parametrize("kind", ["path", "abstract"])
def test_ready_arrives_on_a_path_and_an_abstract_socket(kind: str) -> None:
    with notify_listener(kind) as listener:
        watchdog = Watchdog(environ=watchdog_env(listener))
        assert watchdog.ready()
        listener.mark("END")
        assert listener.wait_for_mark("END") == [READY, WATCHDOG, "END"]


def test_without_notify_socket_nothing_is_sent_and_nothing_raises() -> None:
    assert notify(READY, environ={}) is False
    watchdog = Watchdog(environ={"WATCHDOG_USEC": "400000", "WATCHDOG_PID": str(os.getpid())})
    assert not watchdog.enabled and watchdog.loop_period_s is None
    assert (watchdog.ready(), watchdog.ping(), watchdog.stopping()) == (False, False, False)
    assert watchdog.loop_timeout(0.5) == 0.5


def test_an_unreachable_socket_is_logged_not_raised(tmp_path, caplog) -> None:
    env = {"NOTIFY_SOCKET": str(tmp_path / "nobody-listens"), "WATCHDOG_USEC": "400000"}
    watchdog = Watchdog(environ=env)
    assert watchdog.ready() is False and watchdog.ping() is False
    assert notify(READY, environ={"NOTIFY_SOCKET": "vsock:2:1234"}) is False  # a kind we do not speak
    assert "could not notify systemd" in caplog.text


def test_watchdog_interval_honours_watchdog_pid() -> None:
    me = str(os.getpid())
    assert watchdog_interval_s({"WATCHDOG_USEC": "400000"}) == 0.4
    assert watchdog_interval_s({"WATCHDOG_USEC": "400000", "WATCHDOG_PID": me}) == 0.4
    assert watchdog_interval_s({"WATCHDOG_USEC": "400000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "400000", "WATCHDOG_PID": "x"}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "400000"}, pid=1234) == 0.4
    for bad in ("", "0", "-5", "soon"):
        assert watchdog_interval_s({"WATCHDOG_USEC": bad}) is None
    assert watchdog_interval_s({}) is None


def test_another_process_s_watchdog_pid_gets_ready_but_no_pings() -> None:
    with notify_listener() as listener:
        watchdog = Watchdog(environ=watchdog_env(listener, pid=os.getppid()))
        assert not watchdog.enabled
        watchdog.ready()
        assert not any(watchdog.ping() for _ in range(100))
        listener.mark("END")
        assert listener.wait_for_mark("END") == [READY, "END"]


class _FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_pings_are_rate_limited_and_a_loop_at_the_loop_period_keeps_them_within_half_an_interval() -> None:
    clock = _FakeClock()
    with notify_listener() as listener:
        watchdog = Watchdog(environ=watchdog_env(listener, interval_ms=400), clock=clock)
        assert watchdog.interval_s == 0.4 and watchdog.loop_period_s == pytest.approx(0.1)
        assert watchdog.loop_timeout(0.5) == pytest.approx(0.1) and watchdog.loop_timeout(0.01) == 0.01
        watchdog.ready()  # READY and the first ping at t=0
        sent_at = [0.0]
        # A busy loop calling ping every millisecond for 1 s: at most one datagram per interval/8.
        for step in range(1, 1001):
            clock.now = 1000.0 + step / 1000
            if watchdog.ping():
                sent_at.append(step / 1000)
        assert 8 <= len(sent_at) <= 1 / 0.05 + 1
        assert all(b - a >= 0.05 - 1e-9 for a, b in itertools.pairwise(sent_at))
        # A loop that calls exactly every loop period, each call a little late: still under half an interval.
        last = sent_at[-1]
        for _ in range(50):
            clock.now += 0.1 + 0.02
            if watchdog.ping():
                now = clock.now - 1000.0
                assert now - last <= 0.2
                last = now
        listener.mark("END")
        messages = listener.wait_for_mark("END")
    assert messages[0] == READY and set(messages[1:-1]) == {WATCHDOG}
