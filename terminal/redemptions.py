"""A shop terminal's redemption records in the outbox: what the till did, what the server answered.

The outbox (:mod:`terminal.outbox`) owns the SQLite connection and the
transactions; this module holds the redemption rows' shape, the rule that
turns a row's events and their results into a state, and the arithmetic of
offline usage (``docs/economy.md``, "Offline").  Everything here runs inside a
transaction the outbox opened, so a redeem or void event and its row change,
or a receipt and the results that came with it, are stored together.

One row per redemption ID (``r_…``).  It names up to three of the terminal's
own events: the ``online`` redeem (``"online": true``), the ``offline`` redeem
with the same ID (the fallback, or the only one when the terminal knew it was
offline) and a ``void``.  ``decision`` is what the till settled on:

* ``online``: it asked the server (the row stays ``pending`` until the answer);
* ``offline``: it accepted the redemption within its offline limits;
* ``offline_limit``: the offline limits refused it and it voided the online
  attempt, so a debit whose answer was lost is returned.

Results (``seq``, ``status``, ``flags``) are kept for redeem and void events
only; ``protocol.moved_tokens`` reads the flags.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from protocol import Reason, moved_tokens, refusal


class TillDecision(StrEnum):
    """What the till settled on for a redemption (see the module docstring)."""

    ONLINE = "online"
    OFFLINE = "offline"
    OFFLINE_LIMIT = "offline_limit"


class RedemptionState(StrEnum):
    """Where a redemption stands, from the till's decision and the server's results so far."""

    PENDING = "pending"  # asked online, no answer yet (the till falls back at once, so only after a crash)
    PAID = "paid"  # the server debited it (online, or an offline one at reconciliation)
    PAID_OFFLINE = "paid_offline"  # accepted offline; the server has not answered yet
    DECLINED = "declined"  # refused online (``reason``): nothing moved
    REFUSED = "refused"  # accepted offline, refused at reconciliation (``reason``, e.g. card_blocked)
    OFFLINE_LIMIT = "offline_limit"  # refused by the offline limits; the online attempt is voided
    VOID_PENDING = "void_pending"  # voided on the till; the server has not answered yet
    VOIDED = "voided"  # the server credited the void (or another terminal voided it first)
    VOID_REFUSED = "void_refused"  # the server refused the void (``reason``, e.g. void_too_late)


# States in which the goods went out and nothing was credited back yet: what a void may undo.
DEBITED_STATES: Final = frozenset(
    {RedemptionState.PENDING, RedemptionState.PAID, RedemptionState.PAID_OFFLINE}
)


@dataclass(frozen=True, slots=True)
class EventResult:
    """The server's answer for one of this terminal's events: ``status`` and ``flags`` (reason codes)."""

    seq: int
    status: str
    flags: tuple[str, ...]

    @property
    def moved(self) -> bool:
        """Whether tokens moved (debited or credited back): no refusing flag."""
        return moved_tokens(self.flags)


@dataclass(frozen=True, slots=True)
class RedemptionRecord:
    """One redemption as the outbox keeps it; ``day`` is the local (Europe/Berlin) date it was made."""

    redemption_id: str
    card_id: str
    amount: int
    created_ms: int
    day: str
    online_seq: int | None
    offline_seq: int | None
    void_seq: int | None
    decision: TillDecision
    state: RedemptionState
    reason: str | None


@dataclass(frozen=True, slots=True)
class OfflineUsage:
    """One consistent snapshot of what the offline rules need for a card at this terminal.

    ``confirmed`` is ``(balance, as_of_ms)`` from the last signed balance sheet
    that named the card (``None``: never seen here).  ``pending`` is the sum of
    the card's redemptions here that no receipt covers yet, each ID once, those
    voided here left out (:func:`pending_amount`).  ``today`` is this
    terminal's offline total on ``day``.
    """

    confirmed: tuple[int, int] | None
    pending: int
    today: int


SCHEMA: Final = (
    """CREATE TABLE redemptions (
        redemption_id TEXT PRIMARY KEY,
        card_id TEXT NOT NULL,
        amount INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        day TEXT NOT NULL,
        online_seq INTEGER,
        offline_seq INTEGER,
        void_seq INTEGER,
        decision TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT
    )""",
    "CREATE INDEX redemptions_card ON redemptions (card_id)",
    "CREATE INDEX redemptions_day ON redemptions (day)",
    "CREATE INDEX redemptions_created ON redemptions (created_ms)",
    """CREATE TABLE event_results (
        seq INTEGER PRIMARY KEY,
        status TEXT NOT NULL,
        flags TEXT NOT NULL
    )""",
)

_COLUMNS: Final = (
    "redemption_id, card_id, amount, created_ms, day, online_seq, offline_seq, void_seq, "
    "decision, state, reason"
)


def _record(row: Sequence[Any]) -> RedemptionRecord:
    rid, card, amount, created, day, online, offline, void, decision, state, reason = row
    return RedemptionRecord(
        redemption_id=str(rid),
        card_id=str(card),
        amount=int(amount),
        created_ms=int(created),
        day=str(day),
        online_seq=None if online is None else int(online),
        offline_seq=None if offline is None else int(offline),
        void_seq=None if void is None else int(void),
        decision=TillDecision(str(decision)),
        state=RedemptionState(str(state)),
        reason=None if reason is None else str(reason),
    )


def _flags(text: str) -> tuple[str, ...]:
    return tuple(flag for flag in text.split(",") if flag)


# -- the state rule ----------------------------------------------------------------------------------


def _debit(record: RedemptionRecord, results: Mapping[int, EventResult]) -> tuple[bool | None, str | None]:
    """Whether the redemption's debit happened: ``True``, ``False`` (with the refusal) or ``None`` (unknown).

    ``already_redeemed`` on one of our own redeems means an earlier one with this
    ID, ours, was debited: the online attempt whose answer was lost.
    """
    seqs = [s for s in (record.online_seq, record.offline_seq) if s is not None]
    known = [results[s] for s in seqs if s in results]
    if any(r.moved or Reason.ALREADY_REDEEMED.value in r.flags for r in known):
        return True, None
    if seqs and len(known) == len(seqs):
        return False, refusal(known[-1].flags)
    return None, None


def derive_state(
    record: RedemptionRecord, results: Mapping[int, EventResult]
) -> tuple[RedemptionState, str | None]:
    """``(state, reason)`` of ``record`` given the results known so far (see :class:`RedemptionState`)."""
    if record.decision is TillDecision.OFFLINE_LIMIT:
        return RedemptionState.OFFLINE_LIMIT, Reason.OFFLINE_LIMIT.value
    if record.void_seq is not None:
        void = results.get(record.void_seq)
        if void is None:
            return RedemptionState.VOID_PENDING, None
        if void.moved or Reason.ALREADY_VOIDED.value in void.flags:
            return RedemptionState.VOIDED, None
        return RedemptionState.VOID_REFUSED, refusal(void.flags)
    debited, why = _debit(record, results)
    if debited:
        return RedemptionState.PAID, None
    if debited is False:
        state = (
            RedemptionState.DECLINED if record.decision is TillDecision.ONLINE else RedemptionState.REFUSED
        )
        return state, why
    if record.decision is TillDecision.ONLINE:
        return RedemptionState.PENDING, None
    return RedemptionState.PAID_OFFLINE, None


def pending_amount(
    records: Iterable[RedemptionRecord], results: Mapping[int, EventResult], synced_seq: int
) -> int:
    """What ``records`` (one card's) may still take off the card's confirmed balance.

    A redemption whose redeem events a receipt does not cover yet counts its
    amount once (an online attempt and its offline fallback are one ID), unless
    a covered result shows the debit is already in the confirmed balance, or
    it was voided here: the void reaches the server after it, so the two net
    out.  A void of a redemption the confirmed balance already holds gives
    nothing back until the server confirms the credit; the offline bound of
    ``docs/economy.md`` then holds even if that void is refused.
    """
    total = 0
    for record in records:
        seqs = [s for s in (record.online_seq, record.offline_seq) if s is not None]
        in_balance = any(
            s <= synced_seq
            and s in results
            and (results[s].moved or Reason.ALREADY_REDEEMED.value in results[s].flags)
            for s in seqs
        )
        uncovered = any(s > synced_seq for s in seqs)
        if uncovered and not in_balance and record.void_seq is None:
            total += record.amount
    return total


# -- inside the outbox's transactions ----------------------------------------------------------------


def get(conn: sqlite3.Connection, redemption_id: str) -> RedemptionRecord | None:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM redemptions WHERE redemption_id = ?", (redemption_id,)
    ).fetchone()
    return None if row is None else _record(row)


def recent(conn: sqlite3.Connection, limit: int) -> list[RedemptionRecord]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM redemptions ORDER BY created_ms DESC, rowid DESC LIMIT ?", (limit,)
    ).fetchall()
    return [_record(row) for row in rows]


def results_for(conn: sqlite3.Connection, seqs: Iterable[int]) -> dict[int, EventResult]:
    wanted = sorted(set(seqs))
    if not wanted:
        return {}
    marks = ",".join("?" * len(wanted))
    rows = conn.execute(f"SELECT seq, status, flags FROM event_results WHERE seq IN ({marks})", wanted)
    return {int(seq): EventResult(int(seq), str(status), _flags(str(flags))) for seq, status, flags in rows}


def _seqs(record: RedemptionRecord) -> list[int]:
    return [s for s in (record.online_seq, record.offline_seq, record.void_seq) if s is not None]


def settle(conn: sqlite3.Connection, redemption_id: str) -> None:
    """Recompute and store the row's state from its events and their results (idempotent)."""
    record = get(conn, redemption_id)
    if record is None:
        return
    state, reason = derive_state(record, results_for(conn, _seqs(record)))
    conn.execute(
        "UPDATE redemptions SET state = ?, reason = ? WHERE redemption_id = ?",
        (state.value, reason, redemption_id),
    )


def add_redeem(
    conn: sqlite3.Connection,
    *,
    redemption_id: str,
    card_id: str,
    amount: int,
    seq: int,
    online: bool,
    created_ms: int,
    day: str,
) -> None:
    """Record redeem event ``seq``: a new row, or the offline fallback of an online attempt.

    Raises ``ValueError`` for a second redeem that does not match the first (another card or
    amount, a second online attempt, one after a void): the server would flag it
    ``redemption_mismatch`` and the till never builds one.
    """
    record = get(conn, redemption_id)
    if record is None:
        conn.execute(
            "INSERT INTO redemptions (redemption_id, card_id, amount, created_ms, day, online_seq, "
            "offline_seq, decision, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                redemption_id,
                card_id,
                amount,
                created_ms,
                day,
                seq if online else None,
                None if online else seq,
                TillDecision.ONLINE.value if online else TillDecision.OFFLINE.value,
                RedemptionState.PENDING.value,
            ),
        )
    elif (
        online
        or record.offline_seq is not None
        or record.void_seq is not None
        or (record.card_id, record.amount) != (card_id, amount)
    ):
        raise ValueError(f"redemption {redemption_id} cannot take another redeem")
    else:
        conn.execute(
            "UPDATE redemptions SET offline_seq = ?, decision = ? WHERE redemption_id = ?",
            (seq, TillDecision.OFFLINE.value, redemption_id),
        )
    settle(conn, redemption_id)


