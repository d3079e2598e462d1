"""Small charts drawn on the server as inline SVG: no chart library, no JavaScript.

:func:`bar_chart` draws series side by side per label (the overview's tokens issued
and redeemed per day).  Every text is escaped; each bar carries a ``<title>`` with
its value, and the chart a ``<title>`` and ``<desc>``, so a screen reader gets the
numbers, and the page shows the same figures as a table beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Final

# Colours with at least 4.5:1 contrast on white (WCAG AA), and told apart without colour by the legend order.
COLOURS: Final = ("#1f5fa8", "#b34700", "#2e7d32", "#6a1b9a")
_HEIGHT: Final = 160
_BAR: Final = 6
_GAP: Final = 4
_LEFT: Final = 40
_BOTTOM: Final = 22
_TOP: Final = 24


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[int]]],
    *,
    tick_every: int = 5,
    chart_id: str = "chart",
    bar: int = _BAR,
    gap: int = _GAP,
) -> str:
    """An ``<svg>`` with one group of bars per label, one bar per ``(name, values)`` of ``series``.

    Negative values draw as zero-height bars (their ``<title>`` keeps the number);
    the scale is the largest value, at least 1.  ``chart_id`` prefixes the ids of
    the chart's title and description: unique per page when a page shows several.
    ``bar`` and ``gap`` are a bar's width and the space between groups (wider for
    a few months than for the days of one).
    """
    width = max(_LEFT + len(labels) * (len(series) * bar + gap), _LEFT + len(series) * 110) + 10
    top = max([1, *(v for _, values in series for v in values)])
    plot = _HEIGHT - _BOTTOM - _TOP
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" viewBox="0 0 {width} {_HEIGHT}" '
        f'width="{width}" height="{_HEIGHT}" aria-labelledby="{chart_id}-title {chart_id}-desc">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">'
        + escape("; ".join(f"{name}: {sum(values)}" for name, values in series))
        + "</desc>",
    ]
    base = _HEIGHT - _BOTTOM
    parts.append(f'<line x1="{_LEFT}" y1="{base}" x2="{width - 5}" y2="{base}" stroke="#555"/>')
    parts.append(f'<text x="{_LEFT - 4}" y="{_TOP + 4}" text-anchor="end" font-size="10">{top}</text>')
    parts.append(f'<text x="{_LEFT - 4}" y="{base}" text-anchor="end" font-size="10">0</text>')
    for index, label in enumerate(labels):
        x = _LEFT + index * (len(series) * bar + gap)
        for number, (name, values) in enumerate(series):
            value = values[index]
            height = round(max(value, 0) / top * plot)
            colour = COLOURS[number % len(COLOURS)]
            parts.append(
                f'<rect x="{x + number * bar}" y="{base - height}" width="{bar}" height="{height}" '
                f'fill="{colour}"><title>{escape(label)}: {escape(name)} {value}</title></rect>'
            )
        if index == 0 or (index + 1) % tick_every == 0:
            centre = x + len(series) * bar / 2
            parts.append(
                f'<text x="{centre:g}" y="{base + 14}" text-anchor="middle" font-size="10">'
                f"{escape(label)}</text>"
            )
    for number, (name, _) in enumerate(series):
        x = _LEFT + number * 110
        colour = COLOURS[number % len(COLOURS)]
        parts.append(f'<rect x="{x}" y="6" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="15" font-size="11">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)
