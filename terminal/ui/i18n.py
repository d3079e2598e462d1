"""Translations for the kiosk screen: gettext catalogues, read when the screen starts.

The code asks for a text by its key (``check_in.line``); the key is the
message's ``msgctxt`` and its English text the ``msgid``, so translators work
with ordinary gettext tools and see the English sentence::

    msgctxt "check_in.line"
    msgid "Checked in at {time}"
    msgstr "Eingecheckt um {time}"

``locale/kiosk.pot`` is the template: every key with its English text (English
needs no catalogue of its own).  Each other language has
``locale/<code>/LC_MESSAGES/kiosk.po``, read when a :class:`Translator` is
made (:mod:`terminal.ui.pofile`, without Babel: the kiosk saves Babel's ~4 MB),
so a fresh checkout needs no compile step and the tree holds no ``.mo``
files.  Texts are :meth:`str.format` templates.  Babel reads and checks the
same files in the tests and tools (:func:`read_catalogue`, :func:`plural_forms`).

Plurals follow CLDR through Babel: a catalogue's ``Plural-Forms`` header is
:func:`plural_forms` of its language (German, English and Turkish two forms,
Russian and Ukrainian four, Arabic six) and :meth:`Translator.plural` picks the
form with gettext's ``npgettext``.  A key with a ``.zero`` message
(``status.pending.zero``: "All sent") shows that for a count of 0.

A missing key or placeholder is a bug, not something to paper over at a
kiosk: :class:`Translator` raises :class:`KeyError` on it.  Tests check that
every language translates every message, keeps its placeholders and does not
just copy the English (``tests/terminal/ui/test_ui_i18n.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from importlib import resources
from typing import TYPE_CHECKING, Final

from terminal.ui.pofile import PoCatalogue, PoEntry, parse_po

if TYPE_CHECKING:  # Babel is for the tests and tools only: imported where they call it
    from babel import Locale
    from babel.messages.catalog import Catalog

DEFAULT_LANGUAGE: Final = "de"
SOURCE_LANGUAGE: Final = "en"
"""The language of the message IDs: it has no catalogue, gettext shows the IDs."""

LANGUAGES: Final[Mapping[str, str]] = {
    "de": "Deutsch",
    "en": "English",
    "tr": "Türkçe",
    "ar": "العربية",
    "uk": "Українська",
    "ru": "Русский",
    "de@leicht": "Deutsch – Leichte Sprache",
}
"""The screen's languages, code: own name.  ``de@leicht`` is German in Leichte Sprache (plain
language); the code is gettext's ``language@modifier`` form, as in ``sr@latin``."""

RTL_LANGUAGES: Final = frozenset({"ar"})
"""Languages written right to left: the view shapes their text and aligns it to the right."""

DOMAIN: Final = "kiosk"


def _locale_files() -> resources.abc.Traversable:
    return resources.files("terminal.ui").joinpath("locale")


def babel_locale(language: str) -> Locale:
    """Babel's locale of a language code: ``de@leicht`` is German with a modifier (tests and tools)."""
    from babel import Locale

    return Locale.parse(language)


def plural_forms(language: str) -> str:
    """The ``Plural-Forms`` header of ``language``'s catalogue, from CLDR's rules as Babel has them."""
    from babel.plural import to_gettext

    return to_gettext(babel_locale(language).plural_form)


def read_template() -> Catalog:
    """``locale/kiosk.pot`` read by Babel: every key (``msgctxt``) with its English text (tests and tools)."""
    from babel.messages.pofile import read_po

    with _locale_files().joinpath(f"{DOMAIN}.pot").open("rb") as file:
        return read_po(file, locale=SOURCE_LANGUAGE, domain=DOMAIN)


def _po_path(language: str) -> resources.abc.Traversable:
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; choose one of {', '.join(LANGUAGES)}")
    if language == SOURCE_LANGUAGE:
        return _locale_files().joinpath(f"{DOMAIN}.pot")
    return _locale_files().joinpath(language, "LC_MESSAGES", f"{DOMAIN}.po")


