"""Incidents the server told people about (m027), and the denied attempts, for :mod:`server.alerts`.

A notice row is an incident: open while it lasts, closed once it recovered.  At
most one row per incident key is open (a partial unique index), so two checks
racing (two server workers) open it once.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from server.storage.base import Queries


class NoticeRow(NamedTuple):
    """One incident as stored: what, where, and what each channel delivered."""

    notice_id: int
    incident_key: str
    kind: str
    site_id: str | None
    kiosk_id: str | None
    opened_ms: int
    closed_ms: int | None
    mail_ms: int | None
    webhook_ms: int | None
    attempts: int
    next_try_ms: int
    last_error: str | None


class DeniedRow(NamedTuple):
    """A stored ``denied`` event, without its card: kiosk, site, time as the ledger counts it, reason."""

    kiosk_id: str
    site_id: str
    time_ms: int
    reason: str


_NOTICE_COLUMNS = (
    "notice_id, incident_key, kind, site_id, kiosk_id, opened_ms, closed_ms, mail_ms, webhook_ms, "
    "attempts, next_try_ms, last_error"
)


class AlertsRead(Queries):
    """Open incidents, and the denied attempts in a time range."""

    def open_notices(self) -> list[NoticeRow]:
        """Every open incident, oldest first."""
        rows = self._conn.execute(
            f"SELECT {_NOTICE_COLUMNS} FROM alert_notices WHERE closed_ms IS NULL ORDER BY notice_id"
        )
        return [NoticeRow(*row) for row in rows]

    def notices(self, limit: int = 100) -> list[NoticeRow]:
        """The latest ``limit`` incidents, open or closed, newest first."""
        rows = self._conn.execute(
            f"SELECT {_NOTICE_COLUMNS} FROM alert_notices ORDER BY notice_id DESC LIMIT ?", (limit,)
        )
        return [NoticeRow(*row) for row in rows]

    def denied_between(self, from_ms: int, to_ms: int, slack_ms: int) -> list[DeniedRow]:
        """Stored ``denied`` events whose time lies in ``[from_ms, to_ms)``, in time order; no card.

        The reason is the event's ``data.reason``: a v2 event seals it in its opening
        (``openings.sealed``), a v1 event names it in its body.  Only events that arrived
        after ``from_ms - slack_ms`` are read (the index on arrival).
        """
        rows = self._conn.execute(
            "SELECT e.kiosk_id, k.site_id, COALESCE(e.corrected_ms, e.wall_ms) AS t, o.sealed, e.body "
            "FROM events e JOIN kiosks k ON k.kiosk_id = e.kiosk_id "
            "LEFT JOIN openings o ON o.kiosk_id = e.kiosk_id AND o.seq = e.seq "
            "WHERE e.kind = 'denied' AND e.received_ms >= ? "
            "AND COALESCE(e.corrected_ms, e.wall_ms) >= ? AND COALESCE(e.corrected_ms, e.wall_ms) < ? "
            "ORDER BY t, e.kiosk_id, e.seq",
            (from_ms - slack_ms, from_ms, to_ms),
        )
        return [DeniedRow(row[0], row[1], row[2], _denied_reason(row[3], row[4])) for row in rows]


def _denied_reason(sealed: str | bytes | None, body: bytes) -> str:
    """``data.reason`` of a denied event: from its opening (v2) or its body (v1); ``unknown`` if neither.

    Read here rather than in SQL, so the query is the same on both engines (SQLite's
    ``json_extract`` and PostgreSQL's ``->>`` differ).
    """
    for text in (sealed, body):
        if text is None:
            continue
        try:
            reason = json.loads(text).get("data", {}).get("reason")
        except (ValueError, AttributeError):
            continue
        if reason is not None:
            return str(reason)
    return "unknown"


class AlertsWrite(AlertsRead):
    """An :class:`AlertsRead` that also opens, closes and marks incidents."""

    def insert_notice(
        self, incident_key: str, kind: str, site_id: str | None, kiosk_id: str | None, now_ms: int
    ) -> bool:
        """Open the incident unless one with this key is open; whether this call opened it."""
        cursor = self._conn.execute(
            "INSERT OR IGNORE INTO alert_notices (incident_key, kind, site_id, kiosk_id, opened_ms, "
            "next_try_ms) VALUES (?, ?, ?, ?, ?, ?)",
            (incident_key, kind, site_id, kiosk_id, now_ms, now_ms),
        )
        return cursor.rowcount == 1

    def close_notice(self, notice_id: int, now_ms: int) -> None:
        """The incident recovered: a recurrence opens a new one (and is notified again)."""
        self._conn.execute(
            "UPDATE alert_notices SET closed_ms = ? WHERE notice_id = ? AND closed_ms IS NULL",
            (now_ms, notice_id),
        )

    def mark_notice_claimed(self, notice_id: int, now_ms: int, until_ms: int) -> bool:
        """Take the incident's delivery until ``until_ms`` if it is due; whether this call took it."""
        cursor = self._conn.execute(
            "UPDATE alert_notices SET next_try_ms = ? WHERE notice_id = ? AND next_try_ms <= ?",
            (until_ms, notice_id, now_ms),
        )
        return cursor.rowcount == 1

    def mark_notice_delivered(self, notice_id: int, channel: str, now_ms: int) -> None:
        """``channel`` (``mail`` or ``webhook``) delivered the incident's notice at ``now_ms``."""
        column = {"mail": "mail_ms", "webhook": "webhook_ms"}[channel]
        self._conn.execute(f"UPDATE alert_notices SET {column} = ? WHERE notice_id = ?", (now_ms, notice_id))

    def record_notice_failure(self, notice_id: int, error: str, next_try_ms: int) -> None:
        """A try failed with ``error``; the next one waits until ``next_try_ms``."""
        self._conn.execute(
            "UPDATE alert_notices SET attempts = attempts + 1, last_error = ?, next_try_ms = ? "
            "WHERE notice_id = ?",
            (error[:500], next_try_ms, notice_id),
        )

    def mark_notice_settled(self, notice_id: int) -> None:
        """Every channel delivered: clear the lease so nothing waits on it."""
        self._conn.execute("UPDATE alert_notices SET last_error = NULL WHERE notice_id = ?", (notice_id,))
