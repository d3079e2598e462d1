"""The Kivy view: draws any :class:`~terminal.ui.model.Screen` and sends touches to a :class:`ScreenInput`.

The view is deliberately dumb.  It knows the four layouts of
:class:`~terminal.ui.model.Layout`, one colour palette per
:class:`~terminal.ui.model.Tone`, and nothing about kiosks: every text comes
translated in the :class:`Screen`, every touch goes straight back to the
presenter as :meth:`ScreenInput.press_key`, :meth:`ScreenInput.press_action`
or :meth:`ScreenInput.long_press`.

It is built for a kiosk seen from a metre away, on the 7" Pi display
(800×480) as well as on a 1920×1080 HDMI screen: every position and size is a
fraction of the window, and every text is a :class:`FitLabel` whose font
starts at a fraction of its box's height and shrinks until the text fits,
wrapping only between words.  Buttons and keys are at least an eighth of the
window's height (and 48 px).

:meth:`ScreenView.show` runs on every status refresh, every couple of seconds
on a Pi Zero 2 W, so each layout's widgets are built once and then updated in
place; a label whose text did not change costs nothing.

Importing this module imports Kivy widgets, which opens the window: call
:func:`terminal.ui.kivyenv.prepare` before importing it.

Example::

    view = ScreenView(presenter)
    view.show(presenter.screen)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Final, Literal

from kivy.clock import Clock
from kivy.graphics import Canvas, Color, Ellipse, Line, Rectangle, RoundedRectangle
from kivy.properties import ColorProperty, NumericProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label
from kivy.uix.widget import Widget
from kivy.utils import get_color_from_hex

from terminal.ui.icons import BACKSPACE, BusyIndicator, IconWidget, draw_icon
from terminal.ui.model import KEYPAD_KEYS, LONG_PRESS_S, Action, Icon, Layout, Screen, ScreenInput, Tone

# -- colours -----------------------------------------------------------------------------------------


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


# -- text that fits --------------------------------------------------------------------------------


class FitLabel(Label):  # type: ignore[misc]  # Kivy has no type hints
    """A label whose font shrinks until its text fits its box, breaking lines only between words.

    The font starts at ``font_ratio`` × the box height (so it grows with the
    window) and shrinks until the text fits in ``max_lines`` lines (0: any
    number), no word is wider than the box and the lines fit the box's height;
    never below ``min_font`` px.  ``inset`` is a margin on every side, as a
    fraction of the height.  ``font_cap`` lets a :class:`_FontGroup` make a
    row of labels share one size; ``natural_font`` is the size before that cap.

    ``role`` says what the text is (``title``, ``line``, ``clock``, ``status``,
    ``entry``, ``row``, ``action``, ``error``, ``key``): :meth:`ScreenView.rendered_texts`
    orders texts by it.  Fitting runs once per change of text or size, just
    before the next frame, and measures with Kivy's text layout without
    rendering textures, so an unchanged label costs nothing.
    """

    font_ratio = NumericProperty(0.7)
    max_lines = NumericProperty(1)
    min_font = NumericProperty(9.0)
    inset = NumericProperty(0.0)
    font_cap = NumericProperty(0.0)
    natural_font = NumericProperty(0.0)
    text_size: Any  # Kivy's property: (width, height), either may be None

    PREFER_ONE_LINE: Final = 0.75
    """A text that may wrap stays on one line if that needs no less than this share of the wrapped size."""

    def __init__(self, role: str = "", **kwargs: Any) -> None:
        self.role = role
        self._fit_key: tuple[Any, ...] | None = None
        self._fit_trigger = Clock.create_trigger(self._fit, -1)
        kwargs.setdefault("halign", "center")
        kwargs.setdefault("valign", "middle")
        super().__init__(**kwargs)
        self.bind(
            text=self._fit_trigger,
            size=self._fit_trigger,
            bold=self._fit_trigger,
            font_ratio=self._fit_trigger,
            max_lines=self._fit_trigger,
            min_font=self._fit_trigger,
            inset=self._fit_trigger,
            font_cap=self._fit_trigger,
        )
        self._fit_trigger()

    def text_box(self) -> tuple[float, float]:
        """The width and height the text must fit in: the widget less ``inset`` on every side."""
        pad = self.height * self.inset
        return max(0.0, self.width - 2 * pad), max(0.0, self.height - 2 * pad)

    def _fit(self, *_: Any) -> None:
        box_w, box_h = self.text_box()
        key = (self.text, box_w, box_h, self.bold, self.font_ratio, self.max_lines, self.min_font)
        if key != self._fit_key:
            self._fit_key = key
            self.natural_font = self._natural_font(box_w, box_h)
        size = self.natural_font
        if self.font_cap > 0:
            size = min(size, self.font_cap)
        self.font_size = max(1.0, size)
        # The full box, so halign/valign place the text; _natural_font made sure nothing is clipped.
        self.text_size = (box_w, box_h)

    def _natural_font(self, box_w: float, box_h: float) -> float:
        start = float(max(self.min_font, box_h * self.font_ratio))
        words = self.text.split()
        if not words or box_w < 1 or box_h < 1:
            return start
        # The core label measures with the options the Label keeps in sync (font, bold, size):
        # render() without real=True only lays the text out, it draws no texture.
        core = self._label
        wrapped = self._wrapped_font(core, words, start, box_w, box_h)
        if self.max_lines == 1 or "\n" in self.text:
            return wrapped
        # Several lines are allowed, but one line reads better if it costs little size.
        self.font_size = start
        one_line = min(start, start * box_w / max(1.0, float(core.get_extents(self.text)[0])) * 0.97)
        return one_line if one_line >= max(self.min_font, self.PREFER_ONE_LINE * wrapped) else wrapped

    def _wrapped_font(self, core: Any, words: list[str], start: float, box_w: float, box_h: float) -> float:
        """The largest size from ``start`` down at which the text wraps into the box, between words."""
        text_size: tuple[float, float | None] = (box_w, None)  # wrap at the box width, any height
        size = start
        for _attempt in range(16):
            self.font_size = size
            widest = max(core.get_extents(word)[0] for word in words)
            if widest > box_w:
                smaller = size * box_w / widest * 0.97  # text width grows in proportion to the font
            else:
                self.text_size = text_size
                height = core.render()[1]
                line_height = core.get_extents(words[0])[1] or 1
                lines = round(height / line_height)
                if height <= box_h and (not self.max_lines or lines <= self.max_lines):
                    return size
                smaller = size * (max(0.5, min(0.95, math.sqrt(box_h / height))) if height > box_h else 0.92)
            if smaller <= self.min_font:
                return float(self.min_font)
            size = smaller
        return size


class _FontGroup:
    """Gives a set of :class:`FitLabel` one font size: the smallest any of them needs.

    A row of buttons or the cells of the status strip look wrong in four
    sizes.  An outlier, a label that needs less than ``OUTLIER`` × the median
    size (a 34-character kiosk ID in a table of short values), shrinks alone
    instead of dragging every other label down with it.
    """

    OUTLIER: Final = 0.75

    def __init__(self) -> None:
        self._members: list[FitLabel] = []
        self._trigger = Clock.create_trigger(self._apply, -1)

    def set_members(self, labels: Sequence[FitLabel]) -> None:
        for label in self._members:
            if label not in labels:
                label.unbind(natural_font=self._trigger, text=self._trigger)
                label.font_cap = 0
        for label in labels:
            if label not in self._members:
                label.bind(natural_font=self._trigger, text=self._trigger)
        self._members = list(labels)
        self._trigger()

    def _apply(self, *_: Any) -> None:
        sizes = sorted(label.natural_font for label in self._members if label.text and label.natural_font > 0)
        median = sizes[len(sizes) // 2] if sizes else 0
        cap = min((size for size in sizes if size >= self.OUTLIER * median), default=0)
        for label in self._members:
            label.font_cap = cap


class FlatButton(ButtonBehavior, FitLabel):  # type: ignore[misc]  # Kivy has no type hints
    """A flat, rounded button; ``value`` is the action ID or key it sends.

    ``glyph`` draws a vector icon instead of text (the keypad's backspace,
    which Roboto has no character for).  Pressed, it lightens toward its text
    colour, so the finger gets feedback on every tone.
    """

    fill = ColorProperty([0.2, 0.25, 0.33, 1])
    glyph = StringProperty("")

    def __init__(self, role: str, value: str = "", **kwargs: Any) -> None:
        self.value = value
        kwargs.setdefault("bold", True)
        kwargs.setdefault("inset", 0.14)
        super().__init__(role=role, **kwargs)
        with self.canvas.before:
            self._fill_color = Color(rgba=self.fill)
            self._fill_shape = RoundedRectangle(pos=self.pos, size=self.size)
        self._glyph_canvas = Canvas()  # a nested canvas: draw_icon adds to it with ``with``
        self.canvas.after.add(self._glyph_canvas)
        self.bind(pos=self._restyle, size=self._restyle, fill=self._restyle, state=self._restyle)
        self.bind(color=self._restyle, glyph=self._restyle)
        self._restyle()

    def _restyle(self, *_: Any) -> None:
        pressed = self.state == "down"
        self._fill_color.rgba = _shade(self.fill, self.color, 0.3) if pressed else list(self.fill)
        self._fill_shape.pos = self.pos
        self._fill_shape.size = self.size
        self._fill_shape.radius = [min(self.width, self.height) * 0.16]
        self._glyph_canvas.clear()
        if self.glyph:
            side = min(self.width, self.height) * 0.5
            pos = (self.x + (self.width - side) / 2, self.y + (self.height - side) / 2)
            draw_icon(self._glyph_canvas, self.glyph, pos, (side, side), self.color, self._fill_color.rgba)


class _Field(FitLabel):
    """The keypad's entry field: big text on a rounded, outlined surface."""

    fill = ColorProperty([0, 0, 0, 1])
    outline = ColorProperty([1, 1, 1, 1])

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        with self.canvas.before:
            self._fill_color = Color(rgba=self.fill)
            self._fill_shape = RoundedRectangle()
            self._outline_color = Color(rgba=self.outline)
            self._outline = Line(width=1.5)
        self.bind(pos=self._restyle, size=self._restyle, fill=self._restyle, outline=self._restyle)
        self._restyle()

    def _restyle(self, *_: Any) -> None:
        radius = min(self.width, self.height) * 0.14
        self._fill_color.rgba = list(self.fill)
        self._fill_shape.pos, self._fill_shape.size, self._fill_shape.radius = self.pos, self.size, [radius]
        self._outline_color.rgba = list(self.outline)
        self._outline.width = max(1.5, self.height * 0.025)
        self._outline.rounded_rectangle = (self.x, self.y, self.width, self.height, radius)


