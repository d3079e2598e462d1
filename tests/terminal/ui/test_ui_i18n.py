"""Translations: every language has every text, with the same placeholders, and the code uses only those."""

from __future__ import annotations

import re
import string
from datetime import UTC, timedelta, timezone
from pathlib import Path

import pytest

from terminal.config import LANGUAGES as CONFIG_LANGUAGES
from terminal.ui import screens
from terminal.ui.i18n import DEFAULT_LANGUAGE, LANGUAGES, Translator, load_catalogue

UI = Path(screens.__file__).parent
MINUTE = 60_000


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_config_and_catalogues_know_the_same_languages() -> None:
    assert CONFIG_LANGUAGES == LANGUAGES
    for language in LANGUAGES:
        assert (UI / "locale" / f"{language}.toml").is_file()


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != DEFAULT_LANGUAGE])
def test_every_language_has_the_default_keys_and_placeholders(language: str) -> None:
    default, other = load_catalogue(DEFAULT_LANGUAGE), load_catalogue(language)
    assert set(other) == set(default)
    for key, template in default.items():
        assert _placeholders(other[key]) == _placeholders(template), key


def test_every_key_the_code_asks_for_exists() -> None:
    catalogue = load_catalogue(DEFAULT_LANGUAGE)
    stems = {key.rsplit(".", 1)[0] for key in catalogue}
    used: set[str] = set()
    for module in ("screens.py", "presenter.py"):
        used |= set(re.findall(r"""["']([a-z_]+\.[a-z_.]+)["']""", (UI / module).read_text(encoding="utf-8")))
    used |= {f"denied.{group}" for group in screens.DENIED_GROUPS}
    used = {key for key in used if not key.endswith(".py")}
    assert used, "the scan found no keys: the pattern is broken"
    missing = sorted(key for key in used if key not in catalogue and key not in stems)
    assert missing == []


def test_unknown_language_and_missing_key_fail_loudly() -> None:
    with pytest.raises(ValueError, match="unknown language"):
        Translator("fr")
    with pytest.raises(KeyError):
        Translator("de")("no.such.key")
    with pytest.raises(KeyError):
        Translator("de")("check_in.line")  # {time} not given


def test_plural_forms() -> None:
    de, en = Translator("de"), Translator("en")
    assert [de.plural("status.pending", n) for n in (0, 1, 3)] == [
        "Alles übertragen",
        "1 Eintrag wartet",
        "3 Einträge warten",
    ]
    assert en.plural("check_out.tokens", 1) == "+1 token"
    assert en.plural("check_out.tokens", 0) == "+0 tokens"  # no .zero form: falls back to .other


def test_durations() -> None:
    de = Translator("de")
    assert [de.duration(m) for m in (0, 45, 60, 135)] == ["0 Min.", "45 Min.", "1 Std.", "2 Std. 15 Min."]
    assert Translator("en").duration(135) == "2 h 15 min"


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
