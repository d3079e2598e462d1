"""What every part of the outbox shares: one connection, one lock, one clock, one kind of transaction.

The parts (:mod:`.events`, :mod:`.receipts`, :mod:`.checkpoints`, :mod:`.trust`,
:mod:`.balances`, :mod:`.status`) are mixins of one :class:`~terminal.outbox.Outbox`
over this state, so a call on the tap path is a plain method call, with no layer
in between, and every transaction still sees the whole file.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """One ``BEGIN IMMEDIATE`` transaction: committed if the block ends normally, else rolled back."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


class OutboxBase:
    """The state the parts share; :class:`~terminal.outbox.Outbox` sets it when it opens the file.

    ``_lock`` makes every method thread-safe (the tap loop appends while the sync thread
    reads and applies receipts); it is never held across network I/O.
    """

    _conn: sqlite3.Connection
    _lock: threading.RLock
    _now_ms: Callable[[], int]

    def _synced_seq(self) -> int:
        return int(self._conn.execute("SELECT synced_seq FROM kiosk_state").fetchone()[0])

    def _stored_last_seq(self) -> int:
        # The sync side reads the head from disk: a ``sync`` command in another
        # process must see events the running kiosk appended after it opened.
        return int(self._conn.execute("SELECT last_seq FROM kiosk_state").fetchone()[0])
