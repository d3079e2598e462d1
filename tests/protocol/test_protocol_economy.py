"""The economy rules stand apart: pure, and applied through one book interface by server and auditor.

Both books (the server's storage transaction and the auditor's in-memory
``LedgerBook``) must offer every method of :class:`protocol.economy.EconomyBook`
with the same parameters, since the rules call them by these names; the
replay tests (``tests/provisioning/test_provisioning_audit_replay.py``) hold
the two to the same results.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import protocol.economy
from protocol.economy import EconomyBook, EconomyError
from protocol.errors import ProtocolError
from provisioning.audit.book import LedgerBook
from server.storage import Tx

ROOT = Path(__file__).resolve().parents[2]
STDLIB_OK = {"__future__", "bisect", "collections", "dataclasses", "enum", "typing", "datetime", "zoneinfo"}


def _book_methods() -> list[str]:
    names: set[str] = set()
    for cls in EconomyBook.__mro__:
        if cls is object or cls.__name__ in {"Protocol", "Generic"}:
            continue
        names.update(
            name for name, value in vars(cls).items() if inspect.isfunction(value) and name[0] != "_"
        )
    return sorted(names)


def _parameters(cls: type, name: str) -> list[str]:
    return list(inspect.signature(getattr(cls, name)).parameters)


@pytest.mark.parametrize("book", [Tx, LedgerBook], ids=["server Tx", "auditor LedgerBook"])
@pytest.mark.parametrize("name", _book_methods())
def test_both_books_have_every_method_the_rules_call(book: type, name: str) -> None:
    assert _parameters(book, name) == _parameters(EconomyBook, name)


def _imports(folder: Path) -> dict[str, set[str]]:
    """``module path -> top-level names it imports`` for every module under ``folder``."""
    found: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def test_the_rules_import_only_the_protocol_and_no_io() -> None:
    for path, names in _imports(ROOT / "protocol" / "economy").items():
        outside = {name for name in names if name.split(".")[0] not in {"protocol", *STDLIB_OK}}
        assert not outside, f"{path} imports {sorted(outside)}"


def test_the_auditor_imports_nothing_of_ours_but_the_protocol() -> None:
    ours = {"server", "terminal", "hardware", "kokreativ", "bench", "provisioning"}
    for path, names in _imports(ROOT / "provisioning" / "audit").items():
        crossing = {
            name for name in names if name.split(".")[0] in ours and not name.startswith("provisioning.audit")
        }
        assert not crossing, f"{path} imports {sorted(crossing)}"


def test_a_refusal_is_a_protocol_error_with_a_reason() -> None:
    assert issubclass(EconomyError, ProtocolError)
    assert set(protocol.economy.__all__) <= set(dir(protocol.economy))
