"""Disabling a person's console account (someone who left), and enabling it again.

Only a person holding ``manage_teams`` over the whole economy does this (the
teams page).  Disabling at once ends every console session of the person,
refuses their logins (``403 account_disabled`` after the right password) and
revokes their browser device keys (decisions they signed stand; the
:func:`server.console_decisions.revoke_device_key` rules).  Enabling lets them
log in again; their revoked device keys stay revoked (they register a new one).
Both are recorded on the activity page (``person.disable``, ``person.enable``).

Nobody disables themselves, nor the last active admin (a person holding
``manage_teams`` economy-wide): the economy must keep someone who can undo it.
"""

from __future__ import annotations

from protocol import Reason
from server import console_decisions
from server.accounts.activity import record_activity
from server.accounts.teams import grants_of
from server.context import ServerContext
from server.errors import ServiceError
from server.http.access import Permission, Principal
from server.storage import ReadTx


def _admin(principal: Principal) -> None:
    if not principal.may(Permission.MANAGE_TEAMS, None):
        raise ServiceError(
            Reason.FORBIDDEN, "only manage_teams over the whole economy disables accounts", status=403
        )


def is_admin(tx: ReadTx, person_id: str) -> bool:
    """Whether ``person_id`` holds ``manage_teams`` over the whole economy (through some team)."""
    return any(Permission.MANAGE_TEAMS in g.permissions and g.sites is None for g in grants_of(tx, person_id))


def disable_person(ctx: ServerContext, by: Principal, person_id: str) -> list[str]:
    """Disable ``person_id``: sessions end, logins refused; return the device keys revoked now.

    ``404 unknown_person``; ``409 disable_refused`` for oneself or the last
    active admin; idempotent for an account disabled already (nothing revoked twice).
    """
    _admin(by)
    if person_id == by.person_id:
        raise ServiceError(Reason.DISABLE_REFUSED, "nobody disables their own account")
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        person = tx.person(person_id)
        if person is None:
            raise ServiceError(Reason.UNKNOWN_PERSON, "no such person")
        if person.disabled_ms is None:
            if is_admin(tx, person_id):
                others = [
                    p.person_id
                    for p in tx.persons()
                    if p.person_id != person_id and p.disabled_ms is None and is_admin(tx, p.person_id)
                ]
                if not others:
                    raise ServiceError(Reason.DISABLE_REFUSED, "this is the last active admin")
            tx.set_person_disabled(person_id, now)
        tx.delete_console_sessions_of(person_id)
        keys = [key_id for key_id, status, _ in tx.device_keys_of(person_id) if status == "active"]
    for key_id in keys:  # each its own write and log entry, as when revoked by hand
        console_decisions.revoke_device_key(ctx, by, key_id)
    record_activity(ctx, by, "person.disable", person_id, data={"revoked_keys": keys})
    return keys


def enable_person(ctx: ServerContext, by: Principal, person_id: str) -> None:
    """Let a disabled ``person_id`` log in again (``404 unknown_person``); idempotent."""
    _admin(by)
    with ctx.storage.write() as tx:
        if tx.person(person_id) is None:
            raise ServiceError(Reason.UNKNOWN_PERSON, "no such person")
        tx.set_person_disabled(person_id, None)
    record_activity(ctx, by, "person.enable", person_id)
