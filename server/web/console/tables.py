"""What the overview, fleet and report pages share: local times, and a table as CSV or PDF.

A page's table and its download are the same rows (:class:`server.reports.Table`):
``?format=csv`` answers :meth:`~server.reports.Table.csv`, ``?format=pdf`` the PDF
(:func:`server.reports.render_pdf`) with the headings in the person's language.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from babel.numbers import format_decimal
from fastapi import Request
from fastapi.responses import Response

from protocol import Reason
from protocol.earning import ZONE
from server import reports, statements
from server.errors import InputError
from server.web import web

FORMATS: Final = ("html", "csv", "pdf")
PDF: Final = "application/pdf"


def when(ms: int | None) -> str:
    """``ms`` as local date and time (Europe/Berlin), ``–`` for none."""
    if ms is None:
        return "–"
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(ZONE).strftime("%d.%m.%Y %H:%M")


def number(value: float | int | None, language: str) -> str:
    """``value`` written the person's way (``4,5`` in German)."""
    if value is None:
        return "–"
    return str(format_decimal(value, locale=language))


def parse_format(request: Request) -> str:
    """``html`` (the default), ``csv`` or ``pdf`` from ``?format=``; else ``400 bad_field``."""
    fmt = request.query_params.get("format", "html")
    if fmt not in FORMATS:
        raise InputError(Reason.BAD_FIELD, f"format must be one of {', '.join(FORMATS)}")
    return fmt


def labels(request: Request, table: reports.Table) -> dict[str, str]:
    """The table's column headings in the request's language, by column key."""
    return {c.key: web(request).gettext(request, c.label) for c in table.columns}


def download(request: Request, table: reports.Table, fmt: str, *, filename: str, title: str) -> Response:
    """``table`` as a CSV or PDF attachment called ``filename`` (without extension)."""
    if fmt == "csv":
        response = Response(table.csv(), media_type=statements.CSV)
        extension = "csv"
    else:
        pdf = reports.render_pdf(table, title=title, labels=labels(request, table))
        response = Response(pdf, media_type=PDF)
        extension = "pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}.{extension}"'
    web(request).finish(request, response)
    return response
