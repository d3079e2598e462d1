"""Re-check the whole stored ledger from the stored bytes alone, and against its own log.

``GET /v1/admin/verify`` runs :func:`verify_ledger`: for each kiosk it re-reads
every event as stored, re-parses it strictly, re-checks the signature with the
kiosk's enrolled key, the ``seq`` contiguity from 1 and every ``prev`` link,
and finally that the kiosk's recorded head matches.  Nothing derived (flags,
shifts, the ``hash`` column) is trusted.

:func:`verify_store` (``kokreativ server verify-store``) compares the database
with the transparency log it publishes: every stored event is logged, at its
index and byte for byte, and nothing else is; every stored balance is the sum of
its ledger entries.  After a log hand-over, events stored before it are found
in the archived origin, and a v1 event admitted after it by the event hash its
``event_sealed`` entry names.  In a log that names no card it also checks what
the entries no longer show against ``openings``: each event's opening opens its
entry's commitment and its exact receipt time falls in the entry's day, each
entry's ``issued``/``redeemed`` there are its ledger entries', and the ``totals``
entries cover the log without gap, each with its range's ledger moves.  An
outside auditor cannot see the database, only the log
(``provisioning.audit``), so these cross-checks are the operator's.

:func:`check_chain` is the pure core, usable on events from any source.
Verification fails closed: an empty ledger is ``ok`` only because there is
nothing to doubt, and each problem names the kiosk, the ``seq`` and a reason code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from protocol import GENESIS_PREV, ProtocolError, PublicKey, Reason, event_hash, parse_event, verify_event
from protocol.commitments import Opening
from protocol.logentry import parse_entry, public_day
from server.models import LogOpening, StoredEvent
from server.storage import ReadTx, Storage

_SCAN: Final = 4096  # log entries read per query


@dataclass(frozen=True, slots=True)
class Problem:
    kiosk_id: str
    seq: int
    reason: Reason

    def to_json(self) -> dict[str, Any]:
        return {"kiosk_id": self.kiosk_id, "seq": self.seq, "reason": self.reason.value}


@dataclass(frozen=True, slots=True)
class VerifyReport:
    events: int
    kiosks: int
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "kiosks": self.kiosks,
            "problems": [problem.to_json() for problem in self.problems],
        }


def check_chain(
    kiosk_id: str, key: PublicKey, events: Iterable[StoredEvent], *, last_seq: int, head: str
) -> tuple[int, list[Problem]]:
    """Check one kiosk's stored chain; return how many events were read and the problems found."""
    problems: list[Problem] = []
    expected_seq, prev_hash, count = 1, GENESIS_PREV, 0
    for stored in events:
        count += 1
        actual_hash = event_hash(stored.body)
        if stored.seq != expected_seq:
            problems.append(Problem(kiosk_id, stored.seq, Reason.SEQUENCE_GAP))
        try:
            signed = verify_event(stored.body, stored.sig, key)
        except ProtocolError as exc:
            problems.append(Problem(kiosk_id, stored.seq, exc.reason))
        else:
            event = signed.event
            if event.kiosk != kiosk_id:
                problems.append(Problem(kiosk_id, stored.seq, Reason.KIOSK_MISMATCH))
            if event.seq != stored.seq:
                problems.append(Problem(kiosk_id, stored.seq, Reason.SEQUENCE_GAP))
            # A wrong derived hash column matters only for an authentic body (else it is already named).
            if event.prev != prev_hash or stored.hash != actual_hash:
                problems.append(Problem(kiosk_id, stored.seq, Reason.CHAIN_BROKEN))
        expected_seq, prev_hash = stored.seq + 1, actual_hash
    held = expected_seq - 1
    if held != last_seq:
        problems.append(Problem(kiosk_id, last_seq, Reason.SEQUENCE_GAP))
    elif head != prev_hash:
        problems.append(Problem(kiosk_id, last_seq, Reason.CHAIN_BROKEN))
    return count, problems