# -- building blocks shared by the layouts -----------------------------------------------------------
# Plain Kivy widgets with canvas instructions attached, rather than more Kivy subclasses.


def _fill(widget: Widget, shape: Literal["rect", "dot", "underline"] = "rect") -> Color:
    """Paint ``widget``'s box (``rect``), a dot in its middle (``dot``) or a line under it (``underline``).

    Returns the :class:`Color` instruction, whose ``rgba`` the caller sets.
    """
    with widget.canvas.before:
        color = Color(rgba=[0, 0, 0, 0])
        instruction = Line(width=1) if shape == "underline" else Ellipse() if shape == "dot" else Rectangle()

    def redraw(*_: Any) -> None:
        # Not center_x/center_y: in a size callback those cached aliases may still hold the old size.
        x, y, w, h = widget.x, widget.y, widget.width, widget.height
        if shape == "underline":
            instruction.points = [x, y, x + w, y]
        elif shape == "dot":
            side = min(w, h) * 0.5
            instruction.pos, instruction.size = (x + (w - side) / 2, y + (h - side) / 2), (side, side)
        else:
            instruction.pos, instruction.size = (x, y), (w, h)

    widget.bind(pos=redraw, size=redraw)
    redraw()
    return color


def _set_rgba(color: Color, rgba: Sequence[float]) -> None:
    """Set a :class:`Color` instruction only if it changes: any assignment makes Kivy redraw the window."""
    if [round(c, 4) for c in color.rgba] != [round(c, 4) for c in rgba]:
        color.rgba = list(rgba)


