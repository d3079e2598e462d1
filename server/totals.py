"""The economy's public totals (``GET /v1/log/totals``): aggregates only, none about a few people.

Anyone may read them, and anyone may read them twice.  So a figure must not
only be about enough people, it must also not *move* by one person's shift
between two readings, and no published figure minus others may leave one
about a few people.  Three rules give that:

Closed months, booking time.  Every breakdown counts only ledger entries
booked (by the server's clock, ``ledger_entries.created_ms``) before the
current calendar month began (Europe/Berlin).  The ledger only appends, so
what was booked in a closed month never changes: a new shift, or a late one
for last month from a kiosk that was offline, is booked now and waits for
the current month to close.  Two readings within a month give the same
breakdowns.

Periods of enough people.  Closed months are published in *periods*:
consecutive months, taken from the first in order, until the volunteers
paid for shifts in them number at least :data:`MIN_PUBLIC_COUNT` and those
who redeemed number none or at least that many.  A month of fewer people
waits and joins the next (``pending_from`` names the first waiting month).
A period, once published, never changes (it depends only on its own and
earlier months), so the difference of two readings across a month's end is a
whole new period: figures about at least that many people.  Totals over
time (``hours``, ``shifts``, the per-site sums) are sums of published
periods, never of waiting months.

The small-count rule within a period.  A site's or shop's figure about fewer
than :data:`MIN_PUBLIC_COUNT` distinct volunteers is suppressed: its row
keeps its label but every number is ``null``.  The period's total is public,
so one suppressed row could be had back by subtraction; hence *secondary
suppression*: while the suppressed rows of a breakdown together concern fewer
than that many people, the next smallest row is suppressed too.  The total
minus the visible rows is then a figure about at least that many people.  A
site's sum over periods adds only its visible rows.

``issued`` and ``redeemed`` are never suppressed because they are exactly what
the log's daily ``totals`` entries add up to (:func:`server.tlog.published_sums`):
anyone sums them from the public log anyway (and a public audit does,
``kokreativ verify ledger``), and each such entry is about at least
:data:`MIN_PUBLIC_COUNT` volunteers.  They are the totals of exactly the first
``size`` log entries, so they move once a day at most, never by one synced
shift (entry v1, whose entries show every amount: up to the latest checkpoint).
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from protocol.earning import ZONE
from protocol.economy import Site, SiteKind
from protocol.economy.redemptions import LEDGER_KIND_REDEEM, LEDGER_KIND_VOID
from protocol.economy.shifts import LEDGER_KIND_SHIFT
from protocol.economy.undo import LEDGER_KIND_UNDO
from protocol.version import SOFTWARE_VERSION
from server import tlog
from server.context import ServerContext
from server.errors import StorageUnavailable
from server.storage.views import BookedRow

log = logging.getLogger(__name__)
MIN_PUBLIC_COUNT: Final = tlog.MIN_PUBLIC_COUNT
# The settings row that keeps the closed months' breakdowns, with the key they were computed for.
CLOSED_MONTHS_SETTING: Final = "public_closed_months"
ACTIVE_MONTHS: Final = 12  # volunteers_active: people in the periods that ended in the last 12 closed months
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


def month_of(ms: int) -> str:
    """The Europe/Berlin month (``YYYY-MM``) of the instant ``ms``."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(ZONE).strftime("%Y-%m")


def month_start_ms(ms: int) -> int:
    """When the Europe/Berlin month of ``ms`` began, in ms: the end of what the breakdowns count."""
    local = datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(ZONE)
    start = datetime(local.year, local.month, 1, tzinfo=ZONE)
    return int(start.timestamp() * 1000)


def _months_back(month: str, count: int) -> str:
    year, number = int(month[:4]), int(month[5:])
    index = year * 12 + number - 1 - count
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def suppress(rows: Iterable[_Row]) -> list[dict[str, Any]]:
    """The rows as JSON, small ones suppressed, then more until no subtraction reveals a small one."""
    ordered = list(rows)
    hidden = {id(row) for row in hidden_rows(ordered)}
    out = []
    for row in ordered:
        if id(row) in hidden:
            nulls = dict.fromkeys(row.figures, None)
            out.append({**row.label, **nulls, "volunteers": None, "suppressed": SUPPRESSED})
        else:
            out.append({**row.label, **_rounded(row.figures), "volunteers": len(row.volunteers)})
    return out


def hidden_rows(rows: list[_Row]) -> list[_Row]:
    """The rows :func:`suppress` hides: those about a few people, then the next smallest as needed."""
    # A row about nobody reveals nothing and helps no subtraction: it stays, with its zeros.
    hidden = [row for row in rows if 0 < len(row.volunteers) < MIN_PUBLIC_COUNT]
    by_size = sorted((row for row in rows if row.volunteers), key=lambda row: len(row.volunteers))
    while hidden:
        covered: set[str] = set()
        for row in hidden:
            covered |= row.volunteers
        if len(covered) >= MIN_PUBLIC_COUNT:
            break
        rest = [row for row in by_size if all(row is not other for other in hidden)]
        if not rest:
            break
        hidden.append(rest[0])
    return hidden


