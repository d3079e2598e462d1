"""Incidents the server told people about (m027), and the denied attempts, for :mod:`server.alerts`.

:class:`Notifier` does one check (:meth:`Notifier.check`), synchronously:

1. find what is wrong now (:func:`current_incidents`): kiosks silent for longer than
   ``silent_after_s`` (:func:`server.fleet.fleet`'s ``silent`` alarm), kiosks suspended for
   an equivocation, each kiosk's newest report that the log is inconsistent with what it
   witnessed, and, when asked, the log's own self-check (:func:`log_problem`);
2. open an incident (m027, ``alert_notices``) for each new one and close those that
   recovered, so an incident is notified once, and again only when it recurs;
3. deliver each open incident's notice on each channel that has not yet taken it:
   one e-mail to the site's coordinators (:func:`recipients`), one signed webhook POST.
   A failed delivery is logged and tried again after ``retry_after_s``; nothing raises.

:class:`Alerter` runs the check in the server's event loop as a background task: every
``check_interval_s``, and at once when :meth:`Alerter.poke` is called (the ingest route
does so after an equivocation, without waiting).  The check itself runs in a thread.

Notices are plain German with English below; they name the site, the kiosk and what to
do next, never a card or a volunteer.  The webhook body is JSON::

    {"type": "kiosk_silent", "reason": "kiosk_silent", "site": "s_…", "site_name": "…",
     "kiosk": "k_…", "time": "2025-11-29T08:26:40+01:00", "link": "https://…/console/kiosks",
     "incident": 7}

signed with HMAC-SHA256 over the exact body bytes: ``X-Kokreativ-Signature: sha256=<hex>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Protocol

import requests

from protocol import Reason
from protocol.checkpoint import verify_checkpoint
from protocol.earning import ZONE
from protocol.merkle import leaf_hash
from protocol.note import NoteVerifier
from server import fleet, tlog
from server.accounts.teams import grants_of
from server.config import Alerts
from server.context import ServerContext
from server.errors import ConfigError, LogCorrupted
from server.models import KioskStatus
from server.principals import Permission, Principal
from server.storage import ReadTx
from server.storage.alerts import NoticeRow
from server.tlogtree import Frontier

log = logging.getLogger(__name__)
SIGNATURE_HEADER: Final = "X-Kokreativ-Signature"
EVENT_HEADER: Final = "X-Kokreativ-Event"


class AlertKind(StrEnum):
    """What an incident is; also the webhook's ``type`` and ``reason`` (documented in docs/operations.md)."""

    KIOSK_SILENT = "kiosk_silent"
    EQUIVOCATION = "equivocation"
    LOG_INCONSISTENT = "log_inconsistent"
    KIOSK_LOG_REPORT = "kiosk_log_report"  # a kiosk, as a witness, reported the log inconsistent


@dataclass(frozen=True, slots=True)
class Incident:
    """Something wrong now: its kind, where (``None`` for the server's own log) and a reason code."""

    kind: AlertKind
    site_id: str | None = None
    kiosk_id: str | None = None
    reason: str = ""
    number: int | None = None  # a kiosk's report: its number, so each new report is an incident of its own

    @property
    def key(self) -> str:
        key = self.kind.value if self.kiosk_id is None else f"{self.kind.value}:{self.kiosk_id}"
        return key if self.number is None else f"{key}:{self.number}"


# -- what is wrong -------------------------------------------------------------------------------------


def log_problem(ctx: ServerContext) -> str | None:
    """The server's cheap self-check of its transparency log: ``None``, or what is wrong (no card data).

    The newest checkpoint must verify under the server's key (or a key it still co-signs
    with), cover every stored entry, and its root must be the root of the stored hashes;
    the last stored entry's leaf hash must be the stored one.  A mismatch means the
    database was changed or restored behind the log's back.
    """
    try:
        with ctx.storage.read() as tx:
            return _log_problem(ctx, tx)
    except LogCorrupted as exc:
        return str(exc)


