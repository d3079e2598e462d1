"""``demo --serve``: a shift added by hand that waits for a second person (four eyes).

The demo's coordinator registers a coordinator key, as ``kokreativ provision
coordinator init`` does, and adds Alex's day at a street festival yesterday,
where no kiosk stood: nine hours, more than one person may credit alone
(``four_eyes_minutes``, eight hours by default), so the server keeps the signed
decision in the four-eyes queue (``/console/review/pending``) until another
person with ``decide`` cosigns it in the console.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kokreativ.demo.script import StoryDay
from provisioning.client import ApiClient
from provisioning.coordinator_keys import load_coordinator_key, register_coordinator_key, send_decision, sign

STARTS, ENDS = "08:00", "17:00"


def four_eyes_shift(
    workdir: Path, url: str, admin_token: str, card_id: str, site_id: str, day: StoryDay
) -> dict[str, Any]:
    """Sign and send the manual shift; the server's answer (``pending`` when it waits for a cosignature)."""
    key_file = workdir / "coordinator" / "coordinator.key"
    with ApiClient(url, admin_token=admin_token) as admin:
        register_coordinator_key(admin, key_file, "Demo-Koordination (Schlüsseldatei)", existing=False)
        wire = sign(
            load_coordinator_key(key_file),
            "manual_shift",
            {
                "card": card_id,
                "site": site_id,
                "start_ms": day.ms(STARTS),
                "end_ms": day.ms(ENDS),
                "reason": "no_kiosk",
            },
        )
        return send_decision(admin, wire, pending=key_file.with_name("coordinator.key.pending"))
