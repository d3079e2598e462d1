"""Statements and the review list as coordinators read them: fetched from the admin API, shown as tables.

The server computes every statement (``docs/economy.md``, "Statements"); this
module only asks for it and lays it out.  The CSV is the server's own
(``?format=csv``), passed through byte for byte, so a spreadsheet and the JSON
always come from one computation::

    statement = volunteer_statement(client, "v_…", first=date(2026, 11, 1), last=date(2026, 11, 30))
    print(render_volunteer(statement, site_names(client)))

Times are shown in local time (Europe/Berlin); periods are local days, the last one included.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TextIO

from protocol import Reason
from protocol.localtime import ZONE_NAME
from provisioning.client import ApiClient
from provisioning.coordinator_keys import format_bonus, format_local, local_days_ms
from provisioning.errors import ProvisioningError, ServerRefused


def volunteer_for_card(client: ApiClient, card_id: str) -> str:
    """The volunteer a card is registered to."""
    for card in client.list_cards():
        if card.get("card_id") == card_id:
            return str(card["volunteer_id"])
    raise ServerRefused(Reason.UNKNOWN_CARD, f"no card {card_id}")


def site_names(client: ApiClient) -> dict[str, str]:
    """Site ID to name, for tables that would otherwise show only IDs."""
    return {str(site["site_id"]): str(site.get("name", "")) for site in client.list_sites()}


def _fetch(
    client: ApiClient, what: str, subject: str, first: dt.date | None, last: dt.date | None, *, csv: bool
) -> dict[str, Any] | str:
    from_ms, to_ms = local_days_ms(first, last)
    return client.statement(what, subject, from_ms=from_ms, to_ms=to_ms, csv=csv)


def volunteer_statement(
    client: ApiClient, volunteer_id: str, *, first: dt.date | None = None, last: dt.date | None = None
) -> dict[str, Any]:
    """A volunteer's statement for local days ``first`` to ``last`` (both included; ``None``: open)."""
    answer = _fetch(client, "volunteers", volunteer_id, first, last, csv=False)
    assert isinstance(answer, dict)
    return answer


def shop_statement(
    client: ApiClient, site_id: str, *, first: dt.date | None = None, last: dt.date | None = None
) -> dict[str, Any]:
    """A shop's settlement for local days ``first`` to ``last`` (both included; ``None``: open)."""
    answer = _fetch(client, "shops", site_id, first, last, csv=False)
    assert isinstance(answer, dict)
    return answer


def statement_csv(
    client: ApiClient, what: str, subject: str, *, first: dt.date | None = None, last: dt.date | None = None
) -> str:
    """The server's CSV of a ``volunteers`` or ``shops`` statement for the same period."""
    answer = _fetch(client, what, subject, first, last, csv=True)
    assert isinstance(answer, str)
    return answer


