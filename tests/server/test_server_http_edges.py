"""HTTP edges a hostile client reaches for: wrong methods, odd ``Content-Length``s, names that lie.

Every request here goes to a real uvicorn server on loopback (the ``api``
fixture); the ``Content-Length`` cases are written byte by byte on a raw socket,
since an HTTP client library would refuse to send them.
"""

from __future__ import annotations

import json
import logging
import socket
import time
import unicodedata
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from server_helpers import Api, assert_error

from protocol import Reason
from server.errors import InputError
from server.inputs import optional_str, require_str

# What no name may hold: controls, format characters, surrogates, private use, unassigned.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
# The bidi controls named in the issue, all of category Cf.
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


# --- 405 carries Allow --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/v1/enrol", {"POST"}),
        ("DELETE", "/checkpoint", {"GET"}),
        ("PUT", "/v1/health", {"GET"}),
        ("DELETE", "/v1/admin/sites", {"GET", "POST"}),
        ("PATCH", "/v1/admin/cards", {"GET", "POST"}),
    ],
)
def test_wrong_method_answers_405_with_allow(api: Api, method: str, path: str, allow: set[str]) -> None:
    response = api.http.request(method, path, headers={"Authorization": f"Bearer {api.admin_token}"})
    assert_error(response, 405, Reason.MALFORMED_REQUEST)
    assert {m.strip() for m in response.headers["allow"].split(",")} == allow


# --- Content-Length on a raw socket ----------------------------------------------------------


