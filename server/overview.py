"""The console's overview: today at the caller's sites, what needs a look, and this month's tokens.

:func:`overview` gathers, for the sites the caller may see (:mod:`server.visibility`):

* today's check-ins per check-in site (the local day, Europe/Berlin, by the time the
  ledger counts for each tap) and each site's open shifts;
* how many items wait in the review queue (:func:`server.admin.review`);
* the kiosks with an alarm (:func:`server.fleet.fleet`);
* anomalies in the last :attr:`AnomalyRules.lookback_ms` (:func:`anomalies`);
* tokens issued and redeemed per day of this month (:func:`month_moves`, drawn by
  :func:`server.charts.bar_chart`).

The server reads taps from its own ``events`` table: a v2 event is sealed in the
public log, but the server stored its opening (card, kind, clock) when it came
in.  Only taps at the caller's sites are looked at, so a card's taps elsewhere
neither make nor show in an anomaly here; and a card's ID is shown only where
the caller covers its volunteer's home site (:func:`_shown_card`), else the
anomaly names no card.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from protocol.earning import ZONE, local_day
from protocol.economy import SiteKind
from server import admin, fleet
from server.context import ServerContext
from server.reports import Column, Table
from server.storage.views import TapRow
from server.visibility import Sites, visible

MINUTE: Final = 60_000
HOUR: Final = 60 * MINUTE
DAY: Final = 24 * HOUR
_TAP_KINDS: Final = frozenset({"check_in", "check_out"})
_DOUBLE_TAP_KINDS: Final = frozenset({"check_in", "check_out", "denied"})


@dataclass(frozen=True, slots=True)
class AnomalyRules:
    """When taps are worth a coordinator's look.  The defaults are :data:`DEFAULT_RULES`.

    * one card at ``many_kiosks`` or more kiosks within ``many_kiosks_window_ms``
      (a copied card, or a card passed around);
    * a check-in or check-out at a local hour in ``[odd_from_hour, odd_to_hour)``;
    * a burst of double taps: ``double_taps`` or more taps of one card at one kiosk, each
      less than ``double_tap_gap_ms`` after the one before, within ``double_tap_window_ms``
      (a reader that misreads, or someone unsure whether the tap counted).
    """

    many_kiosks: int = 3
    many_kiosks_window_ms: int = 30 * MINUTE
    odd_from_hour: int = 0
    odd_to_hour: int = 5
    double_tap_gap_ms: int = MINUTE
    double_taps: int = 3
    double_tap_window_ms: int = HOUR
    lookback_ms: int = 7 * DAY


DEFAULT_RULES: Final = AnomalyRules()


def _local(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(ZONE)


def _many_kiosks(taps: Sequence[TapRow], rules: AnomalyRules) -> list[dict[str, Any]]:
    """One anomaly per run of a card's taps that reaches ``many_kiosks`` kiosks within the window."""
    found = []
    start = 0
    kiosks: Counter[str] = Counter()
    for end, tap in enumerate(taps):
        kiosks[tap.kiosk_id] += 1
        while tap.time_ms - taps[start].time_ms > rules.many_kiosks_window_ms:
            kiosks[taps[start].kiosk_id] -= 1
            if not kiosks[taps[start].kiosk_id]:
                del kiosks[taps[start].kiosk_id]
            start += 1
        if len(kiosks) >= rules.many_kiosks:
            run = taps[start : end + 1]
            found.append(_anomaly("many_kiosks", run))
            kiosks.clear()
            start = end + 1
    return found


def _odd_hours(taps: Sequence[TapRow], rules: AnomalyRules) -> list[dict[str, Any]]:
    """One anomaly per kiosk and local night with check-ins or check-outs at odd hours."""
    nights: dict[tuple[str, str], list[TapRow]] = defaultdict(list)
    for tap in taps:
        when = _local(tap.time_ms)
        if tap.kind in _TAP_KINDS and rules.odd_from_hour <= when.hour < rules.odd_to_hour:
            nights[(tap.kiosk_id, when.date().isoformat())].append(tap)
    return [_anomaly("odd_hours", run) for run in nights.values()]


