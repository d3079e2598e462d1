"""The two steps of a console login, tied together by a short-lived signed ticket.

After the password (:func:`~server.accounts.persons.check_password`) the
browser gets a ticket: the person's ID and an expiry, HMAC-SHA256 signed with a
random key kept in the ledger's settings.  The TOTP step
(:func:`~server.accounts.persons.check_totp`) reads the person from it; only
then is a session opened.  A ticket proves the password, nothing more: it
opens no page, and it ends after :data:`TICKET_MS`, or when the password changes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

from server.context import ServerContext

TICKET_MS: Final = 5 * 60_000
KEY_SETTING: Final = "console_login_key"
MAX_TICKET: Final = 200


def _key(ctx: ServerContext) -> bytes:
    with ctx.storage.read() as tx:
        stored = tx.get_setting(KEY_SETTING)
    if stored is None:
        with ctx.storage.write() as wtx:
            stored = wtx.get_setting(KEY_SETTING)
            if stored is None:
                stored = secrets.token_hex(32)
                wtx.set_setting(KEY_SETTING, stored)
    return bytes.fromhex(stored)


def _mac(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode("ascii"), hashlib.sha256).hexdigest()


def _password_ms(ctx: ServerContext, person_id: str) -> int | None:
    with ctx.storage.read() as tx:
        person = tx.person(person_id)
    return None if person is None else person.password_ms


def issue_ticket(ctx: ServerContext, person_id: str) -> str:
    """A ticket saying ``person_id`` gave the right password just now (and which: its ``password_ms``)."""
    message = f"{person_id}.{ctx.now_ms() + TICKET_MS}.{_password_ms(ctx, person_id)}"
    return f"{message}.{_mac(_key(ctx), message)}"


def ticket_person(ctx: ServerContext, ticket: str | None) -> str | None:
    """The person a valid, unexpired ``ticket`` names, or ``None``."""
    if not ticket or len(ticket) > MAX_TICKET or not ticket.isascii():
        return None
    message, _, mac = ticket.rpartition(".")
    person_id, _, rest = message.partition(".")
    expires, _, password_ms = rest.partition(".")
    if not hmac.compare_digest(_mac(_key(ctx), message), mac):
        return None
    if not expires.isdigit() or ctx.now_ms() >= int(expires):
        return None
    # A password changed since (by its owner, who suspects someone) voids the half-done login too.
    if password_ms != str(_password_ms(ctx, person_id)):
        return None
    return person_id
