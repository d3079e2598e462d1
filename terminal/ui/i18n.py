"""Translations for the kiosk screen: one TOML file per language in ``terminal/ui/locale/``.

Every text the screen shows comes from these files, so a new language is a new
file and no code.  Keys are dotted paths (``check_in.title``); values are
:meth:`str.format` templates.  Plural forms live under ``.zero``, ``.one`` and
``.other`` (``zero`` is optional and falls back to ``other``), which covers
German and English; a language that needs more forms would add them here.

A missing key or placeholder is a bug, not something to paper over at a
kiosk: :class:`Translator` raises :class:`KeyError` on it, and a test checks
that every language has exactly the keys of the default one.
"""

from __future__ import annotations

import tomllib
from datetime import datetime, tzinfo
from importlib import resources
from typing import Any, Final

DEFAULT_LANGUAGE: Final = "de"
LANGUAGES: Final = ("de", "en")


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        elif isinstance(value, str):
            flat[name] = value
        else:
            raise ValueError(f"translation {name!r} must be a string")
    return flat


def load_catalogue(language: str) -> dict[str, str]:
    """All templates of ``language`` by dotted key; :class:`ValueError` for a language we do not ship."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; choose one of {', '.join(LANGUAGES)}")
    text = resources.files("terminal.ui").joinpath("locale", f"{language}.toml").read_text(encoding="utf-8")
    return _flatten(tomllib.loads(text))


class Translator:
    """Texts, numbers and times in one language.

    Example::

        t = Translator("de", tz=ZoneInfo("Europe/Berlin"))
        t("check_in.line", time=t.time(wall_ms))       # "Eingecheckt um 14:02"
        t.plural("status.pending", 3)                   # "3 Einträge warten"
    """

    def __init__(self, language: str = DEFAULT_LANGUAGE, *, tz: tzinfo | None = None) -> None:
        self.language = language
        self._templates = load_catalogue(language)
        self._tz = tz

    def __call__(self, key: str, **values: object) -> str:
        """The text for ``key`` with ``values`` filled in; :class:`KeyError` if either is missing."""
        return self._templates[key].format(**values)

    def plural(self, key: str, count: int, **values: object) -> str:
        """``key.zero`` / ``key.one`` / ``key.other`` by ``count``, with ``{count}`` filled in."""
        form = "one" if count == 1 else "zero" if count == 0 and f"{key}.zero" in self._templates else "other"
        return self(f"{key}.{form}", count=count, **values)

    def _local(self, ms: int) -> datetime:
        return datetime.fromtimestamp(ms / 1000, self._tz).astimezone(self._tz)

    def time(self, ms: int) -> str:
        """Wall-clock time of day, ``14:02``."""
        return self._local(ms).strftime(self("time.time"))

    def when(self, ms: int, *, now_ms: int) -> str:
        """``14:02`` if ``ms`` is on the same local day as ``now_ms``, else ``28.11.2026 14:02``."""
        moment, now = self._local(ms), self._local(now_ms)
        clock = moment.strftime(self("time.time"))
        if moment.date() == now.date():
            return self("time.today", time=clock)
        return self("time.other_day", date=moment.strftime(self("time.date")), time=clock)

    def duration(self, minutes: int) -> str:
        """``45 Min.``, ``3 Std.`` or ``2 Std. 15 Min.``."""
        hours, rest = divmod(max(0, minutes), 60)
        if hours == 0:
            return self("duration.minutes", minutes=rest)
        if rest == 0:
            return self("duration.hours", hours=hours)
        return self("duration.hours_minutes", hours=hours, minutes=rest)
