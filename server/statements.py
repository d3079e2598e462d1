"""Statements: a volunteer's account and a shop's settlement for a period, as JSON or CSV.

``docs/economy.md``, "Statements".  A period is ``[from_ms, to_ms)`` in server
milliseconds, given as query parameters; both are optional (from the start, to
now).  ``format=csv`` gives a header and one row per entry or redemption
(``text/csv``); anything else but ``json`` is ``400 bad_field``.

* A **volunteer statement** lists the ledger entries created in the period,
  each with the balance after it, the site and card it came from and the log
  entry that caused it (``"archived"`` for one logged before the log's
  hand-over).  ``opening_balance`` is the sum of every earlier entry, and
  ``closing_balance = opening_balance + earned − redeemed + voided``.
* A **shop settlement** lists the shop's redemptions whose terminal time
  (``wall_ms``) lies in the period and that moved tokens (``debited`` or since
  ``voided``); ``to_settle = redeemed − voided`` is what the programme owes the shop.
  Offline redemptions ``held`` for review (or ``rejected`` there) are listed too but
  owed nothing: ``held`` sums those still waiting, which an approval turns into ``debited``.

Each statement is read in one transaction, so its totals and lines agree.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, NamedTuple

from protocol import Reason
from protocol.encoding import MAX_SAFE_INT
from server import people
from server.context import ServerContext
from server.errors import InputError, ServiceError
from server.models import RedemptionStatus
from server.redemptions import LEDGER_KIND_REDEEM, LEDGER_KIND_VOID
from server.shifts import LEDGER_KIND_SHIFT, LEDGER_KIND_UNDO
from server.storage import ReadTx

CSV: Final = "text/csv; charset=utf-8"
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet may run as a formula
FORMATS: Final = ("json", "csv")
ENTRY_COLUMNS: Final = ("at_ms", "kind", "delta", "balance", "site_id", "card_id", "ref", "log_index")
# A shop's settlement names no card: the shop preset holds settle_shops, and a month of card IDs would
# link one volunteer's purchases (the till forgets a card after its receipt and the void window).
REDEMPTION_COLUMNS: Final = (
    "redemption_id",
    "wall_ms",
    "kiosk_id",
    "amount",
    "online",
    "status",
    "overdraft",
)
ARCHIVED: Final = "archived"  # log_index of an entry logged before the log's hand-over
_DECIMAL: Final = re.compile(r"0|[1-9][0-9]{0,15}")


class Period(NamedTuple):
    """``[from_ms, to_ms)``; ``to_ms`` ``None`` means no end."""

    from_ms: int
    to_ms: int | None


class Document(NamedTuple):
    """A statement as the caller asked for it: a JSON object, or CSV text."""

    content: dict[str, Any] | str
    media_type: str


def _decimal(params: Mapping[str, str], name: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if not _DECIMAL.fullmatch(value) or int(value) > MAX_SAFE_INT:
        raise InputError(Reason.BAD_FIELD, f"{name} must be milliseconds as a non-negative decimal")
    return int(value)


def parse_period(params: Mapping[str, str]) -> Period:
    """The ``from_ms``/``to_ms`` query parameters; ``bad_field`` unless decimals with from ≤ to."""
    from_ms, to_ms = _decimal(params, "from_ms"), _decimal(params, "to_ms")
    if from_ms is not None and to_ms is not None and from_ms > to_ms:
        raise InputError(Reason.BAD_FIELD, "from_ms must not be after to_ms")
    return Period(from_ms or 0, to_ms)


def parse_format(params: Mapping[str, str]) -> str:
    """``json`` (the default) or ``csv``; ``bad_field`` otherwise."""
    value = params.get("format", "json")
    if value not in FORMATS:
        raise InputError(Reason.BAD_FIELD, f"format must be one of {', '.join(FORMATS)}")
    return value


def to_csv(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> str:
    """A header of ``columns`` and one line per row; ``None`` is empty, booleans are ``true``/``false``.

    A text cell that a spreadsheet would read as a formula (it starts with
    ``= + - @``, a tab or a carriage return: OWASP's "CSV injection") gets a
    leading ``'``: names and reasons are typed by people, and a coordinator opens
    the download in a spreadsheet.  Numbers stay numbers (``-5`` is no formula).
    """

    def cell(value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str) and value.startswith(FORMULA_STARTS):
            return "'" + value
        return value

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows([cell(row[name]) for name in columns] for row in rows)
    return out.getvalue()


def _log_index(index: int | None) -> int | str | None:
    """Where a ledger entry's cause is logged: its index in the current log, or ``"archived"``.

    After a log hand-over (``server.handover``) the stored index of an entry
    logged before it is negative: it points into the archived origin, whose
    entries are the auditor's (``GET /v1/audit/archive/tile/...``), not into the public log.
    """
    return ARCHIVED if index is not None and index < 0 else index


def account(tx: ReadTx, volunteer_id: str, period: Period) -> dict[str, Any]:
    """The account part of a statement: balances, totals and entries of ``volunteer_id`` in ``period``."""
    opening = tx.balance_before(volunteer_id, period.from_ms)
    balance = opening
    totals = {LEDGER_KIND_SHIFT: 0, LEDGER_KIND_REDEEM: 0, LEDGER_KIND_VOID: 0, LEDGER_KIND_UNDO: 0}
    entries = []
    for entry, site_id, card_id in tx.ledger_lines(volunteer_id, period.from_ms, period.to_ms):
        balance += entry.delta
        totals[entry.kind] = totals.get(entry.kind, 0) + entry.delta
        entries.append(
            {
                "at_ms": entry.created_ms,
                "kind": entry.kind,
                "delta": entry.delta,
                "balance": balance,
                "site_id": site_id,
                "card_id": card_id,
                "ref": entry.ref,
                "log_index": _log_index(entry.log_index),
            }
        )
    earned, redeemed, voided = (
        totals[LEDGER_KIND_SHIFT] + totals[LEDGER_KIND_UNDO],  # an undone check-out takes its pay back
        -totals[LEDGER_KIND_REDEEM],
        totals[LEDGER_KIND_VOID],
    )
    # Every ledger entry is one of the three kinds; a new kind must be added to the totals above.
    assert balance == opening + earned - redeemed + voided, f"ledger kinds beyond the statement's: {totals}"
    return {
        "from_ms": period.from_ms,
        "to_ms": period.to_ms,
        "opening_balance": opening,
        "earned": earned,
        "redeemed": redeemed,
        "voided": voided,
        "closing_balance": balance,
        "entries": entries,
    }


def render_account(head: Mapping[str, Any], statement: dict[str, Any], fmt: str) -> Document:
    """``head`` (who the statement is for) followed by ``statement``, as JSON or as CSV of its entries."""
    if fmt == "csv":
        return Document(to_csv(ENTRY_COLUMNS, statement["entries"]), CSV)
    return Document({**head, **statement}, "application/json")


def volunteer_statement(ctx: ServerContext, volunteer_id: str, params: Mapping[str, str]) -> Document:
    """``{"volunteer_id","name","from_ms","to_ms","opening_balance","earned","redeemed","voided",
    "closing_balance","entries":[…]}`` or its CSV; ``404 unknown_volunteer``.

    ``name`` is ``null`` once the volunteer's personal data is erased.
    """
    period, fmt = parse_period(params), parse_format(params)
    with ctx.storage.read() as tx:
        volunteer = people.person(ctx, tx, volunteer_id)
        if volunteer is None:
            raise ServiceError(Reason.UNKNOWN_VOLUNTEER, "no such volunteer")
        statement = account(tx, volunteer_id, period)
    return render_account({"volunteer_id": volunteer_id, "name": volunteer.name}, statement, fmt)


def shop_statement(ctx: ServerContext, site_id: str, params: Mapping[str, str]) -> Document:
    """``{"site_id","name","from_ms","to_ms","redemptions":[…],"count","redeemed","voided","to_settle","held"}``
    or its CSV; ``404 unknown_site``, ``409 not_a_shop`` for a check-in site.
    """
    period, fmt = parse_period(params), parse_format(params)
    with ctx.storage.read() as tx:
        site = tx.get_site(site_id)
        if site is None:
            raise ServiceError(Reason.UNKNOWN_SITE, "no such site")
        if site.shop is None:
            raise ServiceError(Reason.NOT_A_SHOP, f"site {site_id} is not a shop")
        found = tx.shop_redemptions(site_id, period.from_ms, period.to_ms)
    lines = [
        {
            "redemption_id": r.redemption_id,
            "wall_ms": r.wall_ms,
            "kiosk_id": r.kiosk_id,
            "amount": r.amount,
            "online": r.online,
            "status": r.status.value,
            "overdraft": r.overdraft,
        }
        for r in found
    ]
    if fmt == "csv":
        return Document(to_csv(REDEMPTION_COLUMNS, lines), CSV)
    owed = [r for r in found if r.status in (RedemptionStatus.DEBITED, RedemptionStatus.VOIDED)]
    redeemed = sum(r.amount for r in owed)
    voided = sum(r.amount for r in owed if r.status is RedemptionStatus.VOIDED)
    held = sum(r.amount for r in found if r.status is RedemptionStatus.HELD)
    return Document(
        {
            "site_id": site_id,
            "name": site.name,
            "from_ms": period.from_ms,
            "to_ms": period.to_ms,
            "redemptions": lines,
            "count": len(lines),
            "redeemed": redeemed,
            "voided": voided,
            "to_settle": redeemed - voided,
            "held": held,
        },
        "application/json",
    )
