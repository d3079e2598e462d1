"""Who qualifies for the Ehrenamtskarte, and who is close (issue 18, page 7; ``docs/economy.md``).

Lower Saxony's Ehrenamtskarte asks for at least 5 hours a week *or* 250 hours
a year of volunteering, kept up for some years (2 or 3, depending on the
source).  The thresholds are settings (:data:`server.schema.ELIGIBILITY_DEFAULTS`),
read here as :class:`Thresholds`.

Real hours, not tokens: a paid shift's ``minutes`` (taps, a reviewed shift or
one entered by hand) count in full in the rolling year its start falls in;
prior engagement (a signed ``prior_hours`` decision) counts pro rata by how
much of its period falls in the year.  A *rolling year* is the 365 local days
(Europe/Berlin) that end with the given day; year 1 is that, year 2 the 365
days before it, and so on.  "5 hours a week" is the average over the rolling
year: 5 × 365 / 7 ≈ 260.7 hours.  A year is *kept up* when its hours reach the
threshold (the lower of the two ways, since either suffices); a volunteer
*qualifies* when the last ``years_required`` years in a row were kept up, and
is *close* when not, but each of those years reached ``close_percent`` of the
threshold.

Scoped: callers pass the home sites they may see (``None``: every volunteer).

Example::

    report = eligibility(ctx, day=date(2026, 12, 7), sites=frozenset({"s_…"}))
    [row.volunteer_id for row in report.rows if row.status is Status.QUALIFIES]
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from protocol import Reason
from protocol.earning import ZONE
from server.context import ServerContext
from server.errors import InputError
from server.schema import ELIGIBILITY_DEFAULTS
from server.storage import ReadTx, Storage, Tx
from server.storage.certificates import WorkedSpan

YEAR_DAYS: Final = 365
MAX_YEARS_SHOWN: Final = 10  # how far back "years kept up" counts
FIRST_YEAR: Final = 2000  # days asked about lie in these years; others are typing errors
LAST_YEAR: Final = 2200
LIMITS: Final[Mapping[str, tuple[int, int]]] = {
    "hours_per_week": (0, 168),
    "hours_per_year": (0, 8784),
    "years_required": (1, MAX_YEARS_SHOWN),
    "close_percent": (1, 99),
}


class Status(StrEnum):
    """Where a volunteer stands."""

    QUALIFIES = "qualifies"
    CLOSE = "close"
    NOT_YET = "not_yet"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The Ehrenamtskarte's rule as this programme reads it; 0 turns one way to qualify off."""

    hours_per_week: int = 5
    hours_per_year: int = 250
    years_required: int = 2
    close_percent: int = 80

    def __post_init__(self) -> None:
        for name, (low, high) in LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise InputError(Reason.BAD_FIELD, f"{name} is an integer from {low} to {high}")
        if not self.hours_per_week and not self.hours_per_year:
            raise InputError(Reason.BAD_FIELD, "hours_per_week or hours_per_year must be above 0")

    @property
    def year_minutes(self) -> int:
        """Minutes a rolling year needs: the lower of the two ways (either suffices)."""
        ways = []
        if self.hours_per_week:
            ways.append(math.ceil(self.hours_per_week * 60 * YEAR_DAYS / 7))
        if self.hours_per_year:
            ways.append(self.hours_per_year * 60)
        return min(ways)

    @property
    def close_minutes(self) -> int:
        return math.ceil(self.year_minutes * self.close_percent / 100)

    def to_json(self) -> dict[str, Any]:
        return {
            "hours_per_week": self.hours_per_week,
            "hours_per_year": self.hours_per_year,
            "years_required": self.years_required,
            "close_percent": self.close_percent,
            "year_minutes": self.year_minutes,
        }


def read_thresholds(tx: ReadTx) -> Thresholds:
    """The thresholds in the settings (their defaults where a setting is missing)."""
    values = {}
    for key, default in ELIGIBILITY_DEFAULTS.items():
        text = tx.get_setting(key) or default
        values[key.removeprefix("eligibility_")] = int(text)
    return Thresholds(**values)


def set_thresholds(storage: Storage, thresholds: Thresholds) -> Thresholds:
    """Store new thresholds (already checked by :class:`Thresholds`); ``kokreativ server eligibility``."""
    with storage.write() as tx:
        write_thresholds(tx, thresholds)
    return thresholds


def change_thresholds(storage: Storage, changes: Mapping[str, int]) -> Thresholds:
    """The stored thresholds with ``changes`` (names as :class:`Thresholds`'), checked and stored."""
    with storage.write() as tx:
        current = read_thresholds(tx).to_json()
        current.pop("year_minutes")
        changed = Thresholds(**{**current, **changes})
        write_thresholds(tx, changed)
    return changed


def write_thresholds(tx: Tx, thresholds: Thresholds) -> None:
    """Store checked ``thresholds`` in an open transaction (the settings page writes them with others)."""
    for key in ELIGIBILITY_DEFAULTS:
        tx.set_setting(key, str(getattr(thresholds, key.removeprefix("eligibility_"))))


