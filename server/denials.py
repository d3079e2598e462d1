"""Denied attempts at the kiosks, counted per day, site, kiosk and reason, for coordinators (issue 20).

A kiosk that refuses a tap signs a ``denied`` event whose ``data.reason`` says why
(``unknown_card``, ``card_blocked``, ``uid_mismatch`` …) and syncs it like any other.
:func:`denied_attempts` counts them over a range of local days (Europe/Berlin), only
at the caller's sites (:mod:`server.visibility`): a coordinator of another site sees
nothing, an economy-wide principal sees every site.  No card is named, not even a
pseudonym: counts are what a coordinator needs, and a card's owner is not theirs to learn.

A *burst* is :data:`BURST_COUNT` or more ``uid_mismatch`` refusals at one kiosk within
:data:`BURST_WINDOW_MS`: a card whose signed content does not fit its chip, over and
over, which is what trying copied cards looks like.  Its day's row is marked, and the
page says so in plain words.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from protocol import Reason
from protocol.earning import ZONE
from server.context import ServerContext
from server.errors import InputError
from server.visibility import Sites, visible

BURST_REASON: Final = "uid_mismatch"
BURST_COUNT: Final = 3
BURST_WINDOW_MS: Final = 3_600_000
DEFAULT_DAYS: Final = 14
MAX_DAYS: Final = 366
_SLACK_MS: Final = 86_400_000  # a denied tap may arrive days late; one stamped a day before arrival counts
_REASON: Final = re.compile(r"[a-z][a-z0-9_]{0,39}")
_ID: Final = re.compile(r"[a-z]_[A-Za-z0-9_-]{1,60}")


def _day(text: str | None, name: str, default: date) -> date:
    if not text:
        return default
    try:
        return date.fromisoformat(text[:10]) if len(text) == 10 else _refuse(name)
    except ValueError:
        return _refuse(name)


def _refuse(name: str) -> date:
    raise InputError(Reason.BAD_FIELD, f"{name} is a date YYYY-MM-DD")


def parse_filters(params: Mapping[str, str], today: date) -> dict[str, Any]:
    """``from``, ``to`` (local days; default the last :data:`DEFAULT_DAYS`), ``site``, ``reason``."""
    to_day = _day(params.get("to"), "to", today)
    from_day = _day(params.get("from"), "from", to_day - timedelta(days=DEFAULT_DAYS - 1))
    if from_day > to_day or (to_day - from_day).days >= MAX_DAYS:
        raise InputError(Reason.BAD_FIELD, f"from is a day before to, at most {MAX_DAYS} days apart")
    site = params.get("site") or None
    if site is not None and _ID.fullmatch(site) is None:
        raise InputError(Reason.BAD_FIELD, "site is a site ID")
    reason = params.get("reason") or None
    if reason is not None and _REASON.fullmatch(reason) is None:
        raise InputError(Reason.BAD_FIELD, "reason is a reason code")
    return {"from": from_day, "to": to_day, "site": site, "reason": reason}


def _midnight(day: date) -> int:
    return int(datetime.combine(day, time(), tzinfo=ZONE).timestamp() * 1000)


def _local_day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(ZONE).date().isoformat()


def today(ctx: ServerContext) -> date:
    """The server's today in the sites' time zone."""
    return datetime.fromtimestamp(ctx.now_ms() / 1000, UTC).astimezone(ZONE).date()


def denied_attempts(ctx: ServerContext, sites: Sites, params: Mapping[str, str]) -> dict[str, Any]:
    """The denied attempts at ``sites`` as the query ``params`` filter them (:func:`parse_filters`).

    ``{"from", "to", "site", "reason", "time_zone", "rows", "bursts", "reasons", "total"}``:
    ``rows`` are ``{"day", "site_id", "site_name", "kiosk_id", "reason", "count", "burst"}``,
    newest day first; ``bursts`` ``{"day", "site_id", "site_name", "kiosk_id", "count",
    "first", "last"}`` (ISO 8601 with the offset); ``reasons`` every reason seen in the range
    at those sites, for the filter.  A site outside ``sites`` is filtered to nothing, as if
    it had no denied attempts.
    """
    filters = parse_filters(params, today(ctx))
    from_ms, to_ms = _midnight(filters["from"]), _midnight(filters["to"] + timedelta(days=1))
    with ctx.storage.read() as tx:
        found = [row for row in tx.denied_between(from_ms, to_ms, _SLACK_MS) if visible(sites, row.site_id)]
        names = {site.site_id: site.name for site in tx.list_sites()}
    reasons = sorted({row.reason for row in found})
    chosen = [
        row
        for row in found
        if filters["site"] in (None, row.site_id) and filters["reason"] in (None, row.reason)
    ]
    bursts = _bursts(chosen, names)
    burst_days = {(b["day"], b["kiosk_id"]) for b in bursts}
    counts = Counter((_local_day(row.time_ms), row.site_id, row.kiosk_id, row.reason) for row in chosen)
    rows: list[dict[str, Any]] = [
        {
            "day": day,
            "site_id": site_id,
            "site_name": names.get(site_id, site_id),
            "kiosk_id": kiosk_id,
            "reason": reason,
            "count": count,
            "burst": reason == BURST_REASON and (day, kiosk_id) in burst_days,
        }
        for (day, site_id, kiosk_id, reason), count in counts.items()
    ]
    rows.sort(key=lambda r: (str(r["site_name"]), str(r["kiosk_id"]), str(r["reason"])))
    rows.sort(key=lambda r: str(r["day"]), reverse=True)
    return {
        "from": filters["from"].isoformat(),
        "to": filters["to"].isoformat(),
        "site": filters["site"],
        "reason": filters["reason"],
        "time_zone": ZONE.key,
        "rows": rows,
        "bursts": bursts,
        "reasons": reasons,
        "total": len(chosen),
    }


def _bursts(rows: list[Any], names: Mapping[str, str]) -> list[dict[str, Any]]:
    """One burst per run of ``uid_mismatch`` at a kiosk reaching :data:`BURST_COUNT` within the window."""
    by_kiosk: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        if row.reason == BURST_REASON:
            by_kiosk[row.kiosk_id].append(row)
    found = []
    for kiosk_rows in by_kiosk.values():
        start = 0
        end = 0
        while end < len(kiosk_rows):
            while kiosk_rows[end].time_ms - kiosk_rows[start].time_ms > BURST_WINDOW_MS:
                start += 1
            if end - start + 1 >= BURST_COUNT:
                # Extend the run while taps keep coming within the window of the one before.
                while (
                    end + 1 < len(kiosk_rows)
                    and kiosk_rows[end + 1].time_ms - kiosk_rows[end].time_ms <= BURST_WINDOW_MS
                ):
                    end += 1
                run = kiosk_rows[start : end + 1]
                first, last = run[0], run[-1]
                found.append(
                    {
                        "day": _local_day(first.time_ms),
                        "site_id": first.site_id,
                        "site_name": names.get(first.site_id, first.site_id),
                        "kiosk_id": first.kiosk_id,
                        "count": len(run),
                        "first": _iso(first.time_ms),
                        "last": _iso(last.time_ms),
                    }
                )
                start = end + 1
            end += 1
    found.sort(key=lambda b: str(b["first"]), reverse=True)
    return found


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(ZONE).isoformat(timespec="seconds")