def _raw(api: Api, request: bytes, *, half_close: bool = False) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` as is; the status, headers (lower-case names) and body of the answer.

    Status 0 when the server closed the connection without answering.
    """
    url = urlsplit(api.base_url)
    assert url.hostname is not None and url.port is not None
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(request)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    if not data:
        return 0, {}, b""
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def _enrol(content_length: bytes, body: bytes = b'{"code":"x"}') -> bytes:
    return (
        b"POST /v1/enrol HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nConnection: close\r\n"
        + content_length
        + b"\r\n"
        + body
    )


def _json_error(status: int, headers: dict[str, str], body: bytes) -> tuple[int, str]:
    assert headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message"} and error["message"]
    return status, str(error["code"])


@pytest.mark.parametrize(
    "header",
    [
        b"Content-Length: -1\r\n",
        b"Content-Length: +12\r\n",
        b"Content-Length: abc\r\n",
        b"Content-Length: \r\n",
        b"Content-Length: 1e3\r\n",
        "Content-Length: \u0661\u0662\r\n".encode(),  # Arabic-Indic digits
        b"Content-Length: 123456789012345678901\r\n",  # 21 digits
        b"Content-Length: 12\r\nContent-Length: 13\r\n",
        b"Content-Length: 12, 13\r\n",
    ],
)
def test_content_length_the_http_parser_refuses_gets_its_plain_400(api: Api, header: bytes) -> None:
    """Not valid HTTP/1.1: h11 answers before the app, as docs/protocol.md says."""
    status, headers, body = _raw(api, _enrol(header))
    assert (status, headers["content-type"], body) == (
        400,
        "text/plain; charset=utf-8",
        b"Invalid HTTP request received.",
    )
    api.assert_serving()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (b"Content-Length: 99999999999999999999\r\n", (413, Reason.BODY_TOO_LARGE)),  # 20 digits: h11's most
        (b"Content-Length: 1000000000\r\n", (413, Reason.BODY_TOO_LARGE)),
        (b"Content-Length: 65537\r\n", (413, Reason.BODY_TOO_LARGE)),
        (b"Content-Length: 5\r\n", (400, Reason.MALFORMED_REQUEST)),  # shorter than the bytes sent
        (b"Content-Length: 12\r\nContent-Length: 12\r\n", (400, Reason.ENROLMENT_CODE_INVALID)),
        (b"Content-Length: 12, 12\r\n", (400, Reason.ENROLMENT_CODE_INVALID)),
        (b"Content-Length:   12  \r\n", (400, Reason.ENROLMENT_CODE_INVALID)),
    ],
)
def test_content_length_the_app_sees_gets_the_json_error(
    api: Api, header: bytes, expected: tuple[int, str]
) -> None:
    assert _json_error(*_raw(api, _enrol(header))) == expected
    api.assert_serving()


def test_body_shorter_than_its_content_length_is_refused_not_a_bug(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """The client hangs up after 12 of 20 declared bytes: a logged refusal, not a 500 with a traceback."""
    caplog.set_level(logging.INFO, logger="server.http.errors")
    status, headers, body = _raw(api, _enrol(b"Content-Length: 20\r\n"), half_close=True)
    if status:  # uvicorn closes without answering a half-closed socket; any answer must be the JSON refusal
        assert _json_error(status, headers, body) == (400, Reason.MALFORMED_REQUEST)
    deadline = time.monotonic() + 30  # the app learns of the hang-up after the socket closed
    while not any("hung up" in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
        time.sleep(0.01)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    api.assert_serving()


# --- names that lie ----------------------------------------------------------------------------


def _has_refused(text: str) -> bool:
    return any(unicodedata.category(c) in REFUSED_CATEGORIES or c in BIDI_CONTROLS for c in text)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(codec=None), max_size=30))
def test_accepted_names_have_no_control_format_or_surrogate(text: str) -> None:
    try:
        value = require_str({"name": text}, "name")
    except InputError as exc:
        assert exc.reason in (Reason.BAD_FIELD, Reason.MALFORMED_REQUEST)
        if exc.reason == Reason.BAD_FIELD:
            assert _has_refused(text)
        else:
            assert not text.strip() or len(text) > 200
        return
    assert value == text
    assert not _has_refused(value)


@given(
    st.text(min_size=1, max_size=10).filter(str.strip),
    st.sampled_from([*BIDI_CONTROLS, "\x00", "\n", "\t", "\x7f", "\ud800"]),
)
def test_every_bidi_control_and_control_is_refused_anywhere(prefix: str, bad: str) -> None:
    for text in (bad + prefix, prefix + bad, prefix + bad + prefix):
        with pytest.raises(InputError) as caught:
            optional_str({"reason": text}, "reason")
        assert caught.value.reason == Reason.BAD_FIELD


@pytest.mark.parametrize("name", ["Café", "Grüße aus Köln", "Łódź", "東京", "O'Brien-Smith", "Ärzte & Co."])
def test_names_in_any_script_are_accepted(name: str) -> None:
    assert require_str({"name": name}, "name") == name


def _listed(api: Api, path: str) -> Any:
    return api.admin("GET", path, expect=200).json()


@pytest.mark.parametrize("bad", ["A\u202eB", "A\x00B", "A\nB", "A\u2066B\u2069", "\u200fAB", "A\ufeffB"])
def test_admin_api_refuses_names_that_lie_and_stores_nothing(api: Api, bad: str) -> None:
    api.home_site()  # the new volunteer's home site exists before the counting starts
    sites, cards = _listed(api, "/v1/admin/sites"), _listed(api, "/v1/admin/cards")
    assert_error(
        api.admin("POST", "/v1/admin/sites", {"name": bad, "tokens_per_hour": 10}), 400, Reason.BAD_FIELD
    )
    assert_error(api.admin("POST", "/v1/admin/shops", {"name": bad}), 400, Reason.BAD_FIELD)
    card = {"name": bad, "site_id": api.home_site()}
    assert_error(api.admin("POST", "/v1/admin/cards", card), 400, Reason.BAD_FIELD)
    assert _listed(api, "/v1/admin/sites") == sites
    assert _listed(api, "/v1/admin/cards") == cards


def test_admin_api_accepts_accented_names(api: Api) -> None:
    site = api.admin(
        "POST", "/v1/admin/sites", {"name": "Caf\u00e9", "tokens_per_hour": 10}, expect=201
    ).json()
    assert site["name"] == "Café"
    card = api.create_card("Jürgen Groß")
    assert card["card_id"]
