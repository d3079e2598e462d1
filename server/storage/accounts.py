"""People's console accounts: organisations, persons, teams, console sessions, invitations, activity.

Secrets are stored as the hex SHA-256 of what their holder presents (a session
cookie, an invitation link's token); passwords as argon2id hashes
(:mod:`server.accounts`).  None of this is in the transparency log.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from server.storage.base import Queries, chunks


@dataclass(frozen=True, slots=True)
class PersonRow:
    """A console account as stored."""

    person_id: str
    email: str
    display_name: str
    password_hash: str
    totp_secret: str | None
    totp_pending: str | None
    totp_last_step: int | None
    failed_logins: int
    locked_until_ms: int | None
    created_ms: int
    password_ms: int
    disabled_ms: int | None


@dataclass(frozen=True, slots=True)
class TeamRow:
    """A team: its permissions (as stored: names) over a scope (a kind and its IDs)."""

    team_id: str
    name: str
    permissions: tuple[str, ...]
    scope_kind: str
    scope_ids: tuple[str, ...]
    created_ms: int


@dataclass(frozen=True, slots=True)
class ConsoleSessionRow:
    """A console session: whose, since when, last used, when it ends at the latest, from which browser."""

    session_id: str
    person_id: str
    created_ms: int
    last_used_ms: int
    expires_ms: int
    user_agent: str


@dataclass(frozen=True, slots=True)
class InvitationRow:
    """An invitation to join a team, as stored (its token only hashed)."""

    invitation_id: str
    email: str
    display_name: str
    team_id: str
    invited_by: str | None
    created_ms: int
    expires_ms: int
    used_ms: int | None
    revoked_ms: int | None
    person_id: str | None


@dataclass(frozen=True, slots=True)
class ActivityRow:
    """One recorded console action: when, who (person and display name), what, on what, where."""

    activity_id: int
    at_ms: int
    person_id: str | None
    actor: str
    action: str
    object_id: str
    site_id: str | None
    data: dict[str, Any]


_PERSON_COLUMNS = (
    "person_id, email, display_name, password_hash, totp_secret, totp_pending, totp_last_step, "
    "failed_logins, locked_until_ms, created_ms, password_ms, disabled_ms"
)
_SESSION_COLUMNS = "session_id, person_id, created_ms, last_used_ms, expires_ms, user_agent"
_INVITATION_COLUMNS = (
    "invitation_id, email, display_name, team_id, invited_by, created_ms, expires_ms, used_ms, "
    "revoked_ms, person_id"
)
_ACTIVITY_COLUMNS = "activity_id, at_ms, person_id, actor, action, object_id, site_id, data"


def _activity(row: Sequence[Any]) -> ActivityRow:
    return ActivityRow(row[0], row[1], row[2], row[3], row[4], row[5], row[6], json.loads(row[7]))


class AccountsRead(Queries):
    """Accounts, teams, sessions, invitations and activity a transaction can read."""

    def person(self, person_id: str) -> PersonRow | None:
        row = self._conn.execute(
            f"SELECT {_PERSON_COLUMNS} FROM persons WHERE person_id = ?", (person_id,)
        ).fetchone()
        return None if row is None else PersonRow(*row)

    def person_by_email(self, email: str) -> PersonRow | None:
        """The account with ``email`` (compared without regard to ASCII case)."""
        row = self._conn.execute(
            f"SELECT {_PERSON_COLUMNS} FROM persons WHERE email = ?", (email,)
        ).fetchone()
        return None if row is None else PersonRow(*row)

    def persons(self) -> list[PersonRow]:
        rows = self._conn.execute(f"SELECT {_PERSON_COLUMNS} FROM persons ORDER BY display_name, person_id")
        return [PersonRow(*row) for row in rows]

    def organisation_exists(self, org_id: str) -> bool:
        return (
            self._conn.execute("SELECT 1 FROM organisations WHERE org_id = ?", (org_id,)).fetchone()
            is not None
        )

    def organisations(self) -> list[tuple[str, str]]:
        """Every organisation as ``(org_id, name)``."""
        rows = self._conn.execute("SELECT org_id, name FROM organisations ORDER BY name, org_id")
        return [(str(org_id), str(name)) for org_id, name in rows]

    def site_organisations(self) -> dict[str, str]:
        """Each site (or shop) that belongs to an organisation, with that organisation's ID."""
        rows = self._conn.execute("SELECT site_id, org_id FROM sites WHERE org_id IS NOT NULL")
        return {str(site_id): str(org_id) for site_id, org_id in rows}

    def sites_of_organisations(self, org_ids: Iterable[str]) -> frozenset[str]:
        """The sites (and shops) that belong to any of ``org_ids`` now."""
        found: set[str] = set()
        ids = sorted(set(org_ids))
        for part in chunks(ids):
            marks = ", ".join("?" * len(part))
            rows = self._conn.execute(f"SELECT site_id FROM sites WHERE org_id IN ({marks})", tuple(part))
            found.update(str(row[0]) for row in rows)
        return frozenset(found)

    def site_kinds(self, site_ids: Iterable[str]) -> dict[str, str]:
        """``{site_id: kind}`` for those of ``site_ids`` that exist (``checkin`` or ``shop``)."""
        kinds: dict[str, str] = {}
        ids = sorted(set(site_ids))
        for part in chunks(ids):
            marks = ", ".join("?" * len(part))
            rows = self._conn.execute(
                f"SELECT site_id, kind FROM sites WHERE site_id IN ({marks})", tuple(part)
            )
            kinds.update((str(site_id), str(kind)) for site_id, kind in rows)
        return kinds

    def _team(self, row: Sequence[Any]) -> TeamRow:
        ids = self._conn.execute(
            "SELECT scope_id FROM team_sites WHERE team_id = ? ORDER BY scope_id", (row[0],)
        )
        return TeamRow(row[0], row[1], tuple(json.loads(row[2])), row[3], tuple(r[0] for r in ids), row[4])

    def team(self, team_id: str) -> TeamRow | None:
        row = self._conn.execute(
            "SELECT team_id, name, permissions, scope_kind, created_ms FROM teams WHERE team_id = ?",
            (team_id,),
        ).fetchone()
        return None if row is None else self._team(row)

    def teams(self) -> list[TeamRow]:
        rows = self._conn.execute(
            "SELECT team_id, name, permissions, scope_kind, created_ms FROM teams ORDER BY name, team_id"
        ).fetchall()
        return [self._team(row) for row in rows]

    def teams_of(self, person_id: str) -> list[TeamRow]:
        """The teams ``person_id`` is a member of."""
        rows = self._conn.execute(
            "SELECT t.team_id, t.name, t.permissions, t.scope_kind, t.created_ms FROM teams t "
            "JOIN team_members m ON m.team_id = t.team_id WHERE m.person_id = ? ORDER BY t.name, t.team_id",
            (person_id,),
        ).fetchall()
        return [self._team(row) for row in rows]

    def team_members(self, team_id: str) -> list[str]:
        """The person IDs of ``team_id``'s members, oldest membership first."""
        rows = self._conn.execute(
            "SELECT person_id FROM team_members WHERE team_id = ? ORDER BY added_ms, person_id", (team_id,)
        )
        return [str(row[0]) for row in rows]

    def console_session(self, session_sha256: str) -> ConsoleSessionRow | None:
        row = self._conn.execute(
            f"SELECT {_SESSION_COLUMNS} FROM console_sessions WHERE session_sha256 = ?", (session_sha256,)
        ).fetchone()
        return None if row is None else ConsoleSessionRow(*row)

    def console_sessions_of(self, person_id: str) -> list[ConsoleSessionRow]:
        rows = self._conn.execute(
            f"SELECT {_SESSION_COLUMNS} FROM console_sessions WHERE person_id = ? ORDER BY created_ms, rowid",
            (person_id,),
        )
        return [ConsoleSessionRow(*row) for row in rows]

    def device_keys_of(self, person_id: str) -> list[tuple[str, str, int]]:
        """``person_id``'s device keys: ``(coordinator_id, status, created_ms)``."""
        rows = self._conn.execute(
            "SELECT coordinator_id, status, created_ms FROM coordinators WHERE person_id = ? "
            "ORDER BY created_ms, coordinator_id",
            (person_id,),
        )
        return [(str(cid), str(status), int(created)) for cid, status, created in rows]

    def invitation(self, token_sha256: str) -> InvitationRow | None:
        row = self._conn.execute(
            f"SELECT {_INVITATION_COLUMNS} FROM invitations WHERE token_sha256 = ?", (token_sha256,)
        ).fetchone()
        return None if row is None else InvitationRow(*row)

    def invitations(self) -> list[InvitationRow]:
        rows = self._conn.execute(f"SELECT {_INVITATION_COLUMNS} FROM invitations ORDER BY created_ms DESC")
        return [InvitationRow(*row) for row in rows]

    def activity(
        self,
        *,
        person_id: str | None = None,
        action: str | None = None,
        site_ids: Iterable[str] | None = None,
        from_ms: int | None = None,
        to_ms: int | None = None,
        limit: int = 500,
    ) -> list[ActivityRow]:
        """Recorded actions, newest first, filtered; ``site_ids`` keeps the rows of those sites only."""
        where: list[str] = []
        params: list[Any] = []
        if person_id is not None:
            where.append("person_id = ?")
            params.append(person_id)
        if action is not None:
            where.append("action = ?")
            params.append(action)
        if site_ids is not None:
            ids = sorted(set(site_ids))[:500]
            where.append(f"site_id IN ({', '.join('?' * len(ids))})" if ids else "1 = 0")
            params.extend(ids)
        if from_ms is not None:
            where.append("at_ms >= ?")
            params.append(from_ms)
        if to_ms is not None:
            where.append("at_ms < ?")
            params.append(to_ms)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._conn.execute(
            f"SELECT {_ACTIVITY_COLUMNS} FROM activity {clause} "
            "ORDER BY at_ms DESC, activity_id DESC LIMIT ?",
            (*params, limit),
        )
        return [_activity(row) for row in rows]


