"""A shop's till staff: who may redeem at its tills, with a PIN and a daily maximum (issue 19).

A shop's owner (``run_shop`` for that shop) adds staff on the shop page: a
label the shop chooses ("Aylin"), a role (``cashier`` redeems only,
``manager`` redeems and voids at the till) and a daily maximum in tokens.  The
server makes the PIN (6 digits), shows it once and keeps only its argon2id
hash, which goes to the shop's tills in a server-signed answer
(:mod:`server.fleet`'s heartbeat) so a till checks a PIN offline.

The server enforces the rest (``docs/economy.md``, "Till staff"): once a shop
has staff, a ``redeem`` that names no active member is held ``staff_unknown``
and one beyond the member's daily maximum ``staff_over_daily_cap``.  Each
change the rules read (added, daily maximum, removed) is logged as a
``till_staff`` entry in the same transaction, never the name or the PIN hash,
so an auditor replays the same verdicts.  A new PIN changes no rule and is not
logged.  Every change is recorded on the activity page (``till.*`` actions).

A principal without ``run_shop`` for the shop, an unknown shop and a check-in
site all answer ``404 unknown_site``: a page never tells which shops exist.
"""

from __future__ import annotations

import secrets
from typing import Final

import nacl.pwhash

from protocol import Reason, ids
from protocol.economy.models import StaffRole
from protocol.events import MAX_AMOUNT
from protocol.tillstate import StaffCredential
from server import quotas, tlog
from server.accounts.activity import record_activity_in
from server.context import ServerContext
from server.errors import InputError, ServiceError
from server.inputs import refused_char
from server.principals import Permission, Principal
from server.storage import ReadTx
from server.storage.tillstaff import StaffRow

PIN_DIGITS: Final = 6
MAX_NAME: Final = 40
# What the till checks a PIN with (terminal.pin): argon2id, 16 MiB, so it fits a Pi Zero 2 W.
_PIN_OPSLIMIT: Final = 4
_PIN_MEMLIMIT: Final = 16 * 1024 * 1024


def new_pin() -> str:
    """A fresh PIN: :data:`PIN_DIGITS` random digits."""
    return f"{secrets.randbelow(10**PIN_DIGITS):0{PIN_DIGITS}d}"


def hash_pin(pin: str) -> str:
    """The ``$argon2id$…`` string a till checks ``pin`` against (``terminal.pin.verify_pin``)."""
    return nacl.pwhash.argon2id.str(
        pin.encode("ascii"), opslimit=_PIN_OPSLIMIT, memlimit=_PIN_MEMLIMIT
    ).decode("ascii")


def _unknown_shop() -> ServiceError:
    return ServiceError(Reason.UNKNOWN_SITE, "no such shop")


def require_shop(tx: ReadTx, principal: Principal | None, shop_id: str) -> None:
    """``shop_id`` is a shop ``principal`` runs (``None``: the caller checked); else ``404 unknown_site``."""
    if principal is not None and not principal.may(Permission.RUN_SHOP, shop_id):
        raise _unknown_shop()
    site = tx.get_site(shop_id)
    if site is None or site.shop is None:
        raise _unknown_shop()


def _member(tx: ReadTx, shop_id: str, staff_id: str) -> StaffRow:
    row = tx.get_staff(staff_id) if isinstance(staff_id, str) else None
    if row is None or row.site_id != shop_id or row.removed_ms is not None:
        raise ServiceError(Reason.UNKNOWN_STAFF, "no such staff member at this shop")
    return row


def _name(name: object) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_NAME:
        raise InputError(Reason.MALFORMED_REQUEST, f"the name has 1 to {MAX_NAME} characters")
    if refused_char(name) is not None:
        raise InputError(Reason.BAD_FIELD, "the name holds a character that is not shown as it is")
    return name.strip()


def _role(role: object) -> StaffRole:
    try:
        return StaffRole(str(role))
    except ValueError:
        raise InputError(Reason.BAD_FIELD, "role is cashier or manager") from None