def _keep_spacing(layout: Widget, ratio: float) -> None:
    """Spacing between a layout's children as a fraction of the window height: it scales with the screen."""

    def update(*_: Any) -> None:
        window = layout.get_root_window()
        height = window.height if window is not None else layout.height
        layout.spacing = max(4.0, height * ratio)

    layout.bind(size=update, parent=update)


def _sync_count(layout: Widget, count: int, make: Callable[[], Widget]) -> list[Any]:
    """Make ``layout`` hold exactly ``count`` children, reusing the ones it has; returns them in order."""
    children = list(reversed(layout.children))
    while len(children) < count:
        child = make()
        layout.add_widget(child)
        children.append(child)
    while len(children) > count:
        layout.remove_widget(children.pop())
    return children


def _place(widget: Widget, x: float, y: float, w: float, h: float) -> None:
    """Position ``widget`` in its page as fractions of the page: left, bottom, width, height."""
    widget.size_hint = (w, h)
    widget.pos_hint = {"x": x, "y": y}


class _Lines:
    """A column of text lines sharing one font size; each line gets an equal share of ``box``."""

    def __init__(
        self,
        role: str,
        *,
        max_lines: int = 1,
        font_ratio: float = 0.62,
        halign: str = "center",
        valign: str = "middle",
    ) -> None:
        self.box = BoxLayout(orientation="vertical")
        self._make = partial(
            FitLabel, role=role, max_lines=max_lines, font_ratio=font_ratio, halign=halign, valign=valign
        )
        self._group = _FontGroup()

    def update(self, texts: Sequence[str], color: Sequence[float]) -> None:
        labels = _sync_count(self.box, len(texts), self._make)
        for label, text in zip(labels, texts, strict=True):
            label.text, label.color = text, color
        self._group.set_members(labels)


