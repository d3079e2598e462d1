"""The data directory: created once with private files, never overwritten, reopened safely."""

from __future__ import annotations

import re
import sqlite3
import stat
from pathlib import Path

import pytest

from protocol import PrivateKey
from server.datadir import init_data_dir, new_admin_token, open_data_dir
from server.errors import DataDirError


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_creates_private_files(tmp_path: Path) -> None:
    path = tmp_path / "data"
    result = init_data_dir(path)
    assert _mode(path) == 0o700
    assert _mode(path / "server.key") == 0o600 and len((path / "server.key").read_bytes()) == 32
    assert _mode(path / "uid-pseudonym.key") == 0o600 and len((path / "uid-pseudonym.key").read_bytes()) == 32
    assert PrivateKey((path / "server.key").read_bytes()).public_key == result.server_public_key
    assert len(result.admin_token) >= 43
    assert result.admin_token.encode() not in (path / "ledger.db").read_bytes()


def test_init_refuses_an_existing_data_dir(tmp_path: Path) -> None:
    path = tmp_path / "data"
    init_data_dir(path)
    key = (path / "server.key").read_bytes()
    with pytest.raises(DataDirError, match="not empty"):
        init_data_dir(path)
    assert (path / "server.key").read_bytes() == key


def test_init_accepts_an_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    init_data_dir(tmp_path / "empty")
    assert (tmp_path / "empty" / "ledger.db").is_file()


def test_init_dates_the_empty_logs_checkpoint_by_the_clock_it_is_given(tmp_path: Path) -> None:
    """The demo's server lives on its story's clock from the start (kokreativ.demo.ledger)."""
    init_data_dir(tmp_path / "data", now_ms=lambda: 1_234_567)
    conn = sqlite3.connect(tmp_path / "data" / "ledger.db")
    try:
        assert conn.execute("SELECT size, created_ms FROM tlog_checkpoints").fetchall() == [(0, 1_234_567)]
    finally:
        conn.close()


def test_open_refuses_a_missing_or_incomplete_dir(tmp_path: Path) -> None:
    with pytest.raises(DataDirError):
        open_data_dir(tmp_path / "nothing")
    path = tmp_path / "data"
    init_data_dir(path)
    (path / "uid-pseudonym.key").write_bytes(b"short")
    with pytest.raises(DataDirError, match="32 bytes"):
        open_data_dir(path)


def test_reopen_keeps_keys_and_state(tmp_path: Path) -> None:
    path = tmp_path / "data"
    result = init_data_dir(path)
    with open_data_dir(path) as ctx:
        assert ctx.server_key.public_key == result.server_public_key
        with ctx.storage.write() as tx:
            tx.set_setting("probe", "1")
    with open_data_dir(path) as ctx:
        with ctx.storage.read() as tx:
            assert tx.get_setting("probe") == "1"
        assert ctx.storage.migrate() == []  # nothing pending on reopen


def test_a_new_admin_token_never_begins_with_a_dash():
    # one token_urlsafe in 64 begins with '-', which `--token -x…` on a command line takes for an option
    tokens = {new_admin_token() for _ in range(2000)}
    assert len(tokens) == 2000
    assert all(len(token) == 43 and re.fullmatch(r"[A-Za-z0-9_-]+", token) for token in tokens)
    assert not any(token.startswith("-") for token in tokens)
    assert any("-" in token for token in tokens)  # still the whole URL-safe alphabet, only not first
