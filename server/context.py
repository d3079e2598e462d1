"""What every service needs, passed in explicitly: storage, keys and a clock.

There are no module-level singletons in :mod:`server`.  A :class:`ServerContext`
is built once at start-up (``server.datadir.open_data_dir``) or by a test, and
handed to ``create_app`` and to each service, so tests control the clock and
several servers can run in one process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from protocol import PrivateKey
from protocol import clock as wall_clock
from server.folderlock import FolderLock
from server.storage import Storage
from server.vault import PersonVault

Clock = Callable[[], int]


@dataclass(slots=True)
class Memo:
    """Answers computed from what never changes, kept for the life of one server process.

    ``closed_months``: the public breakdowns of the closed months (:func:`server.totals.public_totals`),
    with the key they were computed for (the current month and the sites).  The
    ledger books by server time and only appends, so what was booked before this
    month began stays as it is; a new month or a changed site makes a new key.
    The ledger keeps them too, for the other processes and the next start.

    ``ledger_sums``: the ledger's ``(issued, redeemed)`` up to its entry ``last``, as
    ``(last, issued, redeemed)``.  Entries are only ever added, numbered upwards, so
    the next reading sums only those numbered above ``last``.
    """

    closed_months: tuple[object, dict[str, Any]] | None = None
    # (last entry number, issued, redeemed): see server.tlog.ledger_sums.
    ledger_sums: tuple[int, int, int] | None = None


@dataclass(slots=True)
class ServerContext:
    """Storage, the server's signing key, the programme's UID-pseudonym key, the person vault and the clock.

    ``vault`` holds the per-person keys that open ``personal_data`` (:mod:`server.vault`);
    it is the data folder's ``person-keys/``, chosen once here like the storage.

    ``cosign_keys`` are earlier server keys that still co-sign checkpoints while a
    key rotation is being finished (:mod:`server.keyrotation`), so kiosks and
    auditors that pinned the old key keep verifying the log meanwhile.
    """

    storage: Storage
    server_key: PrivateKey
    uid_pseudonym_key: bytes
    vault: PersonVault
    now_ms: Clock = field(default=wall_clock.now_ms)
    cosign_keys: tuple[PrivateKey, ...] = ()
    memo: Memo = field(default_factory=Memo)
    # The shared hold on the data folder (server.folderlock) that open_data_dir took; None in tests.
    folder_lock: FolderLock | None = None

    def close(self) -> None:
        self.storage.close()
        if self.folder_lock is not None:
            self.folder_lock.release()

    def __enter__(self) -> ServerContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
