"""A shop owner's page: their shop's redemptions today and this month, its tills, its statement.

The console's ``/console/laden`` (:mod:`server.web.console.shoppage`) shows what
this module computes, for a principal holding ``settle_shops`` or ``run_shop``
for the shop (:data:`server.principals.SHOP_DUTIES`).  Every function takes the
caller's ``sites`` (:mod:`server.visibility`); a shop outside them, a check-in
site and an ID nobody uses all answer the same ``404 unknown_site`` "no such
shop" (:data:`UNKNOWN_SHOP`), so one shop learns nothing of another.

What a till's row says, and where each figure comes from:

* ``last_heartbeat_ms`` and ``silent``: the till's latest signed heartbeat
  (:mod:`server.health`; the server keeps the latest only);
* ``backlog``: the ``pending`` count of that heartbeat: signed events the till
  has not yet synced (sales, voids), as the till itself reported it;
* ``offline_used`` of ``offline_daily_cap``: the tokens of this till's offline
  redemptions that reached the server today (the server's local day of receipt)
  and were paid without review: exactly what the server's ``offline_over_daily_cap``
  check adds the next offline sale to (``docs/economy.md``, "The worst-case loss").
  Sales still in the backlog are not counted: the server cannot know them yet, and
  the till keeps its own count of them against the same cap;
* ``held_count``/``held_tokens``: today's offline redemptions of the till beyond its
  bound, held for review (owed only once a coordinator approves them);
* ``offline_allowance``: what one card may spend offline at the till beyond its
  confirmed balance (a per-card bound, so there is no per-till figure "in use").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from protocol import Reason
from protocol.earning import local_day
from protocol.economy import SiteKind
from server import health, reports, statements
from server.context import ServerContext
from server.errors import ServiceError
from server.models import KioskStatus, Redemption, RedemptionStatus, Site
from server.principals import SHOP_DUTIES, Principal
from server.visibility import Sites, visible

UNKNOWN_SHOP: Final = (Reason.UNKNOWN_SITE, "no such shop")
# A status of the page only: the owner asked for a void, the till has not voided yet.
VOID_PENDING: Final = "void_pending"
# What the programme owes the shop for (statements.shop_statement counts the same).
_OWED: Final = (RedemptionStatus.DEBITED, RedemptionStatus.VOIDED)


def shop_sites(principal: Principal) -> Sites:
    """Where ``principal`` may open a shop page: where it holds ``settle_shops`` or ``run_shop``."""
    found: frozenset[str] = frozenset()
    for permission in sorted(SHOP_DUTIES):
        sites = principal.sites_for(permission)
        if sites is None:
            return None
        found |= sites
    return found


def my_shops(ctx: ServerContext, sites: Sites) -> list[dict[str, str]]:
    """The shops of ``sites``, by name: ``{"shop_id", "name"}``."""
    with ctx.storage.read() as tx:
        shops = [s for s in tx.list_sites() if s.kind is SiteKind.SHOP and visible(sites, s.site_id)]
    return [
        {"shop_id": s.site_id, "name": s.name}
        for s in sorted(shops, key=lambda s: (s.name.casefold(), s.site_id))
    ]


def the_shop(ctx: ServerContext, sites: Sites, shop_id: str) -> Site:
    """The shop ``shop_id`` if it is one of ``sites``; else :data:`UNKNOWN_SHOP` (``404``)."""
    if not visible(sites, shop_id):
        raise ServiceError(*UNKNOWN_SHOP)
    with ctx.storage.read() as tx:
        site = tx.get_site(shop_id)
    if site is None or site.kind is not SiteKind.SHOP or site.shop is None:
        raise ServiceError(*UNKNOWN_SHOP)
    return site


def _line(r: Redemption, *, now_ms: int, void_window_ms: int, pending: Mapping[str, int]) -> dict[str, Any]:
    status = r.status.value
    if r.status is RedemptionStatus.DEBITED and r.redemption_id in pending:
        status = VOID_PENDING
    return {
        "redemption_id": r.redemption_id,
        "wall_ms": r.wall_ms,
        "kiosk_id": r.kiosk_id,
        "amount": r.amount,
        "online": r.online,
        "status": status,
        # What the till's own void rule will take: debited, and the void signed within the window.
        "voidable": status == RedemptionStatus.DEBITED.value and now_ms - r.wall_ms <= void_window_ms,
    }


def totals(found: Sequence[Redemption]) -> dict[str, int]:
    """``count``, ``redeemed``, ``voided``, ``to_settle``, ``held`` and ``declined`` of ``found``.

    ``redeemed``, ``voided``, ``to_settle`` and ``held`` are what
    :func:`server.statements.shop_statement` says for the same redemptions;
    ``declined`` counts the attempts the server turned down (nothing moved).
    """
    owed = [r for r in found if r.status in _OWED]
    redeemed = sum(r.amount for r in owed)
    voided = sum(r.amount for r in owed if r.status is RedemptionStatus.VOIDED)
    return {
        "count": len(owed),
        "redeemed": redeemed,
        "voided": voided,
        "to_settle": redeemed - voided,
        "held": sum(r.amount for r in found if r.status is RedemptionStatus.HELD),
        "declined": sum(1 for r in found if r.status is RedemptionStatus.DECLINED),
    }


def tills(ctx: ServerContext, shop: Site, *, now_ms: int) -> list[dict[str, Any]]:
    """The shop's tills, oldest enrolment first, revoked ones left out; see the module docstring."""
    assert shop.shop is not None
    day = local_day(now_ms)
    with ctx.storage.read() as tx:
        kiosks = [
            k for k in tx.list_kiosks() if k.site_id == shop.site_id and k.status is not KioskStatus.REVOKED
        ]
        beats = tx.kiosk_health()
        batches = tx.last_batch_ms()
        used = {k.kiosk_id: tx.offline_paid(k.kiosk_id, *day) for k in kiosks}
        held = {k.kiosk_id: tx.offline_held(k.kiosk_id, *day) for k in kiosks}
    rows = []
    for kiosk in kiosks:
        report = health.kiosk_report(
            kiosk,
            beats.get(kiosk.kiosk_id),
            batches.get(kiosk.kiosk_id),
            now_ms=now_ms,
            silent_after_s=health.DEFAULT_SILENT_AFTER_S,
        )
        rows.append(
            {
                "kiosk_id": kiosk.kiosk_id,
                "status": kiosk.status.value,
                "last_heartbeat_ms": report["last_heartbeat_ms"],
                "last_sync_ms": report["last_sync_ms"],
                "silent": report["silent"],
                "backlog": report["pending"],
                "offline_used": used[kiosk.kiosk_id],
                "offline_daily_cap": shop.shop.offline_daily_cap,
                "offline_allowance": shop.shop.offline_allowance,
                "held_count": held[kiosk.kiosk_id][0],
                "held_tokens": held[kiosk.kiosk_id][1],
            }
        )
    return rows


