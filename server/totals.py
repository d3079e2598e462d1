"""The economy's public totals (``GET /v1/log/totals``): aggregates only, none about a few people.

Anyone may read them: the log size they are for, the tokens issued (paid for
shifts), redeemed (debited at shops, net of voids) and in circulation, how
many volunteers were active in the last 365 days, and paid shifts and hours
per local month (Europe/Berlin) and per site, redemptions and tokens per shop.

The small-count rule.  A figure about fewer than :data:`MIN_PUBLIC_COUNT`
distinct volunteers is suppressed: its row keeps its label (month, site) but
every number is ``null`` and ``suppressed`` says why.  Rows of one breakdown
add up to the same whole (months and sites both sum to all paid shifts), so
one suppressed row could be had back by subtraction; hence *secondary
suppression*: while the suppressed rows of a breakdown together concern
fewer than :data:`MIN_PUBLIC_COUNT` people, the next smallest row is
suppressed too.  Whatever a reader derives from the rest is then a figure
about at least that many people.

``issued`` and ``redeemed`` are never suppressed: the log's daily ``totals``
entries carry them, so anyone sums them from the public log anyway (and a
public audit does, ``kokreativ verify ledger``).

Like the balances the auditor reads, they are computed in the transaction
that reads the latest checkpoint, so they are the totals of exactly ``size``
entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from protocol.earning import ZONE
from protocol.economy import SiteKind
from server import tlog
from server.context import ServerContext

MIN_PUBLIC_COUNT: Final = tlog.MIN_PUBLIC_COUNT
ACTIVE_WINDOW_MS: Final = 365 * 24 * 3_600_000
_MS_PER_HOUR: Final = 3_600_000
SUPPRESSED: Final = f"fewer than {MIN_PUBLIC_COUNT} volunteers"


@dataclass(slots=True)
class _Row:
    """One row of a breakdown: its label, its figures and the volunteers they are about."""

    label: dict[str, Any]
    figures: dict[str, float | int] = field(default_factory=dict)
    volunteers: set[str] = field(default_factory=set)

    def add(self, volunteer_id: str, **figures: float | int) -> None:
        self.volunteers.add(volunteer_id)
        for name, value in figures.items():
            self.figures[name] = self.figures.get(name, 0) + value


def _month(hour: int) -> str:
    """The Europe/Berlin month (``YYYY-MM``) of the UTC hour ``hour`` (hours since 1970)."""
    return datetime.fromtimestamp(hour * 3600, tz=UTC).astimezone(ZONE).strftime("%Y-%m")


def suppress(rows: Iterable[_Row]) -> list[dict[str, Any]]:
    """The rows as JSON, small ones suppressed, then more until no subtraction reveals a small one."""
    ordered = list(rows)
    # A row about nobody reveals nothing and helps no subtraction: it stays, with its zeros.
    hidden = {id(row) for row in ordered if 0 < len(row.volunteers) < MIN_PUBLIC_COUNT}
    by_size = sorted((row for row in ordered if row.volunteers), key=lambda row: len(row.volunteers))
    while hidden:
        covered: set[str] = set()
        for row in ordered:
            if id(row) in hidden:
                covered |= row.volunteers
        if len(covered) >= MIN_PUBLIC_COUNT:
            break
        rest = [row for row in by_size if id(row) not in hidden]
        if not rest:
            break
        hidden.add(id(rest[0]))
    out = []
    for row in ordered:
        if id(row) in hidden:
            nulls = dict.fromkeys(row.figures, None)
            out.append({**row.label, **nulls, "volunteers": None, "suppressed": SUPPRESSED})
        else:
            figures = {k: round(v, 1) if isinstance(v, float) else v for k, v in row.figures.items()}
            out.append({**row.label, **figures, "volunteers": len(row.volunteers)})
    return out


def _count(count: int) -> int | None:
    return count if count >= MIN_PUBLIC_COUNT else None


def public_totals(ctx: ServerContext) -> dict[str, Any]:
    """The answer of ``GET /v1/log/totals`` (see the module docstring and ``docs/protocol.md``)."""
    now_ms = ctx.now_ms()
    with ctx.storage.read() as tx:
        size, _ = tlog.latest_checkpoint(tx)
        issued, redeemed = tx.ledger_sums()
        hours = tx.paid_shift_hours()
        spent = tx.debited_by_shop()
        sites = {site.site_id: site for site in tx.list_sites()}
    months: dict[str, _Row] = {}
    per_site: dict[str, _Row] = {}
    active: set[str] = set()
    since_hour = (now_ms - ACTIVE_WINDOW_MS) // _MS_PER_HOUR
    for site_id, volunteer_id, hour, shifts, minutes in hours:
        month = _month(hour)
        months.setdefault(month, _Row({"month": month})).add(volunteer_id, shifts=shifts, hours=minutes / 60)
        per_site.setdefault(site_id, _Row(_site_label(sites, site_id))).add(
            volunteer_id, shifts=shifts, hours=minutes / 60
        )
        if hour >= since_hour:
            active.add(volunteer_id)
    shops: dict[str, _Row] = {}
    for site_id, volunteer_id, count, tokens, last_ms in spent:
        shops.setdefault(site_id, _Row(_site_label(sites, site_id))).add(
            volunteer_id, redemptions=count, tokens=tokens
        )
        if last_ms >= now_ms - ACTIVE_WINDOW_MS:
            active.add(volunteer_id)
    for site_id, site in sites.items():  # every site and shop is listed, with nothing or suppressed
        if site.kind is SiteKind.SHOP:
            shops.setdefault(site_id, _Row(_site_label(sites, site_id), {"redemptions": 0, "tokens": 0}))
        else:
            per_site.setdefault(site_id, _Row(_site_label(sites, site_id), {"shifts": 0, "hours": 0.0}))
    return {
        "size": size,
        "issued": issued,
        "redeemed": redeemed,
        "in_circulation": issued - redeemed,
        "volunteers_active": _count(len(active)),
        "min_public_count": MIN_PUBLIC_COUNT,
        "months": suppress(months[m] for m in sorted(months)),
        "sites": suppress(per_site[s] for s in sorted(per_site)),
        "shops": suppress(shops[s] for s in sorted(shops)),
        "notes": _notes(len(active)),
    }


def _site_label(sites: Mapping[str, Any], site_id: str) -> dict[str, Any]:
    site = sites.get(site_id)
    return {"site_id": site_id, "name": "" if site is None else site.name}


def _notes(active: int) -> list[str]:
    notes = [
        f"figures about fewer than {MIN_PUBLIC_COUNT} volunteers are null (suppressed), and so is "
        "the next smallest row of a breakdown while the suppressed rows could be had back by subtraction",
        "issued and redeemed are sums of the public log's entries and are never suppressed",
    ]
    if active < MIN_PUBLIC_COUNT:
        notes.append(f"volunteers_active is null: {SUPPRESSED}")
    return notes
