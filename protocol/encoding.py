"""Canonical JSON and strict base64: the only two encodings on the wire.

Canonical JSON is what ``json.dumps(value, sort_keys=True,
separators=(",", ":"), ensure_ascii=True)`` produces for values built from
objects with string keys, arrays, strings, booleans and integers in
``[-(2**53 - 1), 2**53 - 1]``.  There are no floats and no nulls, so the same
value has exactly one encoding.  The parser re-encodes what it read and
rejects the input unless the bytes are identical; that is what lets us sign
the bytes themselves and never re-serialise before verifying.
"""

from __future__ import annotations

import base64
import binascii
import json
import json.encoder
from typing import Any, Final

from protocol.errors import MalformedError
from protocol.reasons import Reason

MAX_SAFE_INT = 2**53 - 1
# Objects and arrays nest at most this deep; the top-level object is level 1.
MAX_DEPTH = 8

JsonValue = dict[str, Any] | list[Any] | str | int | bool
# As tuples, built once: ``isinstance(x, list | dict)`` builds the union on every call.
_LEAVES: Final = (bool, str)
_CONTAINERS: Final = (list, dict)


def _check_value(value: object, depth: int = 1, null_reason: Reason = Reason.BAD_FIELD) -> None:
    """Walk ``value`` once, refusing what canonical JSON cannot hold.

    A ``None`` found while encoding is a caller's bug (``bad_field``); found
    while parsing, it was a ``null`` on the wire (``not_canonical``).
    """
    kind = type(value)
    if kind is str or kind is bool:  # the common leaves by exact type first: a tap runs this check
        return
    if kind is dict:  # the common container, by exact type: the same checks as the general path below
        if depth > MAX_DEPTH:
            raise MalformedError(Reason.BAD_FIELD, f"nesting deeper than {MAX_DEPTH} levels")
        _check_items(value, depth, null_reason)  # type: ignore[arg-type]  # a dict: its type was checked
        return
    if isinstance(value, _LEAVES):  # a subclass (a StrEnum member): as its base
        return
    if value is None:
        raise MalformedError(null_reason, "null is not allowed")
    if isinstance(value, int):
        if not -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
            raise MalformedError(Reason.BAD_FIELD, "integer outside the safe range")
        return
    # Counted per container, so an empty object or array at level 9 is refused too.
    if isinstance(value, _CONTAINERS) and depth > MAX_DEPTH:
        raise MalformedError(Reason.BAD_FIELD, f"nesting deeper than {MAX_DEPTH} levels")
    # A string, a boolean or a safe integer inside is passed over here, not in a call of its own
    # (the common case, and most of the cost); anything else is judged by the call as before.
    if isinstance(value, list):
        for item in value:
            kind = type(item)
            if kind is str or kind is bool or (kind is int and -MAX_SAFE_INT <= item <= MAX_SAFE_INT):
                continue
            _check_value(item, depth + 1, null_reason)
        return
    if isinstance(value, dict):
        _check_items(value, depth, null_reason)
        return
    raise MalformedError(Reason.BAD_FIELD, f"type {type(value).__name__} is not allowed")


def _check_items(value: dict[Any, Any], depth: int, null_reason: Reason) -> None:
    """The keys and values of an object at level ``depth`` (its own depth checked by the caller)."""
    for key, item in value.items():
        if not isinstance(key, str):
            raise MalformedError(Reason.BAD_FIELD, "object key is not a string")
        kind = type(item)
        if kind is str or kind is bool or (kind is int and -MAX_SAFE_INT <= item <= MAX_SAFE_INT):
            continue
        _check_value(item, depth + 1, null_reason)


def check_canonical(value: object) -> None:
    """Refuse what :func:`canonical_json` would refuse (``bad_field``), without encoding anything."""
    if type(value) is dict and _shallow_and_plain(value):
        return
    _check_value(value)


def _shallow_and_plain(value: dict[Any, Any]) -> bool:
    """Whether ``value`` holds only plain leaves and objects of them, all keys strings.

    Such a value is canonical, and the common one (an event opening's sealed fields), so
    one loop without a call per object tells; ``False`` says nothing, and the full walk
    (:func:`_check_value`) judges the value and finds its first fault as it always did.
    """
    for key, item in value.items():
        kind = type(item)
        if kind is dict:
            for inner_key, leaf in item.items():
                kind = type(leaf)
                if type(inner_key) is not str or not (
                    kind is str or kind is bool or (kind is int and -MAX_SAFE_INT <= leaf <= MAX_SAFE_INT)
                ):
                    return False
        elif not (kind is str or kind is bool or (kind is int and -MAX_SAFE_INT <= item <= MAX_SAFE_INT)):
            return False
        if type(key) is not str:
            return False
    return True


