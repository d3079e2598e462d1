"""Console sessions: the ``kk_console`` cookie a person gets after both login steps.

* The cookie's value is 256 random bits; the server stores its SHA-256 only.
* A session ends ``console_idle_minutes`` (3 h) after its last use,
  ``console_lifetime_minutes`` (12 h) after login whatever its use, at logout,
  when its person ends it from their account page, and (all others) when the
  person changes their password.
* "Last used" is written at most once per :data:`TOUCH_MS`, so a page's
  requests do not each write.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Final

from server.accounts.settings import account_settings
from server.accounts.teams import principal_of_person
from server.context import ServerContext
from server.principals import Principal
from server.storage.accounts import ConsoleSessionRow

TOUCH_MS: Final = 60_000
MAX_COOKIE_CHARS: Final = 200
MAX_USER_AGENT: Final = 200


def session_hash(cookie: str) -> str:
    return hashlib.sha256(cookie.encode("utf-8")).hexdigest()


def open_console_session(ctx: ServerContext, person_id: str, *, user_agent: str = "") -> str:
    """A new session for ``person_id`` (after both login steps); the cookie's value, shown once."""
    cookie = secrets.token_urlsafe(32)
    now = ctx.now_ms()
    agent = "".join(char for char in user_agent[:MAX_USER_AGENT] if char.isprintable())
    with ctx.storage.write() as tx:
        settings = account_settings(tx)
        tx.delete_expired_console_sessions(now, settings.idle_ms)
        tx.insert_console_session(
            session_hash(cookie),
            ConsoleSessionRow(
                "cs_" + secrets.token_hex(8), person_id, now, now, now + settings.lifetime_ms, agent
            ),
        )
    return cookie


def live_session(ctx: ServerContext, cookie: str | None) -> ConsoleSessionRow | None:
    """The live session ``cookie`` names (touching its idle timer), or ``None``; an ended one is deleted."""
    if not cookie or len(cookie) > MAX_COOKIE_CHARS:
        return None
    digest = session_hash(cookie)
    now = ctx.now_ms()
    with ctx.storage.read() as tx:
        session = tx.console_session(digest)
        settings = account_settings(tx)
    if session is None:
        return None
    if now >= session.expires_ms or now >= session.last_used_ms + settings.idle_ms:
        with ctx.storage.write() as wtx:
            wtx.delete_console_session(digest)
        return None
    if now - session.last_used_ms >= TOUCH_MS:
        with ctx.storage.write() as wtx:
            wtx.touch_console_session(digest, now)
    return session


def console_principal(ctx: ServerContext, cookie: str | None) -> Principal | None:
    """The principal of the live session ``cookie`` names, or ``None`` (none, unknown, ended, disabled).

    Its grants are read now: a team change, or a site moved into an
    organisation, applies to the next request.
    """
    session = live_session(ctx, cookie)
    if session is None:
        return None
    with ctx.storage.read() as tx:
        person = tx.person(session.person_id)
        if person is None or person.disabled_ms is not None:
            return None
        return principal_of_person(tx, person.person_id, person.display_name)


def close_console_session(ctx: ServerContext, cookie: str | None) -> None:
    """Logout: the session ``cookie`` names ends (nothing happens for an unknown one)."""
    if cookie and len(cookie) <= MAX_COOKIE_CHARS:
        with ctx.storage.write() as tx:
            tx.delete_console_session(session_hash(cookie))


def sessions_of(ctx: ServerContext, person_id: str) -> list[ConsoleSessionRow]:
    """``person_id``'s live sessions, oldest first (ended ones are swept first)."""
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        tx.delete_expired_console_sessions(now, account_settings(tx).idle_ms)
        return tx.console_sessions_of(person_id)


def end_session(ctx: ServerContext, person_id: str, session_id: str) -> bool:
    """End ``person_id``'s own session ``session_id``; whether it was theirs (another's is not touched)."""
    with ctx.storage.write() as tx:
        return tx.delete_console_session_by_id(person_id, session_id)


def end_other_sessions(ctx: ServerContext, person_id: str, cookie: str | None) -> int:
    """End all of ``person_id``'s sessions but the one ``cookie`` names; how many ended."""
    keep = session_hash(cookie) if cookie else None
    with ctx.storage.write() as tx:
        return tx.delete_console_sessions_of(person_id, keep=keep)
