"""Coordinator operations: sites and their card policy, enrolment codes, kiosk standing, review, report.

Cards and issuer keys are :mod:`server.cards`; the kiosk list with each kiosk's health is
:mod:`server.health`.

Every call is authorised by :func:`check_admin_token` first.  The token is
compared by hash with :func:`hmac.compare_digest`; the server never stores or
logs the token itself, so a copied database cannot be used to administer it.
It is 256 random bits (``secrets.token_urlsafe(32)`` at init), and each offered
token is an :class:`~server.ratelimit.Attempt` the guessing limits count when wrong.

Names of volunteers (and their Ehrenamtskarte numbers) enter through
:func:`server.cards.create_card` and leave only through :func:`report`; the
ledger tables hold volunteer IDs only.
"""

from __future__ import annotations

import dataclasses
import hmac
from collections.abc import Mapping
from typing import Any, Final

from protocol import Reason, ids
from server import enrolment, people, quotas, tlog
from server.context import ServerContext
from server.datadir import ADMIN_TOKEN_SETTING, admin_token_hash
from server.errors import ServiceError
from server.inputs import optional_bool, optional_int, require_bool, require_int, require_str
from server.models import Kiosk, KioskStatus, Shift, ShiftStatus, Site
from server.ratelimit import Attempt

SITE_FIELDS: Final = frozenset({"name", "tokens_per_hour", "max_shift_hours", "allow_uncredentialed"})
POLICY_FIELDS: Final = frozenset({"allow_uncredentialed"})
CODE_FIELDS: Final = frozenset({"site_id", "expires_in_s"})
DEFAULT_MAX_SHIFT_HOURS: Final = 12
MAX_TOKENS_PER_HOUR: Final = 1_000_000


def check_admin_token(ctx: ServerContext, authorization: str | None, *, attempt: Attempt) -> None:
    """Raise ``401 unauthorized`` unless ``authorization`` is ``Bearer <the admin token>``.

    A bearer token offered is a guess: ``attempt`` is begun before it is
    compared (``429 rate_limited`` while locked out, even for the right token)
    and succeeds if it matches.  No token, or another scheme, is refused
    without counting: it cannot match, so it is no guess.
    """
    scheme, _, token = (authorization or "").partition(" ")
    offers = scheme.lower() == "bearer" and bool(token.strip())
    if offers:
        attempt.begin()
    with ctx.storage.read() as tx:
        expected = tx.get_setting(ADMIN_TOKEN_SETTING)
    offered = admin_token_hash(token.strip()) if offers else ""
    # compare_digest on the hashes: constant time, and an empty offer can never match.
    if expected is None or not hmac.compare_digest(offered.encode(), expected.encode()):
        raise ServiceError(Reason.UNAUTHORIZED, "missing or wrong admin token")
    attempt.succeeded()


def create_site(ctx: ServerContext, request: Mapping[str, Any]) -> dict[str, Any]:
    site = Site(
        site_id=ids.new_id(ids.SITE),
        name=require_str(request, "name"),
        tokens_per_hour=require_int(request, "tokens_per_hour", minimum=0, maximum=MAX_TOKENS_PER_HOUR),
        max_shift_hours=optional_int(
            request, "max_shift_hours", default=DEFAULT_MAX_SHIFT_HOURS, minimum=1, maximum=7 * 24
        ),
        allow_uncredentialed=optional_bool(request, "allow_uncredentialed", default=False),
    )
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        quotas.check(tx.count_sites(), quotas.SITES, "sites and shops")
        tx.insert_site(site, now)
        tlog.append(ctx, tx, [tlog.site_entry(site, now, version=tx.log_format())], now_ms=now)
    return site.to_json()


def list_sites(ctx: ServerContext) -> dict[str, Any]:
    with ctx.storage.read() as tx:
        return {"sites": [site.to_json() for site in tx.list_sites()]}


def set_site_policy(ctx: ServerContext, site_id: str, request: Mapping[str, Any]) -> dict[str, Any]:
    """Whether the site's kiosks accept uncredentialed (``u_``) pilot cards.

    Kiosks learn it with their next trust list; the server applies it at ingest
    from now on, so taps synced later are flagged ``uncredentialed_card`` if the
    site no longer allows them (even if the kiosk accepted them under the old policy).
    """
    allow = require_bool(request, "allow_uncredentialed")
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        site = tx.get_site(site_id)
        if site is None:
            raise ServiceError(Reason.UNKNOWN_SITE, "no such site")
        if site.allow_uncredentialed != allow:  # setting the same policy again changes (and logs) nothing
            site = dataclasses.replace(site, allow_uncredentialed=allow)
            tx.set_site_policy(site_id, allow)
            tlog.append(ctx, tx, [tlog.site_entry(site, now, version=tx.log_format())], now_ms=now)
    return site.to_json()


