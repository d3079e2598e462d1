"""The kiosk's .po reader agrees with Babel on every shipped catalogue and refuses what it cannot read."""

from __future__ import annotations

import pytest
from babel.messages.pofile import read_po
from hypothesis import given
from hypothesis import strategies as st

from terminal.ui.i18n import LANGUAGES, SOURCE_LANGUAGE, _po_path, babel_locale
from terminal.ui.pofile import PoSyntaxError, parse_po


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_every_shipped_catalogue_reads_as_babel_reads_it(language: str) -> None:
    path = _po_path(language)
    ours = parse_po(path.read_text(encoding="utf-8"))
    locale = None if language == SOURCE_LANGUAGE else babel_locale(language)
    with path.open("rb") as file:
        babel = read_po(file, locale=locale)
    expected = {}
    for message in babel:
        if not message.id or not message.context:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
        translated = () if message.fuzzy or not any(strings) else tuple(strings)
        expected[message.context] = (ids[0], ids[1] if len(ids) > 1 else None, translated)
    assert {key: (e.msgid, e.msgid_plural, e.strings) for key, e in ours.entries.items()} == expected
    assert len(expected) > 150
    if locale is not None:
        for n in range(0, 250):
            assert ours.plural(n) == _babel_index(babel, n), (language, n)


def _babel_index(catalogue: object, n: int) -> int:
    from babel.plural import PluralRule, to_python

    locale = catalogue.locale  # type: ignore[attr-defined]
    rule = to_python(PluralRule(locale.plural_form.rules))
    tag = rule(n)
    tags = [
        t for t in ("zero", "one", "two", "few", "many", "other") if t in locale.plural_form.tags | {"other"}
    ]
    return tags.index(tag)


def test_escapes_continuations_fuzzy_and_plural_header() -> None:
    text = r"""
msgid ""
msgstr ""
"Plural-Forms: nplurals=3; plural=(n==1 ? 0 : n==2 ? 1 : 2);\n"

# a comment
msgctxt "a.b"
msgid "Line \"one\"\n"
"and two"
msgstr "Zeile \"eins\"\n"
"und zwei\\"

#, fuzzy
msgctxt "c.d"
msgid "Left out"
msgstr "Weggelassen"

#, python-brace-format
msgctxt "e.f"
msgid "{count} entry"
msgid_plural "{count} entries"
msgstr[0] "ein"
msgstr[1] "zwei"
msgstr[2] "viele"
"""
    catalogue = parse_po(text)
    assert catalogue.entries["a.b"].msgid == 'Line "one"\nand two'
    assert catalogue.entries["a.b"].strings == ('Zeile "eins"\nund zwei\\',)
    assert catalogue.entries["c.d"].strings == ()  # fuzzy: not a translation yet
    assert catalogue.entries["e.f"].strings == ("ein", "zwei", "viele")
    assert [catalogue.plural(n) for n in (1, 2, 3, 0)] == [0, 1, 2, 2]


@pytest.mark.parametrize(
    "text",
    [
        'msgid "unterminated\n',
        'msgid "x"\nmsgstr "y"\nmsgstrange "z"\n',
        '"a string without a keyword"\n',
        'msgid "x"\nmsgid "y"\n',
        'msgid "bad \\q escape"\nmsgstr ""\n',
        'msgid "a " quote"\nmsgstr ""\n',
    ],
)
def test_what_it_cannot_read_is_refused(text: str) -> None:
    with pytest.raises(PoSyntaxError):
        parse_po(text)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60))
def test_any_string_written_with_escapes_reads_back(value: str) -> None:
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\t", "\\t")
        .replace("\r", "\\r")
    )
    catalogue = parse_po(f'msgctxt "k"\nmsgid "{escaped}"\nmsgstr "{escaped}"\n')
    assert catalogue.entries["k"].msgid == value