def verify_ledger(storage: Storage) -> VerifyReport:
    """Verify every kiosk's chain in ``storage`` (one consistent snapshot)."""
    total, problems = 0, []
    with storage.read() as tx:
        kiosks = tx.list_kiosks()
        for kiosk in kiosks:
            count, found = check_chain(
                kiosk.kiosk_id,
                PublicKey(kiosk.public_key),
                tx.iter_events(kiosk.kiosk_id),
                last_seq=kiosk.last_seq,
                head=kiosk.head,
            )
            total += count
            problems.extend(found)
    return VerifyReport(events=total, kiosks=len(kiosks), problems=problems)


@dataclass(frozen=True, slots=True)
class StoreProblem:
    """Where the database and its log disagree: a code, and what it is about."""

    code: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class StoreReport:
    entries: int
    events: int
    problems: list[StoreProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "events": self.events,
            "problems": [problem.to_json() for problem in self.problems],
        }


@dataclass(slots=True)
class _Private:
    """What a log that names no card keeps off its entries, gathered while scanning them."""

    refs: dict[int, tuple[str, str, int]] = field(default_factory=dict)  # index -> (kind, ref, day)
    totals: list[dict[str, Any]] = field(default_factory=list)


def _logged_events(
    tx: ReadTx, size: int, problems: list[StoreProblem], private: _Private | None = None
) -> dict[tuple[str, int], tuple[int, str]]:
    """``(kiosk, seq) -> (log index, event hash)`` of every event entry in the log's first ``size``.

    After a log hand-over (:mod:`server.handover`) the events stored before it are
    in the archived origin, where a stored ``log_index`` of ``i`` names its entry
    ``i + old size``; a v1 event admitted after it is an ``event_sealed`` entry,
    which names the event's kiosk, seq and hash instead of its bytes.
    """
    logged: dict[tuple[str, int], tuple[int, str]] = {}
    moved = tx.handover()
    if moved is not None:
        old_origin, old_size = moved[0], moved[1]

        def archived(start: int, end: int) -> list[bytes]:
            return tx.archived_entry_range(old_origin, start, end)

        _scan(archived, old_size, -old_size, f"archived log {old_origin!r}: ", logged, problems)
    _scan(tx.tlog_entry_range, size, 0, "", logged, problems, private)
    return logged


def _scan(
    read: Callable[[int, int], list[bytes]],
    size: int,
    shift: int,
    where: str,
    logged: dict[tuple[str, int], tuple[int, str]],
    problems: list[StoreProblem],
    private: _Private | None = None,
) -> None:
    """Add the events of the ``size`` entries ``read`` gives to ``logged``, at their index plus ``shift``.

    With ``private``, gather the commitments of entry v2 events and the ``totals`` entries into it.
    """
    for start in range(0, size, _SCAN):
        rows = read(start, min(size, start + _SCAN))
        if len(rows) != min(size, start + _SCAN) - start:
            problems.append(StoreProblem("missing_entry", f"{where}log entries from {start} on are missing"))
            break
        for index, data in enumerate(rows, start):
            sealed = b'"kind":"event_sealed"' in data
            if private is not None and b'"kind":"totals"' in data:
                private.totals.append({"index": index, **parse_entry(data)})
                continue
            if not sealed and b'"kind":"event"' not in data:
                continue
            try:
                entry = parse_entry(data)
                if sealed:
                    logged[(entry["kiosk"], entry["seq"])] = (index + shift, entry["hash"])
                    if private is not None:
                        private.refs[index] = ("event_sealed", entry["ref"], entry["received_ms"])
                    continue
                event = parse_event(entry["body"])
            except ProtocolError as exc:
                problems.append(StoreProblem(exc.reason.value, f"{where}log entry {index} does not parse"))
                continue
            logged[(event.kiosk, event.seq)] = (index + shift, event_hash(entry["body"]))
            if private is not None and event.ref is not None and entry["v"] != 1:
                private.refs[index] = ("event", event.ref, entry["received_ms"])