class _Buttons:
    """Action buttons sharing one font size, the primary one highlighted: a row, or a column.

    A row fills its box.  A column hangs from the top of its box: each button
    is ``button_ratio`` of the page height, less if that does not fit the
    box, never less than an eighth of the page (and 48 px); when even that
    does not fit, the column splits into two.
    """

    def __init__(
        self, screen_input: ScreenInput, *, column: bool = False, button_ratio: float = 0.15
    ) -> None:
        self.grid = GridLayout()
        self._input = screen_input
        self._column = column
        self._button_ratio = button_ratio
        self._room = 0.0  # a column's box height, as a fraction of the page height
        self._group = _FontGroup()
        _keep_spacing(self.grid, 0.03)
        if column:
            self.grid.cols = 1
            self.grid.size_hint_y = None
            self.grid.row_force_default = True
            self._arrange_trigger = Clock.create_trigger(self._arrange, -1)
            self.grid.bind(parent=self._watch_parent, spacing=self._arrange_trigger)
        else:
            self.grid.rows = 1

    def update(
        self, actions: Sequence[Action], palette: Palette, disabled: bool, room: float = 0.0
    ) -> list[FlatButton]:
        """Show ``actions``; ``room`` is the height a column may take, as a fraction of the page."""
        self._room = room
        buttons = _sync_count(self.grid, len(actions), self._make)
        for button, action in zip(buttons, actions, strict=True):
            button.value = action.action_id
            button.text = action.label
            button.fill = palette.rgba("primary" if action.primary else "button")
            button.color = palette.rgba("primary_text" if action.primary else "button_text")
            button.disabled_color = button.color
            button.disabled = disabled
        self._group.set_members(buttons)
        if self._column:
            self._arrange()
        return buttons

    def _make(self) -> FlatButton:
        button = FlatButton(role="action", max_lines=2, font_ratio=0.6)
        button.bind(on_release=lambda b: self._input.press_action(b.value))
        return button

    def _watch_parent(self, *_: Any) -> None:
        if self.grid.parent is not None:
            self.grid.parent.bind(height=self._arrange_trigger)
        self._arrange_trigger()

    def _arrange(self, *_: Any) -> None:
        grid = self.grid
        if grid.parent is None:
            return
        count = len(grid.children)
        page = grid.parent.height
        gap = grid.spacing[1]
        smallest = max(48.0, page / 8)

        def fitting_height(cols: int) -> float:
            rows = max(1, math.ceil(count / cols))
            return float((self._room * page - (rows - 1) * gap) / rows)

        grid.cols = 1 if fitting_height(1) >= smallest else 2
        rows = max(1, math.ceil(count / grid.cols))
        height = max(smallest, min(self._button_ratio * page, fitting_height(grid.cols)))
        grid.row_default_height = height
        grid.height = rows * height + (rows - 1) * gap if count else 0


# -- the four layouts --------------------------------------------------------------------------------


class _Page:
    """One layout: its widgets under ``root``, built once and updated in place by :meth:`update`.

    ``icon`` and ``busy`` are the pictogram and the spinner, which every layout has.
    """

    def __init__(self, screen_input: ScreenInput) -> None:
        self.screen_input = screen_input
        self.root = FloatLayout()
        self.icon = IconWidget()
        self.busy = BusyIndicator()

    def update(self, screen: Screen, palette: Palette) -> None:
        raise NotImplementedError

    def _add(self, *widgets: Widget) -> None:
        for widget in widgets:
            self.root.add_widget(widget)

    def _update_icon(self, screen: Screen, palette: Palette, *, replace_when_busy: bool = True) -> None:
        self.icon.icon = screen.icon
        self.icon.color = palette.rgba("icon")
        self.icon.cutout_color = palette.rgba("background")
        self.icon.opacity = 0 if (screen.busy and replace_when_busy) else 1
        self.busy.active, self.busy.color = screen.busy, palette.rgba("icon")