def _double_taps(taps: Sequence[TapRow], rules: AnomalyRules) -> list[dict[str, Any]]:
    """One anomaly per kiosk and burst of ``double_taps`` quick repeats within the window."""
    by_kiosk: dict[str, list[TapRow]] = defaultdict(list)
    for tap in taps:
        if tap.kind in _DOUBLE_TAP_KINDS:
            by_kiosk[tap.kiosk_id].append(tap)
    found = []
    for kiosk_taps in by_kiosk.values():
        # A repeat is a tap less than the gap after the one before; a burst is enough repeats in the window.
        repeats = [
            (kiosk_taps[i - 1], kiosk_taps[i])
            for i in range(1, len(kiosk_taps))
            if kiosk_taps[i].time_ms - kiosk_taps[i - 1].time_ms < rules.double_tap_gap_ms
        ]
        start = 0
        for end in range(len(repeats)):
            while repeats[end][1].time_ms - repeats[start][1].time_ms > rules.double_tap_window_ms:
                start += 1
            if end - start + 1 >= rules.double_taps:
                burst = sorted(
                    {t for pair in repeats[start : end + 1] for t in pair}, key=lambda t: (t.time_ms, t.seq)
                )
                found.append(_anomaly("double_taps", burst))
                start = end + 1
    return found


def _anomaly(kind: str, run: Sequence[TapRow]) -> dict[str, Any]:
    return {
        "kind": kind,
        "card_id": run[0].card_id,
        "kiosks": sorted({tap.kiosk_id for tap in run}),
        "sites": sorted({tap.site_id for tap in run}),
        "taps": len(run),
        "from_ms": run[0].time_ms,
        "to_ms": run[-1].time_ms,
    }


def find_anomalies(taps: Iterable[TapRow], rules: AnomalyRules = DEFAULT_RULES) -> list[dict[str, Any]]:
    """The anomalies in ``taps`` (any order), newest first; each names the card it is about."""
    by_card: dict[str, list[TapRow]] = defaultdict(list)
    for tap in sorted(taps, key=lambda t: (t.time_ms, t.kiosk_id, t.seq)):
        by_card[tap.card_id].append(tap)
    found = []
    for card_taps in by_card.values():
        found += _many_kiosks(card_taps, rules)
        found += _odd_hours(card_taps, rules)
        found += _double_taps(card_taps, rules)
    return sorted(found, key=lambda a: (-a["to_ms"], a["kind"], a["kiosks"]))


def _shown_card(sites: Sites, card_id: str, homes: dict[str, str | None]) -> str | None:
    """The card's ID if the caller covers its volunteer (economy-wide, or the home site), else ``None``.

    A card nobody registered has no volunteer to cover: only an economy-wide caller sees it.
    """
    if sites is None:
        return card_id
    home = homes.get(card_id)
    return card_id if home is not None and home in sites else None


def anomalies(
    ctx: ServerContext, sites: Sites, *, rules: AnomalyRules = DEFAULT_RULES, now_ms: int | None = None
) -> list[dict[str, Any]]:
    """Anomalies in the taps at ``sites`` of the last ``rules.lookback_ms``, newest first.

    Each is ``{"kind", "card_id", "kiosks", "sites", "taps", "from_ms", "to_ms"}``;
    ``kind`` is ``many_kiosks``, ``odd_hours`` or ``double_taps``, and ``card_id`` is
    ``None`` where :func:`_shown_card` hides it.
    """
    now = ctx.now_ms() if now_ms is None else now_ms
    with ctx.storage.read() as tx:
        taps = [t for t in tx.taps_between(now - rules.lookback_ms, now + 1) if visible(sites, t.site_id)]
        homes = tx.card_home_sites({t.card_id for t in taps}) if sites is not None else {}
    found = find_anomalies(taps, rules)
    for item in found:
        item["card_id"] = _shown_card(sites, item["card_id"], homes)
    return found


def today(ctx: ServerContext, sites: Sites, *, now_ms: int | None = None) -> list[dict[str, Any]]:
    """Per check-in site of ``sites``, by name: ``{"site_id", "name", "checkins", "cards", "open_shifts"}``.

    ``checkins`` counts today's check-in taps (the local day), ``cards`` the distinct
    cards among them; ``open_shifts`` the shifts checked in and not yet out (of any day).
    """
    now = ctx.now_ms() if now_ms is None else now_ms
    start, end = local_day(now)
    with ctx.storage.read() as tx:
        found = [s for s in tx.list_sites() if s.kind is SiteKind.CHECKIN and visible(sites, s.site_id)]
        taps = [t for t in tx.taps_between(start, end) if t.kind == "check_in"]
        open_shifts = tx.open_shifts_by_site()
    checkins: Counter[str] = Counter(t.site_id for t in taps)
    cards: dict[str, set[str]] = defaultdict(set)
    for tap in taps:
        cards[tap.site_id].add(tap.card_id)
    return [
        {
            "site_id": s.site_id,
            "name": s.name,
            "checkins": checkins.get(s.site_id, 0),
            "cards": len(cards.get(s.site_id, ())),
            "open_shifts": open_shifts.get(s.site_id, 0),
        }
        for s in sorted(found, key=lambda s: (s.name.casefold(), s.site_id))
    ]


