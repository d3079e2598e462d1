"""The accounts' tunable figures, each a ledger setting with a default (``kokreativ server`` sets them).

Read once per use from the ``settings`` table, so an operator's change applies
to the next login or request without a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from server.storage import ReadTx

MINUTE_MS: Final = 60_000

IDLE_SETTING: Final = "console_idle_minutes"
LIFETIME_SETTING: Final = "console_lifetime_minutes"
LOCKOUT_FAILURES_SETTING: Final = "login_lockout_failures"
LOCKOUT_SETTING: Final = "login_lockout_minutes"
INVITATION_SETTING: Final = "invitation_valid_hours"

DEFAULTS: Final = {
    IDLE_SETTING: 180,  # 3 h without a request ends a console session
    LIFETIME_SETTING: 720,  # 12 h after login it ends whatever its use
    LOCKOUT_FAILURES_SETTING: 10,  # failed passwords or codes in a row lock the account ...
    LOCKOUT_SETTING: 15,  # ... for this many minutes
    INVITATION_SETTING: 72,  # an invitation link works this long
}


@dataclass(frozen=True, slots=True)
class AccountSettings:
    """The figures in force: timeouts in ms, the lockout's threshold and length, invitations' life."""

    idle_ms: int
    lifetime_ms: int
    lockout_failures: int
    lockout_ms: int
    invitation_ms: int


def _int(tx: ReadTx, key: str) -> int:
    value = tx.get_setting(key)
    try:
        number = int(value) if value is not None else DEFAULTS[key]
    except ValueError:
        number = DEFAULTS[key]
    return max(1, number)  # fail safe: a zero or negative setting would end sessions or never lock


def account_settings(tx: ReadTx) -> AccountSettings:
    """The settings in ``tx``, defaults where none is set (or one is not a positive integer)."""
    return AccountSettings(
        idle_ms=_int(tx, IDLE_SETTING) * MINUTE_MS,
        lifetime_ms=_int(tx, LIFETIME_SETTING) * MINUTE_MS,
        lockout_failures=_int(tx, LOCKOUT_FAILURES_SETTING),
        lockout_ms=_int(tx, LOCKOUT_SETTING) * MINUTE_MS,
        invitation_ms=_int(tx, INVITATION_SETTING) * 60 * MINUTE_MS,
    )
