"""The durable outbox: every signed event, the kiosk's chain head and its open shifts, in SQLite.

Durability rules (a green light is a promise):

* WAL journal with ``synchronous=FULL``: a committed transaction survives a
  power cut, which ``NORMAL`` does not promise.
* :meth:`Outbox.append` writes the event, the open-shift change and the new
  chain head in ONE ``BEGIN IMMEDIATE … COMMIT``; after a crash either all
  of it is there or none of it.
* Events never leave because they were *sent*; they are marked synced only by
  a verified receipt whose ``head`` equals the hash of our own event ``seq``.
  Synced rows are kept for a retention window (newest ``retain_synced`` rows,
  and anything younger than ``retain_days``) so a server restored from backup
  that answers ``sequence_gap`` with an earlier ``expected_seq`` can be re-fed.
* A validly signed receipt that contradicts our chain sets a persistent alarm
  (``fork_detected``) and changes nothing else.
* Balances come from the server's signed balance sheets (verified by the sync
  side first) and are kept per card with the server time they are as of; an
  older sheet never overwrites a newer balance.
* A shop terminal's ``redeem`` and ``void`` events go in with their redemption
  row (:meth:`Outbox.append_redeem`, :meth:`Outbox.append_void`) in the same
  transaction; plain :meth:`Outbox.append` refuses them, so a check-in kiosk
  can never store one.  The server's results for them (flags) are stored with
  the receipt that covers them, in its transaction, and so is the balance sheet
  of that answer: a redemption is never "synced" while its effect is missing
  from the confirmed balance (:mod:`terminal.redemptions`).
* The last transparency-log checkpoint the kiosk verified (:mod:`terminal.witness`)
  is stored in the same transaction as the receipt it came with, so the two
  never disagree after a crash.  A checkpoint that does not extend it sets the
  alarm ``log_inconsistent`` and is kept, with the proof, in ``log_evidence``.
* The server key is pinned at enrolment (``kiosk.toml``); once the kiosk follows a
  planned rotation (:mod:`terminal.serverkey`) the new key lives here, and is
  pinned in the same transaction as the trust list signed by it
  (:meth:`Outbox.pin_server_key`), so the tap path never pairs a key with a list
  that the key did not sign.

The chain head and open shifts are loaded once and then kept in memory, so a
tap costs one write transaction and one indexed read (has the trust list
changed? another process, the sync service, may have stored a newer one).  All methods are thread-safe
(the tap loop appends while the sync thread reads and applies receipts); the
lock is never held across network I/O.

Schema changes are sqlite-utils migrations, checked and applied in one
``BEGIN IMMEDIATE`` transaction together with the record that they ran, so a
kiosk and a sync process creating the file at the same moment apply them once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from protocol import (
    GENESIS_PREV,
    BalanceSheet,
    EventKind,
    PublicKey,
    Reason,
    Receipt,
    SignedEvent,
    parse_event,
)
from protocol.checkpoint import Checkpoint
from protocol.clock import now_ms as _now_ms
from terminal import redemptions
from terminal.errors import OutboxError, ReceiptError
from terminal.redemptions import EventResult, OfflineUsage, RedemptionRecord

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
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


class OpenShift(NamedTuple):
    """A check-in this kiosk recorded and has not yet closed."""

    card_id: str
    in_seq: int
    in_wall_ms: int


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    """A snapshot for status screens and ``kokreativ terminal status``."""

    last_seq: int
    head: str
    synced_seq: int
    pending: int
    open_shifts: int
    oldest_seq: int | None
    last_sync_ms: int | None
    last_receipt: dict[str, Any] | None
    alarm: str | None
    trust_issued_ms: int | None = None
    alarm_code: str | None = None
    log: LogCheckpoint | None = None
    log_origin: str | None = None
    evidence: int = 0
    sync_round_ms: int | None = None  # when the sync side last recorded a round (its clock)
    sync_round_error: str | None = None  # that round's reason code; None: it went well
    clock_offset_ms: int | None = None  # the server's clock minus ours at the last answered heartbeat
    heartbeat_ms: int | None = None  # when that heartbeat was answered (our clock)
    server_key: str | None = None  # base64 of the server key pinned by a rotation; None: the enrolled one
    server_key_pinned_ms: int | None = None  # when that key was pinned (our clock)


@dataclass(frozen=True, slots=True)
class LogCheckpoint:
    """The last transparency-log checkpoint this kiosk verified: ``note`` is the signed text.

    ``verified_ms`` is when the kiosk first verified this tree head (the kiosk's clock).
    """

    origin: str
    size: int
    root: bytes
    note: bytes
    verified_ms: int


@dataclass(frozen=True, slots=True)
class LogUpdate:
    """A checkpoint just verified (signature, and consistency with ``replaces``), ready to store.

    ``replaces`` is the stored checkpoint it was checked against (``None``: there
    was none); if another process stored a different one meanwhile, the update
    is skipped rather than trusted unchecked.
    """

    note: bytes
    checkpoint: Checkpoint
    replaces: LogCheckpoint | None


@dataclass(frozen=True, slots=True)
class LogEvidence:
    """A checkpoint that did not extend the verified one: what a coordinator and the server are shown."""

    id: int
    kind: str
    old_checkpoint: str
    new_checkpoint: str
    consistency: list[str]
    detail: str
    detected_ms: int
    reported_ms: int | None

    def to_json(self) -> dict[str, Any]:
        """The body of ``POST /v1/kiosks/{kiosk_id}/evidence`` (docs/protocol.md)."""
        return {
            "kind": self.kind,
            "old_checkpoint": self.old_checkpoint,
            "new_checkpoint": self.new_checkpoint,
            "consistency": list(self.consistency),
            "detail": self.detail,
        }


BUSY_TIMEOUT_S = 10.0


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


@contextlib.contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """One ``BEGIN IMMEDIATE`` transaction: committed if the block ends normally, else rolled back."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _migrate(conn: sqlite3.Connection, db: Database) -> None:
    """Check for and apply pending migrations under one write lock, so two processes cannot both apply.

    ``BEGIN IMMEDIATE`` takes the write lock before the check (waiting up to the busy timeout), so the
    second process to get here sees the first one's migrations as applied and does nothing.  sqlite-utils
    nests each migration in a savepoint inside this transaction.
    """
    with _immediate(conn):
        migrations.apply(db)


class Outbox:
    """The kiosk's event store at ``path``; see the module docstring for the guarantees.

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
        # isolation_level=None: no implicit transactions; every write below says BEGIN/COMMIT itself.
        # The busy timeout is in place before the first statement: on first boot the kiosk and the sync
        # service open (and create) the file at the same moment.
        if create:
            target: str | Path = path
        elif not path.is_file():
            raise OutboxError(Reason.NOT_FOUND, f"no outbox at {path}; has this kiosk recorded a tap yet?")
        else:
            target = path.resolve().as_uri() + "?mode=rw"  # never creates the file, even in a race
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
            self._db = Database(conn, execute_plugins=False)
            if create:
                _migrate(conn, self._db)
            elif migrations.pending(self._db):
                raise OutboxError(
                    "outbox_outdated", f"{path} is not a current outbox; start the kiosk once to upgrade it"
                )
            self._last_seq, self._head = conn.execute("SELECT last_seq, head FROM kiosk_state").fetchone()
            self._open: dict[str, OpenShift] = {
                row[0]: OpenShift(*row)
                for row in conn.execute("SELECT card_id, in_seq, in_wall_ms FROM open_shifts")
            }
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    # -- the tap path ---------------------------------------------------------------------------------

    def head(self) -> tuple[int, str]:
        """``(last_seq, hash of that event)``; ``(0, GENESIS_PREV)`` when empty. No I/O."""
        with self._lock:
            return self._last_seq, self._head

    def open_shift(self, card_id: str) -> OpenShift | None:
        """The open shift of ``card_id`` at this kiosk, if any. No I/O."""
        with self._lock:
            return self._open.get(card_id)

    def append(
        self,
        signed: SignedEvent,
        *,
        open_shift: OpenShift | None = None,
        close_shift_card: str | None = None,
    ) -> None:
        """Store ``signed`` as the next event, and open or close a shift, in one transaction.

        The event must extend the chain (``seq`` = last + 1, ``prev`` = head);
        anything else raises :class:`OutboxError` and writes nothing.  When this
        returns, the event is on disk.  On any error the transaction is rolled
        back and the in-memory state is untouched.  ``redeem`` and ``void``
        events are refused (``bad_field``): they go in with their redemption row,
        through :meth:`append_redeem` and :meth:`append_void`.
        """
        if signed.event.kind in (EventKind.REDEEM, EventKind.VOID):
            raise OutboxError(
                Reason.BAD_FIELD, f"a {signed.event.kind} event goes in with its redemption row"
            )

        def shifts(conn: sqlite3.Connection) -> None:
            if open_shift is not None:
                conn.execute(
                    "INSERT OR REPLACE INTO open_shifts (card_id, in_seq, in_wall_ms) VALUES (?,?,?)",
                    open_shift,
                )
            if close_shift_card is not None:
                conn.execute("DELETE FROM open_shifts WHERE card_id = ?", (close_shift_card,))

        with self._lock:
            self._append(signed, shifts)
            if close_shift_card is not None:
                self._open.pop(close_shift_card, None)
            if open_shift is not None:
                self._open[open_shift.card_id] = open_shift

    def append_redeem(self, signed: SignedEvent, *, day: str) -> None:
        """Store a signed ``redeem`` event and its redemption row in one transaction.

        The first redeem of an ID creates the row (``day``: the local date, for the
        daily cap); a second one, with ``"online": false``, is the offline fallback of
        an online attempt and must name the same card and amount.  Raises
        :class:`OutboxError` (``bad_field``, ``redemption_mismatch``, ``chain_broken``)
        and writes nothing otherwise.  When this returns, the event is on disk.
        """
        event = signed.event
        if event.kind is not EventKind.REDEEM:
            raise OutboxError(Reason.BAD_FIELD, f"append_redeem takes a redeem event, not {event.kind}")

        def row(conn: sqlite3.Connection) -> None:
            try:
                redemptions.add_redeem(
                    conn,
                    redemption_id=event.data["id"],
                    card_id=event.card,
                    amount=event.data["amount"],
                    seq=event.seq,
                    online=event.data["online"],
                    created_ms=event.clock.wall_ms,
                    day=day,
                )
            except ValueError as exc:
                raise OutboxError(Reason.REDEMPTION_MISMATCH, str(exc)) from exc

        with self._lock:
            self._append(signed, row)

    def append_void(self, signed: SignedEvent, *, offline_limit: bool = False) -> None:
        """Store a signed ``void`` event and mark its redemption voided, in one transaction.

        The redemption must be one of this terminal's, for the event's card, and not
        voided before (else :class:`OutboxError` ``unknown_redemption``).  With
        ``offline_limit`` the void is the till's own: the offline limits refused the
        redemption, and the void returns a debit whose online answer was lost.
        """
        event = signed.event
        if event.kind is not EventKind.VOID:
            raise OutboxError(Reason.BAD_FIELD, f"append_void takes a void event, not {event.kind}")

        def row(conn: sqlite3.Connection) -> None:
            try:
                redemptions.add_void(
                    conn,
                    redemption_id=event.data["id"],
                    card_id=event.card,
                    seq=event.seq,
                    offline_limit=offline_limit,
                )
            except ValueError as exc:
                raise OutboxError(Reason.UNKNOWN_REDEMPTION, str(exc)) from exc

        with self._lock:
            self._append(signed, row)

    def _append(self, signed: SignedEvent, write: Callable[[sqlite3.Connection], None]) -> None:
        """Insert ``signed`` as the next event plus ``write``'s rows, in one transaction; lock held."""
        event = signed.event
        if event.seq != self._last_seq + 1 or event.prev != self._head:
            raise OutboxError(Reason.CHAIN_BROKEN, f"event {event.seq} does not extend {self._last_seq}")
        digest = signed.hash
        conn = self._conn
        with _immediate(conn):
            conn.execute(
                "INSERT INTO events (seq, body, sig, hash, card_id, kind, wall_ms) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    event.seq,
                    signed.body,
                    signed.signature,
                    digest,
                    event.card,
                    event.kind,
                    event.clock.wall_ms,
                ),
            )
            write(conn)
            # The WHERE guard makes a second writer on the same file fail instead of forking the chain.
            cursor = conn.execute(
                "UPDATE kiosk_state SET last_seq = ?, head = ? WHERE id = 1 AND last_seq = ?",
                (event.seq, digest, self._last_seq),
            )
            if cursor.rowcount != 1:
                raise OutboxError(Reason.CHAIN_BROKEN, "another writer changed the outbox")
        # Only now, with the commit on disk, does memory move on.
        self._last_seq, self._head = event.seq, digest

    # -- the sync side --------------------------------------------------------------------------------

    def _synced_seq(self) -> int:
        return int(self._conn.execute("SELECT synced_seq FROM kiosk_state").fetchone()[0])

    def _stored_last_seq(self) -> int:
        # The sync side reads the head from disk: a ``sync`` command in another
        # process must see events the running kiosk appended after it opened.
        return int(self._conn.execute("SELECT last_seq FROM kiosk_state").fetchone()[0])

    def events_from(self, seq: int, limit: int) -> list[SignedEvent]:
        """Up to ``limit`` stored events with ``seq`` >= ``seq``, synced or not, in order."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT body, sig FROM events WHERE seq >= ? ORDER BY seq LIMIT ?", (seq, limit)
            ).fetchall()
        return [SignedEvent(body=body, signature=sig, event=parse_event(body)) for body, sig in rows]

    def pending(self, limit: int = 500, from_seq: int | None = None) -> list[SignedEvent]:
        """Events not yet covered by a receipt (or, with ``from_seq``, all retained from there)."""
        with self._lock:
            start = self._synced_seq() + 1 if from_seq is None else from_seq
            return self.events_from(start, limit)

    def pending_count(self) -> int:
        with self._lock:
            return self._stored_last_seq() - self._synced_seq()

    def backlog(self) -> tuple[int, int]:
        """``(last_seq, pending)`` in one read: what a heartbeat reports, cheap enough for every batch."""
        with self._lock:
            last_seq, synced = self._conn.execute("SELECT last_seq, synced_seq FROM kiosk_state").fetchone()
        return int(last_seq), int(last_seq) - int(synced)

    def oldest_seq(self) -> int | None:
        """The lowest ``seq`` still stored (older synced events were pruned); ``None`` if empty."""
        with self._lock:
            row = self._conn.execute("SELECT MIN(seq) FROM events").fetchone()
        return None if row[0] is None else int(row[0])

    @property
    def alarm(self) -> str | None:
        """The alarm's message, or ``None``; while set, sync halts (see :attr:`alarm_code`)."""
        with self._lock:
            alarm: str | None = self._conn.execute("SELECT alarm FROM kiosk_state").fetchone()[0]
            return alarm

    @property
    def alarm_code(self) -> str | None:
        """``fork_detected`` or ``log_inconsistent`` while an alarm is set, else ``None``."""
        with self._lock:
            alarm, code = self._conn.execute("SELECT alarm, alarm_code FROM kiosk_state").fetchone()
        if alarm is None:
            return None
        return str(code) if code else Reason.FORK_DETECTED.value  # set before alarm_code existed

    def clear_alarm(self) -> str | None:
        """Lift the alarm after a coordinator has looked into it; returns the old alarm's message.

        Evidence stays.  After ``log_inconsistent`` the last verified checkpoint is
        forgotten too (it is kept in the evidence): the coordinator accepts the
        server's current log as the kiosk's new starting point, else the next sync
        would find the same inconsistency again.
        """
        with self._lock:
            conn = self._conn
            with _immediate(conn):
                previous, code = conn.execute("SELECT alarm, alarm_code FROM kiosk_state").fetchone()
                if previous is not None and code == Reason.LOG_INCONSISTENT.value:
                    conn.execute("DELETE FROM log_checkpoint")
                conn.execute("UPDATE kiosk_state SET alarm = NULL, alarm_code = NULL WHERE id = 1")
            return str(previous) if previous is not None else None

    def apply_receipt(
        self,
        receipt: Receipt,
        *,
        log_update: LogUpdate | None = None,
        results: Sequence[EventResult] = (),
        balances: BalanceSheet | None = None,
    ) -> int:
        """Mark events ``1..receipt.seq`` synced if our event ``seq`` hashes to ``receipt.head``.

        The receipt's signature must already be verified (``protocol.verify_receipt``),
        and ``log_update``, the checkpoint that came with it, checked by the witness; it is
        stored in the same transaction, and so are ``results`` (the server's results for
        redeem and void events the receipt covers; others are ignored) and ``balances``
        (the answer's verified balance sheet).  Returns how many events became synced.  A
        receipt naming an event we never wrote, or a different hash, sets the alarm
        and raises ``fork_detected``; nothing is marked, removed or stored.
        """
        received_ms = self._now_ms()
        results = [r for r in results if r.seq <= receipt.seq]
        with self._lock:
            if receipt.seq == 0:
                if log_update is not None:
                    self.save_log_checkpoint(log_update)
                if balances is not None:
                    self.save_balances(balances)
                return 0
            row = self._conn.execute("SELECT hash FROM events WHERE seq = ?", (receipt.seq,)).fetchone()
            if receipt.seq > self._stored_last_seq() or (row is not None and row[0] != receipt.head):
                message = f"server receipt for seq {receipt.seq} has head {receipt.head}, ours differs"
                self._conn.execute(
                    "UPDATE kiosk_state SET alarm = ?, alarm_code = ? WHERE id = 1",
                    (message, Reason.FORK_DETECTED.value),
                )
                raise ReceiptError(Reason.FORK_DETECTED, message)
            if row is None:
                raise ReceiptError(
                    Reason.BAD_RECEIPT, f"event {receipt.seq} was pruned; cannot check receipt"
                )
            return self._mark_synced(receipt, received_ms, log_update, results, balances)

    def _mark_synced(
        self,
        receipt: Receipt,
        received_ms: int,
        log_update: LogUpdate | None,
        results: Sequence[EventResult],
        balances: BalanceSheet | None,
    ) -> int:
        conn = self._conn
        receipt_json = json.dumps(
            {"seq": receipt.seq, "head": receipt.head, "issued_ms": receipt.issued_ms, "kiosk": receipt.kiosk}
        )
        with _immediate(conn):
            marked = conn.execute(
                "UPDATE events SET synced_receipt = ? WHERE seq <= ? AND synced_receipt IS NULL",
                (receipt.seq, receipt.seq),
            ).rowcount
            conn.execute(
                "UPDATE kiosk_state SET synced_seq = MAX(synced_seq, ?), last_sync_ms = ?, last_receipt = ? "
                "WHERE id = 1",
                (receipt.seq, received_ms, receipt_json),
            )
            conn.execute(
                "INSERT INTO receipts (seq, head, issued_ms, received_ms) VALUES (?,?,?,?)",
                (receipt.seq, receipt.head, receipt.issued_ms, received_ms),
            )
            # Prune synced events outside BOTH retention limits; never unsynced ones.
            conn.execute(
                "DELETE FROM events WHERE synced_receipt IS NOT NULL AND seq <= ? AND wall_ms < ?",
                (self._synced_seq() - self._retain_synced, received_ms - self._retain_ms),
            )
            redemptions.put_results(conn, results)
            if balances is not None:
                self._put_balances(balances)
            redemptions.prune(conn)
            if log_update is not None:
                self._put_log_checkpoint(log_update, received_ms)
        return int(marked)

    # -- the transparency log (the kiosk as a witness; terminal.witness decides, this stores) -----------

    def log_checkpoint(self) -> LogCheckpoint | None:
        """The last checkpoint this kiosk verified, or ``None`` before the first."""
        with self._lock:
            row = self._conn.execute(
                "SELECT origin, size, root, note, verified_ms FROM log_checkpoint"
            ).fetchone()
        if row is None:
            return None
        origin, size, root, note, verified_ms = row
        return LogCheckpoint(str(origin), int(size), bytes(root), str(note).encode(), int(verified_ms))

    def log_origin(self) -> str | None:
        """The log origin pinned on first use (for configs without ``log_origin``), or ``None``."""
        with self._lock:
            origin: str | None = self._conn.execute("SELECT log_origin FROM kiosk_state").fetchone()[0]
            return origin

    def save_log_checkpoint(self, update: LogUpdate) -> bool:
        """Store a verified checkpoint without a receipt (a sync with nothing to send); False if skipped."""
        with self._lock, _immediate(self._conn):
            return self._put_log_checkpoint(update, self._now_ms())

    def _put_log_checkpoint(self, update: LogUpdate, now_ms: int) -> bool:
        """Inside a transaction: replace the stored checkpoint if it is still ``update.replaces``."""
        conn = self._conn
        row = conn.execute("SELECT size, root FROM log_checkpoint").fetchone()
        stored = None if row is None else (int(row[0]), bytes(row[1]))
        expected = update.replaces
        if stored != (None if expected is None else (expected.size, expected.root)):
            # Another process verified and stored a checkpoint meanwhile; ours was not checked against it.
            log.warning("the stored log checkpoint changed during the sync round; keeping the stored one")
            return False
        if expected is not None and expected.note == update.note:
            return True  # the same tree head again: keep when it was first verified
        cp = update.checkpoint
        conn.execute(
            "INSERT OR REPLACE INTO log_checkpoint (id, origin, size, root, note, verified_ms) "
            "VALUES (1, ?, ?, ?, ?, ?)",
            (cp.origin, cp.size, cp.root_hash, update.note.decode(), now_ms),
        )
        # Trust on first use: the first origin that verified with the server key stays pinned.
        conn.execute("UPDATE kiosk_state SET log_origin = COALESCE(log_origin, ?) WHERE id = 1", (cp.origin,))
        return True

    def record_log_inconsistency(
        self, *, old_note: bytes, new_note: bytes, consistency: list[str], detail: str
    ) -> LogEvidence:
        """Set the ``log_inconsistent`` alarm and keep the evidence, in one transaction; sync halts."""
        now = self._now_ms()
        with self._lock, _immediate(self._conn):
            conn = self._conn
            cursor = conn.execute(
                "INSERT INTO log_evidence (kind, old_checkpoint, new_checkpoint, consistency, detail, "
                "detected_ms) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    Reason.LOG_INCONSISTENT.value,
                    old_note.decode("utf-8", "replace"),
                    new_note.decode("utf-8", "replace"),
                    json.dumps(consistency),
                    detail,
                    now,
                ),
            )
            conn.execute(
                "UPDATE kiosk_state SET alarm = ?, alarm_code = ? WHERE id = 1",
                (detail, Reason.LOG_INCONSISTENT.value),
            )
            evidence_id = cursor.lastrowid
        assert evidence_id is not None
        return LogEvidence(
            evidence_id,
            Reason.LOG_INCONSISTENT.value,
            old_note.decode("utf-8", "replace"),
            new_note.decode("utf-8", "replace"),
            list(consistency),
            detail,
            now,
            None,
        )

    def evidence(self, *, unreported: bool = False) -> list[LogEvidence]:
        """Stored log evidence, oldest first (only what the server has not acknowledged, if asked)."""
        query = (
            "SELECT id, kind, old_checkpoint, new_checkpoint, consistency, detail, detected_ms, reported_ms "
            "FROM log_evidence"
        )
        if unreported:
            query += " WHERE reported_ms IS NULL"
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY id").fetchall()
        return [
            LogEvidence(
                int(i), str(kind), str(old), str(new), list(json.loads(proof)), str(detail), int(at), reported
            )
            for i, kind, old, new, proof, detail, at, reported in rows
        ]

    def mark_evidence_reported(self, evidence_id: int) -> None:
        """The server acknowledged evidence ``evidence_id`` (``202``)."""
        with self._lock, _immediate(self._conn):
            self._conn.execute(
                "UPDATE log_evidence SET reported_ms = ? WHERE id = ? AND reported_ms IS NULL",
                (self._now_ms(), evidence_id),
            )

    # -- the trust list (written by sync, read by the tap path) ------------------------------------

    def save_trust_list(self, wire: dict[str, str], issued_ms: int) -> bool:
        """Keep ``wire`` (already verified by the caller) unless the stored list is newer.

        Returns ``False`` and changes nothing for a list older than the stored one, so a
        replayed list can never unblock a card.  An equal ``issued_ms`` is a no-op success.
        """
        with self._lock, _immediate(self._conn):
            return self._put_trust_list(wire, issued_ms)

    def _put_trust_list(self, wire: dict[str, str], issued_ms: int, *, resigned: bool = False) -> bool:
        """Inside a transaction: keep ``wire`` unless the stored list is newer (:meth:`save_trust_list`).

        ``resigned``: the list of the same ``issued_ms`` replaces the stored one too, for a
        rotation, where it comes signed by the new key (the server never reuses an ``issued_ms``
        for another list, so this rolls nothing back).
        """
        row = self._conn.execute("SELECT issued_ms FROM trust_list").fetchone()
        if row is not None and row[0] > issued_ms:
            return False
        if row is None or row[0] < issued_ms or resigned:
            self._conn.execute(
                "INSERT OR REPLACE INTO trust_list (id, issued_ms, wire, received_ms) VALUES (1, ?, ?, ?)",
                (issued_ms, json.dumps(wire, sort_keys=True), self._now_ms()),
            )
        return True

    def trust_list_issued_ms(self) -> int | None:
        """``issued_ms`` of the stored trust list; one indexed read, so callers can cache the parse."""
        with self._lock:
            row = self._conn.execute("SELECT issued_ms FROM trust_list").fetchone()
            return None if row is None else int(row[0])

    def trust_list(self) -> tuple[int, dict[str, Any]] | None:
        """``(issued_ms, wire)`` of the stored trust list, or ``None`` before the first one."""
        with self._lock:
            row = self._conn.execute("SELECT issued_ms, wire FROM trust_list").fetchone()
            return None if row is None else (int(row[0]), json.loads(row[1]))

    def trust_version(self) -> tuple[int | None, str | None]:
        """``(issued_ms of the stored list, base64 of the pinned server key)``, in one statement.

        What a reader of the trust list caches its verified parse against: either changes when
        a rotation is followed, and one statement sees both from the same commit.
        """
        with self._lock:
            issued, key = self._conn.execute(
                "SELECT (SELECT issued_ms FROM trust_list), (SELECT public_key FROM server_key)"
            ).fetchone()
        return (None if issued is None else int(issued)), (None if key is None else str(key))

    def trust_list_and_key(self) -> tuple[tuple[int, dict[str, Any]] | None, PublicKey | None]:
        """The stored trust list (as :meth:`trust_list`) and the pinned server key, from one snapshot.

        One read transaction, so a list stored together with a new key (:meth:`pin_server_key`)
        is never paired with the key before it.
        """
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN")
            try:
                row = conn.execute("SELECT issued_ms, wire FROM trust_list").fetchone()
                key = conn.execute("SELECT public_key FROM server_key").fetchone()
            finally:
                conn.execute("COMMIT")
        stored = None if row is None else (int(row[0]), json.loads(row[1]))
        return stored, (None if key is None else PublicKey.from_b64(key[0], field="server_key"))

    # -- the server key (pinned at enrolment; moved on by a followed rotation, terminal.serverkey) -------

    def server_key(self) -> PublicKey | None:
        """The server key pinned by a followed rotation, or ``None``: the enrolled key still holds.

        Read from disk every time: the other process (screen or sync service) may have pinned
        a new key since.
        """
        with self._lock:
            row = self._conn.execute("SELECT public_key FROM server_key").fetchone()
        return None if row is None else PublicKey.from_b64(row[0], field="server_key")

    def server_key_pinned_ms(self) -> int | None:
        """When the current server key was pinned (our clock), or ``None`` for the enrolled key."""
        with self._lock:
            row = self._conn.execute("SELECT pinned_ms FROM server_key").fetchone()
        return None if row is None else int(row[0])

    def pin_server_key(
        self,
        key: PublicKey,
        *,
        replaces: PublicKey | None,
        trust_wire: dict[str, str],
        trust_issued_ms: int,
    ) -> bool:
        """Pin ``key`` and store the trust list it signed, in ONE transaction; ``False``: nothing changed.

        The caller has followed a transition chain to ``key`` and verified ``trust_wire``
        with it.  Both go in together so no reader (the tap path, maybe in another
        process) ever sees the new key with only the old key's list, which would
        verify as no list at all.  ``replaces`` is the pin the chain was followed from
        (:meth:`server_key`; ``None``: the enrolled key): if another process pinned a
        different key meanwhile, nothing is written.  If it already pinned ``key``, only
        the list is stored (as :meth:`save_trust_list` would).  A list older than the
        stored one refuses the whole pin: the server never hands out an older
        ``issued_ms``, so that list is a replay and the kiosk keeps its key.
        """
        encoded = key.to_b64()
        with self._lock, _immediate(self._conn):
            conn = self._conn
            row = conn.execute("SELECT public_key FROM server_key").fetchone()
            stored = None if row is None else str(row[0])
            if stored == encoded:
                return self._put_trust_list(trust_wire, trust_issued_ms, resigned=True)
            if stored != (None if replaces is None else replaces.to_b64()):
                log.warning("another process pinned a different server key meanwhile; keeping that one")
                return False
            if not self._put_trust_list(trust_wire, trust_issued_ms, resigned=True):
                return False
            conn.execute(
                "INSERT OR REPLACE INTO server_key (id, public_key, previous, pinned_ms) VALUES (1, ?, ?, ?)",
                (encoded, stored, self._now_ms()),
            )
            return True

    # -- balances (written by sync from verified sheets, read at check-out) ----------------------------

    def save_balances(self, sheet: BalanceSheet) -> int:
        """Keep each balance of ``sheet`` (already verified by the caller); how many rows changed.

        A row is replaced only by a balance as of the same or a later server time, so a
        sheet that arrives late (or is replayed) never turns a balance back.  One transaction.
        """
        with self._lock, _immediate(self._conn):
            return self._put_balances(sheet)

    def _put_balances(self, sheet: BalanceSheet) -> int:
        """Inside a transaction: keep each balance of ``sheet`` unless a newer one is stored."""
        rows = [(card_id, balance, sheet.as_of_ms) for card_id, balance in sorted(sheet.balances.items())]
        before = self._conn.total_changes
        self._conn.executemany(
            "INSERT INTO balances (card_id, balance, as_of_ms) VALUES (?, ?, ?) "
            "ON CONFLICT (card_id) DO UPDATE SET balance = excluded.balance, "
            "as_of_ms = excluded.as_of_ms WHERE excluded.as_of_ms >= balances.as_of_ms",
            rows,
        )
        return self._conn.total_changes - before

    def balance(self, card_id: str) -> tuple[int, int] | None:
        """``(balance, as_of_ms)`` of ``card_id`` from the last sheet that named it, or ``None``.

        Called on the tap path: one read by primary key, no transaction of its own.
        ``as_of_ms`` is the server's clock when it computed the balance.
        """
        with self._lock:
            row = self._conn.execute(
                "SELECT balance, as_of_ms FROM balances WHERE card_id = ?", (card_id,)
            ).fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    # -- redemptions (a shop terminal; terminal.redemptions has the rules) ------------------------------

    def redemption(self, redemption_id: str) -> RedemptionRecord | None:
        """The redemption ``redemption_id`` as this terminal recorded it, or ``None``."""
        with self._lock:
            return redemptions.get(self._conn, redemption_id)

    def recent_redemptions(self, limit: int = 10) -> list[RedemptionRecord]:
        """This terminal's newest redemptions first (pruned with the synced events they name)."""
        with self._lock:
            return redemptions.recent(self._conn, limit)

    def event_result(self, seq: int) -> EventResult | None:
        """The server's result for this terminal's redeem or void event ``seq``, once a receipt covered it."""
        with self._lock:
            return redemptions.results_for(self._conn, [seq]).get(seq)

    def offline_usage(self, card_id: str, day: str, *, exclude: str | None = None) -> OfflineUsage:
        """Confirmed balance, pending redemptions and the ``day``'s offline total, as one snapshot.

        One read transaction: a sync in another process cannot move the confirmed balance
        between reading it and reading what is pending against it.  ``exclude`` leaves one
        redemption out (the one being decided).
        """
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN")
            try:
                return redemptions.usage(
                    conn, card_id=card_id, day=day, synced_seq=self._synced_seq(), exclude=exclude
                )
            finally:
                conn.execute("COMMIT")

    def offline_total(self, day: str) -> int:
        """This terminal's offline redemptions on the local ``day`` (``YYYY-MM-DD``), in tokens."""
        with self._lock:
            return redemptions.offline_total(self._conn, day)

    # -- sync rounds, shared with the screen -----------------------------------------------------------

    def record_sync_round(self, error: str | None, now_ms: int | None = None) -> None:
        """Note how a sync round ended, for the screen's online/offline line (another process, maybe)."""
        with self._lock, _immediate(self._conn):
            self._conn.execute(
                "UPDATE kiosk_state SET sync_round_ms = ?, sync_round_error = ?",
                (self._now_ms() if now_ms is None else now_ms, error),
            )

    def request_sync(self) -> int:
        """Ask the sync side for a round now ("sync now" on the screen); returns the request's time."""
        now = self._now_ms()
        with self._lock, _immediate(self._conn):
            self._conn.execute("UPDATE kiosk_state SET sync_requested_ms = ?", (now,))
        return now

    def sync_requested_ms(self) -> int | None:
        """When a round was last asked for, or ``None``; one read of one row."""
        with self._lock:
            value = self._conn.execute("SELECT sync_requested_ms FROM kiosk_state").fetchone()[0]
        return None if value is None else int(value)

    def record_reader_status(self, status: str) -> None:
        """Note the reader's status (``ok``, ``missing``, ``error``) for heartbeats; writes on change only."""
        with self._lock:
            if status == self._reader_status:
                return
            with _immediate(self._conn):
                self._conn.execute("UPDATE kiosk_state SET reader_status = ?", (status,))
            self._reader_status = status

    def reader_status(self) -> str:
        """The reader's status as the tap loop last noted it (any process), or ``unknown``."""
        with self._lock:
            row = self._conn.execute("SELECT reader_status FROM kiosk_state").fetchone()
        return str(row[0]) if row is not None and row[0] else "unknown"

    def record_clock_offset(self, offset_ms: int, now_ms: int | None = None) -> None:
        """Keep the clock offset the server measured at a heartbeat (``server − kiosk``, in ms)."""
        with self._lock, _immediate(self._conn):
            self._conn.execute(
                "UPDATE kiosk_state SET clock_offset_ms = ?, heartbeat_ms = ?",
                (offset_ms, self._now_ms() if now_ms is None else now_ms),
            )

    def status(self) -> OutboxStatus:
        with self._lock:
            (last_seq, head, synced, last_sync, last_receipt, alarm, log_origin, round_ms, round_error) = (
                self._conn.execute(
                    "SELECT last_seq, head, synced_seq, last_sync_ms, last_receipt, alarm, log_origin, "
                    "sync_round_ms, sync_round_error FROM kiosk_state"
                ).fetchone()
            )
            offset_ms, heartbeat_ms = self._conn.execute(
                "SELECT clock_offset_ms, heartbeat_ms FROM kiosk_state"
            ).fetchone()
            pinned = self._conn.execute("SELECT public_key, pinned_ms FROM server_key").fetchone()
            return OutboxStatus(
                last_seq=last_seq,
                head=head,
                synced_seq=synced,
                pending=last_seq - synced,
                open_shifts=self._conn.execute("SELECT COUNT(*) FROM open_shifts").fetchone()[0],
                oldest_seq=self.oldest_seq(),
                last_sync_ms=last_sync,
                last_receipt=json.loads(last_receipt) if last_receipt else None,
                alarm=alarm,
                trust_issued_ms=self.trust_list_issued_ms(),
                alarm_code=self.alarm_code,
                log=self.log_checkpoint(),
                log_origin=log_origin,
                evidence=self._conn.execute("SELECT COUNT(*) FROM log_evidence").fetchone()[0],
                sync_round_ms=round_ms,
                sync_round_error=round_error,
                clock_offset_ms=offset_ms,
                heartbeat_ms=heartbeat_ms,
                server_key=pinned[0] if pinned else None,
                server_key_pinned_ms=pinned[1] if pinned else None,
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