def _log_problem(ctx: ServerContext, tx: ReadTx) -> str | None:
    size, note = tlog.latest_checkpoint(tx)
    origin = tlog.origin(tx)
    keys = [ctx.server_key.public_key, *(k.public_key for k in ctx.cosign_keys)]
    try:
        checkpoint = verify_checkpoint(note, [NoteVerifier.for_key(origin, k) for k in keys], origin=origin)
    except ValueError as exc:  # the protocol's errors are ValueErrors
        return f"the newest checkpoint does not verify under the server's key ({exc})"
    if checkpoint.size != size:
        return f"the newest checkpoint says size {checkpoint.size}, stored as {size}"
    stored = tx.tlog_size()
    if stored != size:
        return f"the log holds {stored} entries, its newest checkpoint {size}"
    if Frontier.load(size, tlog.StoredHashes(tx)).root() != checkpoint.root_hash:
        return f"the stored hashes do not give the newest checkpoint's root at size {size}"
    if size:
        entry = tx.tlog_entry(size - 1)
        if entry is None or tx.tlog_hash(0, size - 1) != leaf_hash(entry):
            return f"the last entry ({size - 1}) does not match its stored hash"
    return None


def current_incidents(
    ctx: ServerContext, *, silent_after_s: int, log_check: str | None = None
) -> list[Incident]:
    """What is wrong now, kiosks in enrolment order; ``log_check`` is :func:`log_problem`'s answer."""
    found = []
    rows = fleet.fleet(ctx, None, silent_after_s=silent_after_s)
    for row in rows:
        where = {"site_id": row["site_id"], "kiosk_id": row["kiosk_id"]}
        # Suspended for an equivocation (fleet's alarm stays on record after a clear; this does not).
        if row["status"] == KioskStatus.SUSPENDED.value and row["equivocations"]:
            found.append(Incident(AlertKind.EQUIVOCATION, reason=Reason.EQUIVOCATION.value, **where))
        if row["silent"]:
            found.append(Incident(AlertKind.KIOSK_SILENT, reason=AlertKind.KIOSK_SILENT.value, **where))
    # Kiosks that, as witnesses, found the server's log inconsistent with what they verified: the newest
    # report of each is the incident (one notice per new report; a restore from backup makes them all).
    with ctx.storage.read() as tx:
        for row in rows:
            count, highest = tx.log_evidence_held(row["kiosk_id"])
            if count and row["status"] != KioskStatus.REVOKED.value:
                found.append(
                    Incident(
                        AlertKind.KIOSK_LOG_REPORT,
                        site_id=row["site_id"],
                        kiosk_id=row["kiosk_id"],
                        reason=Reason.LOG_INCONSISTENT.value,
                        number=highest,
                    )
                )
    if log_check is not None:
        found.append(Incident(AlertKind.LOG_INCONSISTENT, reason=Reason.LOG_INCONSISTENT.value))
    return found


def recipients(tx: ReadTx, settings: Alerts, site_id: str | None) -> list[str]:
    """Who gets a notice about ``site_id`` (``None``: the server's log), sorted, each once.

    A site's: every active person holding ``manage_fleet`` for that site through a team
    scoped to sites or an organisation (its coordinators; not another site's, and not the
    economy-wide teams, who would get every site's); else the site's ``site_to`` address;
    else ``to``.  The log's: ``to`` and every active person holding ``manage_fleet`` economy-wide.
    """
    people = [p for p in tx.persons() if p.disabled_ms is None and p.email]
    found: set[str] = set()
    for person in people:
        principal = Principal.of_grants(person.display_name, grants_of(tx, person.person_id))
        for grant in principal.grants:
            if Permission.MANAGE_FLEET not in grant.permissions:
                continue
            if (site_id is None and grant.sites is None) or (
                site_id is not None and grant.sites is not None and site_id in grant.sites
            ):
                found.add(person.email)
    if site_id is None:
        return sorted(found | set(settings.to))
    if not found:
        found = {
            address.strip()
            for site, _, address in (entry.partition("=") for entry in settings.site_to)
            if site.strip() == site_id
        }
    return sorted(found or set(settings.to))


# -- what a notice says --------------------------------------------------------------------------------


def _local_time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(ZONE)


def _shown_time(ms: int) -> str:
    """``29.11.2025, 08:26 (Europe/Berlin, UTC+01:00)``: the site's time zone, and that it is."""
    when = _local_time(ms)
    offset = when.strftime("%z")
    return f"{when:%d.%m.%Y, %H:%M} ({ZONE.key}, UTC{offset[:3]}:{offset[3:]})"