def day_start_ms(day: datetime.date) -> int:
    """The first millisecond of the local (Europe/Berlin) calendar day ``day``."""
    return int(datetime.datetime.combine(day, datetime.time(), ZONE).timestamp() * 1000)


def local_today(now_ms: int) -> datetime.date:
    """The local calendar day holding ``now_ms``."""
    return datetime.datetime.fromtimestamp(now_ms / 1000, ZONE).date()


def check_day(day: datetime.date) -> datetime.date:
    """``day`` if it lies in :data:`FIRST_YEAR` to :data:`LAST_YEAR`, else ``bad_field``."""
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise InputError(Reason.BAD_FIELD, f"a day from {FIRST_YEAR} to {LAST_YEAR}")
    return day


def minutes_in(spans: Iterable[WorkedSpan], from_ms: int, to_ms: int) -> int:
    """Minutes of ``spans`` in ``[from_ms, to_ms)``: a shift by its start, prior engagement pro rata."""
    total = 0
    for span in spans:
        if not span.prior:
            if from_ms <= span.start_ms < to_ms:
                total += span.minutes
            continue
        overlap = min(span.end_ms, to_ms) - max(span.start_ms, from_ms)
        if overlap > 0:
            total += span.minutes * overlap // (span.end_ms - span.start_ms)
    return total


@dataclass(frozen=True, slots=True)
class Standing:
    """One volunteer's hours per rolling year (newest first, minutes) and what they make of it."""

    volunteer_id: str
    home_site: str | None
    years: tuple[int, ...]  # minutes in rolling year 1, 2, … (at most MAX_YEARS_SHOWN)
    years_kept: int
    status: Status

    @property
    def minutes_this_year(self) -> int:
        return self.years[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "volunteer_id": self.volunteer_id,
            "home_site": self.home_site,
            "minutes_this_year": self.minutes_this_year,
            "hours_this_year": round(self.minutes_this_year / 60, 1),
            "weekly_average_hours": round(self.minutes_this_year / 60 * 7 / YEAR_DAYS, 2),
            "years": list(self.years),
            "years_kept": self.years_kept,
            "status": self.status.value,
        }


def standing(
    volunteer_id: str,
    home_site: str | None,
    spans: Iterable[WorkedSpan],
    day: datetime.date,
    rule: Thresholds,
) -> Standing:
    """Where one volunteer stands on ``day`` by ``rule``, from their worked spans."""
    mine = list(spans)
    years = []
    for k in range(MAX_YEARS_SHOWN):
        last = day - datetime.timedelta(days=YEAR_DAYS * k)
        first = last - datetime.timedelta(days=YEAR_DAYS - 1)
        years.append(minutes_in(mine, day_start_ms(first), day_start_ms(last + datetime.timedelta(days=1))))
    kept = 0
    while kept < len(years) and years[kept] >= rule.year_minutes:
        kept += 1
    required = years[: rule.years_required]
    if kept >= rule.years_required:
        status = Status.QUALIFIES
    elif all(minutes >= rule.close_minutes for minutes in required):
        status = Status.CLOSE
    else:
        status = Status.NOT_YET
    return Standing(volunteer_id, home_site, tuple(years), kept, status)


@dataclass(frozen=True, slots=True)
class Report:
    """Every visible volunteer's standing on ``day`` under ``thresholds``, most hours first."""

    day: datetime.date
    thresholds: Thresholds
    rows: tuple[Standing, ...]

    def listed(self) -> tuple[Standing, ...]:
        """Those who qualify, then those who are close: what the console lists."""
        return tuple(r for r in self.rows if r.status is Status.QUALIFIES) + tuple(
            r for r in self.rows if r.status is Status.CLOSE
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "thresholds": self.thresholds.to_json(),
            "volunteers": [row.to_json() for row in self.rows],
        }


def eligibility(
    ctx: ServerContext,
    *,
    day: datetime.date | None = None,
    sites: Collection[str] | None = None,
    thresholds: Thresholds | None = None,
) -> Report:
    """Every volunteer whose home site is in ``sites`` (``None``: all), with where they stand on ``day``.

    ``day`` defaults to today (local); ``thresholds`` to the settings.
    """
    day = local_today(ctx.now_ms()) if day is None else check_day(day)
    start = day_start_ms(day - datetime.timedelta(days=YEAR_DAYS * MAX_YEARS_SHOWN - 1))
    end = day_start_ms(day + datetime.timedelta(days=1))
    with ctx.storage.read() as tx:
        rule = read_thresholds(tx) if thresholds is None else thresholds
        homes = tx.volunteers_of_sites(sites)
        spans = tx.worked_spans(homes.keys(), start, end)
    by_volunteer: dict[str, list[WorkedSpan]] = {v: [] for v in homes}
    for span in spans:
        by_volunteer[span.volunteer_id].append(span)
    rows = [standing(v, homes[v], by_volunteer[v], day, rule) for v in homes]
    rows.sort(key=lambda r: (-r.years_kept, -r.minutes_this_year, r.volunteer_id))
    return Report(day, rule, tuple(rows))
