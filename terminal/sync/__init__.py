"""Background sync: send the outbox to the ledger server and apply its signed receipts.

The tap path never waits for this; sync runs in its own thread (or as
``kokreativ terminal sync``) and only reads the outbox and applies receipts.
Nothing counts as synced until a receipt signed by the pinned server key covers
it and the server's transparency log, witnessed on the way, extends the one this
kiosk verified before; any doubt ends the round and the events stay pending.
How a round goes, each answer's outcome, witnessing, balance sheets, following a
server key rotation, the till's quick rounds and the backoff are in
docs/kiosk.md ("Sync"), which also names the module of each part.
"""

from terminal.sync.client import PAUSE_SLICE_S, ROUND_NOTE_S, SyncClient
from terminal.sync.heartbeats import HEARTBEAT_S
from terminal.sync.result import (
    INTERNAL_ERROR,
    NETWORK_ERROR,
    SERVER_ERROR,
    SERVER_KEY_ROTATED,
    STOPPED,
    TIMEOUT,
    SyncResult,
)
from terminal.sync.rounds import redemption_results

__all__ = [
    "HEARTBEAT_S",
    "INTERNAL_ERROR",
    "NETWORK_ERROR",
    "PAUSE_SLICE_S",
    "ROUND_NOTE_S",
    "SERVER_ERROR",
    "SERVER_KEY_ROTATED",
    "STOPPED",
    "TIMEOUT",
    "SyncClient",
    "SyncResult",
    "redemption_results",
]
