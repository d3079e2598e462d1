"""Translations: every language translates every text, keeps its placeholders, doesn't copy the English,
picks CLDR's plural forms, and the code asks only for texts that exist."""

from __future__ import annotations

import re
import string
from datetime import UTC, timedelta, timezone
from pathlib import Path

import pytest
from babel.messages.catalog import Message

from terminal.config import LANGUAGES as CONFIG_LANGUAGES
from terminal.ui import screens
from terminal.ui.i18n import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    SOURCE_LANGUAGE,
    Translator,
    load_catalogue,
    plural_forms,
    read_catalogue,
    read_template,
)

UI = Path(screens.__file__).parent
MINUTE = 60_000
TRANSLATED = [language for language in LANGUAGES if language != SOURCE_LANGUAGE]

# A translation that equals its English ID is a forgotten one, except for these. FORMATS have no
# words (any language may keep them); SAME_AS_ENGLISH are words a language really shares with English.
FORMATS = {
    "time.today",  # "{time}"
    "time.other_day",  # "{date} {time}"
    "time.time",  # "%H:%M"
    "time.date",  # "%d/%m/%Y"
    "shop.preset",  # "{label}\n{price}"
    "shop.recent_row",  # "{when} · {amount}"
    "duration.hours_minutes",  # "{hours} {minutes}": the parts are translated
}
SAME_AS_ENGLISH: dict[str, set[str]] = {
    "status.online": {"de"},  # "Online", German too
    "status.offline": {"de"},
    "status.alarm": {"de", "tr"},  # "Alarm: {code}"
    "menu.alarm": {"de", "de@leicht"},
    "pin.ok": {"de"},  # "OK"
    "enrol.server": {"de"},  # "Server: {url}"
    "enrol.kiosk": {"de"},  # "Kiosk: {kiosk_id}"
    "menu.kiosk": {"de"},
    "menu.version": {"de"},  # "Software"
}


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _forms(message: Message) -> tuple[str, ...]:
    return tuple(message.string) if isinstance(message.string, tuple | list) else (message.string,)


def _ids(message: Message) -> tuple[str, ...]:
    return tuple(message.id) if isinstance(message.id, tuple | list) else (message.id,)


def _messages(language: str) -> dict[str, Message]:
    return {m.context: m for m in read_catalogue(language) if m.id}


def test_config_and_catalogues_know_the_same_languages() -> None:
    assert tuple(LANGUAGES) == CONFIG_LANGUAGES
    for language in TRANSLATED:
        assert (UI / "locale" / language / "LC_MESSAGES" / "kiosk.po").is_file()
    assert not list((UI / "locale").rglob("*.mo")), "catalogues are compiled in memory, none in the tree"


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated_with_its_placeholders(language: str) -> None:
    template = {m.context: m for m in read_template() if m.id}
    messages = _messages(language)
    assert set(messages) == set(template), "the catalogue's keys differ from kiosk.pot's"
    problems = []
    for key, message in messages.items():
        if message.id != template[key].id:
            problems.append(f"{key}: English ID {message.id!r} differs from kiosk.pot's")
        if message.fuzzy or not all(_forms(message)):
            problems.append(f"{key}: not translated (or fuzzy)")
            continue
        wanted = set().union(*(_placeholders(i) for i in _ids(message)))
        forms = _forms(message)
        if isinstance(message.id, tuple):
            # A plural form may leave the number out ("قسيمتان": two tokens); the last form keeps it.
            if _placeholders(forms[-1]) != wanted or any(not _placeholders(f) <= wanted for f in forms):
                problems.append(
                    f"{key}: placeholders {[sorted(_placeholders(f)) for f in forms]} != {wanted}"
                )
        elif _placeholders(forms[0]) != wanted:
            problems.append(f"{key}: placeholders {sorted(_placeholders(forms[0]))} != {sorted(wanted)}")
    assert problems == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_no_translation_just_copies_the_english(language: str) -> None:
    copied = sorted(
        key
        for key, message in _messages(language).items()
        if key not in FORMATS
        and language not in SAME_AS_ENGLISH.get(key, set())
        and any(form == english for form, english in zip(_forms(message), _ids(message) * 6, strict=False))
    )
    assert copied == []


def test_the_allowlist_of_copies_is_used() -> None:
    """An entry nobody needs any more goes: the allowlist must not hide new copies."""
    unused = sorted(
        (key, language)
        for key, languages in SAME_AS_ENGLISH.items()
        for language in languages
        if _forms(_messages(language)[key])[0] != _ids(_messages(language)[key])[0]
    )
    assert unused == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_plural_forms_are_cldrs_through_babel(language: str) -> None:
    catalogue = read_catalogue(language)
    assert catalogue.plural_forms == plural_forms(language)
    for message in catalogue:
        if message.id and isinstance(message.id, tuple):
            assert len(message.string) == catalogue.num_plurals, message.context