class _IdlePage(_Page):
    """Site name and clock at the top, the card pictogram and "tap your card" in the middle, status below."""

    def __init__(self, screen_input: ScreenInput) -> None:
        super().__init__(screen_input)
        self.lines = _Lines("line", max_lines=2, font_ratio=0.55, halign="left")
        self.clock = FitLabel(role="clock", bold=True, halign="right", font_ratio=0.8)
        self.title = FitLabel(role="title", bold=True, max_lines=2, font_ratio=0.62)
        self.status = BoxLayout(orientation="horizontal")
        self.band = Widget()  # the status strip's background, full width
        self.band_color = _fill(self.band)
        self.status_group = _FontGroup()
        self.cells: list[tuple[Color, Widget, FitLabel]] = []
        for _item in range(4):
            cell = BoxLayout(orientation="horizontal")
            dot = Widget(size_hint_x=None)
            dot_color = _fill(dot, "dot")
            cell.bind(height=lambda _cell, height, dot=dot: setattr(dot, "width", height * 0.55))
            label = FitLabel(role="status", halign="left", max_lines=2, font_ratio=0.42)
            cell.add_widget(dot)
            cell.add_widget(label)
            self.status.add_widget(cell)
            self.cells.append((dot_color, dot, label))
        self.status_group.set_members([label for _color, _dot, label in self.cells])
        _place(self.lines.box, 0.04, 0.84, 0.56, 0.12)
        _place(self.clock, 0.62, 0.82, 0.34, 0.15)
        _place(self.icon, 0.3, 0.45, 0.4, 0.34)
        _place(self.busy, 0.3, 0.45, 0.4, 0.34)
        _place(self.title, 0.04, 0.18, 0.92, 0.25)
        _place(self.band, 0, 0, 1, 0.12)
        _place(self.status, 0.03, 0, 0.94, 0.12)
        self._add(self.lines.box, self.clock, self.icon, self.busy, self.title, self.band, self.status)

    def update(self, screen: Screen, palette: Palette) -> None:
        self.lines.update(screen.lines, palette.rgba("muted"))
        self.clock.text, self.clock.color = screen.clock, palette.rgba("text")
        self._update_icon(screen, palette)
        self.title.text, self.title.color = screen.title, palette.rgba("text")
        _set_rgba(self.band_color, palette.rgba("field"))
        status = screen.status
        self.band.opacity = self.status.opacity = 0 if status is None else 1
        if status is None:
            for _color, _dot, label in self.cells:
                label.text = ""
            return
        items = (
            (status.connection, status.online),
            (status.pending, None),
            (status.last_sync, None),
            (status.reader, status.reader_ok),
        )
        for (dot_color, dot, label), (text, ok) in zip(self.cells, items, strict=True):
            colour = palette.rgba("muted") if ok is None else palette.rgba("good" if ok else "bad")
            label.text, label.color = text, colour
            _set_rgba(dot_color, colour)
            dot.opacity = 0 if ok is None else 1


class _ResultPage(_Page):
    """A ticket-gate screen: a huge pictogram, one big sentence under it, then the lines and any buttons."""

    def __init__(self, screen_input: ScreenInput) -> None:
        super().__init__(screen_input)
        self.title = FitLabel(role="title", bold=True, max_lines=2, font_ratio=0.72)
        self.lines = _Lines("line", max_lines=2, font_ratio=0.65, valign="top")
        self.actions = _Buttons(screen_input)
        _place(self.actions.grid, 0.05, 0.04, 0.9, 0.14)
        self._add(self.icon, self.busy, self.title, self.lines.box, self.actions.grid)

    def update(self, screen: Screen, palette: Palette) -> None:
        # Boxes as fractions of the page; a button row pushes everything up.
        if screen.actions:
            icon_y, icon_h, title_y, title_h, lines_bottom = 0.56, 0.38, 0.40, 0.15, 0.21
        else:
            icon_y, icon_h, title_y, title_h, lines_bottom = 0.47, 0.46, 0.27, 0.19, 0.04
        for widget in (self.icon, self.busy):
            _place(widget, 0.3, icon_y, 0.4, icon_h)
        _place(self.title, 0.04, title_y, 0.92, title_h)
        # One slot per line, at most a line of body text high, hanging from under the title.
        lines_top = title_y - 0.01
        self.lines.box.size_hint = (0.92, min(lines_top - lines_bottom, 0.095 * len(screen.lines)))
        self.lines.box.pos_hint = {"x": 0.04, "top": lines_top}
        self._update_icon(screen, palette)
        self.title.text, self.title.color = screen.title, palette.rgba("text")
        self.lines.update(screen.lines, palette.rgba("muted"))
        self.actions.update(screen.actions, palette, disabled=screen.busy)