def _daily_max(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_AMOUNT:
        raise InputError(
            Reason.MALFORMED_REQUEST, f"the daily maximum is a whole number from 1 to {MAX_AMOUNT}"
        )
    return value


def _check_add(tx: ReadTx, principal: Principal, shop_id: str) -> None:
    require_shop(tx, principal, shop_id)
    quotas.check(len(tx.staff_rows(shop_id, removed=True)), quotas.TILL_STAFF_PER_SHOP, "till staff")


def list_staff(ctx: ServerContext, shop_id: str) -> list[StaffRow]:
    """The shop's active staff, in the order they were added (the caller checked ``run_shop``)."""
    with ctx.storage.read() as tx:
        require_shop(tx, None, shop_id)
        return tx.staff_rows(shop_id)


def add_staff(
    ctx: ServerContext, principal: Principal, shop_id: str, name: str, role: str, daily_max: int
) -> tuple[StaffRow, str]:
    """A new staff member and their PIN (shown once, never stored): logged and activity-recorded."""
    label, kind, cap = _name(name), _role(role), _daily_max(daily_max)
    with ctx.storage.read() as tx:  # refuse before the slow hash: a refusal must cost the server nothing
        _check_add(tx, principal, shop_id)
    pin = new_pin()
    pin_hash = hash_pin(pin)  # slow on purpose: outside the write transaction
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        _check_add(tx, principal, shop_id)
        row = StaffRow(
            ids.new_id(ids.STAFF), shop_id, label, kind, cap, pin_hash, now, principal.name, now, None
        )
        tx.insert_staff(row)
        tlog.append(ctx, tx, [tlog.till_staff_entry(row.limits, now, version=tx.log_format())], now_ms=now)
        record_activity_in(
            tx, now, principal, "till.staff_add", row.staff_id, site_id=shop_id,
            data={"role": kind.value, "daily_max": cap},
        )  # fmt: skip
    return row, pin


def reset_pin(ctx: ServerContext, principal: Principal, shop_id: str, staff_id: str) -> str:
    """A new PIN for the member (shown once); the old one stops working once the tills sync.

    Not logged: a PIN decides nothing the server judges.
    """
    with ctx.storage.read() as tx:  # refuse before the slow hash
        require_shop(tx, principal, shop_id)
        _member(tx, shop_id, staff_id)
    pin = new_pin()
    pin_hash = hash_pin(pin)
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        require_shop(tx, principal, shop_id)
        row = _member(tx, shop_id, staff_id)
        tx.update_staff(row._replace(pin_hash=pin_hash, changed_ms=now))
        record_activity_in(tx, now, principal, "till.staff_pin", staff_id, site_id=shop_id)
    return pin


def set_daily_max(
    ctx: ServerContext, principal: Principal, shop_id: str, staff_id: str, daily_max: int
) -> StaffRow:
    """Change the member's daily maximum (from the next redemption the server judges); logged.

    The same maximum again changes nothing and appends nothing: the public log keeps
    every entry for ever, so a repeated form must not grow it.
    """
    cap = _daily_max(daily_max)
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        require_shop(tx, principal, shop_id)
        known = _member(tx, shop_id, staff_id)
        if known.daily_max == cap:
            return known
        row = known._replace(daily_max=cap, changed_ms=now)
        tx.update_staff(row)
        tlog.append(ctx, tx, [tlog.till_staff_entry(row.limits, now, version=tx.log_format())], now_ms=now)
        record_activity_in(
            tx, now, principal, "till.staff_max", staff_id, site_id=shop_id, data={"daily_max": cap}
        )
    return row


def remove_staff(ctx: ServerContext, principal: Principal, shop_id: str, staff_id: str) -> None:
    """Remove the member: their PIN stops working at the tills, and the server holds what they sell."""
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        require_shop(tx, principal, shop_id)
        row = _member(tx, shop_id, staff_id)._replace(changed_ms=now, removed_ms=now)
        tx.update_staff(row)
        entry = tlog.till_staff_entry(row.limits, now, active=False, version=tx.log_format())
        tlog.append(ctx, tx, [entry], now_ms=now)
        record_activity_in(tx, now, principal, "till.staff_remove", staff_id, site_id=shop_id)


def till_roster(tx: ReadTx, shop_id: str) -> list[StaffCredential]:
    """What a shop's till gets (in a server-signed answer): ID, role, daily maximum, PIN hash; no name."""
    return [
        StaffCredential(r.staff_id, r.role.value, r.daily_max, r.pin_hash) for r in tx.staff_rows(shop_id)
    ]