def test_arabic_has_six_plural_forms_chosen_by_cldr() -> None:
    ar = Translator("ar")
    assert read_catalogue("ar").num_plurals == 6
    assert [ar.plural("shop.tokens", n) for n in (0, 1, 2, 3, 11, 100)] == [
        "0 قسيمة",  # zero
        "قسيمة واحدة",  # one
        "قسيمتان",  # two
        "3 قسائم",  # few: 3 to 10
        "11 قسيمة",  # many: 11 to 99
        "100 قسيمة",  # other
    ]
    assert ar.duration(2 * 60 + 5) == "ساعتان و5 دقائق"


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("ru", ["1 жетон", "2 жетона", "5 жетонов", "21 жетон"]),
        ("uk", ["1 жетон", "2 жетони", "5 жетонів", "21 жетон"]),
    ],
)
def test_russian_and_ukrainian_follow_one_few_many(language: str, expected: list[str]) -> None:
    t = Translator(language)
    assert read_catalogue(language).num_plurals == 4  # CLDR's one, few, many and other (fractions)
    assert [t.plural("shop.tokens", n) for n in (1, 2, 5, 21)] == expected
    assert t.plural("shop.tokens", 12) == expected[2].replace("5", "12")  # 12 is "many", not "few"


def test_every_key_the_code_asks_for_exists() -> None:
    known = set(Translator(DEFAULT_LANGUAGE).messages)
    used: set[str] = set()
    for module in ("screens.py", "presenter.py", "base_presenter.py", "shop_screens.py", "shop_presenter.py"):
        used |= set(re.findall(r"""["']([a-z_]+\.[a-z_.]+)["']""", (UI / module).read_text(encoding="utf-8")))
    used |= {f"denied.{group}" for group in screens.DENIED_GROUPS}
    used = {key for key in used if not key.endswith(".py")}
    assert used, "the scan found no keys: the pattern is broken"
    prefixes = {key for key in used if key.endswith(".")}  # f"shop.state.{state}"
    missing = sorted(key for key in used - prefixes if key not in known)
    assert missing == []


def test_unknown_language_and_missing_key_fail_loudly() -> None:
    with pytest.raises(ValueError, match="unknown language"):
        Translator("fr")
    with pytest.raises(KeyError):
        Translator("de")("no.such.key")
    with pytest.raises(KeyError):
        Translator("de")("check_in.line")  # {time} not given
    with pytest.raises(KeyError):
        Translator("de")("shop.tokens")  # has plural forms


def test_plural_forms() -> None:
    de, en = Translator("de"), Translator("en")
    assert [de.plural("status.pending", n) for n in (0, 1, 3)] == [
        "Alles übertragen",
        "1 Eintrag wartet",
        "3 Einträge warten",
    ]
    assert en.plural("check_out.tokens", 1) == "+1 token"
    assert en.plural("check_out.tokens", 0) == "+0 tokens"  # no .zero message: the plural rule decides


def test_durations() -> None:
    de = Translator("de")
    assert [de.duration(m) for m in (0, 45, 60, 135)] == ["0 Min.", "45 Min.", "1 Std.", "2 Std. 15 Min."]
    assert Translator("en").duration(135) == "2 h 15 min"
    plain = Translator("de@leicht")  # Leichte Sprache: no abbreviations, so the words need plurals
    assert [plain.duration(m) for m in (1, 60, 61, 150)] == [
        "1 Minute",
        "1 Stunde",
        "1 Stunde und 1 Minute",
        "2 Stunden und 30 Minuten",
    ]


def test_times_are_local_and_dates_only_for_other_days() -> None:
    berlin_winter = timezone(timedelta(hours=1))
    de = Translator("de", tz=berlin_winter)
    morning_utc = 1_795_939_200_000  # 2026-11-29 08:00 UTC
    assert de.time(morning_utc) == "09:00"
    assert de.when(morning_utc, now_ms=morning_utc + 5 * MINUTE) == "09:00"
    assert de.when(morning_utc - 24 * 60 * MINUTE, now_ms=morning_utc) == "28.11.2026 09:00"
    assert (
        Translator("en", tz=UTC).when(morning_utc - 24 * 60 * MINUTE, now_ms=morning_utc)
        == "28/11/2026 08:00"
    )


def test_load_catalogue_gives_every_key_in_every_language() -> None:
    english = load_catalogue("en")
    assert english["check_in.line"] == "Checked in at {time}"
    for language in TRANSLATED:
        assert set(load_catalogue(language)) == set(english)
