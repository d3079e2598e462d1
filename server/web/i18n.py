"""The pages' languages: gettext catalogues read once at start-up, German first, English second.

Message IDs are English; each console area keeps its own catalogue per
language, ``locale/<lang>/<area>.po``, so parallel work on areas never edits
one file.  :func:`load_translations` merges every ``.po`` of a language into
one :class:`babel.support.Translations`.  A message without a translation in
a catalogue shows its English ID (gettext's fallback); a test keeps the
German catalogue complete (``tests/server/test_server_web_i18n.py``).

The operators issue adds languages by adding a folder: :data:`LANGUAGES`
lists those a person can switch to, the first being the default.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR: Final = Path(__file__).parent / "locale"
LANGUAGES: Final[Mapping[str, str]] = {"de": "Deutsch", "en": "English"}
DEFAULT_LANGUAGE: Final = "de"
LANGUAGE_COOKIE: Final = "kk_lang"


def _translations(language: str, locale_dir: Path) -> Iterator[tuple[str, Any, Any, str | None]]:
    """``(file name, message ID, translation, context)`` of every translated message of ``language``."""
    for path in sorted((locale_dir / language).glob("*.po")):
        with path.open("rb") as file:
            for message in read_po(file, locale=language):
                if message.id and message.string:
                    yield path.name, message.id, message.string, message.context


def read_catalogue(language: str, locale_dir: Path = LOCALE_DIR) -> Catalog:
    """Every ``.po`` file of ``language`` merged into one catalogue (the first file, by name, wins a clash).

    Two areas may use the same message ID; :func:`clashes` lists those they
    translate differently, and a test keeps that list empty.
    """
    merged = Catalog(locale=language, domain="messages")
    for _name, message_id, string, context in _translations(language, locale_dir):
        if message_id not in merged:
            merged.add(message_id, string, context=context)
    return merged


def clashes(language: str, locale_dir: Path = LOCALE_DIR) -> list[str]:
    """The message IDs that two catalogues of ``language`` translate differently."""
    seen: dict[Any, tuple[str, Any]] = {}
    found = []
    for name, message_id, string, _context in _translations(language, locale_dir):
        earlier = seen.setdefault(message_id, (name, string))
        if earlier[1] != string:
            found.append(f"{message_id!r}: {earlier[0]} {earlier[1]!r} but {name} {string!r}")
    return found


def load_translations(language: str, locale_dir: Path = LOCALE_DIR) -> Translations:
    """The gettext translations of ``language``, compiled in memory (no ``.mo`` files in the tree)."""
    buffer = io.BytesIO()
    write_mo(buffer, read_catalogue(language, locale_dir))
    buffer.seek(0)
    return Translations(buffer, domain="messages")


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The language of a request: the person's choice (cookie), else the browser's, else German."""
    if cookie in LANGUAGES:
        return str(cookie)
    for part in (accept_language or "").split(",")[:10]:
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return DEFAULT_LANGUAGE
