"""The :class:`Outbox`: one SQLite file, opened once, with every part's methods on one object."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from protocol.clock import now_ms as _now_ms
from terminal.outbox.balances import BalancesMixin
from terminal.outbox.checkpoints import CheckpointsMixin
from terminal.outbox.events import EventsMixin
from terminal.outbox.reader import OutboxReader
from terminal.outbox.receipts import ReceiptsMixin
from terminal.outbox.schema import connect
from terminal.outbox.status import StatusMixin
from terminal.outbox.trust import TrustMixin

DAY_MS = 86_400_000


class Outbox(StatusMixin, ReceiptsMixin, BalancesMixin, CheckpointsMixin, TrustMixin, EventsMixin):
    """The kiosk's event store at ``path``; the guarantees are in docs/kiosk.md ("The outbox").

    Each part lives in its own module (events, receipts, checkpoints, trust, balances,
    status); they share this one connection and lock.  A caller that only reads takes an
    :class:`~terminal.outbox.OutboxReader` instead.

    With ``create=False`` the file must already exist and be fully migrated
    (else :class:`OutboxError` ``not_found`` / ``outbox_outdated``); nothing is
    created or changed on opening, for read-mostly tools such as ``status``.

    Example::

        outbox = Outbox(config.outbox_path)
        last_seq, head = outbox.head()
        outbox.append(signed, open_shift=OpenShift(card, signed.event.seq, wall_ms))
        outbox.close()
    """

    def __init__(
        self,
        path: Path,
        *,
        retain_synced: int = 50_000,
        retain_days: float = 30,
        now_ms: Callable[[], int] = _now_ms,
        create: bool = True,
    ) -> None:
        self.path = path
        self._retain_synced = max(1, retain_synced)
        self._retain_ms = int(retain_days * DAY_MS)
        self._now_ms = now_ms
        self._lock = threading.RLock()
        self._reader_status: str | None = None  # the last status written by record_reader_status
        conn, self._db = connect(path, create=create)
        try:
            self._load_chain(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    @property
    def synchronous(self) -> int:
        """This connection's ``PRAGMA synchronous`` level: 2 (FULL), the promise behind a green light.

        SQLite keeps the level per connection, so only the outbox's own connection can show
        that its commits wait for the disk (a test, a doctor); the WAL mode is in the file.
        """
        with self._lock:
            return int(self._conn.execute("PRAGMA synchronous").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_a_reader(outbox: Outbox) -> OutboxReader:
    """Never called: mypy checks here that an :class:`Outbox` is an :class:`OutboxReader`."""
    return outbox