def _rounded(figures: Mapping[str, float | int]) -> dict[str, float | int]:
    return {k: round(v, 1) if isinstance(v, float) else v for k, v in figures.items()}


@dataclass(slots=True)
class _Period:
    """Consecutive closed months pooled until they are about enough people (see the module docstring)."""

    months: list[str] = field(default_factory=list)
    workers: set[str] = field(default_factory=set)
    redeemers: set[str] = field(default_factory=set)
    sites: dict[str, _Row] = field(default_factory=dict)
    shops: dict[str, _Row] = field(default_factory=dict)
    figures: dict[str, float | int] = field(
        default_factory=lambda: {"shifts": 0, "hours": 0.0, "issued": 0, "redemptions": 0, "redeemed": 0}
    )

    def add(self, month: str, rows: Iterable[BookedRow], labels: Mapping[str, dict[str, Any]]) -> None:
        self.months.append(month)
        for row in rows:
            site = row.site_id or ""
            label = labels.get(site) or {"site_id": site, "name": ""}
            if row.kind in (LEDGER_KIND_SHIFT, LEDGER_KIND_UNDO):
                # An undone check-out takes its shift back: it counts against the period it is booked in.
                sign = 1 if row.kind == LEDGER_KIND_SHIFT else -1
                self.workers.add(row.volunteer_id)
                self.sites.setdefault(site, _Row(label)).add(
                    row.volunteer_id, shifts=sign * row.entries, hours=sign * row.minutes / 60
                )
                self.figures["shifts"] += sign * row.entries
                self.figures["hours"] += sign * row.minutes / 60
                self.figures["issued"] += row.delta
            elif row.kind in (LEDGER_KIND_REDEEM, LEDGER_KIND_VOID):
                # A void gives tokens back: it counts against the period it is booked in.
                count = row.entries if row.kind == LEDGER_KIND_REDEEM else -row.entries
                self.redeemers.add(row.volunteer_id)
                self.shops.setdefault(site, _Row(label)).add(
                    row.volunteer_id, redemptions=count, tokens=-row.delta
                )
                self.figures["redemptions"] += count
                self.figures["redeemed"] -= row.delta

    def complete(self) -> bool:
        """Whether the pooled months are about enough people to publish: each group none or enough."""
        groups = (len(self.workers), len(self.redeemers))
        return any(groups) and all(n == 0 or n >= MIN_PUBLIC_COUNT for n in groups)

    def to_json(self) -> dict[str, Any]:
        return {
            "month": self.months[-1],
            "from": self.months[0],
            **_rounded(self.figures),
            "volunteers": len(self.workers),
            "redeemers": len(self.redeemers),
            "sites": suppress(self.sites[s] for s in sorted(self.sites)),
            "shops": suppress(self.shops[s] for s in sorted(self.shops)),
        }


def publish(booked: Iterable[BookedRow], sites: Mapping[str, Site], current_month: str) -> dict[str, Any]:
    """The breakdowns of ``/v1/log/totals`` from the ledger's booked entries (a pure function).

    Entries booked in ``current_month`` or later are ignored: the month is not
    closed.  See the module docstring for the rules.
    """
    labels = {site_id: {"site_id": site_id, "name": site.name} for site_id, site in sites.items()}
    by_month: dict[str, list[BookedRow]] = {}
    months: dict[int, str] = {}  # hour -> month: a ledger has far fewer hours than rows
    for row in booked:
        month = months.get(row.hour)
        if month is None:
            month = months[row.hour] = month_of(row.hour * 3_600_000)
        if month < current_month:
            by_month.setdefault(month, []).append(row)
    periods: list[_Period] = []
    pool = _Period()
    for month in sorted(by_month):
        pool.add(month, by_month[month], labels)
        if pool.complete():
            periods.append(pool)
            pool = _Period()
    published = [period.to_json() for period in periods]
    since = _months_back(current_month, ACTIVE_MONTHS)
    active: set[str] = set()
    for period in periods:
        if period.months[-1] >= since:
            active |= period.workers | period.redeemers
    return {
        "volunteers_active": len(active) if len(active) >= MIN_PUBLIC_COUNT else None,
        "shifts": sum(int(p["shifts"]) for p in published),
        "hours": round(sum(float(p["hours"]) for p in published), 1),
        "published_through": published[-1]["month"] if published else None,
        "pending_from": pool.months[0] if pool.months else None,
        "months": published,
        "sites": _sums(published, "sites", ("shifts", "hours"), labels, sites, SiteKind.CHECKIN),
        "shops": _sums(published, "shops", ("redemptions", "tokens"), labels, sites, SiteKind.SHOP),
    }


