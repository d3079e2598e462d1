"""What the console's review, rules and hours pages show: plain data per principal, filtered by site.

The pages are thin templates over these functions.  Everything a principal
sees is filtered by the sites where it holds the permission (``review`` for
the queue, ``decide`` for rules and hours); an object outside answers 404 as
if it did not exist.  Times are shown in Europe/Berlin.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from protocol import Reason, parse_decision
from protocol.earning import ZONE
from protocol.economy.shifts import MS_PER_HOUR
from server import admin, foureyes
from server.context import ServerContext
from server.errors import ServiceError
from server.principals import Permission, Principal

OBVIOUS_REASONS: Final = frozenset({"shift_too_long", "day_too_long", "missing_check_out"})
OBVIOUS_MAX_MS: Final = 12 * MS_PER_HOUR
RULE_KINDS: Final = ("site_rules", "kiosk_limits")


def local(ms: int | None) -> str:
    """``ms`` as a local date and time for people (``07.12.2026 08:30``), ``""`` for none."""
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(ZONE).strftime("%d.%m.%Y %H:%M")


def local_input(ms: int | None) -> str:
    """``ms`` as the value of an ``<input type="datetime-local">`` (``2026-12-07T08:30``)."""
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(ZONE).strftime("%Y-%m-%dT%H:%M")


def _site_names(ctx: ServerContext) -> dict[str, str]:
    with ctx.storage.read() as tx:
        return {site.site_id: site.name for site in tx.list_sites()}


def _shift_item(item: Mapping[str, Any], names: Mapping[str, str], may_decide: bool) -> dict[str, Any]:
    start, end = item.get("start_ms"), item.get("end_ms")
    ref = item.get("ref")
    length = (end - start) if isinstance(start, int) and isinstance(end, int) else None
    obvious = (
        ref is not None
        and item.get("in_kiosk") is not None
        and length is not None
        and 0 <= length < OBVIOUS_MAX_MS
        and item.get("reason") in OBVIOUS_REASONS
    )
    bulk = {"kind": "review", "kiosk": "", "seq": "", "action": "approve", "start_ms": "", "end_ms": ""}
    if ref is not None:
        bulk |= {"kiosk": ref["kiosk"], "seq": str(ref["seq"]), "reason": "approved_as_tapped"}
    return {
        **item,
        "site_name": names.get(item["site_id"], item["site_id"]),
        "start": local(start),
        "end": local(end),
        "start_input": local_input(start),
        "end_input": local_input(end),
        "hours": "" if length is None else f"{length / MS_PER_HOUR:.1f}",
        "obvious": obvious and may_decide,
        "bulk_value": json.dumps(bulk, sort_keys=True),
        "may_decide": may_decide and ref is not None,
    }


def review_view(ctx: ServerContext, principal: Principal) -> dict[str, Any]:
    """The review queue of the principal's sites: shifts, held redemptions and overdrafts, and the count.

    Each item says whether the principal may decide it (``decide`` for its site),
    and shifts say whether they are obvious (taps at both ends, under 12 h, held
    only for their length): those can be approved in bulk, each signed.
    """
    names = _site_names(ctx)
    items = [i for i in admin.review(ctx)["items"] if principal.may(Permission.REVIEW, i["site_id"])]
    shifts, redemptions = [], []
    for item in items:
        may_decide = principal.may(Permission.DECIDE, item["site_id"])
        if item["item"] == "shift":
            shifts.append(_shift_item(item, names, may_decide))
        else:
            redemptions.append(
                {
                    **item,
                    "site_name": names.get(item["site_id"], item["site_id"]),
                    "when": local(item.get("wall_ms")),
                    "may_decide": may_decide,
                }
            )
    return {"shifts": shifts, "redemptions": redemptions, "count": len(items)}


def rules_view(ctx: ServerContext, principal: Principal, site_id: str | None) -> dict[str, Any]:
    """The check-in sites the principal decides for, one of them chosen, and its rules' history.

    The history lists every signed ``site_rules`` and ``kiosk_limits`` decision
    for the site, newest first, with who signed it (the coordinator key) and when.
    """
    with ctx.storage.read() as tx:
        sites = [
            s
            for s in tx.list_sites()
            if s.kind.value == "checkin" and principal.may(Permission.DECIDE, s.site_id)
        ]
        rows = tx.decisions_of_kinds(RULE_KINDS)
        threshold = foureyes.threshold_minutes(tx)
    if site_id is not None and site_id not in {s.site_id for s in sites}:
        raise ServiceError(Reason.UNKNOWN_SITE, "no such site", status=404)
    chosen = next((s for s in sites if s.site_id == site_id), sites[0] if sites else None)
    history = []
    for row in rows:
        decision = parse_decision(row.body)
        if chosen is None or decision.data.get("site") != chosen.site_id:
            continue
        data = {k: v for k, v in decision.data.items() if k != "site"}
        history.append(
            {
                "when": local(row.received_ms),
                "kind": row.kind,
                "coordinator": row.coordinator_id,
                "log_index": row.log_index,
                "changes": ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(data.items())),
            }
        )
    history.reverse()
    return {
        "sites": [s.to_json() for s in sites],
        "site": None if chosen is None else chosen.to_json(),
        "bonuses_json": "[]" if chosen is None else json.dumps([dict(b) for b in chosen.bonuses], indent=1),
        "history": history,
        "four_eyes_hours": f"{threshold / 60:g}",
    }


def hours_form(ctx: ServerContext, principal: Principal, query: Mapping[str, str]) -> dict[str, Any]:
    """The manual-shift form, pre-filled from ``query``, and the sites the principal decides for.

    ``query`` may hold ``volunteer`` (their newest unblocked card is chosen), ``card``,
    ``site``, ``start``, ``end`` (local times or ms) and ``reason``.
    """
    with ctx.storage.read() as tx:
        sites = [
            s
            for s in tx.list_sites()
            if s.kind.value == "checkin" and principal.may(Permission.DECIDE, s.site_id)
        ]
        threshold = foureyes.threshold_minutes(tx)
        card = query.get("card", "")
        volunteer = query.get("volunteer", "")
        # Only a volunteer whose home site the principal decides for: else their card ID would show.
        if volunteer and not card and principal.may(Permission.DECIDE, tx.home_site(volunteer)):
            cards = (tx.get_card(card_id) for card_id in tx.cards_by_volunteer().get(volunteer, []))
            usable = [c.card_id for c in cards if c is not None and c.blocked_ms is None]
            card = usable[-1] if usable else ""
    return {
        "sites": [s.to_json() for s in sites],
        "values": {
            "card": card,
            "site": query.get("site", sites[0].site_id if sites else ""),
            "start_ms": query.get("start", ""),
            "end_ms": query.get("end", ""),
            "reason": query.get("reason", "no_kiosk"),
        },
        "four_eyes_hours": f"{threshold / 60:g}",
    }
