"""SQLite across threads and processes: writers take turns on ``ledger.db-writer``, reads never wait for them.

Each ``SqliteStorage`` opens its own lock file descriptor, so two of them on one
file stand for two server worker processes here.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from protocol import Reason
from server.errors import StorageUnavailable
from server.storage import sqlite as sqlite_engine
from server.storage.sqlite import WRITER_LOCK_SUFFIX, SqliteStorage

pytestmark = pytest.mark.sqlite_only


def _wait_until(condition, what: str) -> None:
    for _ in range(10_000):
        if condition():
            return
        threading.Event().wait(0.001)
    raise AssertionError(f"never {what}")


def test_a_writer_waiting_for_another_process_does_not_hold_up_this_process_s_reads(tmp_path: Path):
    path = tmp_path / "ledger.db"
    with SqliteStorage(path) as other_worker, SqliteStorage(path) as this_worker:
        with this_worker.write() as tx:
            tx.set_setting("before", "1")
        written = threading.Event()

        def write() -> None:
            with this_worker.write() as tx:
                tx.set_setting("waited", "1")
            written.set()

        read: list[str | None] = []

        def read_setting() -> None:
            with this_worker.read() as tx:
                read.append(tx.get_setting("before"))

        with other_worker.write():  # the other worker's transaction is open
            writer = threading.Thread(target=write)
            writer.start()
            _wait_until(this_worker._writer.locked, "started waiting")
            reader = threading.Thread(target=read_setting)
            reader.start()
            reader.join(30)
            assert not reader.is_alive(), "the read waited for the other worker's write"
            assert not written.is_set()
        writer.join(30)
    assert read == ["1"] and written.is_set()
    assert (tmp_path / f"ledger.db{WRITER_LOCK_SUFFIX}").exists()


def test_a_writer_that_never_gets_its_turn_is_told_storage_unavailable(tmp_path: Path):
    path = tmp_path / "ledger.db"
    with SqliteStorage(path) as other_worker, SqliteStorage(path) as this_worker:
        this_worker.busy_timeout_s = 0.2
        with other_worker.write(), pytest.raises(StorageUnavailable) as refused, this_worker.write() as tx:
            tx.set_setting("never", "1")
        assert refused.value.reason is Reason.STORAGE_UNAVAILABLE
        with this_worker.read() as tx:
            assert tx.get_setting("never") is None
        with this_worker.write() as tx:  # the turn comes back once the other worker is done
            tx.set_setting("later", "1")
        with other_worker.read() as tx:
            assert tx.get_setting("later") == "1"


def test_an_in_memory_ledger_needs_no_lock_file(tmp_path: Path):
    with SqliteStorage(Path(":memory:")) as storage, storage.write() as tx:
        tx.set_setting("k", "v")
    assert not list(tmp_path.iterdir())


def test_a_read_does_not_wait_for_this_process_s_write_and_sees_what_was_committed(tmp_path: Path):
    with SqliteStorage(tmp_path / "ledger.db") as storage:
        with storage.write() as tx:
            tx.set_setting("k", "committed")
        read: list[str | None] = []

        def read_setting() -> None:
            with storage.read() as rtx:
                read.append(rtx.get_setting("k"))

        with storage.write() as tx:
            tx.set_setting("k", "not yet")
            reader = threading.Thread(target=read_setting)
            reader.start()
            reader.join(30)
            assert not reader.is_alive(), "the read waited for the write transaction"
        assert read == ["committed"]  # a snapshot of what was committed, not the open transaction
        with storage.read() as rtx:
            assert rtx.get_setting("k") == "not yet"


def test_more_reads_at_once_than_readers_share_the_writer_s_connection(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(sqlite_engine, "MAX_READERS", 1)
    with SqliteStorage(tmp_path / "ledger.db") as storage:
        with storage.write() as tx:
            tx.set_setting("k", "v")
        with storage.read() as first, storage.read() as second:  # the second on the writer's connection
            assert first.get_setting("k") == second.get_setting("k") == "v"
        statements: list[str] = []
        with storage.traced(statements.append), storage.read() as tx:  # the reader is traced too
            tx.get_setting("k")
        assert any("SELECT" in statement for statement in statements)


def test_a_writer_outside_the_turns_is_still_waited_for_by_sqlite_then_a_503(tmp_path: Path):
    # A program that writes the file without taking a turn (a backup tool, sqlite3 by hand): the
    # turn is free, so BEGIN IMMEDIATE meets SQLite's own lock, and its busy timeout answers.
    path = tmp_path / "ledger.db"
    with SqliteStorage(path) as storage:
        storage.raw_connection().execute("PRAGMA busy_timeout = 50")
        outsider = sqlite3.connect(path, isolation_level=None)
        try:
            outsider.execute("BEGIN IMMEDIATE")
            with pytest.raises(StorageUnavailable) as refused, storage.write() as tx:
                tx.set_setting("never", "1")
            assert refused.value.reason is Reason.STORAGE_UNAVAILABLE
            outsider.execute("ROLLBACK")
        finally:
            outsider.close()
        with storage.write() as tx:
            tx.set_setting("later", "1")


def test_a_scrub_waits_for_this_process_s_reads_and_leaves_no_wal_behind(tmp_path: Path):
    # Erasure scrubs the WAL; a read on a read connection holding an older snapshot would keep the
    # erased row's page in it (the checkpoint cannot pass the snapshot), and the scrub would not know.
    path = tmp_path / "ledger.db"
    with SqliteStorage(path) as storage:
        with storage.write() as tx:
            tx.set_setting("secret", "Erika Mustermann")
        reading, release = threading.Event(), threading.Event()

        def hold_a_snapshot() -> None:
            with storage.read() as rtx:
                rtx.get_setting("secret")
                reading.set()
                release.wait(30)

        reader = threading.Thread(target=hold_a_snapshot)
        reader.start()
        assert reading.wait(30)
        with storage.write() as tx:
            tx.set_setting("secret", "erased")
        scrub = threading.Thread(target=lambda: storage.scrub(vacuum=False))
        scrub.start()
        _wait_until(lambda: storage._paused, "paused the reads")
        assert scrub.is_alive()  # waiting for the read, not done behind its back
        release.set()
        scrub.join(30)
        reader.join(30)
        assert not scrub.is_alive()
        assert Path(f"{path}-wal").stat().st_size == 0
        with storage.read() as rtx:  # the pool serves again
            assert rtx.get_setting("secret") == "erased"


def test_closing_waits_for_a_write_waiting_for_its_turn(tmp_path: Path):
    # Closed under a waiting writer, the lock file's descriptor could be reused by another file before
    # the writer's late unlock; close() waits for the writer instead.
    path = tmp_path / "ledger.db"
    with SqliteStorage(path) as other_worker:
        this_worker = SqliteStorage(path)
        outcome: list[str] = []

        def write() -> None:
            try:
                with this_worker.write() as tx:
                    tx.set_setting("k", "v")
                outcome.append("committed")
            except Exception as exc:  # the test reports what went wrong
                outcome.append(repr(exc))

        with other_worker.write():
            writer = threading.Thread(target=write)
            writer.start()
            _wait_until(this_worker._writer.locked, "started waiting")
            closer = threading.Thread(target=this_worker.close)
            closer.start()
            closer.join(0.2)
            assert closer.is_alive()  # not closed under the waiting writer
        writer.join(30)
        closer.join(30)
        assert outcome == ["committed"] and not closer.is_alive()
        with other_worker.read() as tx:
            assert tx.get_setting("k") == "v"
