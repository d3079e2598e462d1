"""Alerts that reach someone (issue 20): a real SMTP sink (aiosmtpd) and a real webhook sink on loopback.

Nothing is mocked: the notifier speaks SMTP to aiosmtpd and HTTP to an
``http.server`` thread, and the server under test is the real app on loopback.
Checks run when the test calls :meth:`Notifier.check` (no timing), except the
equivocation test, which waits for the server's own background task.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session
from ledger_file import ledger_file
from server_helpers import HOUR, MINUTE, T0, Api, FakeClock, FakeKiosk

from protocol import EventKind, ids
from server import accounts
from server.alerts import SIGNATURE_HEADER, Alerter, CheckResult, Notifier, SmtpMailer, log_problem, sign_body
from server.app import create_app
from server.config import Alerts, loads
from server.context import ServerContext
from server.errors import ConfigError
from server.runner import serve_in_thread

SECRET = b"webhook-secret-for-tests"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Inbox:
    """aiosmtpd's handler: keeps each envelope's recipients and message."""

    def __init__(self) -> None:
        self.mails: list[tuple[list[str], EmailMessage]] = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        mail = message_from_bytes(content, _class=EmailMessage, policy=default_policy)
        self.mails.append((list(envelope.rcpt_tos), mail))
        self.arrived.set()
        return "250 OK"


class SmtpSink:
    """A real SMTP server on 127.0.0.1 (aiosmtpd); ``start``/``stop`` model a mail server going down."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.inbox = _Inbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def mailer(self) -> SmtpMailer:
        return SmtpMailer(
            "127.0.0.1", self.port, security="none", username="", password_file=None, timeout_s=10
        )


