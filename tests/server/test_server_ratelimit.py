"""The guessing limiter's counting, and how a request's client key is found; no server needed."""

from __future__ import annotations

import argparse
import ipaddress
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from server_helpers import FakeClock

from protocol import Reason
from server import cli
from server.errors import RateLimited
from server.http.clients import (
    UNKNOWN_PEER,
    TrustedProxies,
    account_client,
    address_key,
    forwarded_client,
    kiosk_client,
    parse_address,
)
from server.ratelimit import ENROLMENT_CODES, Budget, Guarded, GuessLimiter
from server.storage import SqliteStorage

LOGIN = Guarded("login", per_client=Budget(2, 60), per_target=Budget(3, 60))


def fail(limiter: GuessLimiter, client: str, target: str = "*", guarded: Guarded = LOGIN) -> None:
    limiter.attempt(guarded, client, target).begin()  # begun and never succeeded: a failure


# -- the limiter -------------------------------------------------------------------------------------

Limiters = Callable[..., GuessLimiter]


@pytest.fixture(params=["memory", "ledger"])
def limiters(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Limiters]:
    """Makes limiters counting in memory, or in a real ledger (m028, as the server does): same rules."""
    if request.param == "memory":
        yield GuessLimiter
        return
    with SqliteStorage(tmp_path / "ledger.db") as storage:

        def make(clock: Any, **kwargs: Any) -> GuessLimiter:
            return GuessLimiter(clock, storage=storage, **kwargs)

        yield make


def stored_failures(limiter: GuessLimiter, kind: str, scope: str) -> dict[str, int]:
    """The failures of every window the limiter keeps for ``kind`` and ``scope``, read from its state."""
    store: Any = limiter._store
    if hasattr(store, "_tables"):
        table = store._tables.get((kind, scope))
        return {} if table is None else {key: window.failures for key, window in table.windows.items()}
    with store._storage.read() as tx:
        rows = tx._conn.execute(
            "SELECT key, failures FROM guess_windows WHERE kind = ? AND scope = ?", (kind, scope)
        ).fetchall()
    return dict(rows)


def test_a_client_is_refused_once_its_budget_is_spent_until_the_window_ends(limiters: Limiters) -> None:
    clock = FakeClock()
    limiter = limiters(clock)
    fail(limiter, "ip:a", "alice")
    clock.now += 30_000
    fail(limiter, "ip:a", "bob")  # another account: same client budget
    with pytest.raises(RateLimited) as refused:
        fail(limiter, "ip:a", "carol")
    assert (refused.value.status, refused.value.reason, refused.value.retry_after_s) == (
        429,
        Reason.RATE_LIMITED,
        30,
    )
    clock.now += 29_999
    with pytest.raises(RateLimited) as refused:
        fail(limiter, "ip:a", "carol")
    assert refused.value.retry_after_s == 1  # never 0: a client told 0 would retry at once
    clock.now += 1
    fail(limiter, "ip:a", "carol")


def test_a_target_is_refused_for_everyone_once_all_clients_spent_its_budget(limiters: Limiters) -> None:
    """Reusable for logins (issue 18): the target is the account, so a botnet at one account is bounded."""
    limiter = limiters(FakeClock())
    for n in range(3):
        fail(limiter, f"ip:{n}", "alice")
    with pytest.raises(RateLimited, match="all clients"):
        fail(limiter, "ip:fresh", "alice")
    fail(limiter, "ip:fresh", "bob")  # other accounts are not affected


def test_a_success_takes_its_failure_back(limiters: Limiters) -> None:
    limiter = limiters(FakeClock())
    for _ in range(10):
        attempt = limiter.attempt(LOGIN, "ip:a", "alice")
        attempt.begin()
        attempt.succeeded()
        attempt.succeeded()  # twice is harmless
    fail(limiter, "ip:a", "alice")
    fail(limiter, "ip:a", "alice")
    with pytest.raises(RateLimited):
        fail(limiter, "ip:a", "alice")


def test_budgets_may_be_replaced_by_name(limiters: Limiters) -> None:
    limiter = limiters(FakeClock(), budgets=[Guarded("enrolment_code", Budget(1, 10), Budget(100, 10))])
    fail(limiter, "ip:a", guarded=ENROLMENT_CODES)
    with pytest.raises(RateLimited) as refused:
        fail(limiter, "ip:a", guarded=ENROLMENT_CODES)
    assert refused.value.retry_after_s == 10


def test_a_clock_set_back_does_not_extend_or_break_a_window(limiters: Limiters) -> None:
    clock = FakeClock()
    limiter = limiters(clock)
    fail(limiter, "ip:a")
    fail(limiter, "ip:a")
    clock.now -= 3_600_000  # before the window opened: it is forgotten, not kept for an hour more
    fail(limiter, "ip:a")


def test_memory_is_bounded_but_the_target_budget_survives_a_flood_of_addresses(limiters: Limiters) -> None:
    clock = FakeClock()
    limiter = limiters(clock, budgets=[Guarded("login", Budget(2, 60), Budget(50, 60))], max_keys=4)
    fail(limiter, "ip:first")
    fail(limiter, "ip:first")
    for n in range(10):  # more addresses than kept: the windows that end first go
        clock.now += 1
        fail(limiter, f"ip:{n}")
    fail(limiter, "ip:first")  # forgotten, so counted afresh
    assert (
        len(stored_failures(limiter, "login", "client")) <= 4
    )  # the state itself: nothing grew past the bound
    assert stored_failures(limiter, "login", "target") == {"*": 13}