def verify_store(storage: Storage) -> StoreReport:
    """Compare the database with its own log (one snapshot); see the module docstring."""
    problems: list[StoreProblem] = []
    stored_count = 0
    with storage.read() as tx:
        size = tx.tlog_size()
        private = _Private()
        logged = _logged_events(tx, size, problems, private)
        _check_private(tx, private, size, problems)
        for kiosk in tx.list_kiosks():
            for seq, held in sorted(tx.stored_events(kiosk.kiosk_id, 1, kiosk.last_seq).items()):
                stored_count += 1
                found = logged.pop((kiosk.kiosk_id, seq), None)
                where = f"kiosk {kiosk.kiosk_id} seq {seq}"
                if found is None:
                    problems.append(StoreProblem("log_inconsistent", f"{where} is stored but not logged"))
                elif found != (held.log_index, event_hash(held.body)):
                    problems.append(
                        StoreProblem("log_inconsistent", f"{where} differs from its log entry {found[0]}")
                    )
        for (kiosk_id, seq), (index, _) in sorted(logged.items()):
            problems.append(
                StoreProblem(
                    "log_inconsistent", f"log entry {index} (kiosk {kiosk_id} seq {seq}) is not stored"
                )
            )
        stored, summed = tx.balances(), tx.summed_balances()
        for volunteer_id in sorted(stored.keys() | summed.keys()):
            if stored.get(volunteer_id, 0) != summed.get(volunteer_id, 0):
                problems.append(
                    StoreProblem(
                        "balance_mismatch",
                        f"volunteer {volunteer_id}: the stored balance is {stored.get(volunteer_id, 0)}, "
                        f"the ledger entries sum to {summed.get(volunteer_id, 0)}",
                    )
                )
    return StoreReport(entries=size, events=stored_count, problems=problems)


def _check_private(tx: ReadTx, private: _Private, size: int, problems: list[StoreProblem]) -> None:
    """What entries v2 keep off the log, against ``openings`` and the ledger (see the module docstring)."""
    openings: dict[int, LogOpening] = {}
    after = -1
    while page := tx.openings_after(after, 4096):
        openings.update((o.log_index, o) for o in page)
        after = page[-1].log_index
    for index, (kind, ref, day) in sorted(private.refs.items()):
        opening = openings.get(index)
        if opening is None or opening.kind != kind or opening.card_id is None or opening.salt is None:
            problems.append(StoreProblem("opening_missing", f"log entry {index} ({kind}) has no opening"))
            continue
        sealed = opening.sealed if kind == "event" else None
        if not Opening(opening.card_id, opening.salt, sealed).opens(ref):
            problems.append(
                StoreProblem("opening_mismatch", f"the opening of log entry {index} does not open it")
            )
        if opening.received_ms is None or public_day(opening.received_ms) != day:
            problems.append(
                StoreProblem(
                    "log_inconsistent", f"log entry {index}: its day is not its opening's received_ms"
                )
            )
    moves = tx.ledger_moves(0)
    for index, opening in sorted(openings.items()):
        if opening.issued is None or not 0 <= index < size:
            continue
        if (opening.issued, opening.redeemed) != moves.get(index, (0, 0)):
            problems.append(
                StoreProblem(
                    "totals_mismatch", f"the opening of log entry {index} disagrees with its ledger moves"
                )
            )
    expected_first = 0
    for totals in private.totals:
        first, last = totals["first"], totals["last"]
        if first != expected_first or last < first or last >= totals["index"]:
            problems.append(
                StoreProblem("totals_gap", f"totals entry {totals['index']} covers {first}..{last}")
            )
        elif (totals["issued"], totals["redeemed"]) != tx.range_moves(first, last):
            problems.append(
                StoreProblem(
                    "totals_mismatch",
                    f"totals entry {totals['index']}: entries {first}..{last} moved "
                    f"{tx.range_moves(first, last)}, it says ({totals['issued']}, {totals['redeemed']})",
                )
            )
        expected_first = last + 1
