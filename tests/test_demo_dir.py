"""``kokreativ demo --dir`` on a folder that exists says what to do, not ``[Errno 17] File exists``."""

from __future__ import annotations

from pathlib import Path

import pytest

from kokreativ.cli import main


@pytest.mark.parametrize("serve", [(), ("--serve",)])
def test_demo_dir_that_exists_is_one_line_with_the_next_step(
    serve: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kept = tmp_path / "kk-demo"
    kept.mkdir()
    (kept / "mine.txt").write_text("an earlier run's files")
    assert main(["demo", "--no-window", *serve, "--dir", str(kept)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1, captured
    error = captured.err.strip()
    assert error.startswith(f"kokreativ: error: folder_exists: {kept} exists already")
    assert "Errno" not in error and "--dir" in error
    assert [p.name for p in kept.iterdir()] == ["mine.txt"]  # nothing touched
