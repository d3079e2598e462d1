"""The widgets the view's layouts are built from: text that fits, flat buttons, rows of them.

:mod:`terminal.ui.view` arranges these into its four layouts; this module
holds the pieces that know nothing about layouts or screens, only about texts,
colours and touches, so the view stays a list of layouts.

* :class:`FitLabel`: a label whose font shrinks until its text fits its box,
  wrapping only between words; every text on the kiosk is one.
  :class:`_FontGroup` gives a set of them one size.
* :class:`FlatButton` and :class:`_Field`: the rounded buttons and keys, and
  the keypad's entry field.
* :class:`_Lines` and :class:`_Buttons`: a column of text lines and a row or
  column of action buttons, each created and updated in place for a changing
  count; :class:`_StatusStrip`, the status line of the idle screen and the
  shop's till.
* :func:`_fill`, :func:`_set_rgba`, :func:`_keep_spacing`,
  :func:`_sync_count` and :func:`_place`: canvas and layout helpers that keep
  sizes as fractions of the window and skip redraws that change nothing.

Importing this module imports Kivy widgets, which opens the window: call
:func:`terminal.ui.kivyenv.prepare` before importing it.

Example::

    title = FitLabel(role="title", bold=True, max_lines=2, font_ratio=0.62)
    title.text = "Karte auflegen"
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Final, Literal

from kivy.clock import Clock
from kivy.graphics import Canvas, Color, Ellipse, Line, Rectangle, RoundedRectangle
from kivy.properties import BooleanProperty, ColorProperty, NumericProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from terminal.ui.bidi import visual, visual_lines
from terminal.ui.icons import draw_icon
from terminal.ui.model import Action, ScreenInput, StatusLine
from terminal.ui.palette import Palette, _shade

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
    ``entry``, ``row``, ``action``, ``error``, ``key``): :meth:`~terminal.ui.view.ScreenView.rendered_texts`
    orders texts by it.  Fitting runs once per change of text or size, just
    before the next frame, and measures with Kivy's text layout without
    rendering textures, so an unchanged label costs nothing.

    ``rtl`` (Arabic) draws the text right to left: ``text`` stays the logical
    text (what tests read), and only the drawn texture gets joined letters in
    display order, wrapped line by line (:mod:`terminal.ui.bidi`); turning it
    on mirrors ``halign``.
    """

    font_ratio = NumericProperty(0.7)
    rtl = BooleanProperty(False)
    max_lines = NumericProperty(1)
    min_font = NumericProperty(9.0)
    inset = NumericProperty(0.0)
    font_cap = NumericProperty(0.0)
    natural_font = NumericProperty(0.0)
    text_size: Any  # Kivy's property: (width, height), either may be None
    halign: Any  # Kivy's property: "left", "center", "right" or "justify"

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
            font_name=self._fit_trigger,
            rtl=self._fit_trigger,
        )
        self._fit_trigger()

    def on_rtl(self, _label: Any, _rtl: bool) -> None:
        """Mirror the alignment: what starts at the left in German starts at the right in Arabic."""
        halign: str = self.halign
        self.halign = {"left": "right", "right": "left"}.get(halign, halign)
        self._trigger_texture()

    def texture_update(self, *largs: Any) -> None:
        """Draw the display form of an ``rtl`` text; the logical text stays in ``text``."""
        core = self._label
        if not self.rtl or not core.text:
            super().texture_update(*largs)
            return
        logical = core.text
        box_w = self.text_box()[0]
        core.text = visual_lines(logical, lambda line: core.get_extents(line)[0] <= box_w)
        try:
            super().texture_update(*largs)
        finally:
            core.text = logical

    def text_box(self) -> tuple[float, float]:
        """The width and height the text must fit in: the widget less ``inset`` on every side."""
        pad = self.height * self.inset
        return max(0.0, self.width - 2 * pad), max(0.0, self.height - 2 * pad)

    def _fit(self, *_: Any) -> None:
        box_w, box_h = self.text_box()
        key = (
            self.text,
            box_w,
            box_h,
            self.bold,
            self.font_ratio,
            self.max_lines,
            self.min_font,
            self.font_name,
            self.rtl,
        )
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
        words = [visual(word) for word in self.text.split()] if self.rtl else self.text.split()
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
        drawn = visual(self.text) if self.rtl else self.text
        one_line = min(start, start * box_w / max(1.0, float(core.get_extents(drawn)[0])) * 0.97)
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
                line_height = core.get_extents(words[0])[1] or 1
                self.text_size = text_size
                if self.rtl:  # measure the lines texture_update will draw
                    logical = core.text
                    core.text = visual_lines(logical, lambda line: core.get_extents(line)[0] <= box_w)
                    try:
                        height, lines = core.render()[1], core.text.count("\n") + 1
                    finally:
                        core.text = logical
                else:
                    height = core.render()[1]
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

    ``role`` names the buttons' texts for :meth:`~terminal.ui.view.ScreenView.rendered_texts`
    (``action``, or ``choice`` for the keypad's quick picks); ``spacing`` is the gap
    between them as a fraction of the window height.

    A row fills its box.  A column hangs from the top of its box: each button
    is ``button_ratio`` of the page height, less if that does not fit the
    box, never less than an eighth of the page (and 48 px); when even that
    does not fit, the column splits into two.
    """

    def __init__(
        self,
        screen_input: ScreenInput,
        *,
        column: bool = False,
        button_ratio: float = 0.15,
        role: str = "action",
        spacing: float = 0.03,
    ) -> None:
        self.grid = GridLayout()
        self._input = screen_input
        self._column = column
        self._button_ratio = button_ratio
        self._role = role
        self._room = 0.0  # a column's box height, as a fraction of the page height
        self._group = _FontGroup()
        _keep_spacing(self.grid, spacing)
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
        button = FlatButton(role=self._role, max_lines=2, font_ratio=0.6)
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


class _StatusStrip:
    """The status line along the bottom: four items (connection, waiting entries, last sync, reader).

    ``band`` is the strip's background, meant to span the page's width; ``box``
    holds the items, each a coloured dot (good or bad, or none) and its text.
    Both are placed by the layout that has a status line.
    """

    def __init__(self) -> None:
        self.box = BoxLayout(orientation="horizontal")
        self.band = Widget()
        self.band_color = _fill(self.band)
        self.group = _FontGroup()
        self.cells: list[tuple[Color, Widget, FitLabel]] = []
        for _item in range(4):
            cell = BoxLayout(orientation="horizontal")
            dot = Widget(size_hint_x=None)
            dot_color = _fill(dot, "dot")
            cell.bind(height=lambda _cell, height, dot=dot: setattr(dot, "width", height * 0.55))
            label = FitLabel(role="status", halign="left", max_lines=2, font_ratio=0.42)
            cell.add_widget(dot)
            cell.add_widget(label)
            self.box.add_widget(cell)
            self.cells.append((dot_color, dot, label))
        self.group.set_members([label for _color, _dot, label in self.cells])

    def update(self, status: StatusLine | None, palette: Palette) -> None:
        _set_rgba(self.band_color, palette.rgba("field"))
        self.band.opacity = self.box.opacity = 0 if status is None else 1
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
