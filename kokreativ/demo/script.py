"""The demo's script: who works where, the day's taps and acts, and how times read in its output."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from protocol.localtime import SITE_ZONE, shown_clock
from terminal.clock import SimulatedClock

SITE_NAME = "Freizeitheim Linden"
SHOP_NAME = "Stadtteilladen Linden"
PRESETS = (("Kaffee", 2), ("Brötchen", 1))
TOKENS_PER_HOUR = 10
VOLUNTEERS = ("Alex Beispiel", "Bo Muster", "Chris Probe")
UNKNOWN_UID = bytes.fromhex("04deadbeef0001")
COPY_UID = bytes.fromhex("04c0ffee000001")  # a "magic" card whose UID its owner chose


@dataclass(frozen=True)
class ScriptedTap:
    """One step of the simulated day: at ``clock`` (HH:MM:SS), ``who`` taps."""

    clock: str
    who: int | None  # index into VOLUNTEERS; None is a card kokreativ does not know
    note: str = ""
    copy: bool = False  # not the volunteer's card but a copy of its credential on another tag


# 08:00-20:10 at one community centre.  Alex double-taps by accident, someone tries a copy of Bo's card,
# Chris never checks out.
DAY: tuple[ScriptedTap, ...] = (
    ScriptedTap("08:00:00", 0),
    ScriptedTap("08:00:04", 0, "accidental double tap"),
    ScriptedTap("09:15:00", 1),
    ScriptedTap("12:30:00", 0),
    ScriptedTap("13:05:00", None, "a card kokreativ never issued"),
    ScriptedTap("13:20:00", 1, "Bo's credential copied onto a magic card", copy=True),
    ScriptedTap("14:00:00", 2, "Chris will forget to check out"),
    ScriptedTap("17:45:00", 1),
    ScriptedTap("18:00:00", 0),
    ScriptedTap("20:10:00", 0),
)


# When the acts happen on the story's day (Europe/Berlin, the site's zone).  The server's clock and
# the kiosks' move through them in this order and never back (kokreativ.demo.ledger), so the printed
# times read as one day.
OPENS = "07:30"  # the coordinator starts the server, provisions the cards, enrols the kiosk and the till
SHOP_OFFLINE = "20:30"  # Bo buys a coffee at the till while the network is down
BACK_ONLINE = "21:30"  # the server is back; the kiosk syncs
SHOP_ONLINE = "21:35"  # Alex and Chris at the till, online
POWER_CUT = "21:45"  # the kiosk reboots at 1970; Bo works an hour
REVIEW = "08:00"  # the next morning: the coordinator reads the results, an auditor checks the log


@dataclass(frozen=True)
class StoryDay:
    """The day the demo tells: two days ago, so its next morning is past too when the window opens."""

    date: dt.date

    @classmethod
    def before(cls, today: dt.date) -> StoryDay:
        """The story's day for a demo run on ``today``."""
        return cls(today - dt.timedelta(days=2))

    def next_day(self) -> StoryDay:
        """The morning after."""
        return StoryDay(self.date + dt.timedelta(days=1))

    def ms(self, clock: str) -> int:
        """``HH:MM`` or ``HH:MM:SS`` on this day in the site's zone (Europe/Berlin), in ms since the epoch.

        The story's times lie between 07:00 and 23:00, never in the hour a clock change skips.
        """
        time = dt.time.fromisoformat(clock)
        return int(dt.datetime.combine(self.date, time, tzinfo=SITE_ZONE).timestamp() * 1000)


def wind_to(clock: SimulatedClock, wall_ms: int) -> None:
    """Let a kiosk's simulated clock run on to ``wall_ms`` (its monotonic reading moves with it)."""
    if wall_ms < clock.wall_ms:
        raise ValueError("the demo's story never goes back in time")
    clock.advance((wall_ms - clock.wall_ms) / 1000)


def format_hours(minutes: int) -> str:
    """``270`` reads ``4:30 h``."""
    return f"{minutes // 60}:{minutes % 60:02d} h"


def format_time(ms: int | None) -> str:
    """A wall time in ms as ``HH:MM`` in the site's zone (the story says which), or a gap for no end."""
    if ms is None:
        return "  …  "
    return shown_clock(ms)