@dataclass(frozen=True, slots=True)
class ShopPage:
    """What the shop page shows: the shop, today's and a month's redemptions with totals, its tills."""

    shop_id: str
    name: str
    month: str
    today: list[dict[str, Any]]
    today_totals: dict[str, int]
    month_lines: list[dict[str, Any]]
    month_totals: dict[str, int]
    tills: list[dict[str, Any]]
    void_window_s: int


def shop_page(
    ctx: ServerContext,
    sites: Sites,
    shop_id: str,
    *,
    month: str | None = None,
    pending_voids: Mapping[str, int] | None = None,
) -> ShopPage:
    """The page of ``shop_id`` for a caller seeing ``sites``; ``month`` is ``YYYY-MM`` (default: this one).

    Today and the month are local (Europe/Berlin) and go by the redemption's time at
    the till (its ``wall_ms``), as the settlement does.  ``pending_voids`` (redemption
    ID → when asked) marks the debited ones the owner asked the till to void.
    """
    shop = the_shop(ctx, sites, shop_id)
    assert shop.shop is not None
    now = ctx.now_ms()
    text, first, after = reports.parse_month(month, now_ms=now)
    day_start, day_end = local_day(now)
    with ctx.storage.read() as tx:
        in_month = tx.shop_redemptions(shop_id, first, after, declined=True)
        in_day = tx.shop_redemptions(shop_id, day_start, day_end, declined=True)
    window = shop.shop.void_window_s * 1000
    pending = pending_voids or {}

    def lines(found: Sequence[Redemption]) -> list[dict[str, Any]]:
        # Newest first: the owner looks for the sale that just happened.
        return [_line(r, now_ms=now, void_window_ms=window, pending=pending) for r in reversed(found)]

    return ShopPage(
        shop_id=shop_id,
        name=shop.name,
        month=text,
        today=lines(in_day),
        today_totals=totals(in_day),
        month_lines=lines(in_month),
        month_totals=totals(in_month),
        tills=tills(ctx, shop, now_ms=now),
        void_window_s=shop.shop.void_window_s,
    )


STATEMENT_COLUMNS: Final = (
    reports.Column("redemption_id", "Redemption"),
    reports.Column("wall_ms", "Time"),
    reports.Column("kiosk_id", "Till"),
    reports.Column("amount", "Tokens"),
    reports.Column("status", "Status"),
)


@dataclass(frozen=True, slots=True)
class Statement:
    """A shop's settlement statement of one local month: the document and its lines as a table."""

    shop_id: str
    name: str
    month: str
    csv: str  # server.statements.shop_statement's CSV, the same as /v1/admin/statements/shops (no card)
    document: dict[str, Any]  # its JSON: lines and totals
    table: reports.Table  # the lines, for the PDF


def statement(ctx: ServerContext, sites: Sites, shop_id: str, month: str | None) -> Statement:
    """The settlement of ``shop_id`` for the local ``month`` (``YYYY-MM``, default: this one).

    :func:`server.statements.shop_statement` over the month's ``[from_ms, to_ms)``: the
    lines and totals are those the programme settles by, for CSV and PDF alike.
    """
    shop = the_shop(ctx, sites, shop_id)
    text, first, after = reports.parse_month(month, now_ms=ctx.now_ms())
    period = {"from_ms": str(first), "to_ms": str(after)}
    document = statements.shop_statement(ctx, shop_id, period).content
    assert isinstance(document, dict)
    # The CSV of the same read (shop_statement's format=csv writes these very lines): totals and lines agree.
    csv_text = statements.to_csv(statements.REDEMPTION_COLUMNS, document["redemptions"])
    rows = [{c.key: line[c.key] for c in STATEMENT_COLUMNS} for line in document["redemptions"]]
    return Statement(
        shop_id, shop.name, text, csv_text, document, reports.Table("Settlement", STATEMENT_COLUMNS, rows)
    )