class AccountsWrite(AccountsRead):
    """An :class:`AccountsRead` that also keeps accounts, teams, sessions, invitations and activity."""

    def insert_organisation(self, org_id: str, name: str, created_ms: int) -> None:
        self._conn.execute(
            "INSERT INTO organisations (org_id, name, created_ms) VALUES (?, ?, ?)",
            (org_id, name, created_ms),
        )

    def set_site_organisation(self, site_id: str, org_id: str | None) -> None:
        self._conn.execute("UPDATE sites SET org_id = ? WHERE site_id = ?", (org_id, site_id))

    def insert_person(self, person: PersonRow) -> None:
        self._conn.execute(
            f"INSERT INTO persons ({_PERSON_COLUMNS}) VALUES ({', '.join('?' * 12)})",
            (
                person.person_id,
                person.email,
                person.display_name,
                person.password_hash,
                person.totp_secret,
                person.totp_pending,
                person.totp_last_step,
                person.failed_logins,
                person.locked_until_ms,
                person.created_ms,
                person.password_ms,
                person.disabled_ms,
            ),
        )

    def set_person_disabled(self, person_id: str, disabled_ms: int | None) -> None:
        self._conn.execute("UPDATE persons SET disabled_ms = ? WHERE person_id = ?", (disabled_ms, person_id))

    def set_password_hash(self, person_id: str, password_hash: str, now_ms: int) -> None:
        self._conn.execute(
            "UPDATE persons SET password_hash = ?, password_ms = ? WHERE person_id = ?",
            (password_hash, now_ms, person_id),
        )

    def set_totp(self, person_id: str, secret: str | None, pending: str | None) -> None:
        """Set the confirmed TOTP secret and the one being enrolled (either may be ``None``)."""
        self._conn.execute(
            "UPDATE persons SET totp_secret = ?, totp_pending = ? WHERE person_id = ?",
            (secret, pending, person_id),
        )

    def set_totp_pending(self, person_id: str, pending: str | None) -> None:
        self._conn.execute("UPDATE persons SET totp_pending = ? WHERE person_id = ?", (pending, person_id))

    def use_totp_step(self, person_id: str, step: int) -> bool:
        """Record ``step`` as used if it is later than the last one; whether it was (a code counts once)."""
        cursor = self._conn.execute(
            "UPDATE persons SET totp_last_step = ? WHERE person_id = ? "
            "AND (totp_last_step IS NULL OR totp_last_step < ?)",
            (step, person_id, step),
        )
        return cursor.rowcount > 0

    def set_login_failures(self, person_id: str, failed_logins: int, locked_until_ms: int | None) -> None:
        self._conn.execute(
            "UPDATE persons SET failed_logins = ?, locked_until_ms = ? WHERE person_id = ?",
            (failed_logins, locked_until_ms, person_id),
        )

    def insert_team(self, team: TeamRow) -> None:
        self._conn.execute(
            "INSERT INTO teams (team_id, name, permissions, scope_kind, created_ms) VALUES (?, ?, ?, ?, ?)",
            (team.team_id, team.name, json.dumps(sorted(team.permissions)), team.scope_kind, team.created_ms),
        )
        self._conn.executemany(
            "INSERT INTO team_sites (team_id, scope_id) VALUES (?, ?)",
            [(team.team_id, scope_id) for scope_id in sorted(set(team.scope_ids))],
        )

    def insert_member(self, team_id: str, person_id: str, added_ms: int) -> bool:
        """Add ``person_id`` to ``team_id``; whether they were not a member yet."""
        cursor = self._conn.execute(
            "INSERT OR IGNORE INTO team_members (team_id, person_id, added_ms) VALUES (?, ?, ?)",
            (team_id, person_id, added_ms),
        )
        return cursor.rowcount > 0

    def delete_member(self, team_id: str, person_id: str) -> bool:
        cursor = self._conn.execute(
            "DELETE FROM team_members WHERE team_id = ? AND person_id = ?", (team_id, person_id)
        )
        return cursor.rowcount > 0

    def insert_console_session(self, session_sha256: str, session: ConsoleSessionRow) -> None:
        self._conn.execute(
            "INSERT INTO console_sessions (session_sha256, session_id, person_id, created_ms, last_used_ms, "
            "expires_ms, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                session_sha256,
                session.session_id,
                session.person_id,
                session.created_ms,
                session.last_used_ms,
                session.expires_ms,
                session.user_agent,
            ),
        )

    def touch_console_session(self, session_sha256: str, last_used_ms: int) -> None:
        self._conn.execute(
            "UPDATE console_sessions SET last_used_ms = ? WHERE session_sha256 = ?",
            (last_used_ms, session_sha256),
        )

    def delete_console_session(self, session_sha256: str) -> None:
        self._conn.execute("DELETE FROM console_sessions WHERE session_sha256 = ?", (session_sha256,))

    def delete_console_session_by_id(self, person_id: str, session_id: str) -> bool:
        """End ``person_id``'s session ``session_id``; whether it was theirs and live."""
        cursor = self._conn.execute(
            "DELETE FROM console_sessions WHERE person_id = ? AND session_id = ?", (person_id, session_id)
        )
        return cursor.rowcount > 0

    def delete_console_sessions_of(self, person_id: str, *, keep: str | None = None) -> int:
        """End every session of ``person_id`` but the one whose hash is ``keep``; how many ended."""
        cursor = self._conn.execute(
            "DELETE FROM console_sessions WHERE person_id = ? AND session_sha256 IS NOT ?", (person_id, keep)
        )
        return cursor.rowcount

    def delete_expired_console_sessions(self, now_ms: int, idle_ms: int) -> None:
        self._conn.execute(
            "DELETE FROM console_sessions WHERE expires_ms <= ? OR last_used_ms + ? <= ?",
            (now_ms, idle_ms, now_ms),
        )

    def insert_invitation(self, token_sha256: str, invitation: InvitationRow) -> None:
        self._conn.execute(
            f"INSERT INTO invitations (token_sha256, {_INVITATION_COLUMNS}) VALUES ({', '.join('?' * 11)})",
            (
                token_sha256,
                invitation.invitation_id,
                invitation.email,
                invitation.display_name,
                invitation.team_id,
                invitation.invited_by,
                invitation.created_ms,
                invitation.expires_ms,
                invitation.used_ms,
                invitation.revoked_ms,
                invitation.person_id,
            ),
        )

    def use_invitation(self, token_sha256: str, person_id: str, used_ms: int) -> bool:
        """Spend the invitation; whether it was still open (single use, even under a race)."""
        cursor = self._conn.execute(
            "UPDATE invitations SET used_ms = ?, person_id = ? "
            "WHERE token_sha256 = ? AND used_ms IS NULL AND revoked_ms IS NULL AND expires_ms > ?",
            (used_ms, person_id, token_sha256, used_ms),
        )
        return cursor.rowcount > 0

    def revoke_invitation(self, invitation_id: str, revoked_ms: int) -> bool:
        cursor = self._conn.execute(
            "UPDATE invitations SET revoked_ms = ? WHERE invitation_id = ? AND used_ms IS NULL "
            "AND revoked_ms IS NULL",
            (revoked_ms, invitation_id),
        )
        return cursor.rowcount > 0

    def insert_activity(
        self,
        at_ms: int,
        person_id: str | None,
        actor: str,
        action: str,
        object_id: str,
        site_id: str | None,
        data: dict[str, Any],
    ) -> None:
        self._conn.execute(
            "INSERT INTO activity (at_ms, person_id, actor, action, object_id, site_id, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (at_ms, person_id, actor, action, object_id, site_id, json.dumps(data, sort_keys=True)),
        )
