"""Who may read a volunteer's data: home sites, site-scoped admin tokens, access secrets and sessions.

Every secret here (a token, an access secret, a session) is stored as the hex
SHA-256 of what its holder presents; the presented value itself never is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from server.storage.base import Queries


@dataclass(frozen=True, slots=True)
class TokenRow:
    """A site-scoped (or economy-wide) admin token as stored: its name, permissions and sites."""

    name: str
    permissions: tuple[str, ...]
    sites: tuple[str, ...] | None  # None: the whole economy
    created_ms: int
    revoked_ms: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "permissions": list(self.permissions),
            "sites": None if self.sites is None else list(self.sites),
            "created_ms": self.created_ms,
            "revoked_ms": self.revoked_ms,
        }


@dataclass(frozen=True, slots=True)
class AccessRow:
    """A volunteer's access secret's metadata: when it was issued, and revoked (then no hash is kept)."""

    volunteer_id: str
    issued_ms: int
    revoked_ms: int | None


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A volunteer's session: who, since when, last used, and when it ends at the latest."""

    volunteer_id: str
    created_ms: int
    last_used_ms: int
    expires_ms: int


_TOKEN_COLUMNS = "name, permissions, sites, created_ms, revoked_ms"


def _token(row: tuple[Any, ...]) -> TokenRow:
    sites = None if row[2] is None else tuple(json.loads(row[2]))
    return TokenRow(row[0], tuple(json.loads(row[1])), sites, row[3], row[4])


class AccessRead(Queries):
    """Home sites, tokens, access secrets and sessions a transaction can read."""

    def home_site(self, volunteer_id: str) -> str | None:
        """``volunteer_id``'s home site; ``None`` for none (or no such volunteer)."""
        row = self._conn.execute(
            "SELECT home_site_id FROM volunteers WHERE volunteer_id = ?", (volunteer_id,)
        ).fetchone()
        return None if row is None else row[0]

    def token_by_hash(self, token_sha256: str) -> TokenRow | None:
        """The live (not revoked) token whose hash is ``token_sha256``."""
        row = self._conn.execute(
            f"SELECT {_TOKEN_COLUMNS} FROM admin_tokens WHERE token_sha256 = ? AND revoked_ms IS NULL",
            (token_sha256,),
        ).fetchone()
        return None if row is None else _token(row)

    def tokens(self) -> list[TokenRow]:
        rows = self._conn.execute(f"SELECT {_TOKEN_COLUMNS} FROM admin_tokens ORDER BY created_ms, rowid")
        return [_token(row) for row in rows]

    def volunteer_by_secret(self, secret_sha256: str) -> str | None:
        row = self._conn.execute(
            "SELECT volunteer_id FROM volunteer_access WHERE secret_sha256 = ?", (secret_sha256,)
        ).fetchone()
        return None if row is None else str(row[0])

    def access_of(self, volunteer_id: str) -> AccessRow | None:
        row = self._conn.execute(
            "SELECT volunteer_id, issued_ms, revoked_ms FROM volunteer_access WHERE volunteer_id = ?",
            (volunteer_id,),
        ).fetchone()
        return None if row is None else AccessRow(row[0], row[1], row[2])

    def session(self, session_sha256: str) -> SessionRow | None:
        row = self._conn.execute(
            "SELECT volunteer_id, created_ms, last_used_ms, expires_ms FROM sessions "
            "WHERE session_sha256 = ?",
            (session_sha256,),
        ).fetchone()
        return None if row is None else SessionRow(*row)

    def sessions_of(self, volunteer_id: str) -> list[SessionRow]:
        rows = self._conn.execute(
            "SELECT volunteer_id, created_ms, last_used_ms, expires_ms FROM sessions "
            "WHERE volunteer_id = ? ORDER BY created_ms, rowid",
            (volunteer_id,),
        )
        return [SessionRow(*row) for row in rows]


