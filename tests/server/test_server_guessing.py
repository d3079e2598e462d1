"""Guessing is hopeless: wrong enrolment codes and admin tokens are limited per client and per target.

Against the real loopback server.  Clients differ by their real source address
(127.0.0.2, 127.0.0.3, … are loopback too), and 127.0.0.1 is the configured
trusted proxy, whose ``X-Forwarded-For`` names the client.  The budgets are
small here (3 per client, 5 for all clients, 15-minute windows) and the
server's clock is the test's: moving it ends a window, nothing sleeps.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_helpers import Api, FakeClock, assert_error

from protocol import PrivateKey, Reason, b64encode, enrolment_message
from server.app import create_app
from server.context import ServerContext
from server.datadir import InitResult
from server.ratelimit import ADMIN_TOKEN, ENROLMENT_CODES, Budget, Guarded, GuessLimiter
from server.runner import serve_in_thread

WINDOW_S = 15 * 60
PER_CLIENT, PER_TARGET = 3, 5
SMALL = (
    Guarded(ENROLMENT_CODES.name, Budget(PER_CLIENT, WINDOW_S), Budget(PER_TARGET, WINDOW_S)),
    Guarded(ADMIN_TOKEN.name, Budget(PER_CLIENT, WINDOW_S), Budget(PER_TARGET, WINDOW_S)),
)
PROXY = "127.0.0.1"


@dataclass
class Served:
    """The server under test: its admin API (from the proxy's own address) and clients at other addresses."""

    api: Api
    url: str
    clock: FakeClock
    clients: dict[str, httpx.Client]

    def client(self, address: str) -> httpx.Client:
        """An HTTP client whose connections come from ``address`` (a loopback address)."""
        if address not in self.clients:
            transport = httpx.HTTPTransport(local_address=address)
            self.clients[address] = httpx.Client(base_url=self.url, transport=transport, timeout=30)
        return self.clients[address]


@pytest.fixture
def server(context: ServerContext, data_dir: tuple[Path, InitResult], clock: FakeClock) -> Iterator[Served]:
    app = create_app(context, trusted_proxies=[PROXY], guesses=GuessLimiter(clock, budgets=SMALL))
    with serve_in_thread(app) as url:
        state = Served(Api(url, data_dir[1].admin_token, context, clock), url, clock, {})
        try:
            yield state
        finally:
            state.api.close()
            for client in state.clients.values():
                client.close()


def enrol(client: httpx.Client, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    key = PrivateKey.generate()
    digits = code.replace("-", "")
    body = {
        "code": code,
        "public_key": key.public_key.to_b64(),
        "signature": b64encode(key.sign(enrolment_message(digits, key.public_key))),
    }
    return client.post("/v1/enrol", json=body, headers=headers)


def wrong_code() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(20))


def assert_limited(response: httpx.Response, retry_after_s: int = WINDOW_S) -> None:
    error = assert_error(response, 429, Reason.RATE_LIMITED)
    assert response.headers["Retry-After"] == str(retry_after_s)
    assert error["retry_after_s"] == retry_after_s


# -- enrolment codes ---------------------------------------------------------------------------------


def test_wrong_codes_lock_one_client_out_and_the_lockout_is_logged(
    server: Served, caplog: pytest.LogCaptureFixture
) -> None:
    site = server.api.create_site()
    good = server.api.create_code(site["site_id"])
    attacker = server.client("127.0.0.2")
    guesses = [wrong_code() for _ in range(PER_CLIENT)]
    for guess in guesses:
        assert_error(enrol(attacker, guess), 400, Reason.ENROLMENT_CODE_INVALID)
    server.clock.now += 60_000  # a minute later: the window started with the first failure
    with caplog.at_level(logging.WARNING, logger="server.ratelimit"):
        assert_limited(enrol(attacker, wrong_code()), WINDOW_S - 60)
        # Even the right code is refused while locked out: the answer must not tell a hit from a miss.
        assert_limited(enrol(attacker, good), WINDOW_S - 60)
    lockouts = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "server.ratelimit"]
    assert len(lockouts) == 1  # once per lockout, not once per refused request
    line = lockouts[0].getMessage()
    assert "ip:127.0.0.2" in line and "enrolment_code" in line
    assert not any(guess in line for guess in [*guesses, good.replace("-", "")])
    # The right code was not spent by the refusal: another client enrols with it.
    assert enrol(server.client("127.0.0.3"), good).status_code == 200


def test_another_client_enrols_while_an_attacker_is_locked_out(server: Served) -> None:
    site = server.api.create_site()
    attacker, kiosk = server.client("127.0.0.2"), server.client("127.0.0.3")
    for _ in range(PER_CLIENT):
        enrol(attacker, wrong_code())
    assert_limited(enrol(attacker, wrong_code()))
    assert enrol(kiosk, server.api.create_code(site["site_id"])).status_code == 200
    # The kiosk's own misses are its own: one typo does not lock it out.
    assert_error(enrol(kiosk, wrong_code()), 400, Reason.ENROLMENT_CODE_INVALID)
    assert enrol(kiosk, server.api.create_code(site["site_id"])).status_code == 200