def test_the_first_refusal_of_a_window_is_logged_once(
    caplog: pytest.LogCaptureFixture, limiters: Limiters
) -> None:
    limiter = limiters(FakeClock())
    fail(limiter, "ip:192.0.2.7", "alice")
    fail(limiter, "ip:192.0.2.7", "alice")
    with caplog.at_level(logging.WARNING, logger="server.ratelimit"):
        for _ in range(3):
            with pytest.raises(RateLimited):
                fail(limiter, "ip:192.0.2.7", "alice")
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "client ip:192.0.2.7 locked out of login (target alice)" in record.getMessage()


def test_ended_windows_are_forgotten(limiters: Limiters) -> None:
    clock = FakeClock()
    limiter = limiters(clock)
    fail(limiter, "ip:a")
    clock.now += 60_000
    fail(limiter, "ip:b")
    assert stored_failures(limiter, "login", "client") == {"ip:b": 1}


def test_an_unsafe_unlimited_limiter_never_refuses() -> None:
    limiter = GuessLimiter.unsafe_unlimited(FakeClock())
    for _ in range(1000):
        fail(limiter, "ip:a")


@pytest.mark.parametrize("budget", [(0, 60), (1, 0), (-1, 60)])
def test_a_budget_allows_something(budget: tuple[int, int]) -> None:
    with pytest.raises(ValueError):
        Budget(*budget)


# -- client keys -------------------------------------------------------------------------------------

PROXIES = TrustedProxies.parse(["10.0.0.1", "192.168.0.0/24", "::1"])


@pytest.mark.parametrize(
    ("peer", "headers", "client"),
    [
        ("203.0.113.9", [], "ip:203.0.113.9"),
        ("203.0.113.9", ["198.51.100.7"], "ip:203.0.113.9"),  # not a proxy: its header is ignored
        ("10.0.0.1", [], "ip:10.0.0.1"),  # a proxy that names nobody is the client
        ("10.0.0.1", ["198.51.100.7"], "ip:198.51.100.7"),
        ("10.0.0.1", ["1.1.1.1, 198.51.100.7"], "ip:198.51.100.7"),  # the client wrote 1.1.1.1 itself
        ("10.0.0.1", ["198.51.100.7, 192.168.0.5"], "ip:198.51.100.7"),  # a chain of trusted proxies
        ("10.0.0.1", ["198.51.100.7", "192.168.0.5"], "ip:198.51.100.7"),  # two headers are one list
        ("10.0.0.1", ["198.51.100.7, garbage"], "ip:10.0.0.1"),  # garbage stops the walk
        ("10.0.0.1", ["198.51.100.7:4711"], "ip:198.51.100.7"),
        ("10.0.0.1", ["[2001:db8::1]:443"], "ip:2001:db8::/64"),
        ("::1", ["2001:db8:0:0:ffff::2"], "ip:2001:db8::/64"),  # an IPv6 client is its /64
        ("::ffff:10.0.0.1", ["::ffff:198.51.100.7"], "ip:198.51.100.7"),  # IPv4-mapped is IPv4
        (None, ["198.51.100.7"], UNKNOWN_PEER),
        ("", [], UNKNOWN_PEER),
    ],
)
def test_the_client_of_a_connection(peer: str | None, headers: list[str], client: str) -> None:
    assert forwarded_client(peer, headers, PROXIES) == client


def test_kiosks_and_accounts_have_keys_of_their_own() -> None:
    assert kiosk_client("k_1") == "kiosk:k_1" and account_client("a_1") == "account:a_1"
    assert address_key(ipaddress.ip_address("2001:db8:1:2:3:4:5:6")) == "ip:2001:db8:1:2::/64"


@pytest.mark.parametrize("entry", ["proxy.example", "10.0.0.1/33", "", "10.0.0.1, 10.0.0.2"])
def test_a_trusted_proxy_must_be_an_address_or_block(entry: str) -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        TrustedProxies.parse([entry])


def test_the_cli_refuses_a_bad_trusted_proxy(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="kokreativ server")
    cli.configure(parser)
    args = parser.parse_args(
        ["run", "--data", "d", "--trusted-proxy", "10.0.0.1", "--trusted-proxy", "::1/128"]
    )
    assert args.trusted_proxy == ["10.0.0.1", "::1/128"]
    assert parser.parse_args(["run", "--data", "d"]).trusted_proxy is None
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--data", "d", "--trusted-proxy", "proxy.example"])
    assert "not an IP address or CIDR block" in capsys.readouterr().err


_text = st.text(max_size=60)


@given(peer=st.none() | _text | st.ip_addresses().map(str), headers=st.lists(_text, max_size=4))
def test_any_header_gives_a_client_key_and_never_an_error(peer: str | None, headers: list[str]) -> None:
    client = forwarded_client(peer, headers, PROXIES)
    assert client == UNKNOWN_PEER or client.startswith("ip:")
    address = parse_address(peer) if peer else None
    if address is not None and address not in PROXIES:
        assert client == address_key(address)  # only a trusted proxy's header is ever read
