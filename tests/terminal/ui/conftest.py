"""Kivy for the UI tests: one offscreen window for the whole pytest process, and helpers to drive it.

Kivy reads its environment at import and can open only one window per
process, so this conftest prepares Kivy (:func:`terminal.ui.kivyenv.prepare`:
offscreen SDL, no argument parsing, no config or log files, a throwaway
``KIVY_HOME``, no system input providers) and creates the window as soon as
pytest collects this folder, before any test module imports Kivy widgets.
Everything then runs in this one process:

* ``window``: the window at 800×480 (the 7" Pi display), emptied before and after each test;
* ``render(widget, frames=3)``: put a widget on the window and draw a few frames;
* ``frames(n)`` and ``frames_until(predicate)``: advance Kivy's clock and event loop;
* ``resize((w, h))``: change the window size, up to :data:`LARGEST`;
* ``tap(widget)``, ``touch_down(widget)``: real touches through the window's
  event dispatch (:class:`kivy.tests.common.UnitTestTouch`);
* ``screenshot(path)``: a PNG of the window at exactly ``path``.

The offscreen surface cannot grow beyond the size the window was created
with (it stays black outside), so the window is created at :data:`LARGEST`
and each test shrinks it.

Warnings are errors in this project; Kivy 2.3.1 imports and starts without
any, so no filter is needed here.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from terminal.ui import kivyenv
from terminal.ui.bidi import visual

SMALL = (800, 480)
"""The official 7" Raspberry Pi touch display."""
LARGEST = (1920, 1080)
"""A full-HD HDMI screen; the largest size a test may ask for."""
ARABIC_DOCS = frozenset({"idle", "check_out", "menu"})
"""The screens ``make screenshots`` also copies in Arabic, to show right-to-left text in docs/ui.md."""

_KIVY_HOME = tempfile.mkdtemp(prefix="kokreativ-kivy-")
atexit.register(shutil.rmtree, _KIVY_HOME, True)


PREPARE: dict[str, Any] = {
    "headless": True,
    "size": LARGEST,
    "home": _KIVY_HOME,
    "max_fps": 0,  # no frame pacing: tests advance frames as fast as they can
    "system_inputs": False,  # touches come from the tests, not from /dev/input
}
"""The :func:`kivyenv.prepare` arguments of this test process."""


def _create_window() -> Any:
    kivyenv.prepare(**PREPARE)
    from kivy.core.window import Window

    return Window


_WINDOW = _create_window()


def advance(frames: int = 1) -> None:
    """Run ``frames`` iterations of Kivy's event loop: clock, input, layout, drawing."""
    from kivy.base import EventLoop

    for _ in range(frames):
        EventLoop.idle()


