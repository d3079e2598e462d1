"""The console's reports: hours and tokens per site and month, and shop settlements.

Each report is a :class:`Table`: columns and rows, the same data for the page's
table, its CSV (:meth:`Table.csv`, :func:`server.statements.to_csv`) and its PDF
(:func:`render_pdf`, fpdf2).  Every function takes the caller's ``sites``
(:mod:`server.visibility`) and reports only those: a coordinator gets their
sites, a shop owner their shops.

* :func:`hours_by_site` – per local month (Europe/Berlin) of a year and check-in site:
  paid shifts, distinct volunteers, real hours and the tokens credited for them.
  Hours and tokens stay apart: a site's rate, cap or a correction makes them differ.
* :func:`shop_settlements` – per shop and local month: what
  :func:`server.statements.shop_statement` says (redeemed, voided, owed, held).

These are reports for the people who run the economy, not public figures: no
small-count suppression (that is :mod:`server.totals`), and no names or card IDs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from protocol import Reason
from protocol.earning import ZONE
from protocol.economy import SiteKind
from server import statements
from server.context import ServerContext
from server.errors import InputError
from server.visibility import Sites, visible

_MONTH: Final = re.compile(r"(20[0-9]{2})-(0[1-9]|1[0-2])")
_YEAR: Final = re.compile(r"20[0-9]{2}")
_FAMILY: Final = "Text"


@dataclass(frozen=True, slots=True)
class Column:
    """A column: the row key (also the CSV header) and the label a page shows (an English msgid)."""

    key: str
    label: str


@dataclass(frozen=True, slots=True)
class Table:
    """A report: a title, its columns and its rows (dicts by column key), as page, CSV and PDF alike."""

    title: str
    columns: tuple[Column, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def csv(self) -> str:
        """The rows as CSV under the column keys; a list (kiosks, alarms) is one cell, space-separated."""
        keys = [c.key for c in self.columns]
        flat = [
            {k: " ".join(row[k]) if isinstance(row[k], list) else row[k] for k in keys} for row in self.rows
        ]
        return statements.to_csv(keys, flat)


def _start(year: int, month: int) -> int:
    return int(datetime(year, month, 1, tzinfo=ZONE).timestamp() * 1000)


def parse_month(text: str | None, *, now_ms: int) -> tuple[str, int, int]:
    """``YYYY-MM`` (default: the local month of ``now_ms``) as ``(text, from_ms, to_ms)``, or ``bad_field``.

    ``[from_ms, to_ms)`` is the month in Europe/Berlin time.
    """
    if text is None or text == "":
        text = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(ZONE).strftime("%Y-%m")
    match = _MONTH.fullmatch(text)
    if match is None:
        raise InputError(Reason.BAD_FIELD, "month must be YYYY-MM")
    year, month = int(match[1]), int(match[2])
    after = _start(year + 1, 1) if month == 12 else _start(year, month + 1)
    return text, _start(year, month), after


def parse_year(text: str | None, *, now_ms: int) -> int:
    """``YYYY`` (default: the local year of ``now_ms``); else ``bad_field``."""
    if text is None or text == "":
        return datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(ZONE).year
    if _YEAR.fullmatch(text) is None:
        raise InputError(Reason.BAD_FIELD, "year must be YYYY")
    return int(text)


HOURS_COLUMNS: Final = (
    Column("month", "Month"),
    Column("site_id", "Site ID"),
    Column("site", "Site"),
    Column("shifts", "Shifts"),
    Column("volunteers", "Volunteers"),
    Column("hours", "Hours"),
    Column("tokens", "Tokens credited"),
)


def hours_by_site(ctx: ServerContext, sites: Sites, year: int) -> Table:
    """Paid shifts starting in local ``year`` at ``sites``, per month and site; empty months are left out.

    Summed in the database by local month (``paid_hours_by_period``), so the table costs a
    few dozen rows however many shifts the year holds (``make bench-scale``).
    """
    bounds = [_start(year, month) for month in range(1, 13)] + [_start(year + 1, 1)]
    with ctx.storage.read() as tx:
        names = {s.site_id: s.name for s in tx.list_sites() if visible(sites, s.site_id)}
        paid = tx.paid_hours_by_period(bounds)
    rows = [
        {
            "month": f"{year:04d}-{row.period + 1:02d}",
            "site_id": row.site_id,
            "site": names[row.site_id],
            "shifts": row.shifts,
            "volunteers": row.volunteers,
            "hours": round(row.minutes / 60, 2),
            "tokens": row.tokens,
        }
        for row in paid
        if row.site_id in names
    ]
    rows.sort(key=lambda row: (row["month"], str(row["site"]).casefold(), row["site_id"]))
    return Table("Hours and tokens per site and month", HOURS_COLUMNS, rows)


SETTLEMENT_COLUMNS: Final = (
    Column("month", "Month"),
    Column("shop_id", "Shop ID"),
    Column("shop", "Shop"),
    Column("count", "Redemptions"),
    Column("redeemed", "Redeemed"),
    Column("voided", "Voided"),
    Column("to_settle", "Owed to the shop"),
    Column("held", "Held for review"),
)


def shop_settlements(ctx: ServerContext, sites: Sites, month: str, from_ms: int, to_ms: int) -> Table:
    """Per shop of ``sites``, by name: its settlement for ``[from_ms, to_ms)`` (one local month)."""
    with ctx.storage.read() as tx:
        shops = [s for s in tx.list_sites() if s.kind is SiteKind.SHOP and visible(sites, s.site_id)]
    rows = []
    for shop in sorted(shops, key=lambda s: (s.name.casefold(), s.site_id)):
        document = statements.shop_statement(
            ctx, shop.site_id, {"from_ms": str(from_ms), "to_ms": str(to_ms)}
        ).content
        assert isinstance(document, dict)
        rows.append(
            {
                "month": month,
                "shop_id": shop.site_id,
                "shop": shop.name,
                **{key: document[key] for key in ("count", "redeemed", "voided", "to_settle", "held")},
            }
        )
    return Table("Shop settlements", SETTLEMENT_COLUMNS, rows)


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}".replace(".", ",")
    return str(value)


def render_pdf(
    table: Table,
    *,
    title: str,
    labels: Mapping[str, str] | None = None,
    note: str = "",
    font: Path | None = None,
) -> bytes:
    """``table`` as an A4 landscape PDF; ``labels`` are the column headings (translated), by key.

    Embeds DejaVu Sans where the system has it (:data:`server.personpdf.FONT_CANDIDATES`),
    else falls back to Helvetica, which prints Latin-1 only.
    """
    from fpdf import FPDF  # imported when a PDF is made: fpdf takes 0.25 s to import
    from fpdf.fonts import FontFace

    from server.personpdf import FONT_CANDIDATES

    font = font if font is not None else next((p for p in FONT_CANDIDATES if p.is_file()), None)

    pdf = FPDF(orientation="landscape", format="A4")
    pdf.set_title(title)
    pdf.set_author("kokreativ")
    family = "Helvetica"
    if font is not None:
        pdf.add_font(_FAMILY, "", str(font))
        bold = font.with_name("DejaVuSans-Bold.ttf")
        pdf.add_font(_FAMILY, "B", str(bold if bold.is_file() else font))
        family = _FAMILY

    def clean(text: str) -> str:
        return (
            text
            if font is not None
            else text.replace("–", "-").encode("latin-1", "replace").decode("latin-1")
        )

    pdf.add_page()
    pdf.set_font(family, "B", 15)
    pdf.multi_cell(0, 8, clean(title), new_x="LMARGIN", new_y="NEXT")
    if note:
        pdf.set_font(family, "", 9)
        pdf.multi_cell(0, 5, clean(note), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font(family, "", 9)
    heads: Sequence[str] = [(labels or {}).get(c.key, c.label) for c in table.columns]
    if not table.rows:
        pdf.multi_cell(0, 5, clean("–"), new_x="LMARGIN", new_y="NEXT")
    else:
        with pdf.table(headings_style=FontFace(emphasis="BOLD"), line_height=5) as out:
            for cells in [heads, *([_cell(row[c.key]) for c in table.columns] for row in table.rows)]:
                line = out.row()
                for cell in cells:
                    line.cell(clean(cell))
    return bytes(pdf.output())
