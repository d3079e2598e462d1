"""The volunteer's access on the issuing sheet: a link with the secret in its fragment, and its QR code.

A new volunteer's registration answers their access secret once
(:mod:`server.sessions`).  The coordinator's tool puts it on the issuing sheet
as ``<server>/ich#k=<secret>``: the secret is in the fragment only, which a
browser never sends to a server, so it reaches no access log or Referer; the
page at ``/ich`` posts it for a session cookie.  The sheet is a text file with
the link, the QR code as an SVG file next to it (both mode 0600: they hold the
secret until printed and handed over), and the same QR code as terminal text.

Example::

    link = access_link("https://ledger.example.org", secret)
    sheet = write_access_sheet(Path("."), card_id="c_…", volunteer_id="v_…", link=link)
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import segno

PAGE: Final = "/ich"


def access_link(server_url: str, secret: str) -> str:
    """The volunteer's link: the server's address, the page ``/ich`` and the secret in the fragment."""
    return f"{server_url.rstrip('/')}{PAGE}#k={secret}"


def terminal_qr(link: str) -> str:
    """``link`` as a QR code drawn with block characters, for the coordinator's terminal."""
    out = io.StringIO()
    segno.make(link, error="m").terminal(out=out, compact=True)
    return out.getvalue()


@dataclass(frozen=True, slots=True)
class AccessSheet:
    """What was written: the sheet's text file and the QR code's SVG file."""

    sheet: Path
    qr_svg: Path


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file readable by its owner only; never overwrite (a sheet is per card)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)


def sheet_text(*, card_id: str, volunteer_id: str, link: str) -> str:
    """The issuing sheet's text, in German for the volunteer, with the IDs for the coordinator."""
    return (
        "kokreativ – dein persönlicher Zugang\n"
        "\n"
        "Mit diesem Link (oder dem QR-Code) siehst du dein Guthaben, deine Schichten und\n"
        "deinen Kontoauszug. Er gehört nur dir: gib ihn nicht weiter. Geht er verloren,\n"
        "stellt dir die Koordination einen neuen aus; der alte gilt dann nicht mehr.\n"
        "\n"
        f"{link}\n"
        "\n"
        f"Karte: {card_id}\n"
        f"Freiwillige:r: {volunteer_id}\n"
    )


def write_access_sheet(folder: Path, *, card_id: str, volunteer_id: str, link: str) -> AccessSheet:
    """Write ``<card_id>-sheet.txt`` and ``<card_id>-access.svg`` into ``folder`` (mode 0600, never over)."""
    folder.mkdir(parents=True, exist_ok=True)
    sheet = folder / f"{card_id}-sheet.txt"
    qr_svg = folder / f"{card_id}-access.svg"
    svg = io.BytesIO()
    segno.make(link, error="m").save(svg, kind="svg", scale=4, border=4)
    _write_private(qr_svg, svg.getvalue())
    _write_private(sheet, sheet_text(card_id=card_id, volunteer_id=volunteer_id, link=link).encode("utf-8"))
    return AccessSheet(sheet=sheet, qr_svg=qr_svg)
