"""A volunteer's access secret and sessions: exchange, expiry, logout, re-issue, revoke, guessing, logs.

Against the real loopback server with the test's clock (moving it ages a
session; nothing sleeps).  The log test runs the server with uvicorn's access
log on and captures every record the process writes while a volunteer logs
in, reads, guesses and logs out: neither the secret nor the session appears.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from server_helpers import HOUR, Api, FakeClock, assert_error
from test_server_personal_access import cookie, session_cookie

from protocol import Reason
from server import sessions
from server.app import create_app
from server.context import ServerContext
from server.datadir import InitResult
from server.ratelimit import ACCESS_SECRETS, Budget, Guarded, GuessLimiter
from server.runner import serve_in_thread
from tests.server.ledger_file import ledger_text

PER_CLIENT, PER_TARGET, WINDOW_S = 3, 5, 15 * 60


def open_session(api: Api, secret: str, http: httpx.Client | None = None) -> httpx.Response:
    return (http or api.http).post("/v1/me/session", json={"secret": secret})


def balance(api: Api, value: str) -> httpx.Response:
    return api.http.get("/v1/me/balance", headers=cookie(value))


@pytest.fixture
def ada(api: Api) -> dict[str, str]:
    return api.create_card("Ada Lovelace")


def test_the_secret_is_256_bits_shown_once_and_stored_as_a_hash(
    api: Api, ada: dict[str, str], data_dir: tuple[Path, InitResult]
) -> None:
    secret = ada["access_secret"]
    assert len(secret) == 43 and set(secret) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    assert ada["home_site_id"] == api.home_site()
    listed = api.admin("GET", "/v1/admin/cards", expect=200).text
    assert secret not in listed
    dump = ledger_text(api.context.storage)
    assert secret not in dump
    assert hashlib.sha256(secret.encode()).hexdigest() in dump


def test_a_session_cookie_is_httponly_secure_strict_and_not_the_secret(api: Api, ada: dict[str, str]) -> None:
    response = open_session(api, ada["access_secret"])
    assert response.status_code == 204, response.text
    header = response.headers["set-cookie"]
    value = session_cookie(response)
    assert header == f"kk_session={value}; HttpOnly; Secure; SameSite=Strict; Path=/"
    assert value != ada["access_secret"] and len(value) == 43
    assert response.headers["cache-control"] == "no-store"
    assert balance(api, value).json() == {"volunteer_id": ada["volunteer_id"], "balance": 0}


def test_a_wrong_secret_opens_nothing(api: Api, ada: dict[str, str]) -> None:
    assert_error(open_session(api, "A" * 43), 401, Reason.ACCESS_SECRET_INVALID)
    assert_error(open_session(api, ada["access_secret"][:-1]), 401, Reason.ACCESS_SECRET_INVALID)
    response = api.http.post("/v1/me/session", json={"secret": ada["access_secret"], "name": "x"})
    assert_error(response, 400, Reason.MALFORMED_REQUEST)
    assert "set-cookie" not in response.headers


def test_a_session_ends_after_twelve_idle_hours(api: Api, ada: dict[str, str], clock: FakeClock) -> None:
    value = session_cookie(open_session(api, ada["access_secret"]))
    clock.now += 11 * HOUR
    assert balance(api, value).status_code == 200  # used: the idle time starts again
    clock.now += 12 * HOUR - 1
    assert balance(api, value).status_code == 200
    clock.now += 12 * HOUR
    assert_error(balance(api, value), 401, Reason.SESSION_REQUIRED)
    clock.now -= 12 * HOUR  # an ended session was deleted: it does not come back
    assert_error(balance(api, value), 401, Reason.SESSION_REQUIRED)


def test_a_session_ends_after_thirty_days_however_used(
    api: Api, ada: dict[str, str], clock: FakeClock
) -> None:
    value = session_cookie(open_session(api, ada["access_secret"]))
    opened = clock.now
    while clock.now + 10 * HOUR < opened + sessions.LIFETIME_MS:
        clock.now += 10 * HOUR
        assert balance(api, value).status_code == 200
    clock.now = opened + sessions.LIFETIME_MS
    assert_error(balance(api, value), 401, Reason.SESSION_REQUIRED)


def test_logout_ends_the_session_and_clears_the_cookie(api: Api, ada: dict[str, str]) -> None:
    first = session_cookie(open_session(api, ada["access_secret"]))
    second = session_cookie(open_session(api, ada["access_secret"]))
    response = api.http.post("/v1/me/logout", headers=cookie(first))
    assert response.status_code == 204, response.text
    assert (
        response.headers["set-cookie"] == "kk_session=; Max-Age=0; HttpOnly; Secure; SameSite=Strict; Path=/"
    )
    assert_error(balance(api, first), 401, Reason.SESSION_REQUIRED)
    assert_error(api.http.post("/v1/me/logout", headers=cookie(first)), 401, Reason.SESSION_REQUIRED)
    assert balance(api, second).status_code == 200  # another device's session goes on


def test_reissue_invalidates_the_old_secret_and_its_sessions(api: Api, ada: dict[str, str]) -> None:
    old_session = session_cookie(open_session(api, ada["access_secret"]))
    answer = api.admin("POST", f"/v1/admin/volunteers/{ada['volunteer_id']}/access", expect=200)
    assert answer.headers["cache-control"] == "no-store"
    new_secret = answer.json()["access_secret"]
    assert len(new_secret) == 43 and new_secret != ada["access_secret"]
    assert_error(open_session(api, ada["access_secret"]), 401, Reason.ACCESS_SECRET_INVALID)
    assert_error(balance(api, old_session), 401, Reason.SESSION_REQUIRED)
    assert balance(api, session_cookie(open_session(api, new_secret))).status_code == 200


def test_revoke_leaves_no_way_in_until_a_reissue(api: Api, ada: dict[str, str]) -> None:
    live = session_cookie(open_session(api, ada["access_secret"]))
    path = f"/v1/admin/volunteers/{ada['volunteer_id']}/access/revoke"
    revoked = api.admin("POST", path, expect=200).json()
    assert revoked["sessions_ended"] == 1 and revoked["revoked_ms"] == api.clock()
    assert "access_secret" not in revoked
    assert_error(open_session(api, ada["access_secret"]), 401, Reason.ACCESS_SECRET_INVALID)
    assert_error(balance(api, live), 401, Reason.SESSION_REQUIRED)
    api.admin("POST", path, expect=200)  # revoking again changes nothing
    secret = api.admin("POST", f"/v1/admin/volunteers/{ada['volunteer_id']}/access", expect=200).json()
    assert open_session(api, secret["access_secret"]).status_code == 204


def test_a_volunteer_keeps_at_most_twenty_sessions(api: Api, ada: dict[str, str], clock: FakeClock) -> None:
    opened = []
    for _ in range(sessions.MAX_SESSIONS + 1):
        opened.append(session_cookie(open_session(api, ada["access_secret"])))
        clock.now += 1
    assert_error(balance(api, opened[0]), 401, Reason.SESSION_REQUIRED)
    assert all(balance(api, value).status_code == 200 for value in opened[1:])


# -- guessing -----------------------------------------------------------------------------------------


@pytest.fixture
def limited(context: ServerContext, data_dir: tuple[Path, InitResult], clock: FakeClock) -> Iterator[Api]:
    small = Guarded(ACCESS_SECRETS.name, Budget(PER_CLIENT, WINDOW_S), Budget(PER_TARGET, WINDOW_S))
    app = create_app(context, guesses=GuessLimiter(clock, budgets=[small]))
    with serve_in_thread(app) as url:
        client = Api(url, data_dir[1].admin_token, context, clock)
        try:
            yield client
        finally:
            client.close()


def test_wrong_secrets_are_guesses_per_client_and_for_all(limited: Api, clock: FakeClock) -> None:
    api = limited
    right = api.create_card("Ada")["access_secret"]
    for _ in range(PER_CLIENT):
        assert_error(open_session(api, "B" * 43), 401, Reason.ACCESS_SECRET_INVALID)
    locked = open_session(api, right)  # even the right secret, while locked out: the answer tells nothing
    error = assert_error(locked, 429, Reason.RATE_LIMITED)
    assert int(locked.headers["retry-after"]) == WINDOW_S == error["retry_after_s"]
    others = [
        httpx.Client(base_url=api.base_url, transport=httpx.HTTPTransport(local_address=f"127.0.0.{n}"))
        for n in (2, 3)
    ]
    try:
        assert open_session(api, right, others[0]).status_code == 204  # another client is not locked
        for _ in range(PER_TARGET - PER_CLIENT):
            assert_error(open_session(api, "C" * 43, others[0]), 401, Reason.ACCESS_SECRET_INVALID)
        # All clients together spent the budget: a third one is refused too.
        assert_error(open_session(api, right, others[1]), 429, Reason.RATE_LIMITED)
    finally:
        for other in others:
            other.close()
    clock.now += WINDOW_S * 1000
    assert open_session(api, right).status_code == 204


# -- logs ---------------------------------------------------------------------------------------------


CLIENT_LOGGERS = ("httpx", "httpcore")
UVICORN_LOGGERS = ("uvicorn", "uvicorn.access", "uvicorn.error")


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(CLIENT_LOGGERS):  # the test's own HTTP client logs what it sends
            self.lines.append(self.format(record))


def test_no_secret_or_session_reaches_the_servers_logs(
    context: ServerContext, data_dir: tuple[Path, InitResult], clock: FakeClock
) -> None:
    keep = _Keep()
    keep.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s %(args)s"))
    root = logging.getLogger()
    saved = root.level
    root.addHandler(keep)
    root.setLevel(logging.DEBUG)
    small = Guarded(ACCESS_SECRETS.name, Budget(2, WINDOW_S), Budget(100, WINDOW_S))
    app = create_app(context, guesses=GuessLimiter(clock, budgets=[small]))
    try:
        with serve_in_thread(app, log_level="debug", access_log=True) as url:
            # uvicorn's config gives its loggers their own handlers, without propagation: join them.
            for name in UVICORN_LOGGERS:
                logging.getLogger(name).addHandler(keep)
            api = Api(url, data_dir[1].admin_token, context, clock)
            try:
                ada = api.create_card("Ada")
                secret = ada["access_secret"]
                value = session_cookie(open_session(api, secret))
                for path in ("/v1/me", f"/v1/cards/{ada['card_id']}/balance", "/v1/me/statement?format=csv"):
                    assert api.http.get(path, headers=cookie(value)).status_code == 200
                api.http.post("/v1/me/logout", headers=cookie(value))
                api.http.get("/v1/me", headers=cookie(value))  # an ended session
                for wrong in (secret[:-1] + "x", secret[::-1], secret.upper()):  # near misses, then locked
                    open_session(api, wrong)
                open_session(api, secret)
                again = api.admin("POST", f"/v1/admin/volunteers/{ada['volunteer_id']}/access", expect=200)
                reissued = again.json()["access_secret"]
            finally:
                api.close()
    finally:
        for name in UVICORN_LOGGERS:
            logging.getLogger(name).removeHandler(keep)
        root.removeHandler(keep)
        root.setLevel(saved)
    text = "\n".join(keep.lines)
    assert "/v1/me/session" in text and "429" in text and "locked out" in text  # the log did capture
    for secret_text in (secret, value, reissued, secret[:-1] + "x", secret[::-1], secret.upper()):
        assert secret_text not in text
