"""``kokreativ server backup``: SQLite online backup of a ledger being written, and the restore drill.

The server runs on loopback with a kiosk sending batches from a second thread
while the backup runs.  The copy must be one self-contained file that passes
``integrity_check``, opens as a data folder next to the backed-up keys, and
passes ``kokreativ verify ledger`` with the published verifier key: the same
steps as the restore drill in docs/operations.md.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
from server_helpers import MINUTE, T0, Api, World

from kokreativ.cli import main
from server.backup import backup_ledger
from server.datadir import LEDGER, SERVER_KEY, UID_KEY, InitResult, open_data_dir
from server.verify import verify_ledger


def _restore(
    backup: Path, data: Path, into: Path, database: str | None, capsys: pytest.CaptureFixture[str]
) -> Path:
    """The drill: an empty folder, the backed-up keys, then ``server restore`` (a dump into ``database``)."""
    into.mkdir(mode=0o700)
    for key in (SERVER_KEY, UID_KEY):
        shutil.copy2(data / key, into / key)
    command = ["server", "restore", "--data", str(into), "--from", str(backup)]
    assert main([*command, *(["--database", database] if database else [])]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["engine"] == ("postgresql" if database else "sqlite")
    return into


def test_backup_of_a_ledger_being_written_restores_and_verifies(
    api: Api,
    world: World,
    data_dir: tuple[Path, InitResult],
    engine: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    data, init = data_dir
    kiosk = world.kiosk
    stop = threading.Event()
    sent: list[int] = []
    failures: list[str] = []

    def write_continuously() -> None:
        # The main thread does not use api's client while this runs.
        i = 0
        while not stop.is_set() and i < 400:
            kinds = ["check_in" if (i + j) % 2 == 0 else "check_out" for j in range(5)]
            batch = [kiosk.event(kind, world.card_id, T0 + (i + j) * MINUTE) for j, kind in enumerate(kinds)]
            response = api.send(kiosk.kiosk_id, batch)
            if response.status_code != 200:
                failures.append(response.text)
                return
            i += 5
            sent.append(i)

    writer = threading.Thread(target=write_continuously)
    writer.start()
    try:
        backups = []
        for n in range(3):
            progress = len(sent)
            while len(sent) == progress and writer.is_alive():  # the ledger grows between backups
                threading.Event().wait(0.005)
            out = tmp_path / f"ledger-{n}.db"
            assert main(["server", "backup", "--data", str(data), "--out", str(out)]) == 0
            printed = json.loads(capsys.readouterr().out)
            assert printed["backup"] == str(out) and printed["integrity"] == "ok"
            assert printed["engine"] == engine
            assert printed["bytes"] == out.stat().st_size > 0
            backups.append(out)
    finally:
        stop.set()
        writer.join()
    assert not failures, failures
    assert len(sent) >= 3, "the writer stopped before the backups"

    with api.context.storage.read() as tx:
        balances_now = tx.balances()
    for n, backup in enumerate(backups):
        assert backup.stat().st_mode & 0o777 == 0o600
        database = None
        if engine == "sqlite":
            # One self-contained file: no -wal or -shm beside it, not in WAL mode.
            assert not Path(f"{backup}-wal").exists() and not Path(f"{backup}-shm").exists()
            with sqlite3.connect(f"{backup.as_uri()}?mode=ro", uri=True) as conn:
                assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
                assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        else:
            assert backup.read_bytes().startswith(b"PGDMP")  # pg_dump's custom format
            database = request.getfixturevalue("postgres_cluster").empty_database()
        restored = _restore(backup, data, tmp_path / f"restored-{n}", database, capsys)
        with open_data_dir(restored) as context:
            assert context.storage.engine == engine
            report = verify_ledger(context.storage)
            assert report.ok, report
            with context.storage.read() as tx:
                restored_balances = tx.balances()
            if n == len(backups) - 1:
                assert restored_balances.keys() <= balances_now.keys()
        mirror = tmp_path / f"mirror-{n}"  # what the restored server publishes, as an auditor reads it
        assert main(["server", "export-log", "--data", str(restored), "--out", str(mirror)]) == 0
        capsys.readouterr()
        code = main(
            [
                "verify",
                "ledger",
                str(mirror),
                "--key",
                init.log_verifier_key,
                "--state",
                str(tmp_path / f"audit-{n}"),
            ]
        )
        report_text = capsys.readouterr().out
        assert code == 0, report_text


def test_backup_refuses_to_overwrite_and_needs_a_ledger(
    tmp_path: Path, data_dir: tuple[Path, InitResult]
) -> None:
    data, _ = data_dir
    out = tmp_path / "ledger.db"
    out.write_bytes(b"an older backup")
    with pytest.raises(OSError, match="refusing to overwrite"):
        backup_ledger(data, out)
    assert out.read_bytes() == b"an older backup"
    with pytest.raises(OSError, match="is missing"):
        backup_ledger(tmp_path / "nowhere", tmp_path / "new.db")
    assert not (tmp_path / "new.db").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.sqlite_only  # SQLite's -wal/-shm files and who owns them
def test_backup_of_a_stopped_server_leaves_its_files_to_the_server(
    tmp_path: Path, data_dir: tuple[Path, InitResult], capsys: pytest.CaptureFixture[str]
) -> None:
    data, _ = data_dir
    before = {p.name for p in data.iterdir()}
    if os.geteuid() == 0:  # as with `sudo kokreativ server backup`: the ledger belongs to the service user
        for path in data.iterdir():
            os.chown(path, 65534, 65534)
    assert main(["server", "backup", "--data", str(data), "--out", str(tmp_path / "b.db")]) == 0
    assert json.loads(capsys.readouterr().out)["integrity"] == "ok"
    # SQLite may leave its -wal/-shm files (even a read-only reader makes them); nothing else is added,
    # and whatever it left belongs to the ledger's owner, so the server still opens its ledger.
    after = {p.name for p in data.iterdir()}
    assert after - before <= {f"{LEDGER}-wal", f"{LEDGER}-shm"}
    owner = (data / LEDGER).stat().st_uid
    assert all(p.stat().st_uid == owner for p in data.iterdir())
    assert (tmp_path / "b.db").stat().st_mode & 0o777 == 0o600


def test_backup_command_failure_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["server", "backup", "--data", str(tmp_path), "--out", str(tmp_path / "b.db")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("kokreativ: error: ") and "ledger.db is missing" in err
