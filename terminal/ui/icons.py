"""The kiosk's pictograms as Kivy canvas instructions, so no icon font is needed.

Kivy bundles Roboto, which has no ✓, ✗, arrows or ⌫, and a kiosk should not
depend on fonts that may be missing on the Pi.  Every :class:`~terminal.ui.model.Icon`
is therefore drawn from lines, discs and polygons on a unit square, scaled to
the largest square that fits the widget.  Two colours are used: ``color``
for the shape and ``cutout_color`` (the screen's background) for what is cut
out of it, such as the tick inside the disc of :attr:`Icon.CHECK`.

:data:`BACKSPACE` is one extra glyph for the keypad's "back" key; it is not a
screen icon, so it is not a member of :class:`Icon`.

:class:`BusyIndicator` is the spinner that replaces input while the kiosk waits
(``Screen.busy``); it animates only while it is active and on a window.

Example::

    icon = IconWidget(icon=Icon.CHECK, color=(1, 1, 1, 1), cutout_color=(0.1, 0.5, 0.2, 1))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Final

from kivy.clock import Clock
from kivy.graphics import Color, Ellipse, Line, Mesh, RoundedRectangle, Triangle
from kivy.properties import BooleanProperty, ColorProperty, NumericProperty, StringProperty
from kivy.uix.widget import Widget

from terminal.ui.model import Icon

BACKSPACE: Final = "backspace"
"""The keypad's "back" glyph: an arrow-shaped key with a cross."""

Rgba = Sequence[float]


class _Pen:
    """Draws on a unit square: (0, 0) is the square's bottom-left corner, (1, 1) its top-right.

    Must be used inside a ``with canvas:`` block, which collects the instructions.
    """

    def __init__(self, x: float, y: float, side: float, color: Rgba, cutout: Rgba) -> None:
        self.x, self.y, self.s = x, y, side
        self.color, self.cutout = list(color), list(cutout)

    def pts(self, *uv: tuple[float, float]) -> list[float]:
        out: list[float] = []
        for u, v in uv:
            out += [self.x + u * self.s, self.y + v * self.s]
        return out

    def fg(self) -> None:
        Color(rgba=self.color)

    def cut(self) -> None:
        Color(rgba=self.cutout)

    def stroke(self, *uv: tuple[float, float], width: float = 0.075, close: bool = False) -> None:
        Line(points=self.pts(*uv), width=width * self.s / 2, cap="round", joint="round", close=close)

    def disc(self, cu: float, cv: float, r: float) -> None:
        Ellipse(pos=self.pts((cu - r, cv - r)), size=(2 * r * self.s, 2 * r * self.s))

    def arc(self, cu: float, cv: float, r: float, start: float, end: float, width: float = 0.075) -> None:
        """An arc; angles in degrees, clockwise from 12 o'clock (Kivy's convention)."""
        cx, cy = self.pts((cu, cv))
        Line(circle=(cx, cy, r * self.s, start, end), width=width * self.s / 2, cap="round")

    def rect(self, u: float, v: float, w: float, h: float, radius: float = 0.0) -> None:
        RoundedRectangle(pos=self.pts((u, v)), size=(w * self.s, h * self.s), radius=[radius * self.s])

    def polygon(self, *uv: tuple[float, float]) -> None:
        """A filled convex or star-shaped polygon, as a fan around its first point."""
        flat = self.pts(*uv)
        vertices: list[float] = []
        for i in range(0, len(flat), 2):
            vertices += [flat[i], flat[i + 1], 0.0, 0.0]
        Mesh(vertices=vertices, indices=list(range(len(uv))), mode="triangle_fan")


def _tick(pen: _Pen, *uv: tuple[float, float], width: float = 0.085) -> None:
    pen.stroke(*uv, width=width)


def _paint_check(pen: _Pen) -> None:
    pen.fg()
    pen.disc(0.5, 0.5, 0.48)
    pen.cut()
    _tick(pen, (0.27, 0.51), (0.43, 0.35), (0.74, 0.66))


def _paint_repeat(pen: _Pen) -> None:
    """Two ticks, the second one's short arm tucked under the first's long arm (a "read" mark)."""
    pen.fg()
    pen.disc(0.5, 0.5, 0.48)
    pen.cut()
    _tick(pen, (0.17, 0.50), (0.31, 0.36), (0.57, 0.66), width=0.07)
    _tick(pen, (0.43, 0.45), (0.52, 0.36), (0.81, 0.66), width=0.07)


def _paint_cross(pen: _Pen) -> None:
    pen.fg()
    pen.disc(0.5, 0.5, 0.48)
    pen.cut()
    pen.stroke((0.33, 0.33), (0.67, 0.67), width=0.09)
    pen.stroke((0.33, 0.67), (0.67, 0.33), width=0.09)


