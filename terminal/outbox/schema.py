"""The outbox's file: its migrations, and opening it durably (WAL, ``synchronous=FULL``).

``synchronous=FULL`` because a committed transaction must survive a power cut, which
``NORMAL`` does not promise: a green light is a promise.  Schema changes are
sqlite-utils migrations, checked and applied in one ``BEGIN IMMEDIATE`` transaction
together with the record that they ran, so a kiosk and a sync process creating the
file at the same moment apply them once.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from protocol import GENESIS_PREV, Reason
from terminal import redemptions
from terminal.errors import OutboxError
from terminal.outbox.base import immediate, storage_errors

BUSY_TIMEOUT_S = 10.0
migrations = Migrations("kokreativ.terminal.outbox")


@migrations()
def m001_initial(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE events (
            seq INTEGER PRIMARY KEY,
            body BLOB NOT NULL,
            sig BLOB NOT NULL,
            hash TEXT NOT NULL,
            card_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            wall_ms INTEGER NOT NULL,
            synced_receipt INTEGER
        );
        CREATE TABLE open_shifts (
            card_id TEXT PRIMARY KEY,
            in_seq INTEGER NOT NULL,
            in_wall_ms INTEGER NOT NULL
        );
        CREATE TABLE kiosk_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            last_seq INTEGER NOT NULL,
            head TEXT NOT NULL,
            synced_seq INTEGER NOT NULL,
            last_sync_ms INTEGER,
            last_receipt TEXT,
            alarm TEXT
        );
        CREATE TABLE receipts (
            id INTEGER PRIMARY KEY,
            seq INTEGER NOT NULL,
            head TEXT NOT NULL,
            issued_ms INTEGER NOT NULL,
            received_ms INTEGER NOT NULL
        );
        """
    )
    db.execute("INSERT INTO kiosk_state (id, last_seq, head, synced_seq) VALUES (1, 0, ?, 0)", [GENESIS_PREV])


@migrations()
def m002_trust_list(db: Database) -> None:
    # The newest verified trust list from the server (issuer keys, blocked cards, site policy).
    db.execute(
        """CREATE TABLE trust_list (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            issued_ms INTEGER NOT NULL,
            wire TEXT NOT NULL,
            received_ms INTEGER NOT NULL
        )"""
    )


@migrations()
def m003_log_witness(db: Database) -> None:
    # The kiosk as a witness of the server's transparency log (terminal.witness).  ``alarm_code`` says
    # which alarm is set (NULL with an alarm: fork_detected, the only one before this migration);
    # ``log_origin`` is the origin pinned on first use when the config does not name one.
    # One statement per execute: executescript would commit the surrounding migration transaction.
    for statement in (
        "ALTER TABLE kiosk_state ADD COLUMN alarm_code TEXT",
        "ALTER TABLE kiosk_state ADD COLUMN log_origin TEXT",
        """CREATE TABLE log_checkpoint (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            origin TEXT NOT NULL,
            size INTEGER NOT NULL,
            root BLOB NOT NULL,
            note TEXT NOT NULL,
            verified_ms INTEGER NOT NULL
        )""",
        """CREATE TABLE log_evidence (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            old_checkpoint TEXT NOT NULL,
            new_checkpoint TEXT NOT NULL,
            consistency TEXT NOT NULL,
            detail TEXT NOT NULL,
            detected_ms INTEGER NOT NULL,
            reported_ms INTEGER
        )""",
    ):
        db.execute(statement)


@migrations()
def m004_balances(db: Database) -> None:
    # Each card's balance from the server's last verified balance sheet (protocol.balances), for the
    # check-out screen.  Random card IDs and integers only; the primary key makes a tap's lookup one
    # indexed read.
    db.execute(
        """CREATE TABLE balances (
            card_id TEXT PRIMARY KEY,
            balance INTEGER NOT NULL,
            as_of_ms INTEGER NOT NULL
        )"""
    )


@migrations()
def m005_sync_rounds(db: Database) -> None:
    # How the last sync round ended and when a coordinator asked for one ("sync now" on the screen),
    # shared between the kiosk process (the screen) and the sync service.
    db.executescript(
        """
        ALTER TABLE kiosk_state ADD COLUMN sync_round_ms INTEGER;
        ALTER TABLE kiosk_state ADD COLUMN sync_round_error TEXT;
        ALTER TABLE kiosk_state ADD COLUMN sync_requested_ms INTEGER;
        """
    )


@migrations()
def m006_redemptions(db: Database) -> None:
    # A shop terminal's redemptions (one row per r_ ID, naming its redeem and void events) and the
    # server's results for redeem and void events (terminal.redemptions).  Random IDs and integers only.
    # One statement per execute: executescript would commit the surrounding migration transaction.
    for statement in redemptions.SCHEMA:
        db.execute(statement)


@migrations()
def m007_clock_offset(db: Database) -> None:
    # What the server answered to the last heartbeat (server clock minus ours, in ms) and when we
    # got that answer (our clock), for `kokreativ terminal status` and the sync side's own pacing.
    for statement in (
        "ALTER TABLE kiosk_state ADD COLUMN clock_offset_ms INTEGER",
        "ALTER TABLE kiosk_state ADD COLUMN heartbeat_ms INTEGER",
    ):
        db.execute(statement)


@migrations()
def m008_reader_status(db: Database) -> None:
    # The reader's status as the tap loop last saw it, so a separate sync process can report it in
    # its heartbeats.  Written on change only, to spare the SD card.
    db.execute("ALTER TABLE kiosk_state ADD COLUMN reader_status TEXT")


