"""The settings a person changes on ``/console/settings`` (``manage_teams``), so nobody needs ``sqlite3``.

Each is a row of the ledger's ``settings`` table that its owner reads on every
use (:mod:`server.accounts.settings`, :mod:`server.foureyes`,
:mod:`server.eligibility`), so a change applies to the next login or decision
without a restart.  This module only knows the bounds and the rules between
settings: a whole number within :class:`Setting`'s ``low``–``high``, the idle
timeout at most the session's lifetime, and the Ehrenamtskarte thresholds as
:class:`server.eligibility.Thresholds` checks them (the same rule as
``kokreativ server eligibility``).  A change is written in one transaction
together with one activity entry (``settings.change``) per changed setting, so
the log never misses a change nor lists one that did not happen.

Example::

    changed = set_settings(ctx, principal, {"four_eyes_minutes": "240"})
    [(s.key, s.value) for s in list_settings(ctx)]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from protocol import Reason
from server.accounts import record_activity_in
from server.accounts import settings as account
from server.context import ServerContext
from server.eligibility import LIMITS, Thresholds, read_thresholds, write_thresholds
from server.errors import InputError
from server.foureyes import DEFAULT_FOUR_EYES_MINUTES, FOUR_EYES_SETTING, threshold_minutes
from server.http.access import Principal
from server.schema import ELIGIBILITY_DEFAULTS
from server.storage import ReadTx

ACTION: Final = "settings.change"
MAX_DIGITS: Final = 9  # more is a typing error, and stays far from SQLite's and Python's limits


@dataclass(frozen=True, slots=True)
class Bounds:
    """A setting's allowed whole numbers (inclusive) and its default."""

    low: int
    high: int
    default: int


ELIGIBILITY_PREFIX: Final = "eligibility_"
BOUNDS: Final[Mapping[str, Bounds]] = {
    account.IDLE_SETTING: Bounds(5, 1440, account.DEFAULTS[account.IDLE_SETTING]),
    account.LIFETIME_SETTING: Bounds(15, 10_080, account.DEFAULTS[account.LIFETIME_SETTING]),
    account.LOCKOUT_FAILURES_SETTING: Bounds(3, 100, account.DEFAULTS[account.LOCKOUT_FAILURES_SETTING]),
    account.LOCKOUT_SETTING: Bounds(1, 1440, account.DEFAULTS[account.LOCKOUT_SETTING]),
    account.INVITATION_SETTING: Bounds(1, 720, account.DEFAULTS[account.INVITATION_SETTING]),
    FOUR_EYES_SETTING: Bounds(0, 10_080, DEFAULT_FOUR_EYES_MINUTES),  # 0: every decision needs two
    **{
        key: Bounds(*LIMITS[key.removeprefix(ELIGIBILITY_PREFIX)], int(default))
        for key, default in ELIGIBILITY_DEFAULTS.items()
    },
}
KEYS: Final = tuple(BOUNDS)


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting as the page shows it: the value in force and what it may become."""

    key: str
    value: int
    low: int
    high: int
    default: int


def _current(tx: ReadTx) -> dict[str, int]:
    """The values in force, as their owners read them (a missing or broken row: what they use instead)."""
    figures = account.account_settings(tx)
    values = {
        account.IDLE_SETTING: figures.idle_ms // account.MINUTE_MS,
        account.LIFETIME_SETTING: figures.lifetime_ms // account.MINUTE_MS,
        account.LOCKOUT_FAILURES_SETTING: figures.lockout_failures,
        account.LOCKOUT_SETTING: figures.lockout_ms // account.MINUTE_MS,
        account.INVITATION_SETTING: figures.invitation_ms // (60 * account.MINUTE_MS),
        FOUR_EYES_SETTING: threshold_minutes(tx),
    }
    try:
        thresholds = read_thresholds(tx)
    except ValueError:  # a row broken by hand (sqlite3): show the defaults, so the page can repair it
        thresholds = Thresholds()
    for key in ELIGIBILITY_DEFAULTS:
        values[key] = getattr(thresholds, key.removeprefix(ELIGIBILITY_PREFIX))
    return values


def list_settings(ctx: ServerContext) -> list[Setting]:
    """Every setting of the page with its value in force and its bounds, in the page's order."""
    with ctx.storage.read() as tx:
        values = _current(tx)
    return [Setting(key, values[key], b.low, b.high, b.default) for key, b in BOUNDS.items()]


def _whole_number(key: str, text: str) -> int:
    """``text`` as a whole number within ``key``'s bounds, else a 400 ``bad_field`` naming them."""
    bounds = BOUNDS[key]
    text = text.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_DIGITS):
        raise InputError(Reason.BAD_FIELD, f"{key} is a whole number from {bounds.low} to {bounds.high}")
    number = int(text)
    if not bounds.low <= number <= bounds.high:
        raise InputError(Reason.BAD_FIELD, f"{key} is a whole number from {bounds.low} to {bounds.high}")
    return number


def set_settings(
    ctx: ServerContext, principal: Principal | None, changes: Mapping[str, str]
) -> dict[str, int]:
    """Check ``changes`` (setting → the form's text), store those that differ; return them, new values.

    All or nothing: one bad value refuses the whole form (400 ``bad_field``),
    so a page never stores half of what a person saw.  An unknown key is
    refused too (a form of another version, or a forged one).  ``principal``
    ``None`` is the operator (CLI, tests).
    """
    unknown = sorted(set(changes) - set(BOUNDS))
    if unknown:
        raise InputError(Reason.BAD_FIELD, f"unknown setting {unknown[0][:64]!r}")
    wanted = {key: _whole_number(key, text) for key, text in changes.items()}
    with ctx.storage.write() as tx:
        old = _current(tx)
        new = {**old, **wanted}
        if new[account.IDLE_SETTING] > new[account.LIFETIME_SETTING]:
            raise InputError(
                Reason.BAD_FIELD,
                f"{account.IDLE_SETTING} must not exceed {account.LIFETIME_SETTING}",
            )
        changed = {key: value for key, value in wanted.items() if value != old[key]}
        if any(key in ELIGIBILITY_DEFAULTS for key in changed):
            thresholds = Thresholds(
                **{key.removeprefix(ELIGIBILITY_PREFIX): new[key] for key in ELIGIBILITY_DEFAULTS}
            )  # the rule between them (one way to qualify at least), as the CLI checks it
            write_thresholds(tx, thresholds)
        for key, value in changed.items():
            if key not in ELIGIBILITY_DEFAULTS:
                tx.set_setting(key, str(value))
            record_activity_in(tx, ctx.now_ms(), principal, ACTION, key, data={"old": old[key], "new": value})
    return changed
