"""People's console accounts: persons, teams, console sessions, invitations and the activity log.

Coordinators, shop owners and auditors log in to the web console with an
e-mail address, a password (argon2id) and a TOTP code, and act through their
teams (members × scope × permissions, :mod:`server.accounts.teams`).  A live
console session becomes a :class:`~server.principals.Principal` like a bearer
token does (:func:`console_principal`), so the routes' ``require(...)``
declarations hold for both.

Modules: :mod:`~server.accounts.persons` (accounts, passwords, TOTP),
:mod:`~server.accounts.teams` (teams, grants, separation of duties, no
escalation), :mod:`~server.accounts.sessions` (the ``kk_console`` cookie),
:mod:`~server.accounts.activity` (who did what), :mod:`~server.accounts.settings`.
Every refusal is a :class:`server.errors.ServiceError` with a reason code.
"""

from server.accounts.activity import list_activity, record_activity, record_activity_in
from server.accounts.persons import (
    add_person,
    check_password,
    check_totp,
    new_totp_secret,
    provisioning_uri,
    set_totp_secret,
)
from server.accounts.sessions import (
    close_console_session,
    console_principal,
    end_other_sessions,
    end_session,
    open_console_session,
    sessions_of,
)
from server.accounts.teams import (
    TeamScope,
    add_member,
    add_organisation,
    add_team,
    remove_member,
    set_site_organisation,
)

__all__ = [
    "TeamScope",
    "add_member",
    "add_organisation",
    "add_person",
    "add_team",
    "check_password",
    "check_totp",
    "close_console_session",
    "console_principal",
    "end_other_sessions",
    "end_session",
    "list_activity",
    "new_totp_secret",
    "open_console_session",
    "provisioning_uri",
    "record_activity",
    "record_activity_in",
    "remove_member",
    "sessions_of",
    "set_site_organisation",
    "set_totp_secret",
]
