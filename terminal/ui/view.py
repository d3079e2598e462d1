"""The Kivy view: draws any :class:`~terminal.ui.model.Screen` and sends touches to a :class:`ScreenInput`.

Deliberately dumb: it knows the four layouts (:class:`~terminal.ui.model.Layout`) and
nothing about kiosks, so new modes add screens, not view code.  Sizes are
fractions of the window and texts shrink to fit, for the 7" display and a
full-HD screen alike; widgets are built once per layout and updated in place,
since :meth:`ScreenView.show` runs on every status refresh (docs/ui.md, "How
it is built").  Colours come from :mod:`terminal.ui.palette`, widgets from
:mod:`terminal.ui.widgets`.

Importing this module imports Kivy widgets, which opens the window: call
:func:`terminal.ui.kivyenv.prepare` before importing it.

Example::

    view = ScreenView(presenter)
    view.show(presenter.screen)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from kivy.clock import Clock
from kivy.core.text import DEFAULT_FONT, LabelBase
from kivy.graphics import Color, Rectangle
from kivy.properties import ColorProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from terminal.ui.i18n import RTL_LANGUAGES
from terminal.ui.icons import BACKSPACE, BusyIndicator, IconWidget
from terminal.ui.model import KEYPAD_KEYS, LONG_PRESS_S, Action, Icon, Layout, Screen, ScreenInput
from terminal.ui.palette import PALETTES, Palette
from terminal.ui.widgets import (
    FitLabel,
    FlatButton,
    _Buttons,
    _Field,
    _fill,
    _FontGroup,
    _keep_spacing,
    _Lines,
    _place,
    _set_rgba,
    _StatusStrip,
)

# -- fonts ----------------------------------------------------------------------------------------------

FONTS_DIR: Final = Path(__file__).parent / "fonts"
ARABIC_FONT: Final = "KioskArabic"
"""DejaVu Sans, shipped in ``terminal/ui/fonts`` (so no OS font is needed): it has Arabic, with the
presentation forms :mod:`terminal.ui.bidi` draws, and Latin and Cyrillic for numbers and names."""
LabelBase.register(
    ARABIC_FONT,
    fn_regular=str(FONTS_DIR / "DejaVuSans.ttf"),
    fn_bold=str(FONTS_DIR / "DejaVuSans-Bold.ttf"),
)
LANGUAGE_FONTS: Final = {"ar": ARABIC_FONT}
"""Languages that Kivy's Roboto cannot draw; every other language (Latin, Cyrillic) keeps Roboto."""


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
        self.status = _StatusStrip()
        _place(self.lines.box, 0.04, 0.84, 0.56, 0.12)
        _place(self.clock, 0.62, 0.82, 0.34, 0.15)
        _place(self.icon, 0.3, 0.45, 0.4, 0.34)
        _place(self.busy, 0.3, 0.45, 0.4, 0.34)
        _place(self.title, 0.04, 0.18, 0.92, 0.25)
        _place(self.status.band, 0, 0, 1, 0.12)
        _place(self.status.box, 0.03, 0, 0.94, 0.12)
        self._add(
            self.lines.box, self.clock, self.icon, self.busy, self.title, self.status.band, self.status.box
        )

    def update(self, screen: Screen, palette: Palette) -> None:
        self.lines.update(screen.lines, palette.rgba("muted"))
        self.clock.text, self.clock.color = screen.clock, palette.rgba("text")
        self._update_icon(screen, palette)
        self.title.text, self.title.color = screen.title, palette.rgba("text")
        self.status.update(screen.status, palette)


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
        self.actions.grid.opacity = 0.25 if screen.busy else 1  # visibly out of reach while busy