class WebhookSink:
    """A real HTTP server on 127.0.0.1 that keeps each POST's headers and body and answers 204."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Event()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                sink.posts.append((dict(self.headers.items()), body))
                sink.arrived.set()
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def webhook() -> Iterator[WebhookSink]:
    sink = WebhookSink()
    try:
        yield sink
    finally:
        sink.close()


def _coordinator(ctx: ServerContext, email: str, site_id: str | None, permissions: list[str]) -> str:
    """A console person holding ``permissions`` over ``site_id`` (``None``: the whole economy)."""
    person = accounts.add_person(
        ctx, email=email, display_name=email.split("@")[0], password="Pass-word-2026!"
    )
    scope = accounts.TeamScope("economy") if site_id is None else accounts.TeamScope("sites", (site_id,))
    team = accounts.add_team(ctx, name=f"Team {email}", permissions=permissions, scope=scope)
    accounts.add_member(ctx, team, person)
    return person


def _site(api: Api, name: str) -> str:
    return str(
        api.admin("POST", "/v1/admin/sites", {"name": name, "tokens_per_hour": 10}, expect=201).json()[
            "site_id"
        ]
    )


def _settings(**changes: Any) -> Alerts:
    base = {"console_url": "https://ledger.example.org", "silent_after_s": 900, "retry_after_s": 60}
    return Alerts(**{**base, **changes})


def _alive(api: Api, kiosk: FakeKiosk) -> None:
    """The kiosk syncs now (a denied tap of an unknown card): it is not silent."""
    response = api.send(
        kiosk.kiosk_id, [kiosk.event(EventKind.DENIED, ids.new_id(ids.UID_CARD), api.clock.now)]
    )
    assert response.status_code == 200, response.text


def _text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def _no_card_ids(text: str) -> None:
    for prefix in ("c_", "u_", "v_"):
        assert prefix not in text, text


def test_a_silent_kiosk_mails_its_sites_coordinators_once_and_again_only_after_it_recovered(
    api: Api, smtp: SmtpSink
) -> None:
    ctx = api.context
    site_a = _site(api, "Stadtteilzentrum Linden")
    site_b = _site(api, "Nachbarschaftshaus List")
    _coordinator(ctx, "linden@example.org", site_a, ["manage_fleet", "review"])
    _coordinator(ctx, "list@example.org", site_b, ["manage_fleet", "review"])
    _coordinator(ctx, "kasse@example.org", site_a, ["review"])  # no fleet duty: not told
    quiet = api.enrol_kiosk(site_a)
    busy = api.enrol_kiosk(site_b)
    _alive(api, busy)
    notifier = Notifier(ctx, _settings(to=("betrieb@example.org",)), mailer=smtp.mailer())

    first = notifier.check()
    assert first.opened == (f"kiosk_silent:{quiet.kiosk_id}",)
    assert len(smtp.inbox.mails) == 1
    to, mail = smtp.inbox.mails[0]
    assert to == ["linden@example.org"]  # that site's coordinator only; the fallback address is not needed
    assert "linden@example.org" not in str(mail["To"])  # recipients do not see each other
    assert quiet.kiosk_id in str(mail["Subject"]) and "meldet sich nicht mehr" in str(mail["Subject"])
    text = _text(mail)
    assert text.index("Was ist zu tun?") < text.index("----- English -----") < text.index("What to do:")
    assert "Stadtteilzentrum Linden" in text and "Europe/Berlin, UTC+01:00" in text
    assert "https://ledger.example.org/console/kiosks" in text
    _no_card_ids(text)

    assert notifier.check() == CheckResult()  # still silent: not told again
    assert len(smtp.inbox.mails) == 1

    _alive(api, quiet)
    assert notifier.check().closed == (f"kiosk_silent:{quiet.kiosk_id}",)
    api.clock.now += HOUR  # silent again, and now the other site's kiosk too
    again = notifier.check()
    assert set(again.opened) == {f"kiosk_silent:{quiet.kiosk_id}", f"kiosk_silent:{busy.kiosk_id}"}
    assert sorted(to for to, _ in smtp.inbox.mails[1:]) == [["linden@example.org"], ["list@example.org"]]


def test_a_site_without_a_coordinator_falls_back_to_its_address_then_the_global_one(
    api: Api, smtp: SmtpSink
) -> None:
    site_a = api.create_site()["site_id"]
    site_b = api.create_site()["site_id"]
    api.enrol_kiosk(site_a)
    api.enrol_kiosk(site_b)
    settings = _settings(to=("betrieb@example.org",), site_to=(f"{site_a}=linden@example.org",))
    Notifier(api.context, settings, mailer=smtp.mailer()).check()
    assert sorted(to for to, _ in smtp.inbox.mails) == [["betrieb@example.org"], ["linden@example.org"]]


def test_an_equivocation_mails_and_posts_a_signed_webhook_at_once_without_holding_the_kiosk(
    context: ServerContext, clock: FakeClock, data_dir: Any, smtp: SmtpSink, webhook: WebhookSink
) -> None:
    settings = _settings(silent_after_s=366 * 86_400, check_interval_s=86_400, webhook_url=webhook.url)
    notifier = Notifier(context, settings, mailer=smtp.mailer(), webhook_secret=SECRET)
    alerter = Alerter(notifier)
    with serve_in_thread(create_app(context, alerts=alerter)) as url:
        api = Api(url, data_dir[1].admin_token, context, clock)
        try:
            site = _site(api, "Café Kötner")
            _coordinator(context, "koordination@example.org", site, ["manage_fleet"])
            liar = api.enrol_kiosk(site)
            card = api.create_card("Ada", site_id=site)["card_id"]
            assert (
                api.send(liar.kiosk_id, [liar.event(EventKind.CHECK_IN, card, T0 - MINUTE)]).status_code
                == 200
            )
            liar.seq, liar.head = 0, "0" * 64
            refused = api.send(liar.kiosk_id, [liar.event(EventKind.CHECK_IN, card, T0)])
            assert refused.status_code == 409 and refused.json()["error"]["code"] == "equivocation"
            # The background task was asleep for a day: only the poke after the refusal wakes it.
            assert smtp.inbox.arrived.wait(30) and webhook.arrived.wait(30)
        finally:
            api.close()

    (to, mail), *more = smtp.inbox.mails
    assert to == ["koordination@example.org"] and not more
    assert "vorsorglich gesperrt" in str(mail["Subject"]) and liar.kiosk_id in _text(mail)
    _no_card_ids(_text(mail))
    (headers, body), *others = webhook.posts
    assert not others
    signature = {k.lower(): v for k, v in headers.items()}[SIGNATURE_HEADER.lower()]
    expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected) and signature == sign_body(SECRET, body)
    payload = json.loads(body)
    assert payload["type"] == "equivocation" and payload["reason"] == "equivocation"
    assert (payload["site"], payload["site_name"], payload["kiosk"]) == (site, "Café Kötner", liar.kiosk_id)
    assert (
        payload["time"].endswith("+01:00") and payload["link"] == "https://ledger.example.org/console/kiosks"
    )
    assert "Kötner" in body.decode("utf-8")  # umlauts as UTF-8, not \\u escapes
    _no_card_ids(body.decode("utf-8"))


def test_a_mail_server_that_is_down_is_tried_again_later_and_nothing_fails(api: Api) -> None:
    down = SmtpSink()  # its port is free: nothing listens yet
    site = api.create_site()["site_id"]
    _coordinator(api.context, "linden@example.org", site, ["manage_fleet"])
    api.enrol_kiosk(site)
    notifier = Notifier(api.context, _settings(retry_after_s=300), mailer=down.mailer())

    failed = notifier.check()
    assert failed.failed and not failed.delivered
    (notice,) = _notices(api.context)
    assert notice["attempts"] == 1 and "ConnectionRefusedError" in notice["last_error"]
    down.start()
    try:
        assert notifier.check() == CheckResult()  # not before retry_after_s: no storm of tries
        api.clock.now += 300_000
        assert notifier.check().delivered and len(down.inbox.mails) == 1
        assert notifier.check() == CheckResult() and len(down.inbox.mails) == 1
    finally:
        down.stop()
    api.assert_serving()


def test_a_webhook_that_fails_is_tried_again_but_the_mail_is_not_sent_twice(api: Api, smtp: SmtpSink) -> None:
    site = api.create_site()["site_id"]
    _coordinator(api.context, "linden@example.org", site, ["manage_fleet"])
    api.enrol_kiosk(site)
    dead = f"http://127.0.0.1:{_free_port()}/hook"
    notifier = Notifier(api.context, _settings(webhook_url=dead), mailer=smtp.mailer(), webhook_secret=SECRET)
    assert notifier.check().delivered == (f"mail:{_notices(api.context)[0]['incident_key']}",)
    api.clock.now += 60_000
    assert notifier.check().failed
    assert len(smtp.inbox.mails) == 1


def test_a_log_the_database_no_longer_matches_alerts_the_operators(api: Api, smtp: SmtpSink) -> None:
    ctx = api.context
    site = api.create_site()["site_id"]
    _alive(api, api.enrol_kiosk(site))
    _coordinator(ctx, "linden@example.org", site, ["manage_fleet"])
    _coordinator(ctx, "technik@example.org", None, ["manage_fleet"])
    notifier = Notifier(ctx, _settings(to=("betrieb@example.org",)), mailer=smtp.mailer())
    assert log_problem(ctx) is None
    assert notifier.check(with_log=True) == CheckResult()

    with ledger_file(ctx.storage, write=True) as conn:
        # The newest entry rewritten behind the log's back (a bad restore, a hand edit).
        conn.execute(
            "UPDATE tlog_entries SET entry = ? WHERE idx = (SELECT MAX(idx) FROM tlog_entries)", (b"{}",)
        )
    assert "does not match its stored hash" in (log_problem(ctx) or "")
    assert notifier.check().opened == ()  # the log is checked only when asked (every log_check_interval_s)
    assert notifier.check(with_log=True).opened == ("log_inconsistent",)
    (to, mail), *_ = smtp.inbox.mails
    assert to == ["betrieb@example.org", "technik@example.org"]  # not the site's coordinator
    assert "Protokoll" in str(mail["Subject"]) and "verify-store" in _text(mail)


def test_the_settings_file_takes_the_alerts_table_and_refuses_what_it_cannot_use(tmp_path: Path) -> None:
    config = loads(
        '[alerts]\nto = ["betrieb@example.org"]\nsite_to = ["s_1=linden@example.org"]\n'
        'webhook_url = "https://hooks.example.org/kokreativ"\nwebhook_secret_file = "hook.secret"\n'
        '[alerts.smtp]\nhost = "mail.example.org"\nport = 465\nsecurity = "ssl"\n'
        'from_address = "kokreativ@example.org"\npassword_file = "smtp.password"\n',
        base=tmp_path,
    )
    assert config.alerts.enabled and config.alerts.smtp.password_file == tmp_path / "smtp.password"
    assert not loads("").alerts.enabled
    for bad in (
        '[alerts]\nto = ["not an address"]',
        '[alerts]\nsite_to = ["linden@example.org"]',
        '[alerts.smtp]\nsecurity = "tls"',
        '[alerts]\nwebhook_url = "ftp://x"',
        "[alerts]\nsilent = 5",
    ):
        with pytest.raises(ConfigError):
            loads(bad)
    with pytest.raises(ConfigError, match="webhook_secret_file"):
        Notifier.from_settings(None, config.alerts)  # type: ignore[arg-type]


def _notices(ctx: ServerContext) -> list[dict[str, Any]]:
    with ledger_file(ctx.storage) as conn:
        cursor = conn.execute("SELECT * FROM alert_notices ORDER BY notice_id")
        names = [d[0] for d in cursor.description if d[0] != "rowid"]
        return [dict(zip(names, row, strict=False)) for row in cursor]


def test_each_new_log_report_of_a_kiosk_mails_its_coordinators_once(api: Api, smtp: SmtpSink) -> None:
    """A kiosk that found the server's log inconsistent (its signed evidence) is an incident per report."""
    from protocol.evidence import EvidenceReport, sign_evidence

    ctx = api.context
    site = _site(api, "Stadtteilzentrum Linden")
    _coordinator(ctx, "linden@example.org", site, ["manage_fleet"])
    witness = api.enrol_kiosk(site)
    _alive(api, witness)
    notifier = Notifier(ctx, _settings(), mailer=smtp.mailer())
    assert notifier.check() == CheckResult()  # no report yet: nothing to tell

    def report(number: int) -> None:
        evidence = EvidenceReport(
            kiosk=witness.kiosk_id,
            number=number,
            kind="log_inconsistent",
            old_checkpoint="a\n2\nAA==\n\n— a AAAA\n",
            new_checkpoint="a\n1\nAA==\n\n— a AAAA\n",
            consistency=(),
            detail="the log shrank",
            detected_ms=api.clock.now,
        )
        wire = sign_evidence(evidence, witness.key)
        response = api.post_raw(f"/v1/kiosks/{witness.kiosk_id}/evidence", json.dumps(wire).encode())
        assert response.status_code == 202 and response.json()["stored"], response.text

    report(1)
    assert notifier.check().opened == (f"kiosk_log_report:{witness.kiosk_id}:1",)
    (to, mail), *more = smtp.inbox.mails
    assert to == ["linden@example.org"] and not more
    assert "Widerspruch im Protokoll" in str(mail["Subject"]) and "clear-alarm" in _text(mail)
    _no_card_ids(_text(mail))
    assert notifier.check() == CheckResult()  # the same report: not told again
    report(2)
    again = notifier.check()
    assert again.opened == (f"kiosk_log_report:{witness.kiosk_id}:2",)
    assert again.closed == (f"kiosk_log_report:{witness.kiosk_id}:1",)
    assert len(smtp.inbox.mails) == 2


def test_a_site_name_with_a_line_break_cannot_break_the_mail_s_headers(api: Api) -> None:
    """The API refuses such a name; the notice keeps its subject on one line all the same."""
    from server.alerts import compose
    from server.storage.alerts import NoticeRow

    refused = api.admin(
        "POST", "/v1/admin/sites", {"name": "Linden\r\nBcc: x@example.org", "tokens_per_hour": 10}
    )
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "bad_field"
    row = NoticeRow(1, "kiosk_silent:k_1", "kiosk_silent", "s_1", "k_1", T0, None, None, None, 0, T0, None)
    notice = compose(row, "Linden\r\nBcc: x@example.org", _settings())
    assert "\n" not in notice.subject and "\r" not in notice.subject
    assert "Linden Bcc: x@example.org" in notice.subject
