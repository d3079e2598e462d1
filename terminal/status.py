"""What a kiosk reports about itself: its status and the log evidence it kept, as JSON-ready values.

The ``kokreativ terminal status`` and ``evidence`` commands print these; both
only read the outbox and never create it.
"""

from __future__ import annotations

from typing import Any

from protocol import b64encode
from protocol.clock import now_ms
from protocol.localtime import iso_or_none
from terminal.config import KioskConfig
from terminal.outbox import Outbox, OutboxStatus
from terminal.service import mode_of
from terminal.shop import local_day
from terminal.trust import TrustView


def status_report(config: KioskConfig) -> dict[str, Any]:
    """What ``kokreativ terminal status`` prints: the outbox, sync, alarm, log, key and trust list.

    Reads the outbox only and never creates it: a missing one raises (``not_found``).
    """
    today = local_day(now_ms())
    with Outbox(config.outbox_path, create=False) as outbox:
        status = outbox.status()
        trust = TrustView(outbox, server_key=config.server_public_key, kiosk_id=config.kiosk_id).current()
        offline_today = outbox.offline_total(today)
    shop = None
    if trust is not None and trust.shop is not None:
        limits = trust.shop
        shop = {
            "max_amount": limits.max_amount,
            "offline_allowance": limits.offline_allowance,
            "offline_daily_cap": limits.offline_daily_cap,
            "void_window_s": limits.void_window_s,
            "presets": len(limits.presets),
            # This terminal's offline redemptions today against its cap (docs/economy.md, "Offline").
            "offline_today": {"day": today, "total": offline_today, "cap": limits.offline_daily_cap},
        }
    report = {
        "kiosk_id": config.kiosk_id,
        "mode": str(mode_of(trust)),
        "shop": shop,
        "site": {"site_id": config.site_id, "name": config.site_name},
        "server_url": config.server_url,
        "server_key": _server_key_report(config, status),
        "last_seq": status.last_seq,
        "synced_seq": status.synced_seq,
        "pending": status.pending,
        "open_shifts": status.open_shifts,
        "last_sync": _iso(status.last_sync_ms),
        "last_sync_ms": status.last_sync_ms,
        # How the sync side's last round ended (noted on change, else at most once a minute).
        "sync_round": None
        if status.sync_round_ms is None
        else {"at": _iso(status.sync_round_ms), "error": status.sync_round_error},
        "alarm": status.alarm,
        "alarm_code": status.alarm_code,
        # The server's transparency log as this kiosk last verified it; null before the first sync.
        "log": _log_report(status),
        "evidence": status.evidence,
        # The server's clock minus ours at the last answered heartbeat (positive: ours is behind).
        "clock_offset_ms": status.clock_offset_ms,
        "heartbeat": _iso(status.heartbeat_ms),
        # The reader kind (nfc, stdin, sim) and, for nfc, its nfcpy device (null otherwise).
        "reader": config.reader,
        "device": config.device if config.reader == "nfc" else None,
        # What cards are checked against; null before the first list (every card is then denied).
        "trust_list": None
        if trust is None
        else {
            "issued": _iso(trust.issued_ms),
            "issuer_keys": len(trust.issuers),
            "blocked_cards": len(trust.blocked),
            "allow_uncredentialed": trust.allow_uncredentialed,
        },
    }
    return report


def evidence_report(config: KioskConfig) -> list[dict[str, Any]]:
    """What ``kokreativ terminal evidence`` prints: each inconsistency found in the server's log, dated."""
    with Outbox(config.outbox_path, create=False) as outbox:
        items = outbox.evidence()
    report = [
        {
            **item.to_json(),
            "detected": _iso(item.detected_ms),
            "detected_ms": item.detected_ms,
            "reported": _iso(item.reported_ms),
            "reported_ms": item.reported_ms,
        }
        for item in items
    ]
    return report


def _iso(ms: int | None) -> str | None:
    """A time for the JSON: ISO 8601 in the site's zone with its offset (``…T14:05:00+01:00``)."""
    return iso_or_none(ms)


def _log_report(status: OutboxStatus) -> dict[str, Any] | None:
    verified = status.log
    if verified is None:
        return None
    return {
        "size": verified.size,
        "root": b64encode(verified.root),
        "verified": _iso(verified.verified_ms),
        # The stored checkpoint was verified under the pinned origin: after a log hand-over
        # that is the new one, not the origin enrolment gave (config) or first use pinned.
        "origin": verified.origin,
    }


def _server_key_report(config: KioskConfig, status: OutboxStatus) -> dict[str, Any]:
    """The key the kiosk verifies with, and whether enrolment or a followed rotation pinned it."""
    if status.server_key is None:
        return {"public_key": config.server_public_key.to_b64(), "source": "enrolment", "pinned": None}
    pinned = _iso(status.server_key_pinned_ms)
    return {"public_key": status.server_key, "source": "rotation", "pinned": pinned}
