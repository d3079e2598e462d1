"""Invitations: how everyone but the first admin joins, by a single-use, expiring link.

A person holding ``manage_teams`` invites an e-mail address into one of the
teams they may grant (no escalation, :mod:`server.accounts.teams`); the link
``/console/invite/<token>`` carries 256 random bits, stored only as SHA-256,
and works once, for ``invitation_valid_hours`` (72 h).  Accepting it sets the
person's password and confirms their TOTP secret in one step, so no account
ever exists without a second factor.  A link is void once its inviter is
disabled or no longer holds what the team grants (checked again on accepting).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import pyotp

from protocol import Reason
from server import quotas
from server.accounts.persons import (
    _matching_step,
    check_password_rules,
    hash_password,
    new_person_id,
    normalise_email,
)
from server.accounts.settings import account_settings
from server.accounts.teams import check_member, get_team, principal_of_person
from server.context import ServerContext
from server.errors import InputError, ServiceError
from server.inputs import refused_char
from server.principals import Principal
from server.storage import ReadTx
from server.storage.accounts import InvitationRow, PersonRow, TeamRow


@dataclass(frozen=True, slots=True)
class Invitation:
    """A made invitation: its ID (for the list) and the link's token (shown once)."""

    invitation_id: str
    token: str
    expires_ms: int


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def invite(
    ctx: ServerContext, *, email: str, team_id: str, by: Principal | None, display_name: str = ""
) -> Invitation:
    """Invite ``email`` into ``team_id``; ``by`` must hold what the team grants (``grant_exceeds_own``)."""
    email = normalise_email(email)
    display_name = display_name.strip()
    if len(display_name) > 200 or refused_char(display_name) is not None:
        raise InputError(Reason.MALFORMED_REQUEST, "a display name has at most 200 printable characters")
    token = secrets.token_urlsafe(32)
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        team = get_team(tx, team_id)
        existing = tx.person_by_email(email)
        if existing is not None:
            raise ServiceError(
                Reason.PERSON_EXISTS, "this address has an account: add it to the team instead"
            )
        if by is not None:
            # The person is new (holds nothing yet): only the granter's side can fail.
            check_member(tx, team, "", by)
        open_ = [row for row in tx.invitations() if row.used_ms is None and row.revoked_ms is None]
        quotas.check(sum(row.expires_ms > now for row in open_), quotas.OPEN_INVITATIONS, "open invitations")
        expires = now + account_settings(tx).invitation_ms
        row = InvitationRow(
            "i_" + secrets.token_hex(8),
            email,
            display_name,
            team.team_id,
            None if by is None else by.person_id,
            now,
            expires,
            None,
            None,
            None,
        )
        tx.insert_invitation(_hash(token), row)
    return Invitation(row.invitation_id, token, expires)


def open_invitation(tx: ReadTx, token: str, now_ms: int) -> InvitationRow:
    """The open invitation ``token`` names; else ``410 invitation_invalid`` (used, revoked, expired)."""
    row = tx.invitation(_hash(token)) if 0 < len(token) <= 200 else None
    if row is None or row.used_ms is not None or row.revoked_ms is not None or now_ms >= row.expires_ms:
        raise ServiceError(Reason.INVITATION_INVALID, "this invitation link is not valid (any more)")
    return row


def show_invitation(ctx: ServerContext, token: str) -> InvitationRow:
    """The invitation behind a link, for the accept page (``410`` if it cannot be used)."""
    with ctx.storage.read() as tx:
        return open_invitation(tx, token, ctx.now_ms())


def accept_invitation(
    ctx: ServerContext, token: str, *, display_name: str, password: str, totp_secret: str, code: str
) -> str:
    """Spend the invitation: a new account with ``password`` and the confirmed ``totp_secret``; its ID.

    ``code`` must be the current code of ``totp_secret`` (the person's app shows
    it), else ``401 totp_invalid`` and nothing is made.
    """
    check_password_rules(password)
    display_name = display_name.strip()
    if not display_name or len(display_name) > 200 or refused_char(display_name) is not None:
        raise InputError(Reason.MALFORMED_REQUEST, "a display name has 1 to 200 printable characters")
    now = ctx.now_ms()
    try:
        step = _matching_step(totp_secret, code, now)
    except Exception as exc:  # a forged secret field: pyotp's base32 errors are not narrowed
        raise InputError(Reason.BAD_FIELD, "not a TOTP secret") from exc
    if step is None or len(pyotp.TOTP(totp_secret).byte_secret()) < 16:
        raise ServiceError(Reason.TOTP_INVALID, "wrong code: check the time on the phone and try again")
    password_hash = hash_password(password)
    person_id = new_person_id()
    with ctx.storage.write() as tx:
        row = open_invitation(tx, token, now)
        team = get_team(tx, row.team_id)
        if tx.person_by_email(row.email) is not None:
            raise ServiceError(Reason.PERSON_EXISTS, "this address has an account already")
        tx.insert_person(
            PersonRow(
                person_id,
                row.email,
                display_name,
                password_hash,
                totp_secret,
                None,
                step,
                0,
                None,
                now,
                now,
                None,
            )
        )
        if not tx.use_invitation(_hash(token), person_id, now):
            raise ServiceError(Reason.INVITATION_INVALID, "this invitation link is not valid (any more)")
        check_member(tx, team, person_id, None)
        _refuse_void_inviter(tx, row, team)
        tx.insert_member(team.team_id, person_id, now)
    return person_id


def _refuse_void_inviter(tx: ReadTx, row: InvitationRow, team: TeamRow) -> None:
    """``410 invitation_invalid`` if the inviter was disabled, or no longer holds what the team grants.

    A link grants what its maker may grant *now*: someone who left (or lost the
    rights) cannot hand them on by a link made the day before.
    """
    if row.invited_by is None:  # the operator's (CLI): unchecked, as when it was made
        return
    inviter = tx.person(row.invited_by)
    if inviter is None or inviter.disabled_ms is not None:
        raise ServiceError(Reason.INVITATION_INVALID, "this invitation link is not valid (any more)")
    try:
        check_member(tx, team, "", principal_of_person(tx, inviter.person_id, inviter.display_name))
    except ServiceError as exc:
        raise ServiceError(Reason.INVITATION_INVALID, "this invitation link is not valid (any more)") from exc


def revoke_invitation(ctx: ServerContext, invitation_id: str) -> bool:
    """Withdraw an open invitation; whether there was one."""
    with ctx.storage.write() as tx:
        return tx.revoke_invitation(invitation_id, ctx.now_ms())


def list_invitations(ctx: ServerContext) -> list[InvitationRow]:
    with ctx.storage.read() as tx:
        return tx.invitations()