@migrations()
def m009_server_key(db: Database) -> None:
    # The server key this kiosk pins once it followed a planned rotation (protocol.serverkeys); no row:
    # the key from enrolment (kiosk.toml).  In the outbox, not the config, because the screen and the
    # sync service both verify with it and the pin moves together with the trust list it came with.
    db.execute(
        """CREATE TABLE server_key (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            public_key TEXT NOT NULL,
            previous TEXT,
            pinned_ms INTEGER NOT NULL
        )"""
    )


@migrations()
def m010_event_openings(db: Database) -> None:
    # A v2 event's opening (``{"card", "clock", "data", "kind", "salt"}`` as JSON) beside it, sent in
    # the batch; NULL for a v1
    # event and once a verified receipt covers the event (then ``card_id`` is blanked to '' too):
    # after sync the outbox keeps no link from an event to its card.  docs/kiosk.md, "The outbox".
    db.execute("ALTER TABLE events ADD COLUMN opening TEXT")


@migrations()
def m011_log_handover(db: Database) -> None:
    # The log hand-overs this kiosk followed (protocol.handover): from the origin it had pinned to the new
    # one, with the old log's final tree head, against which a resent event's archived entry is checked.
    db.execute(
        """CREATE TABLE log_handover (
            id INTEGER PRIMARY KEY,
            old_origin TEXT NOT NULL UNIQUE,
            new_origin TEXT NOT NULL UNIQUE,
            old_size INTEGER NOT NULL,
            old_root BLOB NOT NULL,
            document TEXT NOT NULL,
            followed_ms INTEGER NOT NULL
        )"""
    )


@migrations()
def m012_till_state(db: Database) -> None:
    # A shop terminal's till state (protocol.tillstate): the server-signed answer to its last heartbeat,
    # its staff (IDs, roles, daily maxima, PIN hashes) and the voids asked of it; the newest only.
    db.execute(
        """CREATE TABLE till_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            issued_ms INTEGER NOT NULL,
            wire TEXT NOT NULL,
            received_ms INTEGER NOT NULL
        )"""
    )


@migrations()
def m013_sealed_openings(db: Database) -> None:
    # Once a receipt covers a v2 event, its opening is kept only sealed to the server's key
    # (protocol.commitments.SealedOpening), so a server restored from an older backup can be re-fed
    # while the event is retained; a stolen kiosk still links no event to its card.
    db.execute("ALTER TABLE events ADD COLUMN sealed_opening BLOB")


def _retry_locked(step: Callable[[], Any], attempts: int = 5) -> Any:
    """Run ``step``, again if SQLite says the file is locked (some pragmas ignore the busy timeout)."""
    for attempt in range(attempts):
        try:
            return step()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def _migrate(conn: sqlite3.Connection, db: Database) -> None:
    """Check for and apply pending migrations under one write lock, so two processes cannot both apply.

    ``BEGIN IMMEDIATE`` takes the write lock before the check (waiting up to the busy timeout), so the
    second process to get here sees the first one's migrations as applied and does nothing.  sqlite-utils
    nests each migration in a savepoint inside this transaction.
    """
    with immediate(conn):
        migrations.apply(db)


def connect(path: Path, *, create: bool) -> tuple[sqlite3.Connection, Database]:
    """Open the outbox at ``path`` in WAL mode with ``synchronous=FULL``, migrated; the caller closes it.

    With ``create=False`` the file must already exist and be fully migrated (else
    :class:`OutboxError` ``not_found`` / ``outbox_outdated``), and nothing is created or
    changed.  A journal mode other than WAL raises ``outbox_not_durable``.
    """
    # isolation_level=None: no implicit transactions; every write says BEGIN/COMMIT itself.
    # The busy timeout is in place before the first statement: on first boot the kiosk and the sync
    # service open (and create) the file at the same moment.
    if create:
        target: str | Path = path
    elif not path.is_file():
        raise OutboxError(Reason.NOT_FOUND, f"no outbox at {path}; has this kiosk recorded a tap yet?")
    else:
        target = path.resolve().as_uri() + "?mode=rw"  # never creates the file, even in a race
    with storage_errors():  # a read-only or full disk: one clear error, not a raw SQLite one
        return _open(path, target, create=create)


def _open(path: Path, target: str | Path, *, create: bool) -> tuple[sqlite3.Connection, Database]:
    conn = sqlite3.connect(
        target, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_S, uri=not create
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        # Only read the mode unless creating: opening with create=False changes nothing.
        pragma = "PRAGMA journal_mode=WAL" if create else "PRAGMA journal_mode"
        mode = _retry_locked(lambda: conn.execute(pragma).fetchone()[0])
        if mode != "wal":
            raise OutboxError("outbox_not_durable", f"{path}: journal mode is {mode}, WAL needed")
        conn.execute("PRAGMA synchronous=FULL")
        # Deleted and overwritten content (openings and card IDs dropped after a receipt) is zeroed
        # on the page, not left in free space for whoever reads the SD card (issue 17).
        conn.execute("PRAGMA secure_delete=ON")
        db = Database(conn, execute_plugins=False)
        if create:
            _migrate(conn, db)
        elif migrations.pending(db):
            raise OutboxError(
                "outbox_outdated", f"{path} is not a current outbox; start the kiosk once to upgrade it"
            )
    except BaseException:
        conn.close()
        raise
    return conn, db
