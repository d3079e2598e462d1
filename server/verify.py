"""Re-check the whole stored ledger from the stored bytes alone.

An auditor (or ``GET /v1/admin/verify``) runs :func:`verify_ledger`: for each
kiosk it re-reads every event as stored, re-parses it strictly, re-checks the
signature with the kiosk's enrolled key, the ``seq`` contiguity from 1 and
every ``prev`` link, and finally that the kiosk's recorded head matches.
Nothing derived (flags, shifts, the ``hash`` column) is trusted.

:func:`check_chain` is the pure core, usable on events from any source.
Verification fails closed: an empty ledger is ``ok`` only because there is
nothing to doubt, and each problem names the kiosk, the ``seq`` and a reason code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from protocol import GENESIS_PREV, ProtocolError, PublicKey, Reason, event_hash, verify_event
from server.models import StoredEvent
from server.storage import Storage


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
