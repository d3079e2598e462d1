"""The storage's shape: a read transaction can only read, a write transaction can do both."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from protocol import Reason
from server.errors import StorageUnavailable
from server.storage import ReadTx, SqliteStorage, Tx

# How a write method's name begins; a read method's never does, so a misplaced one shows here.
_WRITE_VERBS = ("insert_", "set_", "update_", "append_", "mark_", "block_", "close_", "put_", "advance_")
_WRITE_VERBS += ("acknowledge_", "delete_", "record_", "drop_")
# Issue 17: revoking a token or access secret, touching a session's last use, archiving a log origin.
_WRITE_VERBS += ("revoke_", "touch_", "archive_")
# Issue 18: spending an invitation or a TOTP step, a contact's submitted hours, a decision's trial run.
_WRITE_VERBS += ("use_", "submit_", "trial")
# Issue 21: the guessing limits' windows in the ledger (shared by every worker).
_WRITE_VERBS += ("charge_", "refund_", "expire_")


def _methods(cls: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(cls, inspect.isfunction) if not name.startswith("_")}


def test_read_tx_has_the_reads_and_tx_adds_only_the_writes() -> None:
    reads, writes = _methods(ReadTx), _methods(Tx) - _methods(ReadTx)
    assert issubclass(Tx, ReadTx)
    assert reads and writes
    assert not [name for name in reads if name.startswith(_WRITE_VERBS)]
    assert not [name for name in writes if not name.startswith(_WRITE_VERBS)]


def test_read_yields_a_read_tx_and_write_a_tx(tmp_path: Path) -> None:
    with SqliteStorage(tmp_path / "ledger.db") as storage:
        with storage.read() as tx:
            assert type(tx) is ReadTx
        with storage.write() as wtx:
            assert type(wtx) is Tx
            wtx.set_setting("k", "v")
        with storage.read() as tx:
            assert tx.get_setting("k") == "v"


def test_traced_sees_the_statements_of_its_block_only(tmp_path: Path) -> None:
    statements: list[str] = []
    with SqliteStorage(tmp_path / "ledger.db") as storage:
        with storage.traced(statements.append), storage.read() as tx:
            tx.get_setting("k")
        with storage.read() as tx:
            tx.list_sites()
    assert any("FROM settings" in s for s in statements)
    assert not any("FROM sites" in s for s in statements)


def test_a_disk_that_refuses_writes_is_a_503_with_a_reason_and_writes_nothing(tmp_path: Path) -> None:
    """SQLite's "read-only" through the storage's own connection (query_only); the real full and
    read-only disks are in tests/integration/test_disk_faults.py (they need root to mount)."""
    with SqliteStorage(tmp_path / "ledger.db") as storage:
        storage._conn.execute("PRAGMA query_only = 1")
        with pytest.raises(StorageUnavailable) as refused, storage.write() as tx:
            tx.set_setting("k", "v")
        assert refused.value.reason is Reason.STORAGE_UNAVAILABLE
        assert refused.value.status == 503 and refused.value.headers["Retry-After"] == "60"
        storage._conn.execute("PRAGMA query_only = 0")
        with storage.read() as rtx:
            assert rtx.get_setting("k") is None
        with storage.write() as tx:  # and the storage goes on once the disk can write again
            tx.set_setting("k", "v")
