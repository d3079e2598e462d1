"""Earning rules: how a shift's start and end become tokens (``docs/economy.md``, "Rounding rule").

Pure functions over integers and the Europe/Berlin time zone; no storage, no
clock.  The server pays shifts with them, the auditor replays the log with
them, and a check-in kiosk estimates a shift at check-out with the rules its
trust list carries, so the three cannot drift apart.  Minutes are weighed per
stretch of constant weight, not one by one (the docs say why that is exact).
"""

from __future__ import annotations

import datetime
import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol
from zoneinfo import ZoneInfo

from protocol.errors import MalformedError
from protocol.events import MAX_AMOUNT
from protocol.reasons import Reason

ZONE: Final = ZoneInfo("Europe/Berlin")
MS_PER_MINUTE: Final = 60_000
MS_PER_DAY: Final = 86_400_000
MAX_BONUSES: Final = 16
MAX_BONUS_DATES: Final = 64
MAX_TOKENS_PER_HOUR: Final = 1_000_000
MAX_SHIFT_HOURS: Final = 7 * 24
MAX_DAILY_CAP: Final = MAX_AMOUNT
DEFAULT_MAX_SHIFT_HOURS: Final = 12
RULES_FIELDS: Final = frozenset({"bonuses", "daily_cap", "max_shift_hours", "tokens_per_hour"})
_BONUS_FIELDS: Final = frozenset({"percent", "days", "dates", "from", "to"})
_TIME: Final = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
_EPOCH_ORDINAL: Final = datetime.date(1970, 1, 1).toordinal()
_EPOCH_WEEKDAY: Final = 3  # 1970-01-01 was a Thursday (0 = Monday)


