"""The Kivy view, rendered offscreen: texts, colours, icons, touches, fit and in-place updates.

Screens are built by hand here (German texts, as a kiosk shows them), so these
tests depend on the contract in :mod:`terminal.ui.model` only, not on the presenter.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from terminal.ui import kivyenv
from terminal.ui.icons import BACKSPACE, DRAWABLE, IconWidget
from terminal.ui.model import (
    KEYPAD_KEYS,
    LONG_PRESS_S,
    TONE_ICONS,
    Action,
    Icon,
    Layout,
    Screen,
    StatusLine,
    Tone,
)
from terminal.ui.palette import PALETTES, Palette
from terminal.ui.view import ScreenView
from terminal.ui.widgets import FlatButton
from tests.terminal.ui.conftest import LARGEST, PREPARE, SMALL, assert_fits, pixel, sample_colours

SHORT_PRESS_S = 0.05


class RecordingInput:
    """A hand-written ScreenInput that remembers every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def press_key(self, key: str) -> None:
        self.calls.append(("key", key))

    def press_action(self, action_id: str) -> None:
        self.calls.append(("action", action_id))

    def long_press(self) -> None:
        self.calls.append(("long_press",))


STATUS = StatusLine(
    connection="online",
    online=True,
    pending="3 warten auf Sync",
    last_sync="letzte Sync 14:02",
    reader="Leser bereit",
    reader_ok=True,
)

IDLE = Screen(
    name="idle",
    layout=Layout.IDLE,
    tone=Tone.NEUTRAL,
    icon=Icon.CARD,
    title="Karte auflegen",
    lines=("Stadtteilzentrum Linden",),
    status=STATUS,
    clock="14:05",
)
CHECK_IN = Screen(
    name="check_in",
    layout=Layout.RESULT,
    tone=Tone.OK,
    icon=Icon.CHECK_IN,
    title="Willkommen, Alex!",
    lines=("Schicht begonnen um 08:00",),
)
DENIED = Screen(
    name="denied_card_blocked",
    layout=Layout.RESULT,
    tone=Tone.DENIED,
    icon=Icon.CROSS,
    title="Karte gesperrt",
    lines=("Bitte wende dich an die Koordination.",),
)
READ_ERROR = Screen(
    name="read_error",
    layout=Layout.RESULT,
    tone=Tone.ERROR,
    icon=Icon.WARNING,
    title="Karte nicht gelesen",
    lines=("Bitte noch einmal auflegen.",),
    actions=(Action("retry", "Nochmal", primary=True), Action("help", "Hilfe")),
)
PIN = Screen(
    name="pin",
    layout=Layout.KEYPAD,
    tone=Tone.NEUTRAL,
    icon=Icon.LOCK,
    title="PIN eingeben",
    lines=("Nur für die Koordination",),
    entry="••••",
    max_digits=6,
    error="Falsche PIN",
    actions=(Action("cancel", "Abbrechen"), Action("ok", "OK", primary=True)),
)
MENU = Screen(
    name="menu",
    layout=Layout.MENU,
    tone=Tone.NEUTRAL,
    icon=Icon.GEAR,
    title="Koordination",
    rows=(
        ("Kiosk", "k_3f2a"),
        ("Standort", "Stadtteilzentrum Linden"),
        ("Warteschlange", "3 Ereignisse"),
        ("Letzte Synchronisierung", "14:02"),
    ),
    actions=(
        Action("sync", "Jetzt synchronisieren", primary=True),
        Action("enrol", "Neu anmelden"),
        Action("back", "Zurück"),
    ),
)
SAMPLES = {"idle": IDLE, "result": CHECK_IN, "result_actions": READ_ERROR, "keypad": PIN, "menu": MENU}