class _KeypadPage(_Page):
    """Prompt, lines, entry field, error and buttons on the left; the 3×4 keypad on the right.

    With ``choices`` (a shop's till presets) a column of quick-pick buttons
    sits between the two, and with a ``status`` the status line runs along
    the bottom; everything else moves up to make room.
    """

    STATUS_H: Final = 0.11  # the status line's height, as on the idle screen less a little

    def __init__(self, screen_input: ScreenInput) -> None:
        super().__init__(screen_input)
        self.title = FitLabel(role="title", bold=True, max_lines=2, halign="left", font_ratio=0.5)
        self.lines = _Lines("line", max_lines=2, font_ratio=0.42, halign="left")
        self.entry = _Field(role="entry", bold=True, font_ratio=0.6, inset=0.12)
        self.error = FitLabel(role="error", max_lines=2, halign="left", font_ratio=0.42)
        self.actions = _Buttons(screen_input)
        # Up to a dozen presets in two columns must keep every button an eighth of the window high.
        self.choices = _Buttons(screen_input, column=True, role="choice", spacing=0.015)
        self.status = _StatusStrip()
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
        _place(self.status.band, 0, 0, 1, self.STATUS_H)
        _place(self.status.box, 0.03, 0, 0.94, self.STATUS_H)
        self._add(
            self.icon,
            self.title,
            self.lines.box,
            self.entry,
            self.error,
            self.actions.grid,
            self.choices.grid,
            self.keypad,
            self.status.band,
            self.status.box,
        )
        self._add(self.busy)  # last, so it is drawn over the dimmed keypad

    def update(self, screen: Screen, palette: Palette) -> None:
        self._arrange(screen)
        self._update_icon(screen, palette, replace_when_busy=False)
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
        bottom, top = self._band(screen)
        self.choices.update(screen.choices, palette, disabled=screen.busy, room=0.92 * (top - bottom))
        self.choices.grid.opacity = 0 if not screen.choices else 0.25 if screen.busy else 1
        self.status.update(screen.status, palette)

    def _band(self, screen: Screen) -> tuple[float, float]:
        """The page's free height, bottom and top, above the status line if there is one."""
        return (self.STATUS_H if screen.status is not None else 0.0), 1.0

    def _arrange(self, screen: Screen) -> None:
        bottom, top = self._band(screen)
        span = top - bottom

        def place(widget: Widget, x: float, y: float, w: float, h: float) -> None:
            # The layout below is drawn for the whole page; squeeze it into the free band.
            _place(widget, x, bottom + y * span, w, h * span)

        if screen.choices:  # three columns: entry, presets, keypad
            left_w, keypad_x, keypad_w = 0.3, 0.66, 0.31
            self.choices.grid.size_hint_x = 0.28
            self.choices.grid.pos_hint = {"x": 0.355, "top": bottom + 0.96 * span}
        else:
            left_w, keypad_x, keypad_w = 0.46, 0.54, 0.42
        has_icon = screen.icon != Icon.NONE
        place(self.icon, 0.04, 0.82, 0.08, 0.14)
        title_x = 0.14 if has_icon else 0.04
        place(self.title, title_x, 0.8, left_w + 0.04 - title_x, 0.17)
        place(self.lines.box, 0.04, 0.64, left_w, 0.15)
        place(self.entry, 0.04, 0.44, left_w, 0.18)
        place(self.error, 0.04, 0.25, left_w, 0.17)
        place(self.actions.grid, 0.04, 0.04, left_w, 0.19)
        place(self.keypad, keypad_x, 0.04, keypad_w, 0.92)
        place(self.busy, keypad_x + keypad_w / 2 - 0.15, 0.3, 0.3, 0.4)


@dataclass(frozen=True, slots=True)
class _MenuRow:
    """One label/value row of the menu table, with a hairline under it.

    ``button`` (the row's own button) or ``spacer`` (an empty cell as wide
    as a button) is in ``box`` only while some row of the screen has a button.
    """

    box: Widget
    label: FitLabel
    value: FitLabel
    button: FlatButton
    spacer: Widget
    line_color: Color


def _menu_row(screen_input: ScreenInput) -> _MenuRow:
    box = BoxLayout(orientation="horizontal")
    _keep_spacing(box, 0.012)  # a gap between label, value and button
    # Labels are short words; values may be long IDs that cannot wrap, so they get more width.
    label = FitLabel(role="row", halign="left", max_lines=2, font_ratio=0.5, size_hint_x=0.38)
    value = FitLabel(role="row", halign="right", bold=True, max_lines=2, font_ratio=0.5, size_hint_x=0.62)
    button = FlatButton(role="row_action", max_lines=2, font_ratio=0.45, size_hint_x=0.3)
    button.bind(on_release=lambda b: screen_input.press_action(b.value))
    box.add_widget(label)
    box.add_widget(value)
    return _MenuRow(box, label, value, button, Widget(size_hint_x=0.3), _fill(box, "underline"))


