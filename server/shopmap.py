"""The map on ``/laeden``: a pluggable layer, chosen once at start-up; ours is a schematic district map.

OpenStreetMap tiles cannot be fetched where this runs (and a page that loads
them would tell a tile server who looks at the directory), so the default
layer, :class:`SchematicDistrictMap`, draws Hannover's 13 Stadtbezirke itself:
each district is a few cells of a coarse grid, placed roughly where it lies,
with borders where neighbouring cells belong to different districts.  It is a
schematic, not a map to navigate by: the list with addresses is the page's
primary view, and the map's text alternative is the legend beside it.

A layer is anything with :meth:`MapLayer.render`; :data:`MAP_LAYERS` names the
ones a settings file may choose (``map_layer = "schematic"``, see
``docs/operations.md``).  :func:`server.app.create_app` takes the chosen
instance and keeps it on the app's state, so there is no global to swap in tests.
A layer with real tiles would be one more entry here.

Example::

    layer = map_layer("schematic")
    svg = layer.render(pins, title="Läden je Stadtbezirk", description="…")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from markupsafe import Markup, escape


@dataclass(frozen=True, slots=True)
class DistrictPin:
    """One district as the map shows it: its key and name, official number, shop count, and link."""

    key: str
    name: str
    number: int  # 1–13, the city's numbering
    shops: int
    href: str  # where its marker leads (the list filtered to the district)
    selected: bool = False


class MapLayer(Protocol):
    """Draws the districts with a marker for each that has shops, as markup safe to put in a page."""

    name: str

    def render(self, pins: Sequence[DistrictPin], *, title: str, description: str) -> Markup:
        """The map as inline SVG (or other markup); ``title`` and ``description`` are its accessible name."""
        ...


# The schematic: 10 × 8 cells, one letter per district (the key below), "." outside the city.
_GRID: Final = (
    "..HHBBB...",
    ".HHNBBBB..",
    "AHNNVVBKMM",
    "AALXXVKKMM",
    "AALLXSKKMM",
    ".RRSSSEEE.",
    ".RRDDEEEE.",
    "..RDD.EE..",
)
_LETTERS: Final[Mapping[str, str]] = {
    "X": "mitte",
    "V": "vahrenwald-list",
    "B": "bothfeld-vahrenheide",
    "K": "buchholz-kleefeld",
    "M": "misburg-anderten",
    "E": "kirchrode-bemerode-wuelferode",
    "S": "suedstadt-bult",
    "D": "doehren-wuelfel",
    "R": "ricklingen",
    "L": "linden-limmer",
    "A": "ahlem-badenstedt-davenstedt",
    "H": "herrenhausen-stoecken",
    "N": "nord",
}
_CELL: Final = 48
_MARGIN: Final = 8


def _cells() -> dict[str, list[tuple[int, int]]]:
    """Each district's cells as ``(column, row)``."""
    found: dict[str, list[tuple[int, int]]] = {}
    for row, line in enumerate(_GRID):
        for column, letter in enumerate(line):
            if letter != ".":
                found.setdefault(_LETTERS[letter], []).append((column, row))
    return found


def _anchor(cells: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """The centre of the district's cell nearest its centroid: where its number or marker goes."""
    mean_x = sum(c for c, _ in cells) / len(cells)
    mean_y = sum(r for _, r in cells) / len(cells)
    column, row = min(cells, key=lambda cell: ((cell[0] - mean_x) ** 2 + (cell[1] - mean_y) ** 2, cell))
    return _MARGIN + column * _CELL + _CELL // 2, _MARGIN + row * _CELL + _CELL // 2


def _borders() -> str:
    """One SVG path of every edge between cells of different districts, or of a district and outside."""

    def at(column: int, row: int) -> str:
        if 0 <= row < len(_GRID) and 0 <= column < len(_GRID[row]):
            return _GRID[row][column]
        return "."

    parts = []
    for row, line in enumerate(_GRID):
        for column, letter in enumerate(line):
            if letter == ".":
                continue
            x, y = _MARGIN + column * _CELL, _MARGIN + row * _CELL
            if at(column, row - 1) != letter:
                parts.append(f"M{x} {y}h{_CELL}")
            if at(column, row + 1) != letter and at(column, row + 1) == ".":
                parts.append(f"M{x} {y + _CELL}h{_CELL}")
            if at(column - 1, row) != letter:
                parts.append(f"M{x} {y}v{_CELL}")
            if at(column + 1, row) != letter and at(column + 1, row) == ".":
                parts.append(f"M{x + _CELL} {y}v{_CELL}")
    return "".join(parts)


class SchematicDistrictMap:
    """Hannover's 13 Stadtbezirke drawn on a coarse grid by us: no tiles, no network, no script.

    Each district is a group (``data-district``) whose cells carry the class
    ``has-shops`` when it has any; a district with shops gets a round marker
    with the count, a link to the list of its shops; one without shows its
    number (the legend beside the map names them).  The markers are for the
    mouse and the finger: inside ``role="img"`` a screen reader hears the
    map's title and description, and the keyboard skips them (``tabindex=-1``)
    because the legend holds the same links.
    """

    name = "schematic"

    def __init__(self) -> None:
        self._cells = _cells()
        self._borders = _borders()
        self._size = (_MARGIN * 2 + _CELL * len(_GRID[0]), _MARGIN * 2 + _CELL * len(_GRID))

    def render(self, pins: Sequence[DistrictPin], *, title: str, description: str) -> Markup:
        width, height = self._size
        out = [
            f'<svg class="district-map" viewBox="0 0 {width} {height}" role="img" '
            f'aria-labelledby="map-title map-desc" xmlns="http://www.w3.org/2000/svg">',
            f'<title id="map-title">{escape(title)}</title><desc id="map-desc">{escape(description)}</desc>',
        ]
        markers = []
        for pin in pins:
            cells = self._cells.get(pin.key)
            if not cells:
                continue
            classes = "district" + (" has-shops" if pin.shops else "") + (" selected" if pin.selected else "")
            out.append(f'<g class="{classes}" data-district="{escape(pin.key)}">')
            for column, row in cells:
                x, y = _MARGIN + column * _CELL, _MARGIN + row * _CELL
                out.append(f'<rect x="{x}" y="{y}" width="{_CELL}" height="{_CELL}"/>')
            out.append("</g>")
            cx, cy = _anchor(cells)
            if pin.shops:
                markers.append(
                    f'<a href="{escape(pin.href)}" class="pin" data-district="{escape(pin.key)}" '
                    f'data-shops="{pin.shops}" tabindex="-1">'
                    f'<circle cx="{cx}" cy="{cy}" r="15"/>'
                    f'<text x="{cx}" y="{cy}" dy="0.35em" text-anchor="middle">{pin.shops}</text></a>'
                )
            else:
                markers.append(
                    f'<text class="number" x="{cx}" y="{cy}" dy="0.35em" text-anchor="middle" '
                    f'aria-hidden="true">{pin.number}</text>'
                )
        out.append(f'<path class="borders" d="{self._borders}"/>')
        out.extend(markers)
        out.append("</svg>")
        return Markup("".join(out))


MAP_LAYERS: Final[Mapping[str, Callable[[], MapLayer]]] = {"schematic": SchematicDistrictMap}


def map_layer(name: str) -> MapLayer:
    """The layer a settings file names (:data:`MAP_LAYERS`); ``KeyError`` for an unknown name."""
    return MAP_LAYERS[name]()
