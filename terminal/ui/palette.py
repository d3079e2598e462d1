"""The kiosk's colours: one :class:`Palette` per :class:`~terminal.ui.model.Tone`.

This module exists so that every colour on a screen has one source:
:data:`PALETTES` maps ``screen.tone`` to a palette, and neither
:mod:`terminal.ui.view` nor :mod:`terminal.ui.widgets` spells a colour of its
own.  The palettes are plain data, so the contrast of every text colour on its
surface is checked in the tests without drawing anything.

It imports only :mod:`kivy.utils`, which opens no window; importing it still
imports ``kivy`` and so reads Kivy's environment, so the app calls
:func:`terminal.ui.kivyenv.prepare` before importing it too.

Example::

    palette = PALETTES[screen.tone]
    background = palette.rgba("background")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from kivy.utils import get_color_from_hex

from terminal.ui.model import Tone


@dataclass(frozen=True, slots=True)
class Palette:
    """The colours of one :class:`Tone`, as ``#RRGGBB``.

    Each text colour belongs to one surface: ``text``, ``muted``, ``good``
    and ``bad`` are drawn on ``background``, ``button_text`` on ``button``,
    ``primary_text`` on ``primary``, ``field_text`` on ``field``.  The tests
    hold every such pair to a WCAG contrast ratio of at least 4.5:1, and the
    icon (drawn on, and cut out with, the background) to 3:1.
    """

    background: str
    text: str
    muted: str
    icon: str
    button: str
    button_text: str
    primary: str
    primary_text: str
    field: str
    field_text: str
    good: str
    bad: str

    def rgba(self, name: str) -> list[float]:
        """One colour as Kivy's ``[r, g, b, a]`` floats."""
        return list(get_color_from_hex(getattr(self, name)))


_WHITE: Final = "#FFFFFF"

PALETTES: Final[dict[Tone, Palette]] = {
    # Dark slate with white type: idle, keypads, menus.  Sky blue marks what can be touched.
    Tone.NEUTRAL: Palette(
        background="#0F172A",
        text="#F8FAFC",
        muted="#94A3B8",
        icon="#38BDF8",
        button="#334155",
        button_text="#F8FAFC",
        primary="#38BDF8",
        primary_text="#0F172A",
        field="#1E293B",
        field_text="#F8FAFC",
        good="#4ADE80",
        bad="#F87171",
    ),
    # The three result colours are deep enough for white type (green-700, blue-700, red-700);
    # buttons are darker shades, the primary one white.  No status colours there: white for both.
    Tone.OK: Palette(
        background="#15803D",
        text=_WHITE,
        muted=_WHITE,
        icon=_WHITE,
        button="#14532D",
        button_text=_WHITE,
        primary=_WHITE,
        primary_text="#14532D",
        field="#14532D",
        field_text=_WHITE,
        good=_WHITE,
        bad=_WHITE,
    ),
    Tone.INFO: Palette(
        background="#1D4ED8",
        text=_WHITE,
        muted=_WHITE,
        icon=_WHITE,
        button="#1E3A8A",
        button_text=_WHITE,
        primary=_WHITE,
        primary_text="#1E3A8A",
        field="#1E3A8A",
        field_text=_WHITE,
        good=_WHITE,
        bad=_WHITE,
    ),
    Tone.DENIED: Palette(
        background="#B91C1C",
        text=_WHITE,
        muted=_WHITE,
        icon=_WHITE,
        button="#7F1D1D",
        button_text=_WHITE,
        primary=_WHITE,
        primary_text="#7F1D1D",
        field="#7F1D1D",
        field_text=_WHITE,
        good=_WHITE,
        bad=_WHITE,
    ),
    # Amber is too light for white type: near-black text and icon instead.
    Tone.ERROR: Palette(
        background="#F59E0B",
        text="#1C1917",
        muted="#451A03",
        icon="#1C1917",
        button="#1C1917",
        button_text="#FDE68A",
        primary="#FFFBEB",
        primary_text="#1C1917",
        field="#1C1917",
        field_text="#FDE68A",
        good="#052E16",
        bad="#450A0A",
    ),
}
"""The one place colours come from: every colour on a screen follows from ``screen.tone``."""


def _shade(rgba: Sequence[float], toward: Sequence[float], amount: float) -> list[float]:
    """``rgba`` moved ``amount`` of the way toward ``toward`` (for the pressed state of a button)."""
    return [rgba[i] + (toward[i] - rgba[i]) * amount for i in range(3)] + [rgba[3]]