def read_catalogue(language: str) -> Catalog:
    """The ``.po`` catalogue of ``language`` read by Babel; :class:`ValueError` for one we do not ship."""
    from babel.messages.pofile import read_po

    path = _po_path(language)
    if language == SOURCE_LANGUAGE:
        return read_template()
    with path.open("rb") as file:
        return read_po(file, locale=babel_locale(language), domain=DOMAIN)


def _read(language: str) -> PoCatalogue:
    return parse_po(_po_path(language).read_text(encoding="utf-8"))


def load_catalogue(language: str) -> dict[str, str]:
    """Every key's text in ``language`` (plural messages: their last, "other" form), for tests and tools."""
    translator = Translator(language)
    return {
        key: translator._text(key, message, 1_000_000 if message.msgid_plural is not None else None)
        for key, message in translator.messages.items()
    }


class Translator:
    """Texts, numbers and times in one language.

    Example::

        t = Translator("de", tz=ZoneInfo("Europe/Berlin"))
        t("check_in.line", time=t.time(wall_ms))       # "Eingecheckt um 14:02"
        t.plural("status.pending", 3)                   # "3 Einträge warten"
    """

    def __init__(self, language: str = DEFAULT_LANGUAGE, *, tz: tzinfo | None = None) -> None:
        if language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}; choose one of {', '.join(LANGUAGES)}")
        self.language = language
        self.rtl = language in RTL_LANGUAGES
        self.messages: dict[str, PoEntry] = _read(SOURCE_LANGUAGE).entries
        self._catalogue = PoCatalogue() if language == SOURCE_LANGUAGE else _read(language)
        self._tz = tz

    def _message(self, key: str) -> PoEntry:
        try:
            return self.messages[key]
        except KeyError:
            raise KeyError(f"no kiosk text {key!r} in {DOMAIN}.pot") from None

    def _text(self, key: str, message: PoEntry, count: int | None) -> str:
        """gettext's lookup: this language's form (by its plural rule), else the English one."""
        translated = self._catalogue.entries.get(key)
        strings = translated.strings if translated is not None and translated.msgid == message.msgid else ()
        if count is None:
            return strings[0] if strings else message.msgid
        if strings:
            index = self._catalogue.plural(count)
            if 0 <= index < len(strings) and strings[index]:
                return strings[index]
        return message.msgid if count == 1 else (message.msgid_plural or message.msgid)

    def __call__(self, key: str, **values: object) -> str:
        """The text for ``key`` with ``values`` filled in; :class:`KeyError` if either is missing."""
        message = self._message(key)
        if message.msgid_plural is not None:
            raise KeyError(f"{key!r} has plural forms: use Translator.plural")
        return self._text(key, message, None).format(**values)

    def plural(self, key: str, count: int, **values: object) -> str:
        """The plural form of ``key`` for ``count`` (CLDR's rule), with ``{count}`` filled in.

        ``key.zero``, where it exists, is the text for a count of 0.
        """
        if count == 0 and f"{key}.zero" in self.messages:
            return self(f"{key}.zero", count=count, **values)
        message = self._message(key)
        if message.msgid_plural is None:
            raise KeyError(f"{key!r} has no plural forms")
        return self._text(key, message, count).format(count=count, **values)

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
        """``45 Min.``, ``3 Std.`` or ``2 Std. 15 Min.`` (each part a plural form of its own)."""
        hours, rest = divmod(max(0, minutes), 60)
        if hours == 0:
            return self.plural("duration.minutes", rest)
        if rest == 0:
            return self.plural("duration.hours", hours)
        return self(
            "duration.hours_minutes",
            hours=self.plural("duration.hours", hours),
            minutes=self.plural("duration.minutes", rest),
        )