class _KeypadPage(_Page):
    """Prompt, lines, entry field, error and buttons on the left; the 3×4 keypad on the right."""

    def __init__(self, screen_input: ScreenInput) -> None:
        super().__init__(screen_input)
        self.title = FitLabel(role="title", bold=True, max_lines=2, halign="left", font_ratio=0.5)
        self.lines = _Lines("line", max_lines=2, font_ratio=0.42, halign="left")
        self.entry = _Field(role="entry", bold=True, font_ratio=0.6, inset=0.12)
        self.error = FitLabel(role="error", max_lines=2, halign="left", font_ratio=0.42)
        self.actions = _Buttons(screen_input)
        self.keypad = GridLayout(cols=3, rows=4)
        _keep_spacing(self.keypad, 0.02)
        self.keys: dict[str, FlatButton] = {}
        for key in KEYPAD_KEYS:
            button = FlatButton(role="key", value=key, font_ratio=0.55, inset=0.1)
            if key == "back":
                button.glyph = BACKSPACE
            elif key == "clear":
                button.text = "C"  # the calculator convention; Roboto has no ⌫ or ← to use instead
            else:
                button.text = key
            button.bind(on_release=lambda b: self.screen_input.press_key(b.value))
            self.keypad.add_widget(button)
            self.keys[key] = button
        self.key_group = _FontGroup()
        self.key_group.set_members([self.keys[key] for key in KEYPAD_KEYS if key != "back"])
        _place(self.icon, 0.04, 0.82, 0.08, 0.14)
        _place(self.lines.box, 0.04, 0.64, 0.46, 0.15)
        _place(self.entry, 0.04, 0.44, 0.46, 0.18)
        _place(self.error, 0.04, 0.25, 0.46, 0.17)
        _place(self.actions.grid, 0.04, 0.04, 0.46, 0.19)
        _place(self.keypad, 0.54, 0.04, 0.42, 0.92)
        _place(self.busy, 0.60, 0.3, 0.3, 0.4)
        self._add(
            self.icon, self.title, self.lines.box, self.entry, self.error, self.actions.grid, self.keypad
        )
        self._add(self.busy)  # last, so it is drawn over the dimmed keypad

    def update(self, screen: Screen, palette: Palette) -> None:
        self._update_icon(screen, palette, replace_when_busy=False)
        has_icon = screen.icon != Icon.NONE
        _place(self.title, 0.14 if has_icon else 0.04, 0.8, 0.36 if has_icon else 0.46, 0.17)
        self.title.text, self.title.color = screen.title, palette.rgba("text")
        self.lines.update(screen.lines, palette.rgba("muted"))
        self.entry.text = screen.entry
        self.entry.color, self.entry.fill = palette.rgba("field_text"), palette.rgba("field")
        self.entry.outline = palette.rgba("bad" if screen.error else "button")
        self.error.text, self.error.color = screen.error, palette.rgba("bad")
        self.actions.update(screen.actions, palette, disabled=screen.busy)
        self.actions.grid.opacity = 0.25 if screen.busy else 1
        for button in self.keys.values():
            button.fill, button.color = palette.rgba("button"), palette.rgba("button_text")
            button.disabled_color = button.color
            button.disabled = screen.busy
        self.keypad.opacity = 0.25 if screen.busy else 1


@dataclass(frozen=True, slots=True)
class _MenuRow:
    """One label/value row of the menu table, with a hairline under it."""

    box: Widget
    label: FitLabel
    value: FitLabel
    line_color: Color


def _menu_row() -> _MenuRow:
    box = BoxLayout(orientation="horizontal")
    # Labels are short words; values may be long IDs that cannot wrap, so they get more width.
    label = FitLabel(role="row", halign="left", max_lines=2, font_ratio=0.5, size_hint_x=0.38)
    value = FitLabel(role="row", halign="right", bold=True, max_lines=2, font_ratio=0.5, size_hint_x=0.62)
    box.add_widget(label)
    box.add_widget(value)
    return _MenuRow(box, label, value, _fill(box, "underline"))


