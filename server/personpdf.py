"""The person export (:mod:`server.personexport`) as a readable German PDF (fpdf2).

Headings and labels are German, times Europe/Berlin.  Umlauts need a Unicode
font: the first of :data:`FONT_CANDIDATES` that exists is embedded (DejaVu Sans
on Debian and Raspberry Pi OS, package ``fonts-dejavu-core``); without one the
PDF falls back to the core Helvetica font, which holds Latin-1 (ä, ö, ü, ß
still print; characters beyond Latin-1 become ``?``).

Example::

    pdf_bytes = render_pdf(export_person(ctx, "v_…"))
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from fpdf import FPDF
from fpdf.fonts import FontFace

from protocol.earning import ZONE

FONT_CANDIDATES: Final = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)
_BOLD: Final = {path: path.with_name("DejaVuSans-Bold.ttf") for path in FONT_CANDIDATES}
_FAMILY: Final = "Text"


def _when(ms: int | None) -> str:
    if ms is None:
        return "–"
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(ZONE).strftime("%d.%m.%Y %H:%M")


def _day(seconds: int | None) -> str:
    if seconds is None:
        return "–"
    return datetime.fromtimestamp(seconds, UTC).astimezone(ZONE).strftime("%d.%m.%Y")


def _text(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "ja" if value else "nein"
    if isinstance(value, dict | list):  # an opening's sealed fields and flags: as in the JSON export
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return str(value)


class _Document:
    """An A4 page flow with a heading style and tables; Unicode font if the system has one."""

    def __init__(self, font: Path | None) -> None:
        self.pdf = FPDF(format="A4")
        self.pdf.set_auto_page_break(auto=True, margin=15)
        self.pdf.set_title("Auskunft über gespeicherte Daten")
        self.pdf.set_author("kokreativ")
        self.unicode = font is not None
        if font is not None:
            self.pdf.add_font(_FAMILY, "", str(font))
            bold = _BOLD.get(font)
            self.pdf.add_font(_FAMILY, "B", str(bold if bold is not None and bold.is_file() else font))
            self.family = _FAMILY
        else:
            self.family = "Helvetica"
        self.pdf.add_page()

    def clean(self, text: str) -> str:
        if self.unicode:
            return text
        return text.replace("–", "-").encode("latin-1", "replace").decode("latin-1")

    def title(self, text: str) -> None:
        self.pdf.set_font(self.family, "B", 16)
        self.pdf.multi_cell(0, 9, self.clean(text), new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(2)

    def heading(self, text: str) -> None:
        self.pdf.ln(3)
        self.pdf.set_font(self.family, "B", 12)
        self.pdf.multi_cell(0, 7, self.clean(text), new_x="LMARGIN", new_y="NEXT")
        self.pdf.set_font(self.family, "", 9)

    def paragraph(self, text: str) -> None:
        self.pdf.set_font(self.family, "", 9)
        self.pdf.multi_cell(0, 5, self.clean(text), new_x="LMARGIN", new_y="NEXT")

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        if not rows:
            self.paragraph("Keine Einträge.")
            return
        self.pdf.set_font(self.family, "", 8)
        with self.pdf.table(
            headings_style=FontFace(emphasis="BOLD"), line_height=4.5, first_row_as_headings=True
        ) as table:
            for cells in [header, *rows]:
                row = table.row()
                for cell in cells:
                    row.cell(self.clean(cell))

    def output(self) -> bytes:
        return bytes(self.pdf.output())


def _font() -> Path | None:
    return next((path for path in FONT_CANDIDATES if path.is_file()), None)


def render_pdf(document: dict[str, Any], *, font: Path | None = None) -> bytes:
    """``document`` (an export) as PDF bytes; ``font`` overrides the search of :data:`FONT_CANDIDATES`."""
    out = _Document(font if font is not None else _font())
    out.title("Auskunft über gespeicherte Daten (Art. 15 und 20 DSGVO)")
    out.paragraph(
        f"Erstellt am {_when(document['generated_ms'])}. Alle Zeiten in deutscher Zeit (Europe/Berlin). "
        "Die maschinenlesbare Fassung (JSON) enthält dieselben Angaben."
    )
    personal = document["personal_data"]
    out.heading("Persönliche Angaben")
    out.table(
        ["Angabe", "Wert"],
        [
            ["Name", _text(None if personal is None else personal["name"])],
            ["Ehrenamtskarte-Nummer", _text(None if personal is None else personal["ehrenamtskarte"])],
            ["Freiwilligen-ID (Pseudonym)", document["volunteer_id"]],
            ["Registriert am", _when(document["registered_ms"])],
            ["Gelöscht am (Art. 17)", _when(document["erased_ms"])],
            ["Guthaben", f"{document['balance']} Token"],
        ],
    )
    out.heading("Karten")
    out.table(
        ["Karten-ID", "Art", "Gültig von", "Gültig bis", "Gesperrt", "Koordinator"],
        [
            [
                card["card_id"],
                "Berechtigung" if card["kind"] == "credential" else "UID",
                _day(card["valid_from_s"]),
                _day(card["valid_until_s"]),
                _when(card["blocked_ms"]) if card["blocked_ms"] is not None else "nein",
                _text(card["coordinator"]),
            ]
            for card in document["cards"]
        ],
    )
    out.heading("Schichten")
    out.table(
        ["Beginn", "Ende", "Ort (ID)", "Minuten", "Token", "Status"],
        [
            [
                _when(s["start_ms"]),
                _when(s["end_ms"]),
                s["site_id"],
                str(s["minutes"]),
                str(s["tokens"]),
                _text(s["status"]),
            ]
            for s in document["shifts"]
        ],
    )
    out.heading("Kontobewegungen")
    out.table(
        ["Zeitpunkt", "Art", "Betrag", "Saldo", "Ort (ID)"],
        [
            [
                _when(line["at_ms"]),
                line["kind"],
                str(line["delta"]),
                str(line["balance"]),
                _text(line["site_id"]),
            ]
            for line in document["ledger"]
        ],
    )
    out.heading("Einlösungen")
    out.table(
        ["Zeitpunkt", "Laden (ID)", "Betrag", "Status"],
        [[_when(r["wall_ms"]), r["site_id"], str(r["amount"]), r["status"]] for r in document["redemptions"]],
    )
    for key, heading in (
        ("access", "Zugangsschlüssel"),
        ("sessions", "Sitzungen"),
        ("certificates", "Stundennachweise"),
        ("prior_hours", "Früheres Engagement (vor dem Ledger)"),
        ("openings", "Öffnungen (Prüfdaten für den Prüfer)"),
    ):
        rows = document.get(key)
        if rows is None:
            continue
        out.heading(heading)
        if not rows:
            out.paragraph("Keine Einträge.")
        for row in rows:
            out.paragraph("; ".join(f"{name}: {_text(value)}" for name, value in row.items()))
    return out.output()