def write_output(text: str, target: str, stdout: TextIO) -> None:
    """Write ``text`` to the file ``target``, or to ``stdout`` when ``target`` is ``-``."""
    if target == "-":
        stdout.write(text)
        return
    try:
        with open(Path(target).expanduser(), "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    except OSError as exc:
        raise ProvisioningError("cannot_write", f"{target}: {exc.strerror}") from exc


# -- tables ----------------------------------------------------------------------------------------


def table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], *, right: frozenset[int] = frozenset()
) -> str:
    """Rows under headers in aligned columns; columns whose index is in ``right`` are right-aligned."""
    cells = [[str(h) for h in headers], *[["-" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def _site(site_id: object, names: Mapping[str, str]) -> str:
    """A site's name where known (the IDs are in ``--json`` and ``--csv``), else its ID."""
    return names.get(str(site_id)) or str(site_id)


def _signed(value: object) -> str:
    return f"{value:+d}" if isinstance(value, int) else str(value)


def _period(statement: Mapping[str, Any]) -> str:
    start, end = statement.get("from_ms"), statement.get("to_ms")
    return f"{format_local(start) if start else 'the beginning'} to {format_local(end) if end else 'now'}"


def render_volunteer(statement: Mapping[str, Any], names: Mapping[str, str] | None = None) -> str:
    """A volunteer statement as text: the period, every entry with its running balance, the totals."""
    names = names or {}
    who = statement.get("name") or ""
    rows = [
        (
            format_local(e.get("at_ms")),
            e.get("kind"),
            _signed(e.get("delta")),
            e.get("balance"),
            _site(e.get("site_id"), names),
            e.get("card_id"),
            e.get("log_index"),
        )
        for e in statement.get("entries", [])
    ]
    lines = [
        f"Volunteer {statement.get('volunteer_id')}" + (f"  {who}" if who else ""),
        f"Period    {_period(statement)} (local time, {ZONE_NAME})",
        f"Opening balance  {statement.get('opening_balance')}",
        "",
        table(("when", "what", "change", "balance", "site", "card", "log"), rows, right=frozenset({2, 3, 6}))
        if rows
        else "(no entries in this period)",
        "",
        f"Earned  {_signed(statement.get('earned'))}   Redeemed  {statement.get('redeemed')}   "
        f"Voided  {statement.get('voided')}",
        f"Closing balance  {statement.get('closing_balance')}",
    ]
    return "\n".join(lines) + "\n"


def render_shop(statement: Mapping[str, Any]) -> str:
    """A shop settlement as text: every redemption in the period and the totals to settle.

    Redemptions held for review (status ``held``) and those rejected there are listed but
    owed nothing; the lines under the totals say how much waits and how much was rejected.
    """
    rows = [
        (
            format_local(r.get("wall_ms")),
            r.get("redemption_id"),
            r.get("card_id"),
            r.get("amount"),
            r.get("status"),
            "online" if r.get("online") else "offline",
            "yes" if r.get("overdraft") else "",
        )
        for r in statement.get("redemptions", [])
    ]
    lines = [
        f"Shop      {statement.get('site_id')}  {statement.get('name') or ''}".rstrip(),
        f"Period    {_period(statement)} (local time, {ZONE_NAME}, by the terminal's clock)",
        "",
        table(
            ("when", "redemption", "card", "amount", "status", "mode", "overdraft"),
            rows,
            right=frozenset({3}),
        )
        if rows
        else "(no redemptions in this period)",
        "",
        f"Redemptions  {statement.get('count')}   Redeemed  {statement.get('redeemed')}   "
        f"Voided  {statement.get('voided')}",
        f"To settle    {statement.get('to_settle')}",
    ]
    held = statement.get("held") or 0
    if held:
        lines.append(
            f"Held         {held}   offline, beyond the till's limits: waiting for a coordinator's review, "
            "owed only once approved"
        )
    rejected = sum(
        r.get("amount") or 0 for r in statement.get("redemptions", []) if r.get("status") == "rejected"
    )
    if rejected:
        lines.append(f"Rejected     {rejected}   held, then rejected in review: never owed")
    return "\n".join(lines) + "\n"


def render_rules(site: Mapping[str, Any]) -> str:
    """A check-in site's earning rules and kiosk limits as text (``provision rules show``).

    Refuses a shop with ``not_a_shop``: its limits are in ``shop list``.
    """
    if site.get("kind") != "checkin":
        raise ServerRefused(
            Reason.NOT_A_SHOP, f"{site.get('site_id')} is a shop; `shop list` shows its limits"
        )
    cap = site.get("daily_cap") or 0
    bonuses = [format_bonus(b) for b in site.get("bonuses", [])]
    lines = [
        f"Site      {site.get('site_id')}  {site.get('name') or ''}".rstrip(),
        f"Earning   {site.get('tokens_per_hour')} tokens an hour; "
        f"daily cap {cap if cap else 'none'} (tokens per volunteer and day at this site)",
        f"Bonuses   {', '.join(bonuses) if bonuses else 'none'}",
        "",
        "Shifts beyond these go to review instead of being paid:",
        f"  max_shift_hours  {site.get('max_shift_hours'):>3}  the longest shift",
        f"  max_day_hours    {site.get('max_day_hours'):>3}  most hours paid to one card for shifts "
        "starting on one day, all sites together",
        f"  backdate_days    {site.get('backdate_days'):>3}  most days between a shift's end and "
        "when it reaches the server",
        "",
        "Change them: kokreativ provision rules set|limits SITE --key FILE",
    ]
    return "\n".join(lines) + "\n"


def shift_ref(item: Mapping[str, Any]) -> str:
    """A review item's shift as ``k_…:SEQ``, the form ``review approve`` takes."""
    ref = item.get("ref")
    return f"{ref.get('kiosk')}:{ref.get('seq')}" if isinstance(ref, Mapping) else "-"


# What each reason on the review list means, for people deciding it (docs/economy.md, "Review").
REASON_WORDS: Final[Mapping[str, str]] = {
    "missing_check_out": "checked in, never checked out: approve with --end",
    "check_out_without_check_in": "checked out without checking in: approve with --start",
    "shift_too_long": "longer than the site's longest shift (max_shift_hours)",
    "clock_inconsistent": "the kiosk's clock contradicts itself: check the times",
    "before_enrolment": "dated before the kiosk was enrolled (set up): its clock, or a copied key",
    "backdated": "reached the server more than the site's backdate_days after it ended",
    "shift_overlap": "overlaps another paid shift of the same card",
    "day_too_long": "with the card's other shifts that day, more than the site's max_day_hours hours a day",
    "overdraft": "the balance went below zero; acknowledge it, later shifts pay it back",
    "redeem_backdated": "dated more than 72 hours before it reached the server",
    "offline_over_allowance": "more than the till may take offline from this card (its offline allowance)",
    "offline_over_daily_cap": "over the till's offline limit for the day (its offline daily cap)",
}


def _legend(reasons: Sequence[object]) -> list[str]:
    """The lines explaining each known reason among ``reasons``, in the order they first appear."""
    known = [r for r in dict.fromkeys(str(r) for r in reasons) if r in REASON_WORDS]
    if not known:
        return []
    width = max(len(r) for r in known)
    return ["", "What the reasons mean:", *(f"  {r.ljust(width)}  {REASON_WORDS[r]}" for r in known)]


def render_review(items: Sequence[Mapping[str, Any]], names: Mapping[str, str] | None = None) -> str:
    """The review list as tables, each with the command that decides it, and what each reason means.

    Shifts (``review approve|reject k_…:SEQ``), overdrafts (``review acknowledge r_…``) and
    held offline redemptions (``review approve|reject r_…``): nothing was debited for those
    yet, and the shop is owed one only once it is approved.
    """
    names = names or {}
    shifts = [i for i in items if i.get("item") == "shift"]
    overdrafts = [i for i in items if i.get("item") == "overdraft"]
    held = [i for i in items if i.get("item") == "held"]
    if not shifts and not overdrafts and not held:
        return "Nothing to review.\n"
    parts: list[str] = []
    if shifts:
        rows: list[tuple[object, ...]] = [
            (
                shift_ref(s),
                s.get("reason"),
                s.get("card_id"),
                _site(s.get("site_id"), names),
                format_local(s.get("start_ms")),
                format_local(s.get("end_ms")),
                s.get("minutes"),
            )
            for s in shifts
        ]
        parts += [
            f"Shifts ({len(shifts)}): kokreativ provision review approve|reject SHIFT --reason CODE",
            table(("shift", "reason", "card", "site", "start", "end", "minutes"), rows, right=frozenset({6})),
        ]
    if overdrafts:
        rows = [
            (
                o.get("redemption_id"),
                o.get("card_id"),
                o.get("amount"),
                o.get("balance"),
                _site(o.get("site_id"), names),
                format_local(o.get("wall_ms")),
            )
            for o in overdrafts
        ]
        if parts:
            parts.append("")
        parts += [
            f"Overdrafts ({len(overdrafts)}): kokreativ provision review acknowledge r_… --reason CODE",
            table(("redemption", "card", "amount", "balance", "shop", "when"), rows, right=frozenset({2, 3})),
        ]
    if held:
        parts += _held_table(held, names, first=not parts)
    parts += _legend([i.get("reason") for i in (*shifts, *overdrafts, *held)])
    parts += ["", f"Times are local ({ZONE_NAME})."]
    return "\n".join(parts) + "\n"


def _held_table(held: Sequence[Mapping[str, Any]], names: Mapping[str, str], *, first: bool) -> list[str]:
    """Held redemptions: the till's time (which a stolen key sets) beside when the server received it."""
    rows = [
        (
            h.get("redemption_id"),
            h.get("reason"),
            h.get("card_id"),
            h.get("amount"),
            h.get("balance"),
            _site(h.get("site_id"), names),
            h.get("kiosk_id"),
            format_local(h.get("wall_ms")),
            format_local(h.get("received_ms")),
        )
        for h in held
    ]
    headers = ("redemption", "reason", "card", "amount", "balance", "shop", "till", "till's time", "received")
    return [
        *([] if first else [""]),
        f"Held redemptions ({len(held)}), nothing debited yet: "
        "kokreativ provision review approve|reject r_… --reason CODE",
        "  approve: the card is debited now and the shop is owed it; reject: never debited, never owed",
        table(headers, rows, right=frozenset({3, 4})),
    ]