def _arrow_right(pen: _Pen, u0: float, u1: float, v: float) -> None:
    pen.stroke((u0, v), (u1, v))
    pen.stroke((u1 - 0.12, v + 0.12), (u1, v), (u1 - 0.12, v - 0.12))


def _paint_check_in(pen: _Pen) -> None:
    """An arrow going into a door on the right."""
    pen.fg()
    pen.disc(0.5, 0.5, 0.48)
    pen.cut()
    pen.stroke((0.55, 0.25), (0.73, 0.25), (0.73, 0.75), (0.55, 0.75))
    _arrow_right(pen, 0.24, 0.60, 0.5)


def _paint_check_out(pen: _Pen) -> None:
    """An arrow leaving a door on the left."""
    pen.fg()
    pen.disc(0.5, 0.5, 0.48)
    pen.cut()
    pen.stroke((0.45, 0.25), (0.27, 0.25), (0.27, 0.75), (0.45, 0.75))
    _arrow_right(pen, 0.40, 0.77, 0.5)


def _paint_warning(pen: _Pen) -> None:
    pen.fg()
    corners = [(0.5, 0.9), (0.05, 0.12), (0.95, 0.12)]
    Triangle(points=pen.pts(*corners))
    pen.stroke(*corners, width=0.08, close=True)  # rounds the triangle's corners
    pen.cut()
    pen.stroke((0.5, 0.63), (0.5, 0.40), width=0.09)
    pen.disc(0.5, 0.26, 0.05)


def _paint_card(pen: _Pen) -> None:
    """A card with contactless waves at its top-right corner: "hold your card here"."""
    pen.fg()
    pen.rect(0.06, 0.14, 0.62, 0.42, radius=0.06)
    pen.cut()
    pen.rect(0.15, 0.30, 0.13, 0.11, radius=0.02)
    pen.rect(0.15, 0.20, 0.36, 0.03)
    pen.fg()
    for r in (0.14, 0.25, 0.36):
        pen.arc(0.64, 0.56, r, 5, 85, width=0.06)


def _paint_lock(pen: _Pen) -> None:
    pen.fg()
    pen.arc(0.5, 0.62, 0.17, -90, 90, width=0.08)
    pen.stroke((0.33, 0.62), (0.33, 0.48), width=0.08)
    pen.stroke((0.67, 0.62), (0.67, 0.48), width=0.08)
    pen.rect(0.20, 0.08, 0.60, 0.44, radius=0.06)
    pen.cut()
    pen.disc(0.5, 0.34, 0.065)
    pen.rect(0.475, 0.17, 0.05, 0.15)


def _paint_gear(pen: _Pen) -> None:
    teeth, r_out, r_in = 8, 0.47, 0.36
    outline: list[tuple[float, float]] = [(0.5, 0.5)]
    step = 2 * math.pi / teeth
    for i in range(teeth):
        a = i * step
        for da, r in ((-0.5, r_in), (-0.28, r_out), (0.28, r_out), (0.5, r_in)):
            outline.append((0.5 + r * math.cos(a + da * step), 0.5 + r * math.sin(a + da * step)))
    outline.append(outline[1])
    pen.fg()
    pen.polygon(*outline)
    pen.cut()
    pen.disc(0.5, 0.5, 0.15)


def _paint_key(pen: _Pen) -> None:
    pen.fg()
    pen.arc(0.28, 0.5, 0.16, 0, 360, width=0.08)
    pen.stroke((0.44, 0.5), (0.90, 0.5), width=0.08)
    pen.stroke((0.72, 0.5), (0.72, 0.36), width=0.08)
    pen.stroke((0.85, 0.5), (0.85, 0.33), width=0.08)


def _paint_coin(pen: _Pen) -> None:
    """A token: a coin with a rim and a "T" stamped on it (no currency sign: tokens are not money)."""
    pen.fg()
    pen.disc(0.5, 0.5, 0.48)
    pen.cut()
    pen.arc(0.5, 0.5, 0.385, 0, 360, width=0.045)
    pen.stroke((0.35, 0.67), (0.65, 0.67), width=0.1)
    pen.stroke((0.5, 0.67), (0.5, 0.29), width=0.1)


def _paint_undo(pen: _Pen) -> None:
    """A circular arrow turning back (anticlockwise): a void."""
    pen.fg()
    pen.arc(0.52, 0.5, 0.32, -90, 180, width=0.09)
    pen.polygon((0.20, 0.30), (0.05, 0.52), (0.35, 0.52))


def _paint_backspace(pen: _Pen) -> None:
    pen.fg()
    pen.stroke((0.08, 0.5), (0.32, 0.76), (0.92, 0.76), (0.92, 0.24), (0.32, 0.24), width=0.07, close=True)
    pen.stroke((0.50, 0.38), (0.74, 0.62), width=0.07)
    pen.stroke((0.50, 0.62), (0.74, 0.38), width=0.07)