class AccessWrite(AccessRead):
    """An :class:`AccessRead` that also sets home sites and keeps tokens, secrets and sessions."""

    def set_home_site(self, volunteer_id: str, site_id: str | None) -> None:
        self._conn.execute(
            "UPDATE volunteers SET home_site_id = ? WHERE volunteer_id = ?", (site_id, volunteer_id)
        )

    def insert_token(
        self,
        token_sha256: str,
        name: str,
        permissions: Iterable[str],
        sites: Iterable[str] | None,
        created_ms: int,
    ) -> None:
        self._conn.execute(
            "INSERT INTO admin_tokens (token_sha256, name, permissions, sites, created_ms) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                token_sha256,
                name,
                json.dumps(sorted(permissions)),
                None if sites is None else json.dumps(sorted(sites)),
                created_ms,
            ),
        )

    def revoke_token(self, name: str, revoked_ms: int) -> bool:
        """Revoke the live token called ``name``; whether there was one."""
        cursor = self._conn.execute(
            "UPDATE admin_tokens SET revoked_ms = ? WHERE name = ? AND revoked_ms IS NULL",
            (revoked_ms, name),
        )
        return cursor.rowcount > 0

    def set_access_secret(self, volunteer_id: str, secret_sha256: str, issued_ms: int) -> None:
        """Give ``volunteer_id`` a new access secret; the one before stops working."""
        self._conn.execute(
            "INSERT INTO volunteer_access (volunteer_id, secret_sha256, issued_ms, revoked_ms) "
            "VALUES (?, ?, ?, NULL) ON CONFLICT (volunteer_id) DO UPDATE SET "
            "secret_sha256 = excluded.secret_sha256, issued_ms = excluded.issued_ms, revoked_ms = NULL",
            (volunteer_id, secret_sha256, issued_ms),
        )

    def revoke_access_secret(self, volunteer_id: str, revoked_ms: int) -> None:
        self._conn.execute(
            "UPDATE volunteer_access SET secret_sha256 = NULL, revoked_ms = ? "
            "WHERE volunteer_id = ? AND revoked_ms IS NULL",
            (revoked_ms, volunteer_id),
        )

    def insert_session(self, session_sha256: str, session: SessionRow) -> None:
        self._conn.execute(
            "INSERT INTO sessions (session_sha256, volunteer_id, created_ms, last_used_ms, expires_ms) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                session_sha256,
                session.volunteer_id,
                session.created_ms,
                session.last_used_ms,
                session.expires_ms,
            ),
        )

    def touch_session(self, session_sha256: str, last_used_ms: int) -> None:
        self._conn.execute(
            "UPDATE sessions SET last_used_ms = ? WHERE session_sha256 = ?", (last_used_ms, session_sha256)
        )

    def delete_session(self, session_sha256: str) -> None:
        self._conn.execute("DELETE FROM sessions WHERE session_sha256 = ?", (session_sha256,))

    def delete_sessions_of(self, volunteer_id: str) -> int:
        """End every session of ``volunteer_id``; how many there were."""
        cursor = self._conn.execute("DELETE FROM sessions WHERE volunteer_id = ?", (volunteer_id,))
        return cursor.rowcount

    def delete_oldest_sessions(self, volunteer_id: str, keep: int) -> None:
        """Keep only ``volunteer_id``'s ``keep`` newest sessions."""
        self._conn.execute(
            "DELETE FROM sessions WHERE volunteer_id = ? AND rowid NOT IN (SELECT rowid FROM sessions "
            "WHERE volunteer_id = ? ORDER BY created_ms DESC, rowid DESC LIMIT ?)",
            (volunteer_id, volunteer_id, keep),
        )

    def delete_expired_sessions(self, now_ms: int, idle_ms: int) -> None:
        self._conn.execute(
            "DELETE FROM sessions WHERE expires_ms <= ? OR last_used_ms + ? <= ?", (now_ms, idle_ms, now_ms)
        )