def _offset_ms(t_ms: int) -> int:
    """The zone's UTC offset at instant ``t_ms``.  Transitions fall on whole seconds."""
    offset = datetime.datetime.fromtimestamp(t_ms // 1000, tz=ZONE).utcoffset()
    assert offset is not None
    return (offset.days * 86_400 + offset.seconds) * 1000


def _day_number(day: datetime.date) -> int:
    return day.toordinal() - _EPOCH_ORDINAL


def _minutes_of(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _clock_text(ms: int) -> str:
    minutes = ms // MS_PER_MINUTE
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# -- checking the JSON form ----------------------------------------------------------------------------
def _check_int(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise MalformedError(Reason.BAD_FIELD, f"{field} must be an integer from {low} to {high}")
    return value


def _check_bonus(value: object, field: str) -> None:
    if not isinstance(value, dict) or set(value) != _BONUS_FIELDS:
        raise MalformedError(Reason.BAD_FIELD, f"a bonus has exactly {sorted(_BONUS_FIELDS)}")
    _check_int(value["percent"], f"{field}.percent", 100, 1000)
    days, dates = value["days"], value["dates"]
    if not isinstance(days, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6 for d in days
    ):
        raise MalformedError(Reason.BAD_FIELD, "bonus days are weekdays 0 (Monday) to 6")
    if not isinstance(dates, list) or len(dates) > MAX_BONUS_DATES:
        raise MalformedError(Reason.BAD_FIELD, f"bonus dates are a list of at most {MAX_BONUS_DATES}")
    for text in dates:
        try:
            parsed = datetime.date.fromisoformat(text) if isinstance(text, str) and len(text) == 10 else None
        except ValueError:
            parsed = None
        if parsed is None or parsed.isoformat() != text:
            raise MalformedError(Reason.BAD_FIELD, "bonus dates are YYYY-MM-DD")
    if days != sorted(set(days)) or dates != sorted(set(dates)):
        raise MalformedError(Reason.NOT_CANONICAL, "bonus days and dates are sorted, without repeats")
    if not days and not dates:
        raise MalformedError(Reason.BAD_FIELD, "a bonus needs days or dates")
    for name in ("from", "to"):
        if not isinstance(value[name], str) or _TIME.fullmatch(value[name]) is None:
            raise MalformedError(Reason.BAD_FIELD, f"bonus {name} is HH:MM")


def check_bonuses(value: object, field: str) -> list[Any]:
    """``value`` if it is a list of at most 16 bonuses in canonical form; :class:`MalformedError` if not.

    ``bad_field`` for a wrong shape or value, ``not_canonical`` for days or
    dates out of order or repeated.  ``field`` names the list in messages.
    """
    if not isinstance(value, list) or len(value) > MAX_BONUSES:
        raise MalformedError(Reason.BAD_FIELD, f"{field} is a list of at most {MAX_BONUSES} bonuses")
    for bonus in value:
        _check_bonus(bonus, field)
    return value


# -- bonuses and weights -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Bonus:
    """One bonus window, with days as day numbers (days since 1970-01-01) and times in ms after midnight."""

    percent: int
    weekdays: frozenset[int]
    dates: frozenset[int]
    start: int  # ms after local midnight
    end: int

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Bonus:
        """A bonus as a ``site_rules`` decision carries it, already checked (:func:`check_bonuses`)."""
        return cls(
            percent=int(obj["percent"]),
            weekdays=frozenset(int(d) for d in obj["days"]),
            dates=frozenset(_day_number(datetime.date.fromisoformat(d)) for d in obj["dates"]),
            start=_minutes_of(obj["from"]) * MS_PER_MINUTE,
            end=_minutes_of(obj["to"]) * MS_PER_MINUTE,
        )

    def to_json(self) -> dict[str, Any]:
        """The canonical JSON form, the same object :meth:`from_json` read."""
        return {
            "dates": [datetime.date.fromordinal(d + _EPOCH_ORDINAL).isoformat() for d in sorted(self.dates)],
            "days": sorted(self.weekdays),
            "from": _clock_text(self.start),
            "percent": self.percent,
            "to": _clock_text(self.end),
        }

    def listed(self, day: int) -> bool:
        """Whether local day number ``day`` is one of the bonus's weekdays or dates."""
        return (day + _EPOCH_WEEKDAY) % 7 in self.weekdays or day in self.dates

    def holds(self, day: int, time_ms: int) -> bool:
        """Whether the local wall-clock time ``time_ms`` (after midnight) of day ``day`` is in the window."""
        if self.start == self.end:
            return self.listed(day)
        if self.start < self.end:
            return self.start <= time_ms < self.end and self.listed(day)
        return (time_ms >= self.start and self.listed(day)) or (time_ms < self.end and self.listed(day - 1))


def parse_bonuses(bonuses: Iterable[Mapping[str, Any]]) -> tuple[Bonus, ...]:
    """Bonuses already checked (:func:`check_bonuses`), as :class:`Bonus` values in the same order."""
    return tuple(Bonus.from_json(bonus) for bonus in bonuses)


def weight_at(wall_ms: int, bonuses: Iterable[Bonus]) -> int:
    """The percent a minute starting at local wall-clock ``wall_ms`` (ms since 1970-01-01 local) weighs."""
    day, time_ms = divmod(wall_ms, MS_PER_DAY)
    return max((b.percent for b in bonuses if b.holds(day, time_ms)), default=100)


def _offset_pieces(first: int, last: int) -> list[tuple[int, int]]:
    """``(piece start, offset)`` covering the instants ``first..last``, one per UTC offset in force.

    Offsets are sampled once a day and a change is located by bisection (over
    seconds); a zone never changes its offset twice within a day.
    """
    offset = _offset_ms(first)
    pieces = [(first, offset)]
    probe = first
    while probe < last:
        step = min(probe + MS_PER_DAY, last)
        later = _offset_ms(step)
        if later != offset:
            low, high = probe // 1000, step // 1000  # offset(low) == offset, offset(high) == later
            while high - low > 1:
                middle = (low + high) // 2
                if _offset_ms(middle * 1000) == offset:
                    low = middle
                else:
                    high = middle
            pieces.append((high * 1000, later))
            offset = later
        probe = step
    return pieces


def weight_sum(start_ms: int, end_ms: int, bonuses: tuple[Bonus, ...]) -> int:
    """Σ of the weights (in percent) of the shift's whole minutes; ``minutes * 100`` without bonuses."""
    minutes = max(0, end_ms - start_ms) // MS_PER_MINUTE
    if minutes == 0 or not bonuses:
        return minutes * 100
    last = start_ms + (minutes - 1) * MS_PER_MINUTE  # the last minute's first instant
    times = sorted({0, *(b.start for b in bonuses), *(b.end for b in bonuses)})
    pieces = _offset_pieces(start_ms, last)
    total = 0
    for number, (piece_start, offset) in enumerate(pieces):
        piece_end = pieces[number + 1][0] if number + 1 < len(pieces) else last + 1
        # Inside a piece, wall = instant + offset grows with the instant; the weight can change
        # only where the wall clock crosses one of `times` on some day.
        cuts = {piece_start, piece_end}
        for day in range((piece_start + offset) // MS_PER_DAY, (piece_end - 1 + offset) // MS_PER_DAY + 1):
            for time_ms in times:
                instant = day * MS_PER_DAY + time_ms - offset
                if piece_start < instant < piece_end:
                    cuts.add(instant)
        edges = sorted(cuts)
        for low, high in itertools.pairwise(edges):
            first = -((start_ms - low) // MS_PER_MINUTE)  # index of the first minute at or after low
            stop = -((start_ms - high) // MS_PER_MINUTE)
            if stop > first:
                total += (stop - first) * weight_at(start_ms + first * MS_PER_MINUTE + offset, bonuses)
    return total


# -- days and the cap ----------------------------------------------------------------------------------
def local_day_number(t_ms: int) -> int:
    """The Europe/Berlin calendar day holding instant ``t_ms``, as days since 1970-01-01 (cheap)."""
    return (t_ms + _offset_ms(t_ms)) // MS_PER_DAY


def local_day(t_ms: int) -> tuple[int, int]:
    """``[start, end)`` in ms of the Europe/Berlin calendar day holding instant ``t_ms`` (23 to 25 hours)."""
    day = datetime.datetime.fromtimestamp(t_ms // 1000, tz=ZONE).date()
    midnight = datetime.time(0, tzinfo=ZONE)
    start = datetime.datetime.combine(day, midnight)
    end = datetime.datetime.combine(day + datetime.timedelta(days=1), midnight)
    return int(start.timestamp()) * 1000, int(end.timestamp()) * 1000


def capped(tokens: int, daily_cap: int, paid_today: int) -> int:
    """What a shift worth ``tokens`` pays under ``daily_cap`` (0: none) after ``paid_today``; never < 0."""
    if daily_cap == 0:
        return tokens
    return max(0, min(tokens, daily_cap - paid_today))


# -- a site's rules ------------------------------------------------------------------------------------
class SiteRules(Protocol):
    """Anything that holds a check-in site's rules as a ``site_rules`` decision sets them (a server site)."""

    @property
    def tokens_per_hour(self) -> int: ...
    @property
    def max_shift_hours(self) -> int: ...
    @property
    def daily_cap(self) -> int: ...
    @property
    def bonuses(self) -> Iterable[Mapping[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class EarningRules:
    """A check-in site's earning rules, parsed once for the shifts of one batch, decision or check-out.

    ``max_shift_hours`` does not change what a shift is worth: a longer shift
    goes to review instead of paying (:mod:`server.shifts`), and a kiosk takes
    a tap after it as a new check-in.  It travels with the rules so that a
    kiosk learns it from its trust list.
    """

    tokens_per_hour: int
    daily_cap: int = 0
    bonuses: tuple[Bonus, ...] = ()
    max_shift_hours: int = DEFAULT_MAX_SHIFT_HOURS

    @classmethod
    def of_site(cls, site: SiteRules) -> EarningRules:
        return cls(site.tokens_per_hour, site.daily_cap, parse_bonuses(site.bonuses), site.max_shift_hours)

    @classmethod
    def from_json(cls, value: object, field: str = "earning") -> EarningRules:
        """Rules as a trust list carries them, checked strictly (exact fields, ranges of ``site_rules``).

        Raises :class:`MalformedError` (``bad_field``, or ``not_canonical`` for unsorted bonus days).
        """
        if not isinstance(value, dict) or set(value) != RULES_FIELDS:
            raise MalformedError(Reason.BAD_FIELD, f"{field} has exactly {sorted(RULES_FIELDS)}")
        return cls(
            tokens_per_hour=_check_int(
                value["tokens_per_hour"], f"{field}.tokens_per_hour", 0, MAX_TOKENS_PER_HOUR
            ),
            daily_cap=_check_int(value["daily_cap"], f"{field}.daily_cap", 0, MAX_DAILY_CAP),
            bonuses=parse_bonuses(check_bonuses(value["bonuses"], f"{field}.bonuses")),
            max_shift_hours=_check_int(
                value["max_shift_hours"], f"{field}.max_shift_hours", 1, MAX_SHIFT_HOURS
            ),
        )

    def to_json(self) -> dict[str, Any]:
        """The rules as ``site_rules`` states them, without ``site``; :meth:`from_json` reads it."""
        return {
            "bonuses": [bonus.to_json() for bonus in self.bonuses],
            "daily_cap": self.daily_cap,
            "max_shift_hours": self.max_shift_hours,
            "tokens_per_hour": self.tokens_per_hour,
        }

    def tokens(self, start_ms: int, end_ms: int) -> int:
        """What the shift is worth before the daily cap."""
        if not self.bonuses:
            return max(0, end_ms - start_ms) // MS_PER_MINUTE * self.tokens_per_hour // 60
        return weight_sum(start_ms, end_ms, self.bonuses) * self.tokens_per_hour // 6000

    def capped(self, tokens: int, paid_today: int) -> int:
        return capped(tokens, self.daily_cap, paid_today)