# The longest texts a kiosk might realistically get, to prove nothing overflows or is cut.
LONG = {
    "idle": Screen(
        name="idle_long",
        layout=Layout.IDLE,
        tone=Tone.NEUTRAL,
        icon=Icon.CARD,
        title="Bitte Ehrenamtskarte an das Lesegerät halten",
        lines=("Nachbarschaftszentrum Hannover-Linden-Limmer, Eingang Hofseite",),
        status=StatusLine(
            connection="keine Verbindung seit 3 Stunden",
            online=False,
            pending="1.234 Ereignisse warten auf die Synchronisierung",
            last_sync="letzte Synchronisierung Sa 29.11. 14:02",
            reader="Kartenleser nicht angeschlossen",
            reader_ok=False,
        ),
        clock="Sa 29.11. 14:05",
    ),
    "result": Screen(
        name="denied_long",
        layout=Layout.RESULT,
        tone=Tone.DENIED,
        icon=Icon.CROSS,
        title="Diese Karte wurde von der Koordinationsstelle gesperrt",
        lines=(
            "Bitte wende dich an die Koordination im Erdgeschoss oder rufe die Servicenummer an.",
            "Fehlercode: Karte gesperrt (Verlustmeldung vom 28.11.)",
            "Deine bisherigen Stunden bleiben gutgeschrieben.",
        ),
        actions=(Action("help", "Hilfe anfordern", primary=True), Action("close", "Schließen")),
    ),
    "keypad": Screen(
        name="enrol_long",
        layout=Layout.KEYPAD,
        tone=Tone.NEUTRAL,
        icon=Icon.KEY,
        title="Einmaligen Anmeldecode der Koordinationsstelle eingeben",
        lines=("Den Code erzeugt die Koordination mit „kokreativ provision terminal add“.",),
        entry="4711 0815 42",
        max_digits=10,
        error="Der Anmeldecode ist abgelaufen oder wurde bereits verwendet",
        actions=(Action("cancel", "Abbrechen"), Action("ok", "Kiosk jetzt anmelden", primary=True)),
    ),
    "menu": Screen(
        name="menu_long",
        layout=Layout.MENU,
        tone=Tone.NEUTRAL,
        icon=Icon.GEAR,
        title="Einstellungen für Koordinatorinnen und Koordinatoren",
        lines=("Synchronisierung läuft, bitte einen Moment Geduld …",),
        rows=(
            ("Kiosk-Kennung", "k_3f2a9c0d5e6b7a8f9e0d1c2b3a4f5e6d"),
            ("Standort", "Nachbarschaftszentrum Hannover-Linden-Limmer"),
            ("Software", "0.1.0"),
            ("Kartenleser", "PN532 an /dev/ttyAMA0 nicht gefunden"),
            ("Wartende Einträge", "1.234"),
            ("Letzte erfolgreiche Synchronisierung", "Samstag, 29. November 2026, 14:02"),
            ("Letzte Übertragung", "Server nicht erreichbar (Zeitüberschreitung)"),
            ("Kartenliste vom", "keine – alle Karten werden abgelehnt"),
            ("Alarm", "keiner"),
        ),
        actions=(
            Action("sync", "Jetzt synchronisieren", primary=True),
            Action("trust", "Vertrauensliste aktualisieren"),
            Action("test", "Kartenleser testen"),
            Action("enrol", "Kiosk neu anmelden"),
            Action("back", "Zurück zum Startbildschirm"),
        ),
    ),
}


@pytest.fixture
def recorder() -> RecordingInput:
    return RecordingInput()


@pytest.fixture
def view(render: Any, recorder: RecordingInput) -> ScreenView:
    view: ScreenView = render(ScreenView(recorder, long_press_s=SHORT_PRESS_S))
    return view


def show(view: ScreenView, screen: Screen, frames: Any) -> None:
    view.show(screen)
    frames(3)


# -- colours ---------------------------------------------------------------------------------------


def _luminance(hex_colour: str) -> float:
    """WCAG 2 relative luminance of ``#RRGGBB``."""
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two ``#RRGGBB`` colours, from 1 to 21."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_formula_matches_known_values() -> None:
    assert contrast("#000000", "#FFFFFF") == pytest.approx(21.0)
    assert contrast("#777777", "#FFFFFF") == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("tone", list(Tone))