def _paint_none(pen: _Pen) -> None:
    """Nothing: :attr:`Icon.NONE` leaves the canvas empty."""


_PAINTERS: Final[dict[str, Callable[[_Pen], None]]] = {
    Icon.CARD: _paint_card,
    Icon.CHECK_IN: _paint_check_in,
    Icon.CHECK_OUT: _paint_check_out,
    Icon.CHECK: _paint_check,
    Icon.REPEAT: _paint_repeat,
    Icon.CROSS: _paint_cross,
    Icon.WARNING: _paint_warning,
    Icon.LOCK: _paint_lock,
    Icon.GEAR: _paint_gear,
    Icon.KEY: _paint_key,
    Icon.COIN: _paint_coin,
    Icon.UNDO: _paint_undo,
    Icon.NONE: _paint_none,
    BACKSPACE: _paint_backspace,
}

DRAWABLE: Final = frozenset(_PAINTERS)
"""Every name :func:`draw_icon` accepts: all :class:`Icon` values plus :data:`BACKSPACE`."""


def draw_icon(
    canvas: Any, name: str, pos: Sequence[float], size: Sequence[float], color: Rgba, cutout: Rgba
) -> None:
    """Add the instructions for icon ``name`` to ``canvas``, centred in the box ``pos``/``size``.

    The icon fills the largest square that fits the box.  Raises :class:`KeyError`
    for a name that is not in :data:`DRAWABLE`, so a new :class:`Icon` member
    without a painter fails in the tests rather than drawing nothing on a kiosk.
    """
    painter = _PAINTERS[str(name)]
    side = min(size[0], size[1])
    if side <= 0:
        return
    x = pos[0] + (size[0] - side) / 2
    y = pos[1] + (size[1] - side) / 2
    with canvas:
        painter(_Pen(x, y, side, color, cutout))


class IconWidget(Widget):  # type: ignore[misc]  # Kivy has no type hints
    """One pictogram, redrawn when its box, icon or colours change.

    ``icon`` takes an :class:`Icon` (or :data:`BACKSPACE`); ``color`` is the
    shape's colour and ``cutout_color`` should be the background behind the
    widget.  Redraws are coalesced to one per frame.
    """

    icon = StringProperty(Icon.NONE.value)
    color = ColorProperty([1, 1, 1, 1])
    cutout_color = ColorProperty([0, 0, 0, 1])

    def __init__(self, **kwargs: Any) -> None:
        self._redraw_trigger = Clock.create_trigger(self._redraw, -1)
        super().__init__(**kwargs)
        self.bind(
            pos=self._redraw_trigger,
            size=self._redraw_trigger,
            icon=self._redraw_trigger,
            color=self._redraw_trigger,
            cutout_color=self._redraw_trigger,
        )
        self._redraw_trigger()

    def _redraw(self, *_: Any) -> None:
        self.canvas.clear()
        draw_icon(self.canvas, self.icon, self.pos, self.size, self.color, self.cutout_color)


class BusyIndicator(Widget):  # type: ignore[misc]  # Kivy has no type hints
    """A rotating arc shown while input is paused (``Screen.busy``).

    It animates at about 20 frames a second only while ``active`` is true and
    the widget is on a window; a detached indicator stops its own timer, so a
    forgotten one costs nothing on the Pi.
    """

    active = BooleanProperty(False)
    color = ColorProperty([1, 1, 1, 1])
    angle = NumericProperty(0.0)

    def __init__(self, **kwargs: Any) -> None:
        self._timer: Any = None
        super().__init__(**kwargs)
        self.bind(pos=self._redraw, size=self._redraw, angle=self._redraw, color=self._redraw)
        self.bind(active=self._on_active)

    def _on_active(self, *_: Any) -> None:
        if self.active and self._timer is None:
            self._timer = Clock.schedule_interval(self._step, 1 / 20)
        elif not self.active and self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._redraw()

    def _step(self, _dt: float) -> bool:
        if self.get_root_window() is None:
            self._timer = None
            return False  # detached: stop the timer
        self.angle = (self.angle + 18) % 360
        return True

    def _redraw(self, *_: Any) -> None:
        self.canvas.clear()
        if not self.active:
            return
        side = min(self.width, self.height)
        with self.canvas:
            Color(rgba=self.color)
            Line(
                # Not center_x/center_y: in a size callback those cached aliases may lag behind.
                circle=(
                    self.x + self.width / 2,
                    self.y + self.height / 2,
                    side * 0.4,
                    self.angle,
                    self.angle + 270,
                ),
                width=max(2.0, side * 0.04),
                cap="round",
            )
