"""QR codes drawn on the server for pages: inline SVG (no image request, no data URL needed).

The access link on an issuing sheet is the one :mod:`provisioning.accesssheet`
prints (``<server>/ich#k=<secret>``, the secret in the fragment only, which no
browser sends to a server); this module draws it for the console's sheet.
"""

from __future__ import annotations

import io
from typing import Final

import segno

ACCESS_PAGE: Final = "/ich"


def svg(text: str, *, scale: int = 5) -> str:
    """``text`` as a QR code (error correction M), as an ``<svg>`` element to put in a page."""
    out = io.BytesIO()
    segno.make(text, error="m").save(
        out, kind="svg", scale=scale, border=4, xmldecl=False, svgns=True, title="QR"
    )
    return out.getvalue().decode("utf-8")


def access_sheet_qr(origin: str, secret: str) -> tuple[str, str]:
    """The volunteer's access link for ``origin`` and its QR code as inline SVG."""
    link = f"{origin.rstrip('/')}{ACCESS_PAGE}#k={secret}"
    return link, svg(link)