class _MenuPage(_Page):
    """Title on top; the label/value table on the left, a column of big buttons on the right."""

    def __init__(self, screen_input: ScreenInput) -> None:
        super().__init__(screen_input)
        self.title = FitLabel(role="title", bold=True, halign="left", font_ratio=0.62)
        self.lines = _Lines("line", font_ratio=0.5, halign="left")
        self.table = BoxLayout(orientation="vertical")
        self.rows: list[_MenuRow] = []
        self.label_group = _FontGroup()
        self.value_group = _FontGroup()
        self.actions = _Buttons(screen_input, column=True)
        _place(self.icon, 0.04, 0.84, 0.07, 0.12)
        _place(self.busy, 0.62, 0.3, 0.34, 0.3)
        self._add(self.icon, self.title, self.lines.box, self.table, self.actions.grid, self.busy)

    def update(self, screen: Screen, palette: Palette) -> None:
        self._update_icon(screen, palette, replace_when_busy=False)
        has_icon = screen.icon != Icon.NONE
        _place(self.title, 0.13 if has_icon else 0.04, 0.84, 0.83 if has_icon else 0.92, 0.12)
        self.title.text, self.title.color = screen.title, palette.rgba("text")
        lines_h = 0.08 * len(screen.lines)
        _place(self.lines.box, 0.04, 0.8 - lines_h, 0.56, lines_h)
        self.lines.update(screen.lines, palette.rgba("muted"))
        top = 0.8 - lines_h - (0.02 if screen.lines else 0)
        # Rows are at most a tenth of the page high; many rows share the space down to the bottom margin.
        rows_h = min(top - 0.04, 0.1 * len(screen.rows))
        _place(self.table, 0.04, top - rows_h, 0.56 if screen.actions else 0.92, rows_h)
        self._sync_rows(len(screen.rows))
        for row, (label, value) in zip(self.rows, screen.rows, strict=True):
            row.label.text, row.label.color = label, palette.rgba("muted")
            row.value.text, row.value.color = value, palette.rgba("text")
            _set_rgba(row.line_color, palette.rgba("button"))
        self.label_group.set_members([row.label for row in self.rows])
        self.value_group.set_members([row.value for row in self.rows])
        # The buttons hang from just under the title, whatever the left column holds.
        self.actions.grid.size_hint_x = 0.32
        self.actions.grid.pos_hint = {"x": 0.64, "top": 0.82}
        self.actions.update(screen.actions, palette, disabled=screen.busy, room=0.78)
        self.actions.grid.opacity = 0.25 if screen.busy else 1

    def _sync_rows(self, count: int) -> None:
        while len(self.rows) < count:
            self.rows.append(_menu_row())
            self.table.add_widget(self.rows[-1].box)
        while len(self.rows) > count:
            self.table.remove_widget(self.rows.pop().box)


_PAGES: Final[dict[Layout, type[_Page]]] = {
    Layout.IDLE: _IdlePage,
    Layout.RESULT: _ResultPage,
    Layout.KEYPAD: _KeypadPage,
    Layout.MENU: _MenuPage,
}

_READING_ORDER: Final = ("title", "line", "clock", "status", "entry", "row", "action", "error")
"""Roles in the order :meth:`Screen.texts` lists them."""


# -- the root widget ---------------------------------------------------------------------------------