def add_void(
    conn: sqlite3.Connection, *, redemption_id: str, card_id: str, seq: int, offline_limit: bool
) -> None:
    """Record void event ``seq`` for a redemption this terminal made; ``ValueError`` if it cannot be one."""
    record = get(conn, redemption_id)
    if record is None or record.void_seq is not None or record.card_id != card_id:
        raise ValueError(f"redemption {redemption_id} is not this terminal's, or was voided already")
    decision = TillDecision.OFFLINE_LIMIT if offline_limit else record.decision
    conn.execute(
        "UPDATE redemptions SET void_seq = ?, decision = ? WHERE redemption_id = ?",
        (seq, decision.value, redemption_id),
    )
    settle(conn, redemption_id)


def put_results(conn: sqlite3.Connection, results: Iterable[EventResult]) -> int:
    """Store ``results`` and settle the redemptions they belong to; how many results were stored."""
    stored = 0
    for result in results:
        conn.execute(
            "INSERT INTO event_results (seq, status, flags) VALUES (?, ?, ?) "
            "ON CONFLICT (seq) DO UPDATE SET status = excluded.status, flags = excluded.flags",
            (result.seq, result.status, ",".join(result.flags)),
        )
        stored += 1
        touched = conn.execute(
            "SELECT redemption_id FROM redemptions WHERE online_seq = ? OR offline_seq = ? OR void_seq = ?",
            (result.seq, result.seq, result.seq),
        ).fetchall()
        for (redemption_id,) in touched:
            settle(conn, str(redemption_id))
    return stored


