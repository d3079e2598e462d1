"""Times as people and JSON see them: in the site's time zone, and saying so.

Two rules (issue 20), for presentation only; signed fields keep their integer
milliseconds since the epoch:

* A time shown to a person as text is in the site's zone and names it:
  :func:`shown` gives ``07.12.2026 14:05 (Europe/Berlin)``, :func:`shown_clock`
  ``14:05`` for a table whose heading names the zone (:data:`ZONE_NAME`).
* A time in JSON is ISO 8601 with the zone's offset: :func:`iso` gives
  ``2026-12-07T14:05:00+01:00`` (``+02:00`` in summer), which any ISO parser
  turns back into the same instant.

The site's zone is the economy's (:data:`protocol.earning.ZONE`, Europe/Berlin):
its days bound the daily caps, the shop's offline cap and the monthly totals,
so a time shown in any other zone could sit on a day other than the one it
counts for.  One zone, one constant; a city elsewhere changes it there.

Example::

    >>> iso(1796648700000)
    '2026-12-07T14:05:00+01:00'
    >>> shown(1796648700000)
    '07.12.2026 14:05 (Europe/Berlin)'
"""

from __future__ import annotations

import datetime
from typing import Final
from zoneinfo import ZoneInfo

from protocol.earning import ZONE

SITE_ZONE: Final[ZoneInfo] = ZONE
ZONE_NAME: Final[str] = ZONE.key  # "Europe/Berlin": how text names the zone


def local(ms: int, zone: ZoneInfo = SITE_ZONE) -> datetime.datetime:
    """The instant ``ms`` (milliseconds since the epoch) as an aware datetime in ``zone``.

    Whole milliseconds, no float: an instant near a zone change never rounds across it.
    """
    seconds, millis = divmod(ms, 1000)
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC) + datetime.timedelta(milliseconds=millis)
    return moment.astimezone(zone)


def iso(ms: int, zone: ZoneInfo = SITE_ZONE) -> str:
    """``ms`` as ISO 8601 with the offset of ``zone`` at that instant, to the second (for JSON)."""
    return local(ms, zone).isoformat(timespec="seconds")


def iso_or_none(ms: int | None, zone: ZoneInfo = SITE_ZONE) -> str | None:
    """:func:`iso`, or None for no time (JSON null)."""
    return None if ms is None else iso(ms, zone)


def shown(ms: int, zone: ZoneInfo = SITE_ZONE) -> str:
    """``ms`` for a person: ``07.12.2026 14:05 (Europe/Berlin)``, the zone named."""
    return f"{local(ms, zone):%d.%m.%Y %H:%M} ({zone.key})"


def shown_clock(ms: int, zone: ZoneInfo = SITE_ZONE) -> str:
    """The local time of day ``14:05``, for a table or story whose heading names the zone."""
    return f"{local(ms, zone):%H:%M}"
