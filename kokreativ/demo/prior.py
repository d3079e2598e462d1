"""``demo --serve``: Alex's and Bo's engagement from before the ledger, so the Ehrenamtskarte page has people.

The Ehrenamtskarte asks for hours over two years in a row; the demo's ledger
holds two days.  So the demo coordinator records what Alex and Bo did before
(a signed ``prior_hours`` decision each year, as the console's prior
engagement form makes them): Alex meets the threshold, Bo nearly does.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from provisioning.client import ApiClient
from provisioning.coordinator_keys import load_coordinator_key, send_decision, sign

HOURS = ((270, 265), (215, 210))  # (the year before last, last year) for Alex and for Bo


def _day_ms(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp() * 1000)


def prior_engagement(
    workdir: Path, url: str, admin_token: str, card_ids: list[str], site_id: str, before: dt.date
) -> list[dict[str, Any]]:
    """Two years of prior hours for each of the first two cards, up to the day ``before``; the answers."""
    key_file = workdir / "coordinator" / "coordinator.key"  # registered by the four-eyes act
    key = load_coordinator_key(key_file)
    years = (
        (before - dt.timedelta(days=730), before - dt.timedelta(days=365)),
        (before - dt.timedelta(days=365), before),
    )
    answers = []
    with ApiClient(url, admin_token=admin_token) as admin:
        for card_id, hours in zip(card_ids, HOURS, strict=False):
            for (start, end), minutes in zip(years, (h * 60 for h in hours), strict=True):
                data = {
                    "card": card_id,
                    "site": site_id,
                    "from_ms": _day_ms(start),
                    "to_ms": _day_ms(end),
                    "minutes": minutes,
                    "reason": "prior_engagement",
                }
                wire = sign(key, "prior_hours", data)
                answers.append(
                    send_decision(admin, wire, pending=key_file.with_name("coordinator.key.pending"))
                )
    return answers
