"""How the demo prints the server's report and review queue (act 6)."""

from __future__ import annotations

from typing import Any

from kokreativ.demo.script import format_hours, format_time
from protocol.localtime import ZONE_NAME


def print_report(report: list[dict[str, Any]], say: Any) -> None:
    """Each volunteer's balance and paid hours, then their shifts."""
    for volunteer in report:
        say(
            f"   {volunteer['name']:<14} balance {volunteer['balance']:>3} tokens, "
            f"{format_hours(int(volunteer['minutes']))} paid"
        )
        for shift in volunteer["shifts"]:
            if shift["status"] == "open":
                say(f"       {format_time(shift['start_ms'])}–  …    open, never checked out")
                continue
            reason = f" ({shift['reason']})" if shift.get("reason") else ""
            say(
                f"       {format_time(shift['start_ms'])}–{format_time(shift.get('end_ms'))}  "
                f"{shift['status']:<6} {format_hours(int(shift['minutes'] or 0))}  "
                f"{shift['tokens'] or 0} tokens{reason}"
            )


def print_review(review: list[dict[str, Any]], names: dict[str, str], say: Any) -> None:
    """What waits for a coordinator, with the volunteers' names instead of card IDs."""
    say(f"   Waiting for a coordinator's review: {len(review)}")
    for item in review:
        who = names.get(item["card_id"], item["card_id"])
        if item.get("item") == "overdraft":
            say(f"     {who}: overdraft, {item['amount']} tokens at a shop, balance {item['balance']}")
        elif item.get("item") == "held":  # an offline redemption beyond its till's bound
            say(
                f"     {who}: held, {item['amount']} tokens at a shop ({item['reason']}), nothing debited yet"
            )
        else:
            say(f"     {who}: {item['reason']}, from {format_time(item['start_ms'])} ({ZONE_NAME})")
