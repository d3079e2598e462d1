"""The layer contracts (``[tool.importlinter]`` in pyproject.toml) hold, and a crossed layer breaks them.

Each case copies the packages and pyproject.toml to a temporary folder, adds
one import that crosses a layer, and runs ``lint-imports`` there, as
``make lint`` does: it must fail and name the broken contract and the import.
The unmodified copy must pass, so a failure means the injected line, not the
copy.  tests/ is not in the contracts: a test may import anything.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CONFIG = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
PACKAGES = CONFIG["root_packages"]
LAYERS = "Layers: bench > kokreativ > provisioning > server | terminal > hardware > protocol"
AUDITOR = "The auditor (provisioning.audit) imports only protocol among our packages"


def _copy(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    shutil.copy(REPO / "pyproject.toml", tree)
    for package in PACKAGES:
        shutil.copytree(REPO / package, tree / package, ignore=shutil.ignore_patterns("__pycache__"))
    return tree


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` in ``tree``, which it puts first on ``sys.path``; output on one line per finding."""
    script = Path(sys.executable).parent / "lint-imports"
    env = {**os.environ, "PYTHONPATH": str(tree), "COLUMNS": "250", "NO_COLOR": "1"}
    return subprocess.run(
        [str(script), "--no-cache"], cwd=tree, env=env, capture_output=True, text=True, timeout=120
    )


def _squeezed(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_the_contracts_are_ours_and_leave_the_tests_out():
    ours = {"bench", "kokreativ", "provisioning", "server", "terminal", "hardware", "protocol"}
    assert set(PACKAGES) == ours
    assert "tests" not in PACKAGES
    assert {contract["name"] for contract in CONFIG["contracts"]} == {LAYERS, AUDITOR}


def test_the_unmodified_tree_keeps_every_contract(tmp_path: Path):
    result = _lint_imports(_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    output = _squeezed(result.stdout)
    assert f"{LAYERS} KEPT" in output and f"{AUDITOR} KEPT" in output


@pytest.mark.parametrize(
    ("module", "line", "contract", "finding"),
    [
        ("protocol/ids.py", "import server", LAYERS, "protocol is not allowed to import server"),
        (
            "hardware/reader.py",
            "import terminal.config",
            LAYERS,
            "hardware is not allowed to import terminal",
        ),
        ("server/errors.py", "import terminal.config", LAYERS, "server is not allowed to import terminal"),
        ("terminal/errors.py", "import server.errors", LAYERS, "terminal is not allowed to import server"),
        (
            "terminal/pin.py",
            "import provisioning.client",
            LAYERS,
            "terminal is not allowed to import provisioning",
        ),
        ("kokreativ/tools.py", "import bench", LAYERS, "kokreativ is not allowed to import bench"),
        (
            "provisioning/audit/report.py",
            "import provisioning.client",
            AUDITOR,
            "provisioning.audit is not allowed to import provisioning.client",
        ),
        (
            "provisioning/audit/report.py",
            "import hardware.reader",
            AUDITOR,
            "provisioning.audit is not allowed to import hardware",
        ),
    ],
)
def test_a_crossed_layer_fails_naming_the_contract(
    tmp_path: Path, module: str, line: str, contract: str, finding: str
):
    tree = _copy(tmp_path)
    with open(tree / module, "a") as handle:
        handle.write(f"\n{line}  # crosses a layer\n")
    result = _lint_imports(tree)
    output = _squeezed(result.stdout)
    assert result.returncode != 0, output
    assert f"{contract} BROKEN" in output
    assert finding in output
    importer = module.removesuffix(".py").replace("/", ".")
    assert f"{importer} -> {line.removeprefix('import ')}" in output