def advance_until(predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Advance frames until ``predicate()`` holds; fail after ``timeout_s``: a guard against hangs."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"still false after {timeout_s} s of frames: {predicate}")
        advance()


def _clear(window: Any) -> None:
    from kivy.base import EventLoop

    for child in window.children[:]:
        window.remove_widget(child)
    EventLoop.touches.clear()
    for postproc in EventLoop.postproc_modules:
        for attr in ("touches", "last_touches"):
            if hasattr(postproc, attr):
                getattr(postproc, attr).clear()


def _window_point(widget: Any) -> tuple[float, float]:
    # to_window: the widget's centre in window coordinates, whatever layouts it sits in.
    x, y = widget.to_window(widget.x + widget.width / 2, widget.y + widget.height / 2)
    return float(x), float(y)


@pytest.fixture
def window() -> Iterator[Any]:
    """The Kivy window at 800×480, empty; emptied again after the test."""
    _clear(_WINDOW)
    _WINDOW.size = SMALL
    advance(2)
    yield _WINDOW
    _clear(_WINDOW)
    _WINDOW.size = SMALL


@pytest.fixture
def frames(window: Any) -> Callable[[int], None]:
    """``frames(n)``: advance the event loop ``n`` frames."""
    return advance


@pytest.fixture
def frames_until(window: Any) -> Callable[..., None]:
    """``frames_until(predicate, timeout_s=30)``: advance frames until ``predicate()`` is true."""
    return advance_until


@pytest.fixture
def render(window: Any) -> Callable[..., Any]:
    """``render(widget, frames=3)``: add ``widget`` to the window (once) and draw; returns the widget."""

    def _render(widget: Any, frames: int = 3) -> Any:
        if widget.parent is None:
            window.add_widget(widget)
        advance(frames)
        return widget

    return _render


@pytest.fixture
def resize(window: Any) -> Callable[[tuple[int, int]], None]:
    """``resize((w, h))``: resize the window (at most :data:`LARGEST`) and let layouts settle."""

    def _resize(size: tuple[int, int]) -> None:
        if size[0] > LARGEST[0] or size[1] > LARGEST[1]:
            raise ValueError(f"the offscreen window cannot grow beyond {LARGEST}")
        window.size = size
        advance(3)

    return _resize


@pytest.fixture
def touch_down(window: Any) -> Callable[[Any], Any]:
    """``touch_down(widget)``: press on the widget's centre; returns the touch, for ``touch.touch_up()``."""
    from kivy.tests.common import UnitTestTouch

    def _down(widget: Any) -> Any:
        touch = UnitTestTouch(*_window_point(widget))
        touch.touch_down()
        advance()
        return touch

    return _down


@pytest.fixture
def tap(window: Any) -> Callable[[Any], None]:
    """``tap(widget)``: press and release on the widget's centre, through the window's event dispatch."""
    from kivy.tests.common import UnitTestTouch

    def _tap(widget: Any) -> None:
        touch = UnitTestTouch(*_window_point(widget))
        touch.touch_down()
        touch.touch_up()
        advance()

    return _tap


@pytest.fixture
def screenshot(window: Any) -> Callable[[Path], Path]:
    """``screenshot(path)``: draw a frame and write the window as a PNG at exactly ``path``."""

    def _screenshot(path: Path) -> Path:
        window.canvas.ask_update()
        advance()
        # Window.screenshot() inserts a counter before the extension ("idle0001.png"): move it into place.
        written = window.screenshot(name=str(path))
        os.replace(written, path)
        return path

    return _screenshot


def sample_colours(path: Path, grid: int = 24) -> set[tuple[int, ...]]:
    """The distinct colours of a ``grid`` × ``grid`` sample of a PNG's pixels, as 0–255 RGB tuples."""
    from kivy.core.image import Image as CoreImage

    image = CoreImage.load(str(path), keep_data=True)
    width, height = image.size
    colours: set[tuple[int, ...]] = set()
    for i in range(grid):
        for j in range(grid):
            x = int((i + 0.5) * width / grid)
            y = int((j + 0.5) * height / grid)
            colours.add(tuple(round(c * 255) for c in image.read_pixel(x, y)[:3]))
    return colours


def pixel(path: Path, x: int, y: int) -> tuple[int, ...]:
    """One pixel of a PNG as a 0–255 RGB tuple (``y`` as :meth:`kivy.core.image.Image.read_pixel` counts)."""
    from kivy.core.image import Image as CoreImage

    image = CoreImage.load(str(path), keep_data=True)
    return tuple(round(c * 255) for c in image.read_pixel(x, y)[:3])


def _line_texts(label: Any) -> list[str]:
    # Kivy's core label keeps the laid-out lines; private, but the only record of what was drawn.
    return ["".join(word.text for word in line.words) for line in label._label._cached_lines]


def assert_fits(label: Any) -> None:
    """The label's text is drawn whole inside its box: not cut, not split mid-word, not too many lines."""
    width, height = label.size
    tex_w, tex_h = label.texture_size
    assert tex_w <= width + 0.5 and tex_h <= height + 0.5, (
        f"{label.text!r}: {label.texture_size} > {label.size}"
    )
    drawn = " ".join(" ".join(_line_texts(label)).split())
    if label.rtl:  # drawn in display order, line by line: compare the words, each in its drawn form
        expected = " ".join(visual(line) for line in label.text.split("\n"))
        assert Counter(drawn.split()) == Counter(expected.split()), f"cut: {_line_texts(label)}"
    else:
        assert drawn == " ".join(label.text.split()), f"cut or split mid-word: {_line_texts(label)}"
    if label.max_lines:
        assert len(_line_texts(label)) <= label.max_lines, label.text


class IgnoreInput:
    """A view's input that drops every touch: for tests that only look at screens."""

    def press_key(self, key: str) -> None: ...

    def press_action(self, action_id: str) -> None: ...

    def long_press(self) -> None: ...


class ScreenCheck:
    """Shows a screen at the largest and the smallest size and checks what was drawn.

    At both sizes the view draws exactly the screen's texts and every label fits;
    the screenshot is not one flat colour.  With ``KOKREATIV_SCREENSHOTS`` set (``make
    screenshots``) the German screenshots whose names start with ``docs_prefix`` are
    copied there for the docs, and the Arabic ones in :data:`ARABIC_DOCS` (docs/ui.md shows right to
    left).  ``seen`` keeps each screen name checked.
    """

    def __init__(
        self,
        view: Any,
        *,
        language: str,
        resize: Callable[[tuple[int, int]], None],
        frames: Callable[[int], None],
        screenshot: Callable[[Path], Path],
        folder: Path,
        docs_prefix: str = "",
    ) -> None:
        self._view, self._language, self._folder, self._docs_prefix = view, language, folder, docs_prefix
        self._resize, self._frames, self._screenshot = resize, frames, screenshot
        self.seen: dict[str, Any] = {}

    def __call__(self, screen: Any) -> None:
        for size in (LARGEST, SMALL):
            self._resize(size)
            self._frames(2)
            assert self._view.rendered_texts() == screen.texts(), screen.name
            for label in self._view.labels():
                assert_fits(label)
        png = self._screenshot(self._folder / f"{screen.name}.{self._language}.png")
        assert len(sample_colours(png)) >= 2, f"{screen.name} is one flat colour"
        target = os.environ.get("KOKREATIV_SCREENSHOTS")
        docs = self._language == "de" or (self._language == "ar" and screen.name in ARABIC_DOCS)
        if target and docs and screen.name.startswith(self._docs_prefix):
            Path(target).mkdir(parents=True, exist_ok=True)  # the docs keep the German set
            shutil.copyfile(png, Path(target) / png.name)
        self.seen.setdefault(screen.name, screen)


@pytest.fixture
def app_screen(window: Any) -> Iterator[Callable[..., Any]]:
    """``make(controller, **options)``: the real kiosk app's screen on the window, closed after the test."""
    from terminal.ui.app import KioskScreen

    made: list[KioskScreen] = []

    def make(controller: Any, **options: Any) -> KioskScreen:
        screen = KioskScreen(controller, view_options={"long_press_s": 0.05}, **options)
        window.add_widget(screen.root)
        made.append(screen)
        return screen

    yield make
    for screen in made:
        screen.close()
