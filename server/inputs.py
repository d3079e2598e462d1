"""Strict readers for the small JSON requests (enrolment and admin).

Batches have their own strict decoder in :mod:`protocol.batches`; everything
else is a flat JSON object whose fields are checked here, so every wrong shape
or type becomes ``400 malformed_request`` with the field named, never a
framework-specific 422 body or a 500.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Collection, Mapping
from typing import Any, Final

from protocol import Reason
from server.errors import InputError

MAX_SAFE_INT = 2**53 - 1


def _malformed(message: str) -> InputError:
    return InputError(Reason.MALFORMED_REQUEST, message)


def parse_json(data: bytes) -> Any:
    """Parse ``data`` as JSON, or ``400 malformed_request``: the one JSON parse of every small body.

    ``json.loads`` raises more than ``JSONDecodeError``: ``UnicodeDecodeError``
    for bytes that are not UTF-8, a bare ``ValueError`` for an integer of more
    digits than Python converts (4300), and ``RecursionError`` for deep
    nesting.  All of them are the client's fault, so all become the same 400.

    Strings must also be Unicode that UTF-8 can carry: JSON's ``"\\ud800"``
    (and the bytes ``ED A0 80``) decode to a lone surrogate, which SQLite and
    every later ``encode()`` refuse; checked here once, not by each field.
    """
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):  # ValueError includes JSONDecodeError and UnicodeDecodeError
        raise _malformed("request body is not JSON") from None
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        raise _malformed("request body has a string that is not valid Unicode (a lone surrogate)") from None
    return value


def parse_object(data: bytes, *, allowed: frozenset[str]) -> dict[str, Any]:
    """Parse ``data`` as a JSON object whose keys are all in ``allowed``."""
    if not data.strip():
        return {}
    value = parse_json(data)
    if not isinstance(value, dict):
        raise _malformed("request body must be a JSON object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise _malformed(f"unknown field {unknown[0][:40]!r}")
    return value


# Unicode categories no name, reason or code needs, and that make a stored text lie
# when it is shown: controls (Cc, NUL and newlines too), format characters (Cf: the
# bidi overrides U+202A-U+202E, isolates U+2066-U+2069, marks U+200E/F and U+061C,
# zero-width characters), surrogates (Cs), private use (Co) and unassigned (Cn).
REFUSED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def refused_char(text: str) -> str | None:
    """The first character of ``text`` in :data:`REFUSED_CATEGORIES`, or ``None``."""
    for char in text:
        if unicodedata.category(char) in REFUSED_CATEGORIES:
            return char
    return None


def require_str(obj: Mapping[str, Any], name: str, *, max_len: int = 200) -> str:
    """A present, non-empty string field of at most ``max_len`` characters, all printable.

    Wrong type or length is ``malformed_request``; a control, format (bidi),
    surrogate, private-use or unassigned character is ``bad_field``, so a name
    shown in a report or on a receipt is exactly what it looks like.
    """
    value = obj.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise _malformed(f"{name} must be a non-empty string of at most {max_len} characters")
    char = refused_char(value)
    if char is not None:
        raise InputError(Reason.BAD_FIELD, f"{name} contains the character U+{ord(char):04X}")
    return value


def optional_str(obj: Mapping[str, Any], name: str, *, max_len: int = 200) -> str | None:
    """Like :func:`require_str` when the field is present; ``None`` when it is absent."""
    return require_str(obj, name, max_len=max_len) if name in obj else None


def require_choice(obj: Mapping[str, Any], name: str, choices: Collection[str]) -> str:
    """A present string field that is one of ``choices``.

    The type is checked before membership: ``{} in a_frozenset`` raises
    ``TypeError`` (a dict is unhashable), which would be a 500.
    """
    value = obj.get(name)
    if not isinstance(value, str) or value not in choices:
        raise _malformed(f"{name} must be one of {sorted(choices)}")
    return value


def require_bool(obj: Mapping[str, Any], name: str) -> bool:
    """A present JSON ``true`` or ``false`` (not 0, 1 or a string)."""
    value = obj.get(name)
    if not isinstance(value, bool):
        raise _malformed(f"{name} must be true or false")
    return value


def optional_bool(obj: Mapping[str, Any], name: str, *, default: bool) -> bool:
    return require_bool(obj, name) if name in obj else default


def optional_int(obj: Mapping[str, Any], name: str, *, default: int, minimum: int, maximum: int) -> int:
    """An integer field in ``minimum..maximum`` (booleans are not integers), or ``default``."""
    if name not in obj:
        return default
    return require_int(obj, name, minimum=minimum, maximum=maximum)


def require_int(obj: Mapping[str, Any], name: str, *, minimum: int, maximum: int = MAX_SAFE_INT) -> int:
    value = obj.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise _malformed(f"{name} must be an integer from {minimum} to {maximum}")
    return value