def create_enrolment_code(ctx: ServerContext, request: Mapping[str, Any]) -> dict[str, Any]:
    site_id = require_str(request, "site_id", max_len=40)
    expires_in_s = optional_int(
        request,
        "expires_in_s",
        default=enrolment.DEFAULT_CODE_TTL_S,
        minimum=1,
        maximum=enrolment.MAX_CODE_TTL_S,
    )
    return enrolment.create_enrolment_code(ctx, site_id, expires_in_s)


def _set_status(ctx: ServerContext, kiosk_id: str, status: KioskStatus) -> Kiosk:
    """Change a kiosk's standing; a real change is logged (``kiosk_status``), a repeat is not."""
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        kiosk = tx.get_kiosk(kiosk_id)
        if kiosk is None:
            raise ServiceError(Reason.UNKNOWN_KIOSK, "no such kiosk")
        if kiosk.status is KioskStatus.REVOKED and status is not KioskStatus.REVOKED:
            raise ServiceError(Reason.KIOSK_REVOKED, "a revoked kiosk stays revoked; enrol a new one")
        if kiosk.status is not status:
            tx.set_kiosk_status(kiosk_id, status)
            tlog.append(
                ctx, tx, [tlog.kiosk_status_entry(kiosk_id, status, now, version=tx.log_format())], now_ms=now
            )
        updated = tx.get_kiosk(kiosk_id)
    assert updated is not None
    return updated


def clear_kiosk(ctx: ServerContext, kiosk_id: str) -> dict[str, Any]:
    """Lift an equivocation suspension (the evidence stays on record)."""
    return _set_status(ctx, kiosk_id, KioskStatus.ACTIVE).to_json()


def revoke_kiosk(ctx: ServerContext, kiosk_id: str) -> dict[str, Any]:
    """Refuse every later batch from this kiosk; its stored events stay in the ledger."""
    return _set_status(ctx, kiosk_id, KioskStatus.REVOKED).to_json()


def review(ctx: ServerContext) -> dict[str, Any]:
    """What waits for a coordinator's signed decision: shifts, then overdrafts, then held redemptions.

    A shift item is the shift with ``"item": "shift"`` and ``"ref"``, the ``{kiosk, seq}`` of its
    first tap that a ``review`` decision names.  An overdraft item names the redemption an
    ``acknowledge`` decision names, with the volunteer's balance now.  A ``held`` item is an
    offline redemption beyond its till's bound (``reason`` says which), which a
    ``redemption_review`` decision approves or rejects; nothing was debited for it yet.
    """
    with ctx.storage.read() as tx:
        shifts = tx.review_shifts(ctx.now_ms())
        overdrafts = tx.unacknowledged_overdrafts()
        held = tx.held_redemptions()
        balances = {r.volunteer_id: tx.balance(r.volunteer_id) for r in (*overdrafts, *held)}
    items: list[dict[str, Any]] = [{"item": "shift", **s.to_json(), "ref": _first_tap(s)} for s in shifts]
    items.extend(
        {
            "item": "overdraft",
            "reason": Reason.OVERDRAFT.value,
            "redemption_id": r.redemption_id,
            "card_id": r.card_id,
            "volunteer_id": r.volunteer_id,
            "amount": r.amount,
            "site_id": r.site_id,
            "wall_ms": r.wall_ms,
            "balance": balances[r.volunteer_id],
        }
        for r in overdrafts
    )
    items.extend(
        {
            "item": "held",
            "reason": r.held,
            "redemption_id": r.redemption_id,
            "card_id": r.card_id,
            "volunteer_id": r.volunteer_id,
            "amount": r.amount,
            "site_id": r.site_id,
            "kiosk_id": r.kiosk_id,
            "wall_ms": r.wall_ms,
            "received_ms": r.received_ms,
            "balance": balances[r.volunteer_id],
        }
        for r in held
    )
    return {"items": items}


def _first_tap(shift: Shift) -> dict[str, Any] | None:
    """``{kiosk, seq}`` of the shift's check-in, or of its check-out when it has none; ``None`` if by hand."""
    if shift.in_kiosk is not None:
        return {"kiosk": shift.in_kiosk, "seq": shift.in_seq}
    if shift.out_kiosk is not None:
        return {"kiosk": shift.out_kiosk, "seq": shift.out_seq}
    return None


def report(ctx: ServerContext) -> dict[str, Any]:
    """Per volunteer: personal data, cards, balance, minutes of paid shifts and every shift."""
    with ctx.storage.read() as tx:
        persons = people.people(ctx, tx)
        cards = tx.cards_by_volunteer()
        balances = tx.balances()
        shifts = tx.shifts_by_volunteer()
    return {
        "volunteers": [
            {
                "volunteer_id": person.volunteer_id,
                "name": person.name,
                "ehrenamtskarte": person.ehrenamtskarte,
                "cards": cards.get(person.volunteer_id, []),
                "balance": balances.get(person.volunteer_id, 0),
                "minutes": sum(
                    s.minutes for s in shifts.get(person.volunteer_id, []) if s.status is ShiftStatus.PAID
                ),
                "shifts": [s.to_json() for s in shifts.get(person.volunteer_id, [])],
            }
            for person in persons
        ]
    }
