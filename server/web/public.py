"""The public pages on the economy: ``/`` (the figures), ``/anzeige`` (a town-hall screen), ``/so-gehts``.

Anyone may open them; they read nothing but :func:`server.publicpage.economy`,
itself only the public totals (:mod:`server.totals`: closed months, small
counts suppressed), so no page here can show one person's figures.  Charts are
SVG drawn on the server (:mod:`server.charts`) with a table of the same figures
beside them; no script runs there.  ``/anzeige`` fetches itself again every
:data:`REFRESH_S` seconds (``static/display.js``, a file: the
Content-Security-Policy runs no inline script) and swaps in the new figures,
keeping the last ones up when the network fails; without JavaScript a
``<meta http-equiv="refresh">`` in ``<noscript>`` reloads the page.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Final

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from protocol.earning import ZONE
from server import charts, publicpage
from server.http.access import public
from server.http.common import call
from server.web import web

router = APIRouter(tags=["pages"], dependencies=[Depends(public)])
REFRESH_S: Final = 60


def _month(lang: str, month: str | None, pattern: str = "MMMM yyyy") -> str:
    if not month:
        return ""
    day = datetime.date(int(month[:4]), int(month[5:7]), 1)
    return format_date(day, pattern, locale=lang)


def _period(lang: str, row: Mapping[str, Any], pattern: str = "MMMM yyyy") -> str:
    """A period's label: one month, or its first and last (they pool months of few people)."""
    if row["from"] == row["month"]:
        return _month(lang, row["month"], pattern)
    return f"{_month(lang, row['from'], pattern)} – {_month(lang, row['month'], pattern)}"


def formatters(lang: str) -> dict[str, Any]:
    """The functions the templates format with, for ``lang``: numbers, months, periods, moments."""

    def number(value: float | None) -> str:
        return "" if value is None else format_decimal(value, format="#,##0.#", locale=lang)

    def moment(ms: int | None) -> str:
        if ms is None:
            return ""
        when = datetime.datetime.fromtimestamp(ms / 1000, tz=ZONE)
        return format_datetime(
            when, "d. MMMM yyyy, HH:mm" if lang == "de" else "d MMMM yyyy, HH:mm", locale=lang
        )

    return {
        "number": number,
        "month": lambda month: _month(lang, month),
        "period": lambda row: _period(lang, row),
        "moment": moment,
    }


def _charts(request: Request, figures: Mapping[str, Any]) -> dict[str, str]:
    """The hours chart and the tokens chart over the published periods (empty when none is)."""
    periods = figures["months"]
    if not periods:
        return {}
    gettext = web(request).gettext
    lang = web(request).language(request)
    labels = [_period(lang, row, "MMM yy") for row in periods]
    size = {"tick_every": 1, "gap": 26}
    hours = charts.bar_chart(  # one bar as wide as the two of the tokens chart: both draw at one scale
        gettext(request, "Hours volunteered per month"),
        labels,
        [(gettext(request, "Hours"), [round(row["hours"]) for row in periods])],
        chart_id="hours",
        bar=44,
        **size,
    )
    tokens = charts.bar_chart(
        gettext(request, "Tokens issued and redeemed per month"),
        labels,
        [
            (gettext(request, "Issued"), [int(row["issued"]) for row in periods]),
            (gettext(request, "Redeemed"), [int(row["redeemed"]) for row in periods]),
        ],
        chart_id="tokens",
        bar=22,
        **size,
    )
    return {"hours": hours, "tokens": tokens}


@router.get("/", include_in_schema=False)
async def economy_page(request: Request) -> Response:
    """The economy in figures: headline numbers, charts over months, places, shops, the checkpoint."""
    figures = await call(request, publicpage.economy)
    lang = web(request).language(request)
    return web(request).page(
        request,
        "public/economy.html",
        title=web(request).gettext(request, "The economy"),
        e=figures,
        charts=_charts(request, figures),
        **formatters(lang),
    )


@router.get("/anzeige", include_in_schema=False)
async def display_page(request: Request) -> Response:
    """The same headline figures, big, for a screen in a town hall: no navigation, reloads itself."""
    figures = await call(request, publicpage.economy)
    lang = web(request).language(request)
    return web(request).page(
        request, "public/display.html", e=figures, refresh_s=REFRESH_S, **formatters(lang)
    )


@router.get("/so-gehts", include_in_schema=False)
async def how_it_works_page(request: Request) -> Response:
    """How the economy works, in plain words, with a diagram: tap, kiosk, ledger, shop, audit."""
    return web(request).page(request, "public/how.html", title=web(request).gettext(request, "How it works"))