class _MenuPage(_Page):
    """Title on top; the label/value table on the left, a column of big buttons on the right.

    Rows are at most a tenth of the page high; when any row has a button of
    its own, rows are taller (``ROW_WITH_BUTTON``) so that button is a touch
    target like any other, and every row keeps a button-wide column at its
    end, empty where that row has none.
    """

    ROW_WITH_BUTTON: Final = 0.15
    BUTTON_SHARE: Final = 0.9  # of a row's height; the rest keeps neighbouring buttons apart

    def __init__(self, screen_input: ScreenInput) -> None:
        super().__init__(screen_input)
        self.title = FitLabel(role="title", bold=True, halign="left", font_ratio=0.62)
        self.lines = _Lines("line", font_ratio=0.5, halign="left")
        self.table = BoxLayout(orientation="vertical")
        self.rows: list[_MenuRow] = []
        self.label_group = _FontGroup()
        self.value_group = _FontGroup()
        self.button_group = _FontGroup()
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
        # Rows share the space down to the bottom margin, each at most a tenth of the page (or a button's).
        with_buttons = any(action is not None for action in screen.row_actions)
        row_h = self.ROW_WITH_BUTTON if with_buttons else 0.1
        rows_h = min(top - 0.04, row_h * len(screen.rows))
        table_w = 0.56 if screen.actions else 0.92
        _place(self.table, 0.04, top - rows_h, table_w, rows_h)
        self._sync_rows(len(screen.rows))
        row_actions = screen.row_actions or (None,) * len(screen.rows)
        for row, (label, value), action in zip(self.rows, screen.rows, row_actions, strict=True):
            row.label.text, row.label.color = label, palette.rgba("muted")
            row.value.text, row.value.color = value, palette.rgba("text")
            _set_rgba(row.line_color, palette.rgba("button"))
            self._update_row_button(row, action, palette, with_buttons, disabled=screen.busy)
        self.label_group.set_members([row.label for row in self.rows])
        self.value_group.set_members([row.value for row in self.rows])
        self.button_group.set_members([row.button for row in self.rows if row.button.parent is not None])
        # The buttons hang from just under the title, whatever the left column holds.
        self.actions.grid.size_hint_x = 0.32
        self.actions.grid.pos_hint = {"x": 0.64, "top": 0.82}
        self.actions.update(screen.actions, palette, disabled=screen.busy, room=0.78)
        self.actions.grid.opacity = 0.25 if screen.busy else 1

    def _update_row_button(
        self, row: _MenuRow, action: Action | None, palette: Palette, column: bool, *, disabled: bool
    ) -> None:
        # The label and value make room for a button column in every row when any row has a button.
        row.label.size_hint_x, row.value.size_hint_x = (0.42, 0.28) if column else (0.38, 0.62)
        wanted = None if not column else row.button if action is not None else row.spacer
        for cell in (row.button, row.spacer):
            if cell is not wanted and cell.parent is row.box:
                row.box.remove_widget(cell)
        if wanted is not None and wanted.parent is None:
            row.box.add_widget(wanted, index=0)  # index 0: the last child, at the row's end
        if action is None:
            return
        button = row.button
        button.size_hint_y, button.pos_hint = self.BUTTON_SHARE, {"center_y": 0.5}
        button.value, button.text = action.action_id, action.label
        button.fill = palette.rgba("primary" if action.primary else "button")
        button.color = palette.rgba("primary_text" if action.primary else "button_text")
        button.disabled_color = button.color
        button.disabled = disabled

    def _sync_rows(self, count: int) -> None:
        while len(self.rows) < count:
            self.rows.append(_menu_row(self.screen_input))
            self.table.add_widget(self.rows[-1].box)
        while len(self.rows) > count:
            self.table.remove_widget(self.rows.pop().box)


_PAGES: Final[dict[Layout, type[_Page]]] = {
    Layout.IDLE: _IdlePage,
    Layout.RESULT: _ResultPage,
    Layout.KEYPAD: _KeypadPage,
    Layout.MENU: _MenuPage,
}

_READING_ORDER: Final = (
    "title",
    "line",
    "clock",
    "status",
    "entry",
    "row",
    "row_action",
    "action",
    "choice",
    "error",
)
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
        self.rtl = False
        self.font_name = DEFAULT_FONT
        with self.canvas.before:
            self._bg_color = Color(rgba=self.background_color)
            self._bg_rect = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=self._redraw_background, size=self._redraw_background)
        self.bind(background_color=self._redraw_background)

    @property
    def screen(self) -> Screen | None:
        """The screen shown last, or ``None`` before the first :meth:`show`."""
        return self._screen

    def set_language(self, language: str) -> None:
        """Draw texts in ``language``'s font and direction (Arabic: right to left, aligned right)."""
        self.rtl = language in RTL_LANGUAGES
        self.font_name = LANGUAGE_FONTS.get(language, DEFAULT_FONT)
        for page in self._pages.values():
            self._apply_script(page)

    def _apply_script(self, page: _Page) -> None:
        """Give every label of ``page`` the language's font and direction (new labels appear as
        rows and lines grow, so this runs after every update; setting an unchanged value costs nothing)."""

        def walk(widget: Widget) -> Iterator[Widget]:
            yield widget
            for child in widget.children:
                yield from walk(child)

        for widget in walk(page.root):
            if isinstance(widget, FitLabel) and widget.role != "key":
                widget.font_name, widget.rtl = self.font_name, self.rtl

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
        self._apply_script(page)
        self._screen = screen

    # -- for tests and screenshots --

    def rendered_texts(self) -> list[str]:
        """The texts of the visible labels and buttons, in the reading order of :meth:`Screen.texts`.

        Labels are ordered by their role (title, lines, clock, status, entry,
        rows, row buttons, actions, choices, error) and, within a role, top to
        bottom and left to right as built.  Keypad keys are not screen texts
        and are left out.
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

    def choice_button(self, action_id: str) -> FlatButton:
        """The quick-pick button (a shop's preset) that sends ``action_id``."""
        return self._find_button("choice", action_id)

    def row_button(self, action_id: str) -> FlatButton:
        """The button at the end of a menu row that sends ``action_id``."""
        return self._find_button("row_action", action_id)

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

    # -- long press on the idle screen (and any screen that asks for one) --

    def on_touch_down(self, touch: Any) -> bool:
        handled = bool(super().on_touch_down(touch))
        # Held on the background only: a finger resting on a key or button is pressing that.
        screen = self._screen
        if (
            screen is not None
            and screen.accepts_long_press
            and not handled
            and self.collide_point(*touch.pos)
        ):
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
