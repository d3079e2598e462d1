"""The public surface of :mod:`protocol`, and the docs that describe it.

Like httpx's ``tests/test_exported_members.py``: what ``protocol`` exports is a
deliberate list, and ``docs/protocol.md`` cannot fall behind the reason codes.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import protocol
from protocol import Reason

DOCS = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def isort_key(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps ``__all__`` in: CONSTANTS, then Classes, then functions."""
    if name.isupper() and len(name) > 1:
        return (0, name)
    if name[0].isupper():
        return (1, name)
    return (2, name)


def test_every_exported_name_exists() -> None:
    missing = [name for name in protocol.__all__ if not hasattr(protocol, name)]
    assert missing == []


def test_all_is_sorted_and_unique() -> None:
    assert protocol.__all__ == sorted(protocol.__all__, key=isort_key)
    assert len(set(protocol.__all__)) == len(protocol.__all__)


def test_every_public_name_is_exported() -> None:
    # Submodules become attributes of the package when imported; they are not exports.
    public = {
        name
        for name, value in vars(protocol).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert public == set(protocol.__all__)


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from protocol import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(protocol.__all__)


def documented_reason_codes() -> set[str]:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("\n## Reason codes\n", 1)[1].split("\n## ", 1)[0]
    codes: set[str] = set()
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            first_cell = line.split("|")[1]
            codes.update(re.findall(r"`([a-z0-9_]+)`", first_cell))
    return codes


def test_docs_table_parses() -> None:
    codes = documented_reason_codes()
    assert "bad_encoding" in codes
    assert "fork_detected" in codes  # the last row


def test_every_reason_is_documented() -> None:
    undocumented = {reason.value for reason in Reason} - documented_reason_codes()
    assert undocumented == set(), "add these to the Reason codes table in docs/protocol.md"


def test_every_documented_code_is_a_reason() -> None:
    unknown = documented_reason_codes() - {reason.value for reason in Reason}
    assert unknown == set(), "docs/protocol.md lists codes that protocol.Reason does not have"


def test_reason_values_are_unique_snake_case() -> None:
    values = [reason.value for reason in Reason]
    assert len(values) == len(set(values))
    for value in values:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", value), value
        assert Reason(value).name == value.upper()