def _sums(
    published: list[dict[str, Any]],
    breakdown: str,
    names: tuple[str, str],
    labels: Mapping[str, dict[str, Any]],
    sites: Mapping[str, Site],
    kind: SiteKind,
) -> list[dict[str, Any]]:
    """Per site (or shop): the sums of its visible rows over the periods, and how many periods hid it."""
    sums: dict[str, dict[str, Any]] = {
        site_id: {**labels[site_id], names[0]: 0, names[1]: 0, "suppressed_periods": 0}
        for site_id, site in sites.items()
        if (site.kind is SiteKind.SHOP) == (kind is SiteKind.SHOP)
    }
    for period in published:
        for row in period[breakdown]:
            total = sums.setdefault(
                row["site_id"], {**row, names[0]: 0, names[1]: 0, "suppressed_periods": 0}
            )
            if row.get("suppressed"):
                total["suppressed_periods"] += 1
            else:
                total[names[0]] += row[names[0]]
                total[names[1]] = round(total[names[1]] + row[names[1]], 1)
    return [{k: v for k, v in sums[s].items() if k not in ("volunteers", "suppressed")} for s in sorted(sums)]


def _closed_months_key(now_ms: int, sites: Mapping[str, Site]) -> str:
    """What the closed months' breakdowns depend on: the month, the sites' labels, these rules' version."""
    labels = [[site.site_id, site.name, site.kind.value] for site in sites.values()]
    return json.dumps([SOFTWARE_VERSION, month_of(now_ms), labels], ensure_ascii=False)


def _kept_breakdowns(stored: str | None, key: str) -> dict[str, Any] | None:
    """The breakdowns kept in the ledger (:data:`CLOSED_MONTHS_SETTING`) if they were computed for ``key``."""
    if stored is None:
        return None
    try:
        kept = json.loads(stored)
    except ValueError:
        return None
    if not isinstance(kept, dict) or kept.get("key") != key or not isinstance(kept.get("breakdowns"), dict):
        return None
    breakdowns: dict[str, Any] = kept["breakdowns"]
    return breakdowns


def _keep_breakdowns(ctx: ServerContext, key: str, breakdowns: Mapping[str, Any]) -> None:
    """Keep freshly computed breakdowns for every process of the server; a disk that refuses loses nothing."""
    value = json.dumps({"key": key, "breakdowns": breakdowns}, ensure_ascii=False, sort_keys=True)
    try:
        with ctx.storage.write() as tx:
            tx.set_setting(CLOSED_MONTHS_SETTING, value)
    except StorageUnavailable as exc:
        log.warning("the public totals were not kept for other processes: %s", exc.message)


def public_totals(ctx: ServerContext) -> dict[str, Any]:
    """The answer of ``GET /v1/log/totals`` (see the module docstring and ``docs/protocol.md``).

    The closed months were booked before this month began and never change, so
    their breakdowns are computed once a month, not from the whole ledger on
    every reading: each process keeps them (``ServerContext.memo``), and the
    first process to compute them keeps them in the ledger for the others and
    for the next start (a restart or an update no longer regroups the history).
    """
    now_ms = ctx.now_ms()
    computed = None
    with ctx.storage.read() as tx:
        size, issued, redeemed = tlog.published_sums(tx, ctx.memo)
        sites = {site.site_id: site for site in tx.list_sites()}
        key = _closed_months_key(now_ms, sites)
        memo = ctx.memo.closed_months
        if memo is None or memo[0] != key:
            kept = _kept_breakdowns(tx.get_setting(CLOSED_MONTHS_SETTING), key)
            if kept is None:
                kept = computed = publish(tx.booked_moves(month_start_ms(now_ms)), sites, month_of(now_ms))
            memo = ctx.memo.closed_months = (key, kept)
    if computed is not None:
        _keep_breakdowns(ctx, key, computed)
    breakdowns = copy.deepcopy(memo[1])
    return {
        "size": size,
        "issued": issued,
        "redeemed": redeemed,
        "in_circulation": issued - redeemed,
        "min_public_count": MIN_PUBLIC_COUNT,
        "current_month": month_of(now_ms),
        **breakdowns,
        "notes": _notes(breakdowns),
    }


def _notes(breakdowns: Mapping[str, Any]) -> list[str]:
    notes = [
        "months, sites, shops, shifts and hours count only closed months, by when the ledger booked "
        "each entry; a month of fewer than "
        f"{MIN_PUBLIC_COUNT} volunteers waits and is published together with the next",
        f"within a period, figures about fewer than {MIN_PUBLIC_COUNT} volunteers are null (suppressed), "
        "and so is the next smallest row while the suppressed rows could be had back by subtraction",
        "issued and redeemed are sums of the public log's entries and are never suppressed",
    ]
    if breakdowns["volunteers_active"] is None:
        notes.append(f"volunteers_active is null: {SUPPRESSED}")
    return notes
