"""The pages' German catalogues: every message translated, none a copy of its English ID unless listed.

``test_server_web.py`` checks that every message the pages use has a German
entry; this checks the entries themselves, as the kiosk's catalogues are
checked (``tests/terminal/ui/test_ui_i18n.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from server.web.i18n import LOCALE_DIR

# German words that really are the English ones (or names), each justified; anything else equal to its
# English ID is a forgotten translation.
SAME_IN_GERMAN = {
    "Admin",  # the role's name in the console, German too
    "Browser",
    "Details",
    "Name",
    "Person",
    "Team",
    "Teams",
    "Status",
    "Laptop",
    "ID",
    "PIN",
    "Website",
    "Version",
    "online",
    "offline",
    "Kiosk",  # the product's words: the pages explain them in German
    "Kiosks",
    "Ledger",
    "2. Kiosk",
    "3. Ledger",
    "Ehrenamtskarte",  # a German name used as the ID
}
CATALOGUES = sorted((LOCALE_DIR / "de").glob("*.po"))


def _forms(value: object) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, tuple | list) else (str(value),)


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda p: p.name)
def test_every_german_message_is_translated_and_not_a_copy(path: Path) -> None:
    with path.open("rb") as file:
        catalogue = read_po(file, locale="de")
    untranslated, copied = [], []
    for message in catalogue:
        if not message.id:
            continue
        forms, ids = _forms(message.string), _forms(message.id)
        if message.fuzzy or not all(forms):
            untranslated.append(ids[0])
        elif ids[0] not in SAME_IN_GERMAN and any(f == e for f, e in zip(forms, ids, strict=False)):
            copied.append(ids[0])
    assert untranslated == []
    assert copied == []


def test_the_allowlist_holds_only_words_that_occur() -> None:
    ids: set[str] = set()
    for path in CATALOGUES:
        with path.open("rb") as file:
            ids |= {_forms(m.id)[0] for m in read_po(file, locale="de") if m.id and m.string == m.id}
    assert SAME_IN_GERMAN - ids == set()