class ScreenView(FloatLayout):  # type: ignore[misc]  # Kivy has no type hints
    """The kiosk's root widget: shows one :class:`Screen` at a time and reports touches.

    ``screen_input`` receives every key, button and long press (on the UI
    thread).  ``long_press_s`` is how long a finger must rest on the idle
    screen to call :meth:`ScreenInput.long_press`; tests shorten it.

    Each layout's widgets are built the first time a screen of that layout is
    shown and kept, so switching between idle and results, or refreshing the
    status, only changes texts and colours.
    """

    background_color = ColorProperty([0, 0, 0, 1])

    def __init__(
        self, screen_input: ScreenInput, *, long_press_s: float = LONG_PRESS_S, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.screen_input = screen_input
        self.long_press_s = long_press_s
        self._pages: dict[Layout, _Page] = {}
        self._page: _Page | None = None
        self._screen: Screen | None = None
        self._long_press: Any = None  # the pending ClockEvent
        self._long_press_touch: Any = None
        with self.canvas.before:
            self._bg_color = Color(rgba=self.background_color)
            self._bg_rect = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=self._redraw_background, size=self._redraw_background)
        self.bind(background_color=self._redraw_background)

    @property
    def screen(self) -> Screen | None:
        """The screen shown last, or ``None`` before the first :meth:`show`."""
        return self._screen

    def show(self, screen: Screen) -> None:
        """Draw ``screen``: switch layout if it differs, otherwise update the current widgets in place."""
        palette = PALETTES[screen.tone]
        page = self._pages.get(screen.layout)
        if page is None:
            page = self._pages[screen.layout] = _PAGES[screen.layout](self.screen_input)
        if page is not self._page:
            self._cancel_long_press()
            if self._page is not None:
                self.remove_widget(self._page.root)
            self.add_widget(page.root)
            self._page = page
        self.background_color = palette.rgba("background")
        page.update(screen, palette)
        self._screen = screen

    # -- for tests and screenshots --

    def rendered_texts(self) -> list[str]:
        """The texts of the visible labels and buttons, in the reading order of :meth:`Screen.texts`.

        Labels are ordered by their role (title, lines, clock, status, entry,
        rows, actions, error) and, within a role, top to bottom and left to
        right as built.  Keypad keys are not screen texts and are left out.
        """
        found: list[tuple[int, int, str]] = []
        for index, widget in enumerate(self._visible_widgets()):
            role = getattr(widget, "role", "")
            if isinstance(widget, Label) and role in _READING_ORDER and widget.text:
                found.append((_READING_ORDER.index(role), index, widget.text))
        return [text for _rank, _index, text in sorted(found)]

    def labels(self) -> list[FitLabel]:
        """Every visible text widget of the current layout, buttons and keys included."""
        return [w for w in self._visible_widgets() if isinstance(w, FitLabel) and w.text]

    def action_button(self, action_id: str) -> FlatButton:
        """The button that sends ``action_id``; :class:`KeyError` if the screen has none."""
        return self._find_button("action", action_id)

    def key_button(self, key: str) -> FlatButton:
        """The keypad key that sends ``key`` (one of :data:`KEYPAD_KEYS`)."""
        return self._find_button("key", key)

    def icon_widget(self) -> IconWidget | None:
        """The current layout's pictogram, or ``None`` before the first :meth:`show`."""
        return None if self._page is None else self._page.icon

    def busy_indicator(self) -> BusyIndicator | None:
        """The current layout's spinner, or ``None`` before the first :meth:`show`."""
        return None if self._page is None else self._page.busy

    def _find_button(self, role: str, value: str) -> FlatButton:
        for widget in self._visible_widgets():
            if isinstance(widget, FlatButton) and widget.role == role and widget.value == value:
                return widget
        raise KeyError(f"no {role} button {value!r} on screen {self._screen and self._screen.name!r}")

    def _visible_widgets(self) -> Iterator[Widget]:
        """The current layout's widgets in build order, skipping hidden subtrees (opacity 0 or no size)."""
        if self._page is None:
            return

        def walk(widget: Widget) -> Iterator[Widget]:
            if widget.opacity <= 0 or widget.width <= 0 or widget.height <= 0:
                return
            yield widget
            for child in reversed(widget.children):
                yield from walk(child)

        yield from walk(self._page.root)

    # -- long press on the idle screen --

    def on_touch_down(self, touch: Any) -> bool:
        handled = bool(super().on_touch_down(touch))
        if self._screen is not None and self._screen.layout is Layout.IDLE and self.collide_point(*touch.pos):
            self._cancel_long_press()
            self._long_press_touch = touch.uid
            self._long_press = Clock.schedule_once(self._fire_long_press, self.long_press_s)
        return handled

    def on_touch_up(self, touch: Any) -> bool:
        if touch.uid == self._long_press_touch:
            self._cancel_long_press()
        return bool(super().on_touch_up(touch))

    def _fire_long_press(self, _dt: float) -> None:
        self._long_press = self._long_press_touch = None
        self.screen_input.long_press()

    def _cancel_long_press(self) -> None:
        if self._long_press is not None:
            self._long_press.cancel()
        self._long_press = self._long_press_touch = None

    def _redraw_background(self, *_: Any) -> None:
        self._bg_color.rgba = list(self.background_color)
        self._bg_rect.pos, self._bg_rect.size = self.pos, self.size