def review_count(ctx: ServerContext, sites: Sites) -> int:
    """How many items of the review queue are about ``sites`` (shifts, overdrafts, held redemptions)."""
    return sum(1 for item in admin.review(ctx)["items"] if visible(sites, item.get("site_id")))


def month_bounds(now_ms: int) -> tuple[int, int, int]:
    """``(first ms, end ms, days)`` of the local month that ``now_ms`` lies in."""
    first = _local(now_ms).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    after = (first + timedelta(days=32)).replace(day=1)
    days = (after.date() - first.date()).days
    return int(first.timestamp() * 1000), int(after.timestamp() * 1000), days


def month_moves(ctx: ServerContext, sites: Sites, *, now_ms: int | None = None) -> dict[str, Any]:
    """Tokens issued (paid for shifts) and redeemed (net of voids) per day of this local month.

    ``{"month": "YYYY-MM", "days": [1, …], "issued": [...], "redeemed": [...]}``, one number
    a day, counting the ledger entries made that day at ``sites``.  A ledger entry without a
    site counts economy-wide only.
    """
    now = ctx.now_ms() if now_ms is None else now_ms
    first, after, days = month_bounds(now)
    issued = [0] * days
    redeemed = [0] * days
    with ctx.storage.read() as tx:
        moves = tx.moves_between(first, after)
    for move in moves:
        if not visible(sites, move.site_id):
            continue
        day = _local(move.created_ms).day - 1
        if move.kind == "shift":
            issued[day] += move.delta
        else:
            redeemed[day] -= move.delta
    return {
        "month": _local(now).strftime("%Y-%m"),
        "days": list(range(1, days + 1)),
        "issued": issued,
        "redeemed": redeemed,
    }


def overview(ctx: ServerContext, sites: Sites, *, rules: AnomalyRules = DEFAULT_RULES) -> dict[str, Any]:
    """Everything of the overview page for ``sites``, read at one ``now``."""
    now = ctx.now_ms()
    return {
        "now_ms": now,
        "sites": today(ctx, sites, now_ms=now),
        "review": review_count(ctx, sites),
        "alarms": [k for k in fleet.fleet(ctx, sites) if k["alarms"]],
        "anomalies": anomalies(ctx, sites, rules=rules, now_ms=now),
        "month": month_moves(ctx, sites, now_ms=now),
    }


TODAY_COLUMNS: Final = (
    Column("site_id", "Site ID"),
    Column("name", "Site"),
    Column("checkins", "Check-ins today"),
    Column("cards", "Cards"),
    Column("open_shifts", "Open shifts"),
)
ALARM_COLUMNS: Final = (
    Column("kiosk_id", "Kiosk"),
    Column("site_name", "Site"),
    Column("alarms", "Alarms"),
    Column("last_seen_ms", "Last seen"),
)
ANOMALY_COLUMNS: Final = (
    Column("kind", "Anomaly"),
    Column("card_id", "Card"),
    Column("kiosks", "Kiosks"),
    Column("taps", "Taps"),
    Column("from_ms", "From"),
    Column("to_ms", "To"),
)
MONTH_COLUMNS: Final = (Column("day", "Day"), Column("issued", "Issued"), Column("redeemed", "Redeemed"))


def tables(page: dict[str, Any]) -> dict[str, Table]:
    """The overview's tables (``today``, ``alarms``, ``anomalies``, ``month``), for the page and CSV."""
    month = page["month"]
    return {
        "today": Table("Today", TODAY_COLUMNS, page["sites"]),
        "alarms": Table("Kiosks with alarms", ALARM_COLUMNS, page["alarms"]),
        "anomalies": Table("Anomalies", ANOMALY_COLUMNS, page["anomalies"]),
        "month": Table(
            "Tokens this month",
            MONTH_COLUMNS,
            [
                {"day": f"{month['month']}-{day:02d}", "issued": issued, "redeemed": redeemed}
                for day, issued, redeemed in zip(
                    month["days"], month["issued"], month["redeemed"], strict=True
                )
            ],
        ),
    }
