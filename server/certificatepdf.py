"""An hours certificate (:mod:`server.certificates`) as a printable German PDF with its QR code.

One A4 page: the name, the period and the hours, the salt (Prüfcode) that
with the printed name reproduces the logged hash, and a QR code (segno, error
correction M) of the public check URL ``…/nachweis?p=<payload>``.  The QR
image links to the same URL, and the payload is printed in small type too, so a
reader without a camera can copy it from the file.  Umlauts need a Unicode font:
DejaVu Sans as in :mod:`server.personpdf`.

Example::

    pdf_bytes = render_certificate(issued, base_url="https://ledger.example.org", site_name="Repair-Café")
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import segno

from protocol.earning import ZONE
from server.certificates import IssuedCertificate

QR_ERROR: Final = "m"  # 15 % of the code may be smudged or folded and it still reads
QR_WIDTH_MM: Final = 80
_FAMILY: Final = "Text"


@dataclass(frozen=True, slots=True)
class QrFacts:
    """What a certificate's QR code measures: its version (21 + 4·(v−1) modules a side) and content length."""

    version: int
    modules: int
    characters: int


def qr_code(url: str) -> segno.QRCode:
    """The certificate's QR code: byte mode, error correction M, the smallest version that holds ``url``."""
    return segno.make(url, error=QR_ERROR, micro=False, boost_error=False)


def qr_facts(url: str) -> QrFacts:
    code = qr_code(url)
    version = int(code.version)
    return QrFacts(version, 17 + 4 * version, len(url))


def _day(day: object) -> str:
    return day.strftime("%d.%m.%Y") if hasattr(day, "strftime") else str(day)


def _hours(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    return f"{hours} Stunden" + (f" {rest} Minuten" if rest else "")


def _font() -> Path | None:
    from server.personpdf import FONT_CANDIDATES  # with fpdf, only when a PDF is made

    return next((path for path in FONT_CANDIDATES if path.is_file()), None)


def render_certificate(issued: IssuedCertificate, *, base_url: str, site_name: str = "") -> bytes:
    """The certificate as PDF bytes; ``base_url`` is where the public check page ``/nachweis`` is served."""
    url = issued.url(base_url)
    from fpdf import FPDF  # imported when a PDF is made: fpdf takes 0.25 s to import

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_title("Nachweis über ehrenamtliche Tätigkeit")
    pdf.set_author("kokreativ")
    font = _font()
    family = "Helvetica"
    if font is not None:
        pdf.add_font(_FAMILY, "", str(font))
        bold = font.with_name("DejaVuSans-Bold.ttf")
        pdf.add_font(_FAMILY, "B", str(bold if bold.is_file() else font))
        family = _FAMILY

    def clean(text: str) -> str:
        return text if font is not None else text.encode("latin-1", "replace").decode("latin-1")

    pdf.add_page()
    pdf.set_font(family, "B", 18)
    pdf.multi_cell(0, 10, clean("Nachweis über ehrenamtliche Tätigkeit"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(family, "", 11)
    issued_on = datetime.fromtimestamp(issued.issued_ms / 1000, UTC).astimezone(ZONE).strftime("%d.%m.%Y")
    lines = [
        ("Name", issued.name),
        ("Zeitraum", f"{_day(issued.from_day)} bis {_day(issued.to_day)}"),
        ("Ehrenamtliche Stunden", _hours(issued.minutes)),
        ("Ausgestellt am", issued_on + (f" von {site_name}" if site_name else "")),
        ("Prüfcode (Salt)", issued.salt),
        ("Eintrag im Transparenzprotokoll", f"Nr. {issued.index}"),
    ]
    for label, value in lines:
        pdf.set_font(family, "B", 11)
        pdf.cell(65, 8, clean(label))
        pdf.set_font(family, "", 11)
        pdf.multi_cell(0, 8, clean(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(family, "", 10)
    pdf.multi_cell(
        0,
        5,
        clean(
            "Die Stunden sind die im Ledger erfassten Einsätze (an Kiosken erfasst, von der Koordination "
            "eingetragen oder als frühere Tätigkeit bestätigt). Dieser Nachweis ist selbst ein Eintrag im "
            "öffentlichen Transparenzprotokoll. Der QR-Code enthält diesen Eintrag, den Beweis, dass er im "
            "Protokoll steht, und den unterschriebenen Protokollstand. Zum Prüfen den QR-Code scannen oder "
            f"{base_url.rstrip('/')}/nachweis öffnen und Name und Prüfcode genau wie gedruckt eingeben. "
            "Das Protokoll enthält nur Zeitraum, Stunden und einen Hashwert des Namens, keinen Namen."
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(4)
    png = io.BytesIO()
    qr_code(url).save(png, kind="png", scale=4, border=4)
    png.seek(0)
    pdf.image(png, x=(210 - QR_WIDTH_MM) / 2, w=QR_WIDTH_MM, link=url)
    pdf.ln(4)
    pdf.set_font("Courier", "", 6)
    pdf.multi_cell(0, 2.6, url, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
