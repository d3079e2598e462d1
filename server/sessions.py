"""A volunteer's access secret and the sessions it opens: how a person proves themselves on the web.

At a kiosk a volunteer taps the card; on the web they present their **access
secret**: 32 random bytes, base64url (43 characters), made when a coordinator
registers them, printed once on the card's issuing sheet as a link
``https://<server>/ich#k=<secret>`` and a QR code, and stored only as its
SHA-256.  The secret travels in the URL's fragment, which browsers never send,
so it is in no access log, Referer or server URL history; the page posts it to
``POST /v1/me/session`` and gets a **session** cookie instead.

Rules (docs/protocol.md, "Volunteers on the web"):

* A wrong secret is a guess (:data:`server.ratelimit.ACCESS_SECRETS`): per
  client and for all clients together, then ``429 rate_limited``.
* A session ends after :data:`IDLE_MS` without use, :data:`LIFETIME_MS` after it
  opened whatever its use, at logout, and when the secret is re-issued or revoked
  (a coordinator does that when the sheet is lost: a session the finder opened
  must end too).  At most :data:`MAX_SESSIONS` live sessions per volunteer; a new
  one ends the oldest.
* Sessions are stored as SHA-256 of the cookie's value; "last used" is written
  at most once per :data:`TOUCH_MS`, so a page's reads do not each write.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from protocol import Reason
from server.context import ServerContext
from server.errors import ServiceError
from server.inputs import require_str
from server.ratelimit import Attempt
from server.storage import Tx
from server.storage.access import SessionRow

SECRET_BYTES: Final = 32
HOUR_MS: Final = 3_600_000
IDLE_MS: Final = 12 * HOUR_MS
LIFETIME_MS: Final = 30 * 24 * HOUR_MS
TOUCH_MS: Final = 60_000
MAX_SESSIONS: Final = 20
MAX_SECRET_CHARS: Final = 200  # a real one has 43; longer is no secret of ours, but still a guess
SESSION_FIELDS: Final = frozenset({"secret"})


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def new_secret() -> str:
    """A fresh access secret: 32 random bytes, base64url without padding (43 characters)."""
    return secrets.token_urlsafe(SECRET_BYTES)


def issue_secret(tx: Tx, volunteer_id: str, now_ms: int) -> str:
    """Give ``volunteer_id`` a new access secret in ``tx`` and return it; the old one and all sessions end."""
    secret = new_secret()
    tx.set_access_secret(volunteer_id, _sha256(secret), now_ms)
    tx.delete_sessions_of(volunteer_id)
    return secret


def _known_volunteer(tx: Tx, volunteer_id: str) -> None:
    if not tx.volunteer_exists(volunteer_id):
        raise ServiceError(Reason.UNKNOWN_VOLUNTEER, "no such volunteer")


def reissue_secret(ctx: ServerContext, volunteer_id: str) -> dict[str, Any]:
    """A coordinator's re-issue: ``{"volunteer_id","access_secret","issued_ms"}``, shown once."""
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        _known_volunteer(tx, volunteer_id)
        secret = issue_secret(tx, volunteer_id, now)
    return {"volunteer_id": volunteer_id, "access_secret": secret, "issued_ms": now}


def revoke_secret(ctx: ServerContext, volunteer_id: str) -> dict[str, Any]:
    """A coordinator's revoke: no secret works for ``volunteer_id`` until a re-issue; sessions end."""
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        _known_volunteer(tx, volunteer_id)
        tx.revoke_access_secret(volunteer_id, now)
        ended = tx.delete_sessions_of(volunteer_id)
        access = tx.access_of(volunteer_id)
    revoked = None if access is None else access.revoked_ms
    return {"volunteer_id": volunteer_id, "revoked_ms": revoked, "sessions_ended": ended}


def open_session(ctx: ServerContext, request: Mapping[str, Any], *, attempt: Attempt) -> str:
    """Exchange ``{"secret"}`` for a new session; return the cookie's value (shown once, stored hashed).

    ``401 access_secret_invalid`` for a wrong or revoked secret, after counting it
    as a guess; ``429 rate_limited`` while this client or all clients are locked
    out (even for the right secret: the answer must not say which it was).
    """
    secret = require_str(request, "secret", max_len=MAX_SECRET_CHARS)
    attempt.begin()
    now = ctx.now_ms()
    token = secrets.token_urlsafe(32)
    with ctx.storage.write() as tx:
        volunteer_id = tx.volunteer_by_secret(_sha256(secret))
        if volunteer_id is not None:
            tx.delete_expired_sessions(now, IDLE_MS)
            tx.insert_session(_sha256(token), SessionRow(volunteer_id, now, now, now + LIFETIME_MS))
            tx.delete_oldest_sessions(volunteer_id, MAX_SESSIONS)
    if volunteer_id is None:
        raise ServiceError(Reason.ACCESS_SECRET_INVALID, "wrong or revoked access secret")
    attempt.succeeded()
    return token


@dataclass(frozen=True, slots=True)
class Holder:
    """A request proved by a live session: the volunteer it belongs to."""

    volunteer_id: str


def session_holder(ctx: ServerContext, cookie: str | None) -> Holder | None:
    """The volunteer whose live session ``cookie`` is, or ``None`` (no cookie, unknown, ended).

    Not a guess: a session value is 256 random bits, and an ended one is what
    every returning browser presents, so counting it would lock people out.
    """
    if not cookie or len(cookie) > MAX_SECRET_CHARS:
        return None
    digest = _sha256(cookie)
    now = ctx.now_ms()
    with ctx.storage.read() as tx:
        session = tx.session(digest)
    if session is None:
        return None
    if now >= session.expires_ms or now >= session.last_used_ms + IDLE_MS:
        with ctx.storage.write() as wtx:
            wtx.delete_session(digest)
        return None
    if now - session.last_used_ms >= TOUCH_MS:
        with ctx.storage.write() as wtx:
            wtx.touch_session(digest, now)
    return Holder(session.volunteer_id)


def close_session(ctx: ServerContext, cookie: str | None) -> None:
    """Logout: the session ``cookie`` names ends (nothing happens for an unknown one)."""
    if cookie:
        with ctx.storage.write() as tx:
            tx.delete_session(_sha256(cookie))
