"""Kivy's start-up settings, applied before the first Kivy import that matters.

Kivy reads environment variables when ``kivy`` is imported and its
``[graphics]`` config when the window is created, which happens on the first
import of ``kivy.core.window`` or of almost any ``kivy.uix`` module.  So the
app entry point and the UI tests call :func:`prepare` first, and import
:mod:`terminal.ui.view` only after it.  This module imports no Kivy at module
level.

What it sets, and why:

* ``KIVY_NO_ARGS=1``: Kivy would otherwise parse (and eat) the kiosk's or
  pytest's command line.
* ``KIVY_NO_CONFIG=1`` and ``KIVY_NO_FILELOG=1``: no ``config.ini`` or log
  files under ``KIVY_HOME``; on a read-only root the kiosk must not write there.
* ``KIVY_LOG_MODE=PYTHON``: in its default mode Kivy attaches its handlers to
  the root logger and replaces ``sys.stderr``; in ``PYTHON`` mode Kivy's
  records simply propagate to whatever logging the process configured
  (journald on the kiosk, pytest's capture in tests).
* ``SDL_VIDEODRIVER=offscreen`` when ``headless``: renders with Mesa without a
  display, for tests and screenshots.

Example, at the very top of the app entry point::

    from terminal.ui import kivyenv

    kivyenv.prepare(fullscreen=True, home="/var/lib/kokreativ/kivy")
    from terminal.ui.view import ScreenView  # only now: this import opens the window
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Final

DEFAULT_SIZE: Final = (800, 480)
"""The official 7" Raspberry Pi touch display, in pixels."""

_prepared: tuple[object, ...] | None = None


def prepare(
    *,
    headless: bool = False,
    size: tuple[int, int] = DEFAULT_SIZE,
    fullscreen: bool = False,
    home: str | os.PathLike[str] | None = None,
    max_fps: int = 30,
    system_inputs: bool = True,
) -> None:
    """Set Kivy's environment and window config; call once, before any other Kivy import.

    ``fullscreen`` uses the display's own resolution and hides the mouse
    cursor (a kiosk has a touchscreen, not a mouse); ``size`` is then only
    the fallback.  ``home`` becomes ``KIVY_HOME``: Kivy creates it and copies
    its icons there at import, so on a read-only root point it at a writable
    folder.  ``max_fps`` caps redraws: the screen changes a few times a
    minute, and the Pi Zero 2 W has better things to do.  ``system_inputs``
    false removes Kivy's default ``[input]`` providers (mtdev, hidinput),
    which read ``/dev/input`` directly: use that when SDL already delivers the
    touchscreen (under the ``cage`` compositor), or every touch arrives twice;
    tests use it because they inject touches themselves.

    Calling it again with the same arguments does nothing; with other
    arguments, or after Kivy was imported elsewhere, it raises
    :class:`RuntimeError`, because the settings could no longer take effect.
    """
    global _prepared
    args = (headless, size, fullscreen, None if home is None else str(home), max_fps, system_inputs)
    if _prepared is not None:
        if _prepared != args:
            raise RuntimeError(f"Kivy was already prepared with other settings: {_prepared}")
        return
    if "kivy" in sys.modules:
        raise RuntimeError("kivyenv.prepare() must run before the first Kivy import")

    _set_environment(headless=headless, home=home)
    _set_config(size=size, fullscreen=fullscreen, max_fps=max_fps, system_inputs=system_inputs)
    _prepared = args


def _set_environment(*, headless: bool, home: str | os.PathLike[str] | None) -> None:
    """The variables Kivy reads at import (the module docstring says why each)."""
    os.environ["KIVY_NO_ARGS"] = "1"
    os.environ["KIVY_NO_CONFIG"] = "1"
    os.environ["KIVY_NO_FILELOG"] = "1"
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    if home is not None:
        Path(home).mkdir(parents=True, exist_ok=True)
        os.environ["KIVY_HOME"] = str(home)
    if headless:
        os.environ["SDL_VIDEODRIVER"] = "offscreen"
        # Widget sizes here are fractions of the window, but Kivy's default
        # sizes (sp, dp) follow the display density: pin it so tests are reproducible.
        os.environ.setdefault("KIVY_METRICS_DENSITY", "1")


def _set_config(*, size: tuple[int, int], fullscreen: bool, max_fps: int, system_inputs: bool) -> None:
    """The ``[graphics]``, ``[kivy]`` and ``[input]`` config Kivy reads when the window opens."""
    from kivy.config import Config

    width, height = size
    Config.set("graphics", "width", str(width))
    Config.set("graphics", "height", str(height))
    Config.set("graphics", "fullscreen", "auto" if fullscreen else "0")
    Config.set("graphics", "show_cursor", "0" if fullscreen else "1")
    Config.set("graphics", "maxfps", str(max_fps))
    Config.set("graphics", "resizable", "1")
    # A USB keyboard plugged into a kiosk must not be able to close it with Esc.
    Config.set("kivy", "exit_on_escape", "0")
    if not system_inputs:
        for name, _value in Config.items("input"):
            Config.remove_option("input", name)