def test_every_text_colour_has_enough_contrast_on_its_surface(tone: Tone) -> None:
    p = PALETTES[tone]
    text_pairs = {
        "text": (p.text, p.background),
        "muted": (p.muted, p.background),
        "good": (p.good, p.background),
        "bad": (p.bad, p.background),
        "button": (p.button_text, p.button),
        "primary": (p.primary_text, p.primary),
        "field": (p.field_text, p.field),
    }
    for name, (fg, bg) in text_pairs.items():
        assert contrast(fg, bg) >= 4.5, f"{tone} {name}: {fg} on {bg} is {contrast(fg, bg):.2f}:1"
    # Pictograms are graphics (WCAG 1.4.11: 3:1), drawn on and cut out with the background.
    assert contrast(p.icon, p.background) >= 3.0


def test_neutral_status_colours_tell_good_from_bad() -> None:
    p = PALETTES[Tone.NEUTRAL]
    assert p.good != p.bad
    assert contrast(p.good, p.bad) > 1.2  # not only hue: tellable without colour vision, barely


@pytest.mark.parametrize("screen", [IDLE, CHECK_IN, DENIED, READ_ERROR, PIN, MENU], ids=lambda s: s.name)
def test_colours_follow_the_tone(view: ScreenView, frames: Any, screen: Screen) -> None:
    show(view, screen, frames)
    palette = PALETTES[screen.tone]
    assert view.background_color == palette.rgba("background")
    title = next(label for label in view.labels() if label.role == "title")
    assert list(title.color) == palette.rgba("text")
    icon = view.icon_widget()
    assert icon is not None
    assert icon.icon == screen.icon
    assert list(icon.color) == palette.rgba("icon")
    assert list(icon.cutout_color) == palette.rgba("background")


def test_status_strip_colours_connection_and_reader(view: ScreenView, frames: Any) -> None:
    palette = PALETTES[Tone.NEUTRAL]

    def colour_of(text: str) -> list[float]:
        return list(next(label.color for label in view.labels() if label.text == text))

    show(view, IDLE, frames)
    assert colour_of("online") == palette.rgba("good")
    assert colour_of("Leser bereit") == palette.rgba("good")
    assert colour_of("3 warten auf Sync") == palette.rgba("muted")
    broken = StatusLine("offline", False, "3 warten auf Sync", "letzte Sync 14:02", "Leser fehlt", False)
    show(view, replace(IDLE, status=broken), frames)
    assert colour_of("offline") == palette.rgba("bad")
    assert colour_of("Leser fehlt") == palette.rgba("bad")


# -- texts -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SAMPLES))
def test_rendered_texts_are_the_screen_texts_in_reading_order(
    view: ScreenView, frames: Any, name: str
) -> None:
    screen = SAMPLES[name]
    show(view, screen, frames)
    assert view.rendered_texts() == screen.texts()


@pytest.mark.parametrize("name", list(LONG))
def test_long_texts_are_all_rendered(view: ScreenView, frames: Any, name: str) -> None:
    show(view, LONG[name], frames)
    assert view.rendered_texts() == LONG[name].texts()


def test_empty_optional_parts_show_nothing(view: ScreenView, frames: Any) -> None:
    show(view, PIN, frames)
    bare = Screen(name="pin", layout=Layout.KEYPAD, tone=Tone.NEUTRAL, icon=Icon.NONE, title="PIN eingeben")
    show(view, bare, frames)
    assert view.rendered_texts() == ["PIN eingeben"]
    icon = view.icon_widget()
    assert icon is not None and len(icon.canvas.children) == 0


