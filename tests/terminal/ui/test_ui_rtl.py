"""Arabic on the screen: shaped and reordered where it is drawn, in a font that has its letters.

The pure part (:mod:`terminal.ui.bidi`) tests without a window; the rest renders
offscreen with Kivy and looks at what reaches the label's texture.
"""

from __future__ import annotations

from typing import Any

import pytest

from terminal.ui.bidi import visual, visual_lines, wrap
from terminal.ui.model import Icon, Layout, Screen, Tone
from terminal.ui.view import ARABIC_FONT, ScreenView
from terminal.ui.widgets import FitLabel
from tests.terminal.ui.conftest import IgnoreInput, assert_fits

TAP = "ضع بطاقتك"  # "Tap your card"
PRESENTATION_FORMS = range(0xFB50, 0xFF00)  # Arabic presentation forms A and B: joined letters


def test_visual_joins_letters_and_reverses_the_order() -> None:
    drawn = visual(TAP)
    assert all(ord(c) in PRESENTATION_FORMS for c in drawn.replace(" ", ""))
    assert drawn.split(" ")[0] == visual("بطاقتك")  # the last word is drawn first, at the left


def test_numbers_and_latin_stay_left_to_right_and_brackets_mirror() -> None:
    assert "07:30" in visual("حتى 07:30")
    assert "Tafel Linden" in visual("الموقع: Tafel Linden")
    drawn = visual("(حتى 07:30)")
    assert drawn.startswith("(") and drawn.endswith(")")  # each bracket faces its text


def test_wrapping_happens_before_reordering() -> None:
    words = "واحد اثنان ثلاثة أربعة"  # one two three four
    lines = wrap(words, lambda line: len(line) <= 12)
    assert lines == ["واحد اثنان", "ثلاثة أربعة"]  # the first line holds the first words
    assert visual_lines(words, lambda line: len(line) <= 12) == "\n".join(visual(line) for line in lines)
    assert wrap("أ\nب", lambda _line: True) == ["أ", "ب"]


def _ink(label: Any) -> int:
    """How many of the texture's pixels are drawn (alpha above half)."""
    texture = label.texture
    pixels = texture.pixels
    return sum(1 for alpha in pixels[3::4] if alpha > 127)


@pytest.fixture
def label(render: Any) -> FitLabel:
    widget = FitLabel(role="title", text=TAP, size_hint=(None, None), size=(600, 200), font_ratio=0.5)
    render(widget)
    return widget


def test_arabic_is_drawn_in_the_shipped_font_not_as_boxes(label: FitLabel, frames: Any) -> None:
    label.font_name, label.rtl = ARABIC_FONT, True
    frames(3)
    assert label.halign == "center"  # centred stays centred
    assert_fits(label)
    shaped = _ink(label)
    # Roboto has no Arabic: the same text comes out as a row of equal boxes (or nothing).
    label.font_name = "Roboto"
    frames(3)
    boxes = _ink(label)
    assert shaped > 0 and shaped != boxes
    assert label.text == TAP  # the label keeps the logical text; only the drawing is reordered


def test_the_view_draws_arabic_right_aligned_in_its_font(render: Any, frames: Any) -> None:
    view = ScreenView(screen_input=IgnoreInput())
    view.set_language("ar")
    render(view)
    screen = Screen(
        name="menu",
        layout=Layout.MENU,
        tone=Tone.NEUTRAL,
        icon=Icon.GEAR,
        title="المنسقون",
        rows=(("الموقع", "Tafel Linden"),),
    )
    view.show(screen)
    frames(3)
    assert view.rendered_texts() == screen.texts()  # logical texts, as the model has them
    labels = {label.text: label for label in view.labels()}
    assert all(label.rtl and label.font_name == ARABIC_FONT for label in labels.values())
    assert labels["المنسقون"].halign == "right"  # left-aligned in German, so right-aligned here
    assert labels["Tafel Linden"].halign == "left"
    for label in labels.values():
        assert_fits(label)


def test_german_keeps_roboto_and_left_to_right(render: Any, frames: Any) -> None:
    view = ScreenView(screen_input=IgnoreInput())
    view.set_language("de")
    render(view)
    view.show(
        Screen(name="menu", layout=Layout.MENU, tone=Tone.NEUTRAL, icon=Icon.GEAR, title="Koordination")
    )
    frames(3)
    (title,) = view.labels()
    assert not title.rtl and title.font_name == "Roboto" and title.halign == "left"