def canonical_json(value: dict[str, Any]) -> bytes:
    """Encode ``value`` as canonical JSON bytes (ASCII)."""
    _check_value(value)
    return _dumps(value)


def sorted_json(value: dict[str, Any]) -> bytes:
    """``value`` in the canonical layout *without* refusing what canonical JSON cannot hold.

    For a caller that checks the bytes itself (a strict pattern that admits no float,
    null or unsafe integer); anything else wants :func:`canonical_json`.
    """
    return _dumps(value)


def sorted_json_text(value: dict[str, Any]) -> str:
    """:func:`sorted_json` as text, for a caller that matches a pattern on it before it hashes the bytes."""
    return _dumps_text(value)


def _not_serializable(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# The encoder ``json.dumps`` builds on every call for these arguments, built once: a kiosk encodes
# on every tap.  Without the circular-reference bookkeeping: :func:`_check_value` refuses nesting
# deeper than MAX_DEPTH before anything is encoded, and parsed JSON holds no cycles.
_C_MAKE_ENCODER: Any = getattr(json.encoder, "c_make_encoder", None)  # None without the C accelerator
_ENCODER: Any = (
    None
    if _C_MAKE_ENCODER is None
    else _C_MAKE_ENCODER(
        None, _not_serializable, json.encoder.encode_basestring_ascii, None, ":", ",", True, False, True
    )
)


def _dumps(value: dict[str, Any]) -> bytes:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)`` as ASCII bytes."""
    return _dumps_text(value).encode("ascii")


def _dumps_text(value: dict[str, Any]) -> str:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)``."""
    if _ENCODER is None:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "".join(_ENCODER(value, 0))


def _reject_constant(name: str) -> None:
    raise MalformedError(Reason.NOT_CANONICAL, f"{name} is not allowed")


def _reject_float(text: str) -> None:
    raise MalformedError(Reason.NOT_CANONICAL, f"non-integer number {text[:20]!r}")


def parse_canonical_json(data: bytes, *, max_bytes: int) -> dict[str, Any]:
    """Parse canonical JSON bytes into an object, or raise :class:`MalformedError`.

    Rejects input over ``max_bytes``, anything that is not an object, and any
    encoding that differs from :func:`canonical_json` of the parsed value.
    """
    if len(data) > max_bytes:
        raise MalformedError(Reason.TOO_LARGE, f"{len(data)} bytes, limit {max_bytes}")
    try:
        text = data.decode("ascii")
        value = json.loads(
            text,
            parse_float=_reject_float,
            parse_constant=_reject_constant,
        )
    except MalformedError:
        raise
    except RecursionError as exc:
        # Only nesting recurses; report it like the depth check below does, whatever the stack depth.
        raise MalformedError(Reason.BAD_FIELD, f"nesting deeper than {MAX_DEPTH} levels") from exc
    except ValueError as exc:
        # JSONDecodeError, UnicodeDecodeError, and integers past Python's digit limit.
        raise MalformedError(Reason.BAD_ENCODING, "not ASCII JSON") from exc
    if not isinstance(value, dict):
        raise MalformedError(Reason.BAD_ENCODING, "top level is not an object")
    _check_value(value, null_reason=Reason.NOT_CANONICAL)
    # Also catches duplicate keys: json.loads keeps the last one, so the re-encoding is shorter.
    if _dumps(value) != data:
        raise MalformedError(Reason.NOT_CANONICAL, "bytes differ from the canonical encoding")
    return value


def b64encode(data: bytes) -> str:
    """Standard base64 with padding, as used for every binary field."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: object, *, field: str, length: int | None = None) -> bytes:
    """Decode strict, canonical standard base64, optionally of a fixed length."""
    if not isinstance(text, str):
        raise MalformedError(Reason.BAD_FIELD, f"{field} is not a string")
    try:
        raw = text.encode("ascii")
        # Strict: only the alphabet and padding at the end; the comparison below refuses the rest.
        data = binascii.a2b_base64(raw, strict_mode=True)
    except (UnicodeEncodeError, binascii.Error, ValueError) as exc:
        raise MalformedError(Reason.BAD_ENCODING, f"{field} is not base64") from exc
    if binascii.b2a_base64(data, newline=False) != raw:
        raise MalformedError(Reason.BAD_ENCODING, f"{field} is not canonical base64")
    if length is not None and len(data) != length:
        raise MalformedError(Reason.BAD_FIELD, f"{field} must be {length} bytes")
    return data
