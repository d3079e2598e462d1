"""The durable outbox: every signed event, the kiosk's chain head and its open shifts, in SQLite.

A green light is a promise: an event is on disk (WAL, ``synchronous=FULL``) in one
transaction with everything that belongs to it before the kiosk says so, and it
leaves only once a verified receipt covers it.  The guarantees, and why, are in
docs/kiosk.md ("The outbox").  :class:`Outbox` does all of it over one connection;
its parts are split by domain (:mod:`.events`, :mod:`.receipts`, :mod:`.checkpoints`,
:mod:`.trust`, :mod:`.balances`, :mod:`.status`, the file in :mod:`.schema`), and
:class:`OutboxReader` is the read-only type for callers that only look.
"""

from terminal.outbox.checkpoints import FollowedHandover, LogCheckpoint, LogEvidence, LogUpdate
from terminal.outbox.events import OpenShift
from terminal.outbox.reader import OutboxReader
from terminal.outbox.schema import BUSY_TIMEOUT_S, migrations
from terminal.outbox.status import OutboxStatus
from terminal.outbox.store import DAY_MS, Outbox

__all__ = [
    "BUSY_TIMEOUT_S",
    "DAY_MS",
    "FollowedHandover",
    "LogCheckpoint",
    "LogEvidence",
    "LogUpdate",
    "OpenShift",
    "Outbox",
    "OutboxReader",
    "OutboxStatus",
    "migrations",
]