_TEXTS: Final[dict[AlertKind, tuple[str, str, str, str]]] = {
    AlertKind.KIOSK_SILENT: (
        "Kiosk {kiosk} ({site}) meldet sich nicht mehr",
        "Der Kiosk {kiosk} am Standort „{site}“ hat sich seit {since} nicht mehr beim Server gemeldet "
        "(keine Buchungen, kein Lebenszeichen seit mehr als {minutes} Minuten).\n\n"
        "Was ist zu tun?\n"
        "- Schauen Sie vor Ort nach: Ist der Kiosk eingeschaltet? Zeigt der Bildschirm etwas an? "
        "Hat der Standort Internet?\n"
        "- Oft hilft es, den Kiosk aus- und wieder einzuschalten (Stecker ziehen, kurz warten, wieder "
        "einstecken).\n"
        "- Es geht nichts verloren: Der Kiosk speichert alle Buchungen und schickt sie nach, sobald er "
        "wieder Verbindung hat.\n"
        "- Hilft das nicht, melden Sie sich bei der technischen Betreuung.",
        "Kiosk {kiosk} ({site}) has gone silent",
        "Kiosk {kiosk} at “{site}” has not reached the server since {since} (no events and no heartbeat "
        "for more than {minutes} minutes).\n\n"
        "What to do:\n"
        "- Look at it on site: is it switched on, does the screen show anything, does the site have "
        "internet?\n"
        "- Switching it off and on again often helps.\n"
        "- Nothing is lost: the kiosk keeps every tap and sends it once it is back online.\n"
        "- If that does not help, contact the technical support.",
    ),
    AlertKind.EQUIVOCATION: (
        "Kiosk {kiosk} ({site}) wurde vorsorglich gesperrt",
        "Der Kiosk {kiosk} am Standort „{site}“ hat zwei verschiedene Buchungen unter derselben Nummer "
        "unterschrieben (seit {since}). Das kann heißen, dass sein Schlüssel kopiert wurde. Der Server "
        "hat den Kiosk deshalb vorsorglich ausgesetzt: Neue Buchungen von ihm werden nicht angenommen, "
        "bis das geklärt ist.\n\n"
        "Was ist zu tun?\n"
        "- Prüfen Sie, ob der Kiosk noch an seinem Platz ist und ob jemand daran war "
        "(zum Beispiel an der Speicherkarte).\n"
        "- Melden Sie den Vorfall der technischen Betreuung. Sie prüft die Beweise und hebt die Sperre "
        "erst auf, wenn klar ist, was passiert ist.\n"
        "- Die Freiwilligen können solange an einem anderen Kiosk buchen oder ihre Stunden nachtragen "
        "lassen.",
        "Kiosk {kiosk} ({site}) was suspended as a precaution",
        "Kiosk {kiosk} at “{site}” signed two different events under one number (since {since}). That "
        "can mean its key was copied. The server suspended it: its new events are refused until this "
        "is cleared up.\n\n"
        "What to do:\n"
        "- Check that the kiosk is still in its place and whether anybody handled it (its memory card, "
        "for example).\n"
        "- Report it to the technical support. They look at the evidence and clear the kiosk only once "
        "it is clear what happened.\n"
        "- Meanwhile volunteers can check in at another kiosk or have their hours recorded by hand.",
    ),
    AlertKind.LOG_INCONSISTENT: (
        "Der Server hat einen Fehler in seinem Protokoll gefunden",
        "Bei seiner Selbstprüfung ({since}) hat der Server einen Widerspruch in seinem öffentlichen "
        "Protokoll gefunden. Bis das geklärt ist, ist nicht sicher, dass die Buchungen stimmen.\n\n"
        "Was ist zu tun?\n"
        "- Informieren Sie sofort die technische Betreuung.\n"
        "- Löschen Sie nichts und setzen Sie den Server nicht neu auf. Die Betreuung prüft den "
        "Datenbestand (kokreativ server verify-store) und spielt wenn nötig eine Sicherung ein.\n"
        "- Die Kiosks arbeiten weiter und verlieren nichts.",
        "The server found an error in its log",
        "In its self-check ({since}) the server found a contradiction in its public log. Until this is "
        "cleared up, the ledger cannot be trusted to be right.\n\n"
        "What to do:\n"
        "- Tell the technical support at once.\n"
        "- Delete nothing and do not set the server up anew. The support checks the data "
        "(kokreativ server verify-store) and restores a backup where needed.\n"
        "- The kiosks go on working and lose nothing.",
    ),
    AlertKind.KIOSK_LOG_REPORT: (
        "Kiosk {kiosk} ({site}) meldet einen Widerspruch im Protokoll des Servers",
        "Der Kiosk {kiosk} am Standort „{site}“ prüft bei jeder Übertragung das öffentliche Protokoll des "
        "Servers. Am {since} hat er gemeldet: Das Protokoll passt nicht mehr zu dem, was er vorher "
        "geprüft hat. Das passiert, wenn der Server aus einer älteren Sicherung wiederhergestellt wurde, "
        "oder wenn jemand das Protokoll verändert hat. Der Kiosk schickt solange keine Buchungen mehr; "
        "er speichert sie aber alle.\n\n"
        "Was ist zu tun?\n"
        "- Fragen Sie die technische Betreuung, ob der Server gerade wiederhergestellt wurde.\n"
        "- Wenn ja: Die Betreuung gibt den Kiosk wieder frei (kokreativ terminal clear-alarm), "
        "dann schickt er alles nach.\n"
        "- Wenn nein: Lassen Sie den Kiosk, wie er ist, und melden Sie es sofort. Die Meldung des "
        "Kiosks ist ein Beweis und bleibt auf dem Server gespeichert.",
        "Kiosk {kiosk} ({site}) reports a contradiction in the server's log",
        "Kiosk {kiosk} at “{site}” checks the server's public log at every sync. On {since} it reported "
        "that the log no longer extends what it verified before. That happens when the server was "
        "restored from an older backup, or when somebody changed the log. Until this is cleared up the "
        "kiosk sends nothing, but it keeps every tap.\n\n"
        "What to do:\n"
        "- Ask the technical support whether the server was just restored.\n"
        "- If so, they release the kiosk (kokreativ terminal clear-alarm) and it sends everything.\n"
        "- If not, leave the kiosk as it is and report it at once. The kiosk's report is evidence and "
        "stays on the server.",
    ),
}
_LINKS: Final = {
    AlertKind.KIOSK_SILENT: "/console/kiosks",
    AlertKind.EQUIVOCATION: "/console/kiosks",
    AlertKind.LOG_INCONSISTENT: "/console",
    AlertKind.KIOSK_LOG_REPORT: "/console/kiosks",
}