def usage(
    conn: sqlite3.Connection, *, card_id: str, day: str, synced_seq: int, exclude: str | None
) -> OfflineUsage:
    """The :class:`OfflineUsage` of ``card_id`` on ``day``; ``exclude`` leaves one redemption out."""
    row = conn.execute("SELECT balance, as_of_ms FROM balances WHERE card_id = ?", (card_id,)).fetchone()
    confirmed = None if row is None else (int(row[0]), int(row[1]))
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM redemptions WHERE card_id = ? AND redemption_id IS NOT ? "
        "AND MAX(COALESCE(online_seq, 0), COALESCE(offline_seq, 0), COALESCE(void_seq, 0)) > ?",
        (card_id, exclude, synced_seq),
    ).fetchall()
    records = [_record(r) for r in rows]
    results = results_for(conn, (s for record in records for s in _seqs(record)))
    pending = pending_amount(records, results, synced_seq)
    return OfflineUsage(confirmed=confirmed, pending=pending, today=offline_total(conn, day))


def offline_total(conn: sqlite3.Connection, day: str) -> int:
    """This terminal's offline redemptions on ``day`` (signed ``"online": false``), voided or not."""
    value = conn.execute(
        "SELECT COALESCE(SUM(amount), 0) FROM redemptions WHERE day = ? AND offline_seq IS NOT NULL", (day,)
    ).fetchone()[0]
    return int(value)