def test_the_window_ends_and_guesses_are_allowed_again(server: Served) -> None:
    attacker = server.client("127.0.0.2")
    for _ in range(PER_CLIENT):
        enrol(attacker, wrong_code())
    refused = enrol(attacker, wrong_code())
    assert_limited(refused)
    server.clock.now += int(refused.headers["Retry-After"]) * 1000 - 1
    assert_error(enrol(attacker, wrong_code()), 429, Reason.RATE_LIMITED)
    server.clock.now += 1
    assert_error(enrol(attacker, wrong_code()), 400, Reason.ENROLMENT_CODE_INVALID)


def test_many_addresses_share_one_budget_for_all_codes(server: Served) -> None:
    """A botnet is bounded too: PER_TARGET failures from anywhere lock enrolment for everyone."""
    site = server.api.create_site()
    good = server.api.create_code(site["site_id"])
    for n in range(PER_TARGET):  # each address stays under its own budget
        assert_error(
            enrol(server.client(f"127.0.0.{10 + n}"), wrong_code()), 400, Reason.ENROLMENT_CODE_INVALID
        )
    # The price (docs/protocol.md, "Guessing"): a legitimate kiosk waits for the window too.
    assert_limited(enrol(server.client("127.0.0.3"), good))
    server.clock.now += WINDOW_S * 1000
    assert enrol(server.client("127.0.0.3"), good).status_code == 200


def test_successes_and_malformed_requests_are_never_counted(server: Served) -> None:
    site = server.api.create_site()
    kiosk = server.client("127.0.0.2")
    for _ in range(PER_TARGET + 1):
        assert enrol(kiosk, server.api.create_code(site["site_id"])).status_code == 200
    for code in ("1234", "123456789012", "x" * 20):  # cannot be a code: no lookup, no guess
        assert_error(enrol(kiosk, code), 400, Reason.ENROLMENT_CODE_INVALID)
    key = PrivateKey.generate()
    forged = {"code": wrong_code(), "public_key": key.public_key.to_b64(), "signature": b64encode(bytes(64))}
    for _ in range(PER_CLIENT + 1):  # a bad signature is refused before the lookup
        assert_error(kiosk.post("/v1/enrol", json=forged), 400, Reason.BAD_SIGNATURE)
    for _ in range(PER_CLIENT):
        assert_error(enrol(kiosk, wrong_code()), 400, Reason.ENROLMENT_CODE_INVALID)
    assert_limited(enrol(kiosk, wrong_code()))


def test_spent_and_expired_codes_count_as_misses(server: Served) -> None:
    site = server.api.create_site()
    kiosk = server.client("127.0.0.2")
    spent = server.api.create_code(site["site_id"])
    assert enrol(kiosk, spent).status_code == 200
    expired = server.api.create_code(site["site_id"], expires_in_s=60)
    server.clock.now += 60_000
    assert_error(enrol(kiosk, spent), 409, Reason.ENROLMENT_CODE_USED)
    assert_error(enrol(kiosk, expired), 410, Reason.ENROLMENT_CODE_EXPIRED)
    assert_error(enrol(kiosk, wrong_code()), 400, Reason.ENROLMENT_CODE_INVALID)
    assert_limited(enrol(kiosk, wrong_code()), WINDOW_S - 60)


# -- the admin token ---------------------------------------------------------------------------------


def sites(client: httpx.Client, token: str | None, headers: dict[str, str] | None = None) -> httpx.Response:
    auth = {} if token is None else {"Authorization": f"Bearer {token}"}
    return client.get("/v1/admin/sites", headers={**auth, **(headers or {})})


def test_wrong_admin_tokens_lock_one_client_out(server: Served, caplog: pytest.LogCaptureFixture) -> None:
    token = server.api.admin_token
    attacker, coordinator = server.client("127.0.0.2"), server.client("127.0.0.3")
    wrong = [secrets.token_urlsafe(32) for _ in range(PER_CLIENT)]
    for guess in wrong:
        assert_error(sites(attacker, guess), 401, Reason.UNAUTHORIZED)
    with caplog.at_level(logging.WARNING, logger="server.ratelimit"):
        assert_limited(sites(attacker, secrets.token_urlsafe(32)))
        assert_limited(sites(attacker, token))  # the right token too, while locked out
    (lockout,) = [r.getMessage() for r in caplog.records if r.name == "server.ratelimit"]
    assert "ip:127.0.0.2" in lockout and "admin_token" in lockout
    assert token not in lockout and not any(guess in lockout for guess in wrong)
    assert sites(coordinator, token).status_code == 200
    server.clock.now += WINDOW_S * 1000
    assert sites(attacker, token).status_code == 200


