"""A small, strict reader of gettext ``.po`` files, so the kiosk needs no Babel at run time.

Babel reads and checks the catalogues in the tests and tools
(:func:`terminal.ui.i18n.read_catalogue`); the kiosk itself only looks texts up,
and Babel's import and locale data cost it about 4 MB of memory (``make bench``,
``kiosk_over_window_mb``).  This reads what ``pybabel`` writes: comments, flags,
``msgctxt``, ``msgid``, ``msgid_plural``, ``msgstr`` and ``msgstr[n]``, strings
over several lines, and C escapes.  A ``fuzzy`` translation is left out, as
gettext's own compiler does, and the ``Plural-Forms`` header's expression is
evaluated by the standard library (:func:`gettext.c2py`).

Example::

    catalogue = parse_po(path.read_text(encoding="utf-8"))
    catalogue.entries["check_in.line"].strings   # ("Eingecheckt um {time}",)
    catalogue.plural(3)                           # the index of the form for 3
"""

from __future__ import annotations

import gettext
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

_ESCAPES: Final = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    '"': '"',
    "\\": "\\",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
}


class PoSyntaxError(ValueError):
    """A ``.po`` file this reader does not understand (a bug in the catalogue, caught by the tests)."""


@dataclass(frozen=True, slots=True)
class PoEntry:
    """One message: its English ``msgid`` (and ``msgid_plural``), and its translated forms (empty: none)."""

    msgid: str
    msgid_plural: str | None = None
    strings: tuple[str, ...] = ()


@dataclass(slots=True)
class PoCatalogue:
    """A catalogue's messages by ``msgctxt`` (the kiosk's keys), and its plural rule."""

    entries: dict[str, PoEntry] = field(default_factory=dict)
    plural: Callable[[int], int] = field(default=lambda n: int(n != 1))


def _unquote(text: str, line_number: int) -> str:
    text = text.strip()
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise PoSyntaxError(f"line {line_number}: expected a quoted string")
    out: list[str] = []
    chars = iter(text[1:-1])
    for char in chars:
        if char == "\\":
            escaped = next(chars, "")
            if escaped not in _ESCAPES:
                raise PoSyntaxError(f"line {line_number}: unknown escape \\{escaped}")
            out.append(_ESCAPES[escaped])
        elif char == '"':
            raise PoSyntaxError(f"line {line_number}: a quote inside a string must be escaped")
        else:
            out.append(char)
    return "".join(out)


def _plural_rule(header: str) -> Callable[[int], int]:
    for line in header.splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == "plural-forms":
            for part in value.split(";"):
                key, _, expression = part.partition("=")
                if key.strip() == "plural":
                    rule: Callable[[int], int] = gettext.c2py(expression.strip())
                    return rule
    return lambda n: int(n != 1)


def parse_po(text: str) -> PoCatalogue:
    """The catalogue in ``text``; :class:`PoSyntaxError` on anything but the gettext format."""
    catalogue = PoCatalogue()
    fields: dict[str, str] = {}
    fuzzy = False
    current: str | None = None

    def finish() -> None:
        nonlocal fuzzy
        if "msgid" in fields:
            forms = sorted((k for k in fields if k.startswith("msgstr")), key=lambda k: (len(k), k))
            strings = tuple(fields[k] for k in forms)
            if fields["msgid"] == "" and "msgctxt" not in fields:
                catalogue.plural = _plural_rule(strings[0] if strings else "")
            elif "msgctxt" in fields:
                translated = () if fuzzy or not any(strings) else strings
                catalogue.entries[fields["msgctxt"]] = PoEntry(
                    fields["msgid"], fields.get("msgid_plural"), translated
                )
        fields.clear()
        fuzzy = False

    # Lines end at "\n" only (as gettext's tools read them): a string may hold other line breaks.
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip(" \t\r")
        if not line:
            continue
        ended = any(key.startswith("msgstr") for key in fields)
        if line.startswith("#"):
            if ended:  # comments and flags belong to the entry that follows
                finish()
            if line.startswith("#,") and "fuzzy" in line[2:].replace(",", " ").split():
                fuzzy = True
            continue
        if line.startswith('"'):
            if current is None:
                raise PoSyntaxError(f"line {number}: a string without a keyword")
            fields[current] += _unquote(line, number)
            continue
        keyword, _, rest = line.partition(" ")
        if keyword not in ("msgctxt", "msgid", "msgid_plural", "msgstr") and not (
            keyword.startswith("msgstr[") and keyword.endswith("]") and keyword[7:-1].isdigit()
        ):
            raise PoSyntaxError(f"line {number}: unknown keyword {keyword[:20]!r}")
        if ended and keyword in ("msgctxt", "msgid"):
            finish()
        if keyword in fields:
            raise PoSyntaxError(f"line {number}: {keyword} twice in one entry")
        fields[keyword] = _unquote(rest, number)
        current = keyword
    finish()
    return catalogue