def forget_cards(conn: sqlite3.Connection, *, synced_seq: int, before_ms: int) -> int:
    """Blank the card of redemptions no longer needing it: all events covered, made before ``before_ms``.

    The card ID is what the offline rules (pending amounts) and a void need; once a
    receipt covers every event of the redemption and it is older than any void window
    (the caller passes ``now - MAX_VOID_WINDOW_S``), the till needs it no more and keeps
    no card-to-purchase link.  Returns how many rows were blanked.
    """
    cursor = conn.execute(
        "UPDATE redemptions SET card_id = '' WHERE card_id != '' AND created_ms < ? "
        "AND MAX(COALESCE(online_seq, 0), COALESCE(offline_seq, 0), COALESCE(void_seq, 0)) <= ?",
        (before_ms, synced_seq),
    )
    return int(cursor.rowcount)


def prune(conn: sqlite3.Connection) -> None:
    """Forget redemptions and results whose events the outbox pruned (synced, past both retention limits)."""
    oldest = "(SELECT COALESCE(MIN(seq), 0) FROM events)"
    conn.execute(
        "DELETE FROM redemptions "
        f"WHERE MAX(COALESCE(online_seq, 0), COALESCE(offline_seq, 0), COALESCE(void_seq, 0)) < {oldest}"
    )
    conn.execute(f"DELETE FROM event_results WHERE seq < {oldest}")
