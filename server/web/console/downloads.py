"""Every table of the console downloads as CSV: ``?format=csv`` (and ``&table=`` where a page has several).

A page answers its own rows (the same ones its table shows) through
:func:`csv_response`, written by :func:`server.statements.to_csv`.  Tables of
one's own settings (my sessions, my device keys) and form grids are marked
``data-csv="exempt"`` in their template instead; ``tests/web/test_web_tables.py``
holds every table of every page to one or the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from protocol import Reason
from server import statements
from server.errors import InputError
from server.web import web


def wanted(request: Request, names: Sequence[str]) -> str | None:
    """Which of the page's tables ``?format=csv&table=`` asks for (the first by default); ``None`` for HTML.

    ``400 bad_field`` for another format or an unknown table name.
    """
    fmt = request.query_params.get("format", "html")
    if fmt == "html":
        return None
    if fmt != "csv":
        raise InputError(Reason.BAD_FIELD, "format must be html or csv")
    name = request.query_params.get("table", names[0])
    if name not in names:
        raise InputError(Reason.BAD_FIELD, f"table must be one of {', '.join(names)}")
    return name


def csv_response(
    request: Request, columns: Sequence[str], rows: Sequence[Mapping[str, Any]], *, filename: str
) -> Response:
    """``rows`` under ``columns`` as a CSV attachment ``filename.csv``."""
    response = Response(statements.to_csv(columns, rows), media_type=statements.CSV)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    web(request).finish(request, response)
    return response
