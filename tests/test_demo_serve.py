"""``kokreativ demo --serve``: a newcomer logs in to the console with an account the terminal printed.

The CLI runs as its own process, as ``make serve-demo`` starts it; the test
reads the printed accounts, logs in through the real console login over HTTP
(password, then a TOTP code from the printed secret, with pyotp), and stops the
demo with Ctrl-C (SIGINT), which must end it cleanly and free the port.
"""

from __future__ import annotations

import io
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
import requests

from kokreativ.localserver import free_port

pytestmark = pytest.mark.slow

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _read_until_codes(process: subprocess.Popen[str]) -> str:
    """The demo's output up to its first line of codes (the console is up by then)."""
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("Codes ("):
            return "".join(seen)
    raise AssertionError("the demo ended before it served:\n" + "".join(seen))


def _accounts(text: str) -> dict[str, tuple[str, str, str]]:
    """e-mail -> (e-mail, password, TOTP secret), as printed."""
    found = re.findall(r"E-Mail:\s+(\S+)\n\s+Passwort/password:\s+(\S+)\n\s+TOTP:\s+(otpauth://\S+)", text)
    accounts = {}
    for email, password, uri in found:
        secret = parse_qs(urlparse(uri).query)["secret"][0]
        accounts[email] = (email, password, secret)
    return accounts


def _log_in(
    session: requests.Session, url: str, email: str, password: str, secret: str, next_path: str
) -> requests.Response:
    form = session.get(f"{url}/console/login", params={"next": next_path})
    csrf = CSRF.search(form.text)
    assert form.status_code == 200 and csrf is not None
    step = session.post(
        f"{url}/console/login",
        data={"csrf": csrf.group(1), "next": next_path, "email": email, "password": password},
    )
    assert step.status_code == 200 and "/console/login/code" in step.url, step.text[:500]
    csrf = CSRF.search(step.text)
    assert csrf is not None
    code = pyotp.TOTP(secret).now()
    return session.post(
        f"{url}/console/login/code", data={"csrf": csrf.group(1), "next": next_path, "code": code}
    )


def test_the_served_demo_takes_a_printed_account_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kokreativ",
            "demo",
            "--serve",
            "--dir",
            str(tmp_path / "demo"),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    watchdog = threading.Timer(300, process.kill)  # a guard against a hang, not a timing assertion
    watchdog.start()
    try:
        text = _read_until_codes(process)
        url = f"http://127.0.0.1:{port}"
        assert f"{url}/console/login" in text
        accounts = _accounts(text)
        assert sorted(accounts) == [
            "admin@example.org",
            "koordination@example.org",
            "laden@example.org",
            "pruefung@example.org",
        ]
        # Each printed code is the one pyotp makes of the printed secret (for its time step).
        codes = dict(re.findall(r"(\w+) (\d{6})", text.rsplit("Codes (", 1)[1]))
        assert set(codes) == {"admin", "koordination", "laden", "pruefung"}

        email, password, secret = accounts["koordination@example.org"]
        session = requests.Session()
        page = _log_in(session, url, email, password, secret, "/console/account")
        assert page.status_code == 200 and urlparse(page.url).path == "/console/account"
        assert "koordination@example.org" in page.text
        # The coordinator of the first site sees its volunteers, and none of the second site's.
        volunteers = session.get(f"{url}/console/volunteers")
        assert volunteers.status_code == 200
        assert "Alex Beispiel" in volunteers.text and "Dana Beispiel" not in volunteers.text

        # The public page shows the economy's past: six closed months before the story's, published
        # (each about enough people), with the two-volunteer garden hidden in every one of them.
        _public_page_has_a_past(url)

        # A wrong password is refused by the same login (the accounts are real, not open doors).
        wrong = requests.Session()
        form = wrong.get(f"{url}/console/login")
        csrf = CSRF.search(form.text)
        assert csrf is not None
        refused = wrong.post(
            f"{url}/console/login",
            data={"csrf": csrf.group(1), "next": "/console", "email": email, "password": password + "x"},
        )
        assert refused.status_code == 401
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)  # a guard against a hang, not a timing assertion
        watchdog.cancel()
    assert process.returncode == 0, rest
    assert "Demo beendet / demo stopped." in rest
    with socket.socket() as probe:  # nothing listens any more
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def _public_page_has_a_past(url: str) -> None:
    """``/`` and ``/v1/log/totals`` publish six months, and suppress the garden's figures in each."""
    totals = requests.get(f"{url}/v1/log/totals").json()
    months = totals["months"]
    assert len(months) == 6 and all(period["from"] == period["month"] for period in months)
    assert totals["volunteers_active"] >= 20  # (a month of the story, closed on the 1st or 2nd, waits)
    for period in months:
        garden = [row for row in period["sites"] if row["name"] == "Gemeinschaftsgarten Misburg"]
        assert len(garden) == 1 and garden[0]["hours"] is None and garden[0]["suppressed"]
        assert any(row["hours"] for row in period["sites"])  # and not everything is hidden
        assert all(row["tokens"] for row in period["shops"])
    page = requests.get(f"{url}/", headers={"Accept-Language": "de"})
    assert page.status_code == 200
    table = page.text.split('<table id="months">', 1)[1].split("</table>", 1)[0]
    assert table.count('<th scope="row">') == 6
    assert 'id="no-months"' not in page.text and "<svg" in page.text
    places = page.text.split('<table id="places">', 1)[1].split("</table>", 1)[0]
    garden_row = places.split("Gemeinschaftsgarten Misburg", 1)[1].split("</tr>", 1)[0]
    assert 'class="hidden-mark"' in garden_row


def test_a_busy_port_is_said_before_the_day_is_told(tmp_path: Path) -> None:
    from kokreativ.demo.serve import serve_demo

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        out = io.StringIO()
        assert serve_demo(tmp_path / "demo", out, port=taken.getsockname()[1]) == 1
    assert "Der Port ist belegt / the port is in use" in out.getvalue()
    assert not (tmp_path / "demo").exists()  # nothing was started