@dataclass(frozen=True, slots=True)
class Notice:
    """One incident's notice, ready to send: the e-mail's subject and text, the webhook's fields."""

    subject: str
    text: str
    payload: dict[str, Any]


def compose(notice: NoticeRow, site_name: str | None, settings: Alerts) -> Notice:
    """The notice of ``notice`` (a stored incident): German first, English below; no card, no volunteer."""
    kind = AlertKind(notice.kind)
    de_subject, de_text, en_subject, en_text = _TEXTS[kind]
    link = settings.console_url.rstrip("/") + _LINKS[kind] if settings.console_url else None
    fields = {
        "kiosk": notice.kiosk_id or "",
        # One line: a name is typed by people, and a line break in a header would break the mail.
        "site": " ".join((site_name or notice.site_id or "").split()),
        "since": _shown_time(notice.opened_ms),
        "minutes": str(settings.silent_after_s // 60),
    }
    where = f"\n\nIm Verwaltungsbereich / in the console: {link}" if link else ""
    text = (
        de_text.format(**fields)
        + where
        + "\n\n----- English -----\n\n"
        + en_text.format(**fields)
        + "\n\n-- \nkokreativ: diese Nachricht kam automatisch / this notice was sent automatically.\n"
    )
    payload = {
        "type": kind.value,
        "reason": Reason.EQUIVOCATION.value
        if kind is AlertKind.EQUIVOCATION
        else (
            Reason.LOG_INCONSISTENT.value
            if kind in (AlertKind.LOG_INCONSISTENT, AlertKind.KIOSK_LOG_REPORT)
            else kind.value
        ),
        "site": notice.site_id,
        "site_name": site_name,
        "kiosk": notice.kiosk_id,
        "time": _local_time(notice.opened_ms).isoformat(timespec="seconds"),
        "link": link,
        "incident": notice.notice_id,
    }
    subject = f"kokreativ: {de_subject.format(**fields)} / {en_subject.format(**fields)}"
    return Notice(subject, text, payload)


def sign_body(secret: bytes, body: bytes) -> str:
    """The webhook's signature header value: ``sha256=`` and the hex HMAC-SHA256 of ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


# -- channels ------------------------------------------------------------------------------------------


class Mailer(Protocol):
    """Sends one e-mail to ``to`` (the envelope's recipients); raises ``OSError`` or ``SMTPException``."""

    def send(self, message: EmailMessage, to: Sequence[str]) -> None: ...


class SmtpMailer:
    """A :class:`Mailer` over SMTP as ``[alerts.smtp]`` says: STARTTLS, SSL or plain, with login if set."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: str,
        username: str,
        password_file: Path | None,
        timeout_s: float,
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self.username, self.password_file, self.timeout_s = username, password_file, timeout_s

    def send(self, message: EmailMessage, to: Sequence[str]) -> None:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.security == "ssl":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        with smtp:
            if self.security == "starttls":
                smtp.starttls(context=context)
            if self.username:
                password = "" if self.password_file is None else self.password_file.read_text("utf-8").strip()
                smtp.login(self.username, password)
            smtp.send_message(message, to_addrs=list(to))


Poster = Callable[[str, bytes, dict[str, str], float], int]


def post_json(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> int:
    """POST ``body`` to ``url`` once (no redirects, no retries); the status code."""
    response = requests.post(url, data=body, headers=headers, timeout=timeout_s, allow_redirects=False)
    return response.status_code


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What one check did: incidents opened and closed, deliveries made and failed (for logs and tests)."""

    opened: tuple[str, ...] = ()
    closed: tuple[str, ...] = ()
    delivered: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()


class Notifier:
    """One check at a time over ``ctx`` with ``settings``; tests pass real sinks as channels."""

    def __init__(
        self,
        ctx: ServerContext,
        settings: Alerts,
        *,
        mailer: Mailer | None = None,
        poster: Poster = post_json,
        from_address: str = "",
        webhook_secret: bytes | None = None,
    ) -> None:
        self.ctx, self.settings = ctx, settings
        self.mailer, self.poster = mailer, poster
        self.from_address = from_address or "kokreativ@localhost"
        if settings.webhook_url and not webhook_secret:
            raise ConfigError("alerts.webhook_url needs alerts.webhook_secret_file (the HMAC key)")
        self.webhook_secret = webhook_secret or b""

    @classmethod
    def from_settings(cls, ctx: ServerContext, settings: Alerts) -> Notifier:
        """The notifier the settings file describes; :class:`ConfigError` for a secret it cannot read."""
        smtp = settings.smtp
        mailer = None
        if smtp.host:
            if not smtp.from_address:
                raise ConfigError("alerts.smtp.from_address is needed to send e-mail")
            mailer = SmtpMailer(
                smtp.host,
                smtp.port,
                security=smtp.security,
                username=smtp.username,
                password_file=smtp.password_file,
                timeout_s=smtp.timeout_s,
            )
        secret = None
        if settings.webhook_secret_file is not None:
            try:
                secret = settings.webhook_secret_file.read_bytes().strip()
            except OSError as exc:
                raise ConfigError(
                    f"alerts.webhook_secret_file: cannot read it ({exc.strerror or exc})"
                ) from None
        return cls(ctx, settings, mailer=mailer, from_address=smtp.from_address, webhook_secret=secret)

    def check(self, *, with_log: bool = False) -> CheckResult:
        """Find incidents, open and close them, deliver what is due; logs failures, never raises them."""
        problem = log_problem(self.ctx) if with_log else None
        if problem is not None:
            log.error("alert: the log's self-check failed: %s", problem)
        now = self.ctx.now_ms()
        current = current_incidents(self.ctx, silent_after_s=self.settings.silent_after_s, log_check=problem)
        keys = {incident.key for incident in current}
        opened, closed = [], []
        with self.ctx.storage.write() as tx:
            for incident in current:
                if tx.insert_notice(
                    incident.key, incident.kind.value, incident.site_id, incident.kiosk_id, now
                ):
                    opened.append(incident.key)
            for notice in tx.open_notices():
                # The log's incident closes only when a self-check ran and passed.
                recovered = notice.incident_key not in keys
                if notice.kind == AlertKind.LOG_INCONSISTENT.value and not with_log:
                    recovered = False
                if recovered:
                    tx.close_notice(notice.notice_id, now)
                    closed.append(notice.incident_key)
            due = [n for n in tx.open_notices() if self._undelivered(n) and n.next_try_ms <= now]
        delivered: list[str] = []
        failed: list[str] = []
        for notice in due:
            self._deliver(notice, now, delivered, failed)
        return CheckResult(tuple(opened), tuple(closed), tuple(delivered), tuple(failed))

    def _undelivered(self, notice: NoticeRow) -> bool:
        return (self.mailer is not None and notice.mail_ms is None) or (
            bool(self.settings.webhook_url) and notice.webhook_ms is None
        )

    def _deliver(self, notice: NoticeRow, now: int, delivered: list[str], failed: list[str]) -> None:
        retry_ms = self.settings.retry_after_s * 1000
        with self.ctx.storage.write() as tx:
            # A lease: another worker's check skips it until then (and so does a crash's retry).
            if not tx.mark_notice_claimed(notice.notice_id, now, now + retry_ms):
                return
            site = None if notice.site_id is None else tx.get_site(notice.site_id)
            to = recipients(tx, self.settings, notice.site_id)
        composed = compose(notice, None if site is None else site.name, self.settings)
        errors = []
        if self.mailer is not None and notice.mail_ms is None:
            error = self._mail(composed, to)
            if error is None:
                self._mark(notice, "mail")
                delivered.append(f"mail:{notice.incident_key}")
            else:
                errors.append(error)
        if self.settings.webhook_url and notice.webhook_ms is None:
            error = self._webhook(composed)
            if error is None:
                self._mark(notice, "webhook")
                delivered.append(f"webhook:{notice.incident_key}")
            else:
                errors.append(error)
        if errors:
            failed.append(notice.incident_key)
            with self.ctx.storage.write() as tx:
                tx.record_notice_failure(notice.notice_id, "; ".join(errors), now + retry_ms)
            log.warning(
                "alert %s (incident %d) not delivered, next try in %d s: %s",
                notice.incident_key,
                notice.notice_id,
                self.settings.retry_after_s,
                "; ".join(errors),
            )

    def _mark(self, notice: NoticeRow, channel: str) -> None:
        with self.ctx.storage.write() as tx:
            tx.mark_notice_delivered(notice.notice_id, channel, self.ctx.now_ms())

    def _mail(self, notice: Notice, to: Sequence[str]) -> str | None:
        if not to:
            log.warning("alert %s: nobody to e-mail (no coordinator, no alerts.to)", notice.payload["type"])
            return None  # nobody to tell is not a failure to retry: the webhook and the log still say it
        message = EmailMessage()
        message["Subject"] = notice.subject
        message["From"] = self.from_address
        message["To"] = "undisclosed-recipients:;"  # coordinators do not learn each other's addresses
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = make_msgid(domain="kokreativ.local")
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(notice.text)
        assert self.mailer is not None
        try:
            self.mailer.send(message, to)
        except (OSError, smtplib.SMTPException) as exc:
            return f"mail: {type(exc).__name__}: {exc}"[:300]
        return None

    def _webhook(self, notice: Notice) -> str | None:
        body = json.dumps(notice.payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign_body(self.webhook_secret, body),
            EVENT_HEADER: str(notice.payload["type"]),
        }
        try:
            status = self.poster(self.settings.webhook_url, body, headers, self.settings.webhook_timeout_s)
        except (OSError, requests.RequestException) as exc:
            return f"webhook: {type(exc).__name__}"
        if not 200 <= status < 300:
            return f"webhook: HTTP {status}"
        return None


class Alerter:
    """The notifier as the server's background task: periodic, and at once on :meth:`poke`."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._log_checked: float | None = None

    def poke(self) -> None:
        """Check now (from any thread); returns at once and never fails."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(wake.set)

    async def run(self) -> None:
        """Check every ``check_interval_s`` (and on :meth:`poke`) until cancelled."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        settings = self.notifier.settings
        while True:
            self._wake.clear()
            started = time.monotonic()
            with_log = (
                self._log_checked is None or started - self._log_checked >= settings.log_check_interval_s
            )
            try:
                result = await asyncio.to_thread(self.notifier.check, with_log=with_log)
                if with_log:
                    self._log_checked = started
                if result.opened or result.delivered or result.failed:
                    log.info("alerts: %s", result)
            except Exception:  # a check that fails (a locked disk) must not end the task
                log.exception("alerts: the check failed; trying again at the next one")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), settings.check_interval_s)