# -- fit -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [SMALL, LARGEST], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", list(LONG))
def test_long_texts_fit_without_overflow(
    view: ScreenView, frames: Any, resize: Any, size: tuple[int, int], name: str
) -> None:
    resize(size)
    show(view, LONG[name], frames)
    labels = view.labels()
    assert len(labels) >= len(LONG[name].texts())
    for label in labels:
        assert_fits(label)
        assert label.font_size >= 10, f"{label.text!r} shrank to {label.font_size:.1f} px"


@pytest.mark.parametrize("size", [SMALL, LARGEST], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", list(SAMPLES))
def test_short_texts_stay_large(
    view: ScreenView, frames: Any, resize: Any, size: tuple[int, int], name: str
) -> None:
    """Readable from a metre away: a short title is at least a tenth of the window high."""
    resize(size)
    show(view, SAMPLES[name], frames)
    for label in view.labels():
        assert_fits(label)
    title = next(label for label in view.labels() if label.role == "title")
    assert title.font_size >= size[1] / 10 * (0.5 if name in ("keypad", "menu") else 1)


@pytest.mark.parametrize("size", [SMALL, LARGEST], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize(
    "screen", [READ_ERROR, PIN, MENU, LONG["menu"], LONG["result"]], ids=lambda s: s.name
)
def test_touch_targets_are_large(
    view: ScreenView, frames: Any, resize: Any, size: tuple[int, int], screen: Screen
) -> None:
    resize(size)
    show(view, screen, frames)
    minimum = max(48.0, size[1] / 8)
    buttons = [w for w in view.walk() if isinstance(w, FlatButton)]
    assert buttons
    for button in buttons:
        assert button.height >= minimum - 0.5, f"{button.value}: {button.height:.0f} px < {minimum:.0f} px"
        assert button.width >= minimum - 0.5
        assert button.x >= 0 and button.right <= size[0] + 0.5
        assert button.y >= 0 and button.top <= size[1] + 0.5


# -- icons -----------------------------------------------------------------------------------------


def _instruction_points(instruction: Any) -> list[tuple[float, float]]:
    name = type(instruction).__name__
    if name in ("Line", "Triangle"):
        flat = list(instruction.points)
        return list(zip(flat[::2], flat[1::2], strict=True))
    if name in ("Ellipse", "RoundedRectangle", "Rectangle"):
        (x, y), (w, h) = instruction.pos, instruction.size
        return [(x, y), (x + w, y + h)]
    if name == "Mesh":
        flat = list(instruction.vertices)
        return list(zip(flat[::4], flat[1::4], strict=True))
    return []


@pytest.mark.parametrize("icon", sorted(DRAWABLE))
def test_every_icon_draws_inside_its_box(render: Any, icon: str) -> None:
    widget = render(IconWidget(icon=icon, pos=(100, 50), size=(300, 200), size_hint=(None, None)))
    instructions = widget.canvas.children
    if icon == Icon.NONE:
        assert instructions == []
        return
    assert any(type(i).__name__ != "Color" for i in instructions)
    # The icon is a 200 px square centred in the box; line caps may stick out by half a line width.
    slack = 200 * 0.05
    for instruction in instructions:
        for x, y in _instruction_points(instruction):
            assert 150 - slack <= x <= 350 + slack and 50 - slack <= y <= 250 + slack, (
                icon,
                instruction,
                x,
                y,
            )


def test_every_model_icon_is_drawable() -> None:
    assert {icon.value for icon in Icon} | {BACKSPACE} == set(DRAWABLE)


@pytest.mark.parametrize("tone", list(Tone))
def test_each_tones_icons_draw_on_its_screen(view: ScreenView, frames: Any, tone: Tone) -> None:
    for icon in TONE_ICONS[tone]:
        show(view, Screen(name="x", layout=Layout.RESULT, tone=tone, icon=icon, title="Titel"), frames)
        widget = view.icon_widget()
        assert widget is not None
        assert (len(widget.canvas.children) > 0) == (icon != Icon.NONE)


# -- touches ---------------------------------------------------------------------------------------


def test_keypad_keys_and_buttons_reach_the_input(
    view: ScreenView, frames: Any, tap: Any, recorder: RecordingInput
) -> None:
    show(view, PIN, frames)
    for key in KEYPAD_KEYS:
        tap(view.key_button(key))
    tap(view.action_button("cancel"))
    tap(view.action_button("ok"))
    assert recorder.calls == [("key", key) for key in KEYPAD_KEYS] + [("action", "cancel"), ("action", "ok")]


def test_busy_keypad_accepts_nothing_until_it_is_ready_again(
    view: ScreenView, frames: Any, tap: Any, recorder: RecordingInput
) -> None:
    show(view, replace(PIN, busy=True), frames)
    busy = view.busy_indicator()
    assert busy is not None and busy.active
    for key in ("1", "back", "clear"):
        assert view.key_button(key).disabled
        tap(view.key_button(key))
    tap(view.action_button("ok"))
    assert recorder.calls == []
    assert view.rendered_texts() == PIN.texts()  # still shows what was typed

    show(view, PIN, frames)
    assert not busy.active
    tap(view.key_button("7"))
    tap(view.action_button("ok"))
    assert recorder.calls == [("key", "7"), ("action", "ok")]


def test_result_and_menu_buttons_reach_the_input(
    view: ScreenView, frames: Any, tap: Any, recorder: RecordingInput
) -> None:
    show(view, READ_ERROR, frames)
    tap(view.action_button("retry"))
    show(view, MENU, frames)
    for action in MENU.actions:
        tap(view.action_button(action.action_id))
    assert recorder.calls == [("action", "retry")] + [("action", a.action_id) for a in MENU.actions]
    with pytest.raises(KeyError):
        view.action_button("retry")  # the result screen's button is gone with its screen


def test_a_finger_sliding_off_a_button_does_not_press_it(
    view: ScreenView, frames: Any, touch_down: Any, recorder: RecordingInput
) -> None:
    show(view, MENU, frames)
    button = view.action_button("sync")
    touch = touch_down(button)
    touch.touch_move(button.right + 50, button.y - 50)
    touch.touch_up()
    frames(1)
    assert recorder.calls == []


def _wait_past_long_press(frames_until: Any) -> None:
    """Advance frames until a timer scheduled after the long-press delay has fired: then it would have too."""
    from kivy.clock import Clock

    fired: list[bool] = []
    Clock.schedule_once(lambda _dt: fired.append(True), SHORT_PRESS_S * 2)
    frames_until(lambda: bool(fired))


def test_holding_the_idle_screen_is_a_long_press(
    view: ScreenView, frames: Any, frames_until: Any, touch_down: Any, recorder: RecordingInput
) -> None:
    show(view, IDLE, frames)
    touch = touch_down(view)
    show(view, replace(IDLE, clock="14:06"), frames)  # a status refresh mid-hold does not cancel it
    frames_until(lambda: recorder.calls == [("long_press",)])
    touch.touch_up()
    _wait_past_long_press(frames_until)
    assert recorder.calls == [("long_press",)]


def test_a_short_touch_is_not_a_long_press(
    view: ScreenView, frames: Any, frames_until: Any, tap: Any, recorder: RecordingInput
) -> None:
    show(view, IDLE, frames)
    tap(view)
    _wait_past_long_press(frames_until)
    assert recorder.calls == []


def test_long_press_only_on_the_idle_screen(
    view: ScreenView, frames: Any, frames_until: Any, touch_down: Any, recorder: RecordingInput
) -> None:
    show(view, CHECK_IN, frames)
    touch = touch_down(view)
    _wait_past_long_press(frames_until)
    touch.touch_up()
    # A touch that began on the idle screen does not fire once a result screen replaced it.
    show(view, IDLE, frames)
    touch = touch_down(view)
    show(view, DENIED, frames)
    _wait_past_long_press(frames_until)
    touch.touch_up()
    assert recorder.calls == []


def test_default_long_press_is_the_models() -> None:
    assert ScreenView(RecordingInput()).long_press_s == LONG_PRESS_S


# -- cheap updates ---------------------------------------------------------------------------------


def test_same_layout_updates_widgets_in_place(view: ScreenView, frames: Any) -> None:
    show(view, IDLE, frames)
    before = {id(w): w for w in view.walk()}
    title = next(label for label in view.labels() if label.role == "title")
    later = replace(
        IDLE,
        clock="14:06",
        status=StatusLine("offline", False, "4 warten auf Sync", "letzte Sync 14:05", "Leser bereit", True),
    )
    show(view, later, frames)
    assert view.rendered_texts() == later.texts()
    assert {id(w) for w in view.walk()} == set(before)  # not one widget built or dropped
    assert next(label for label in view.labels() if label.role == "title") is title


@pytest.mark.parametrize("screen", [IDLE, CHECK_IN, READ_ERROR, PIN, MENU], ids=lambda s: s.name)
def test_showing_the_same_screen_again_draws_nothing(
    view: ScreenView, window: Any, frames: Any, screen: Screen
) -> None:
    """A status refresh that changes nothing must not cost a redraw of the whole window on the Pi."""
    show(view, screen, frames)
    draws: list[bool] = []
    uid = window.fbind("on_draw", lambda *_: draws.append(True))
    try:
        for _refresh in range(3):
            show(view, replace(screen), frames)
        assert draws == []
        show(view, replace(screen, title=screen.title + "!"), frames)
        assert draws  # the check above can see a redraw
    finally:
        window.unbind_uid("on_draw", uid)


def test_switching_layouts_reuses_each_layouts_widgets(view: ScreenView, frames: Any) -> None:
    show(view, IDLE, frames)
    idle_title = next(label for label in view.labels() if label.role == "title")
    show(view, CHECK_IN, frames)
    result_title = next(label for label in view.labels() if label.role == "title")
    show(view, DENIED, frames)
    assert next(label for label in view.labels() if label.role == "title") is result_title
    show(view, IDLE, frames)
    assert next(label for label in view.labels() if label.role == "title") is idle_title
    assert view.rendered_texts() == IDLE.texts()


def test_changing_the_number_of_lines_or_buttons_keeps_the_rest(view: ScreenView, frames: Any) -> None:
    show(view, MENU, frames)
    first = view.action_button("sync")
    fewer = replace(MENU, actions=MENU.actions[:1], rows=MENU.rows[:2])
    show(view, fewer, frames)
    assert view.action_button("sync") is first
    assert view.rendered_texts() == fewer.texts()
    show(view, MENU, frames)
    assert view.rendered_texts() == MENU.texts()


# -- screenshots -----------------------------------------------------------------------------------


def _rgb(palette: Palette, name: str) -> tuple[int, ...]:
    return tuple(round(c * 255) for c in palette.rgba(name)[:3])


@pytest.mark.parametrize("name", list(SAMPLES))
def test_screenshot_of_each_layout(
    view: ScreenView, frames: Any, screenshot: Any, tmp_path: Path, name: str
) -> None:
    screen = SAMPLES[name]
    show(view, screen, frames)
    path = screenshot(tmp_path / f"{name}.png")
    assert path.is_file() and path.stat().st_size > 2_000
    colours = sample_colours(path)
    assert len(colours) >= 3, colours  # background, text, icon at least
    palette = PALETTES[screen.tone]
    assert _rgb(palette, "background") in colours
    assert pixel(path, 3, 240) == _rgb(palette, "background")  # the left margin, half-way up


# -- start-up settings -----------------------------------------------------------------------------


def test_kivy_settings_are_fixed_once_kivy_runs() -> None:
    kivyenv.prepare(**PREPARE)  # the same settings again: nothing to do
    with pytest.raises(RuntimeError, match="other settings"):
        kivyenv.prepare(**{**PREPARE, "fullscreen": True})