def test_no_token_is_no_guess_and_the_right_token_is_never_counted(server: Served) -> None:
    client = server.client("127.0.0.2")
    for _ in range(PER_TARGET + 1):
        assert_error(sites(client, None), 401, Reason.UNAUTHORIZED)
        assert_error(sites(client, None, {"Authorization": "Basic abc"}), 401, Reason.UNAUTHORIZED)
        assert sites(client, server.api.admin_token).status_code == 200
    for _ in range(PER_CLIENT):
        assert_error(sites(client, "wrong"), 401, Reason.UNAUTHORIZED)
    assert_limited(sites(client, "wrong"))


def test_the_admin_token_has_a_budget_for_all_clients(server: Served) -> None:
    for n in range(PER_TARGET):
        assert_error(sites(server.client(f"127.0.0.{10 + n}"), "wrong"), 401, Reason.UNAUTHORIZED)
    assert_limited(sites(server.client("127.0.0.3"), server.api.admin_token))
    server.clock.now += WINDOW_S * 1000
    assert sites(server.client("127.0.0.3"), server.api.admin_token).status_code == 200


def test_enrolment_and_admin_budgets_are_separate(server: Served) -> None:
    client = server.client("127.0.0.2")
    for _ in range(PER_CLIENT):
        enrol(client, wrong_code())
    assert_limited(enrol(client, wrong_code()))
    assert sites(client, server.api.admin_token).status_code == 200


# -- who is the client: X-Forwarded-For only from the trusted proxy ----------------------------------


def test_a_trusted_proxys_forwarded_for_names_the_client(server: Served) -> None:
    proxy = server.client(PROXY)
    for _ in range(PER_CLIENT):
        enrol(proxy, wrong_code(), {"X-Forwarded-For": "198.51.100.7"})
    assert_limited(enrol(proxy, wrong_code(), {"X-Forwarded-For": "198.51.100.7"}))
    # Another client behind the same proxy is not blocked; nor is one the proxy appends after a spoof.
    assert_error(
        enrol(proxy, wrong_code(), {"X-Forwarded-For": "198.51.100.8"}), 400, "enrolment_code_invalid"
    )
    spoofed = {"X-Forwarded-For": "198.51.100.8, 198.51.100.7"}  # the client wrote the left one
    assert_limited(enrol(proxy, wrong_code(), spoofed))


def test_forwarded_for_from_anyone_else_is_ignored(server: Served) -> None:
    direct = server.client("127.0.0.2")  # not a trusted proxy: its header is the attacker's own text
    for n in range(PER_CLIENT):
        enrol(direct, wrong_code(), {"X-Forwarded-For": f"203.0.113.{n}"})
    assert_limited(enrol(direct, wrong_code(), {"X-Forwarded-For": "203.0.113.99"}))


def test_without_trusted_proxies_the_header_is_ignored(
    context: ServerContext, data_dir: tuple[Path, InitResult], clock: FakeClock
) -> None:
    app = create_app(context, guesses=GuessLimiter(clock, budgets=SMALL))
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        for n in range(PER_CLIENT):
            response = enrol(client, wrong_code(), {"X-Forwarded-For": f"203.0.113.{n}"})
            assert_error(response, 400, Reason.ENROLMENT_CODE_INVALID)
        assert_limited(enrol(client, wrong_code(), {"X-Forwarded-For": "203.0.113.99"}))


def test_a_bad_trusted_proxy_setting_is_refused(context: ServerContext) -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        create_app(context, trusted_proxies=["proxy.example"])


_header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=200
)
_hops = st.lists(
    st.ip_addresses().map(str)
    | st.sampled_from(["unknown", "", " ", "[::1]:80", "1.2.3.4:5", "::ffff:1.2.3.4"]),
    max_size=8,
).map(", ".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=_header_text | _hops, proxied=st.booleans(), admin=st.booleans())
def test_any_forwarded_for_header_is_answered_never_with_a_5xx(
    server: Served, header: str, proxied: bool, admin: bool
) -> None:
    server.clock.now += WINDOW_S * 1000  # every example starts with fresh windows
    client = server.client(PROXY if proxied else "127.0.0.2")
    # As bytes: a header is Latin-1 on the wire; h11 sends no value with outer whitespace.
    headers = {"X-Forwarded-For": header.strip(" \t").encode("latin-1")}
    response = sites(client, "wrong", headers) if admin else enrol(client, wrong_code(), headers)
    assert response.status_code in (400, 401, 429), response.text
    assert response.json()["error"]["code"] in ("unauthorized", "enrolment_code_invalid", "rate_limited")


def test_the_benchmark_measures_with_the_limits_off(tmp_path: Path) -> None:
    """``python -m bench.guessing``, a small slice: more wrong guesses than any budget, none refused."""
    from bench.guessing import guessing_rates

    rates = guessing_rates(tmp_path, count=2 * ADMIN_TOKEN.per_client.failures + 4, connections=2)
    assert set(rates) == {"guess_enrol_per_s", "guess_admin_per_s"}
    assert all(rate > 0 for rate in rates.values())
