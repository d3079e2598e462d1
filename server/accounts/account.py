"""What a person does with their own account: change the password, enrol a new TOTP secret.

A password change ends every other session of the person (one left open on a
lost laptop must not survive it).  A new TOTP secret is kept as *pending* until
a code from it is confirmed, so a mistyped enrolment never locks anyone out.
"""

from __future__ import annotations

from protocol import Reason
from server.accounts.persons import (
    _matching_step,
    _verify,
    check_password_rules,
    get_person,
    hash_password,
    new_totp_secret,
)
from server.accounts.sessions import session_hash
from server.context import ServerContext
from server.errors import ServiceError
from server.ratelimit import Attempt


def change_password(
    ctx: ServerContext, person_id: str, old: str, new: str, *, keep_cookie: str | None, attempt: Attempt
) -> int:
    """Set ``new`` if ``old`` is right (a guess otherwise); end the other sessions; how many ended."""
    check_password_rules(new)
    attempt.begin()
    with ctx.storage.read() as rtx:
        person = get_person(rtx, person_id)
    if not _verify(person.password_hash, old):
        raise ServiceError(Reason.LOGIN_FAILED, "the current password is wrong")
    attempt.succeeded()
    new_hash = hash_password(new)
    keep = session_hash(keep_cookie) if keep_cookie else None
    with ctx.storage.write() as tx:
        tx.set_password_hash(person_id, new_hash, ctx.now_ms())
        return tx.delete_console_sessions_of(person_id, keep=keep)


def begin_totp(ctx: ServerContext, person_id: str) -> str:
    """A new pending TOTP secret for ``person_id`` (the old one keeps working until confirmed)."""
    secret = new_totp_secret()
    with ctx.storage.write() as tx:
        get_person(tx, person_id)
        tx.set_totp_pending(person_id, secret)
    return secret


def pending_totp(ctx: ServerContext, person_id: str) -> str | None:
    with ctx.storage.read() as tx:
        return get_person(tx, person_id).totp_pending


def confirm_totp(ctx: ServerContext, person_id: str, code: str, password: str, *, attempt: Attempt) -> None:
    """Make the pending secret the person's if ``code`` is its current code, else ``401 totp_invalid``.

    The password is asked again (a guess when wrong, ``401 login_failed``): a
    session left open on a shared computer must not be enough to move the
    second factor to someone else's phone.
    """
    attempt.begin()
    with ctx.storage.read() as rtx:
        person = get_person(rtx, person_id)
    if not _verify(person.password_hash, password):
        raise ServiceError(Reason.LOGIN_FAILED, "the current password is wrong")
    attempt.succeeded()
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        person = get_person(tx, person_id)
        pending = person.totp_pending
        step = None if pending is None else _matching_step(pending, code, now)
        if step is not None:
            tx.set_totp(person_id, pending, None)
            tx.set_login_failures(person_id, 0, None)
    if step is None:
        raise ServiceError(Reason.TOTP_INVALID, "wrong code: the new secret is not active")
    with ctx.storage.write() as tx:
        tx.use_totp_step(person_id, step)
