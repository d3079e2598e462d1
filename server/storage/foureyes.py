"""Device keys' owners, decisions waiting for a second person, and the cosignatures given (m020)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from server.models import AppliedDecision, CoordinatorKey
from server.storage.base import Queries
from server.storage.rows import COORDINATOR_COLUMNS, coordinator_from_row

_PENDING_COLUMNS = (
    "decision_hash, coordinator_id, person_id, kind, site_id, minutes, body, sig, opening, created_ms"
)


@dataclass(frozen=True, slots=True)
class PendingDecision:
    """A signed decision over the four-eyes threshold, waiting for another person's cosignature.

    ``opening`` is a v2 manual shift's opening as JSON text (``{"card", "salt"}``), else ``None``.
    """

    decision_hash: str
    coordinator_id: str
    person_id: str | None
    kind: str
    site_id: str
    minutes: int
    body: bytes
    sig: bytes
    opening: str | None
    created_ms: int

    def to_json(self) -> dict[str, Any]:
        """What the console lists: never the opening (it names a card)."""
        return {
            "decision": self.decision_hash,
            "coordinator_id": self.coordinator_id,
            "person_id": self.person_id,
            "kind": self.kind,
            "site_id": self.site_id,
            "minutes": self.minutes,
            "created_ms": self.created_ms,
        }


def _pending(row: Sequence[Any]) -> PendingDecision:
    return PendingDecision(
        row[0], row[1], row[2], row[3], row[4], row[5], bytes(row[6]), bytes(row[7]), row[8], row[9]
    )


class FourEyesRead(Queries):
    """Who owns a coordinator key, and what waits for a cosignature."""

    def coordinator_person(self, coordinator_id: str) -> str | None:
        """The person a browser device key belongs to (``None``: a laptop key of the CLI, or unknown)."""
        row = self._conn.execute(
            "SELECT person_id FROM coordinators WHERE coordinator_id = ?", (coordinator_id,)
        ).fetchone()
        return None if row is None else row[0]

    def device_keys(self, person_id: str) -> list[CoordinatorKey]:
        """The coordinator keys a person registered from their browsers, oldest first."""
        rows = self._conn.execute(
            f"SELECT {COORDINATOR_COLUMNS} FROM coordinators c "
            "LEFT JOIN coordinator_names n ON n.coordinator_id = c.coordinator_id "
            "WHERE c.person_id = ? ORDER BY c.created_ms, c.coordinator_id",
            (person_id,),
        )
        return [coordinator_from_row(row) for row in rows]

    def get_pending_decision(self, decision_hash: str) -> PendingDecision | None:
        row = self._conn.execute(
            f"SELECT {_PENDING_COLUMNS} FROM pending_decisions WHERE decision_hash = ?", (decision_hash,)
        ).fetchone()
        return None if row is None else _pending(row)

    def pending_decisions(self) -> list[PendingDecision]:
        """Every decision waiting for a cosignature, oldest first (callers filter by site)."""
        rows = self._conn.execute(
            f"SELECT {_PENDING_COLUMNS} FROM pending_decisions ORDER BY created_ms, decision_hash"
        )
        return [_pending(row) for row in rows]

    def decisions_of_kinds(self, kinds: Iterable[str]) -> list[AppliedDecision]:
        """The applied decisions of ``kinds`` in the order applied (a site's rule history)."""
        wanted = sorted(set(kinds))
        rows = self._conn.execute(
            "SELECT decision_hash, coordinator_id, kind, body, sig, result, received_ms, log_index "
            f"FROM decisions WHERE kind IN ({', '.join('?' * len(wanted))}) ORDER BY log_index",
            wanted,
        )
        return [
            AppliedDecision(r[0], r[1], r[2], bytes(r[3]), bytes(r[4]), json.loads(r[5]), r[6], r[7])
            for r in rows
        ]

    def get_cosignature(self, decision_hash: str) -> tuple[str, str | None, bytes] | None:
        """``(coordinator_id, person_id, sig)`` of an applied decision's cosignature, if it had one."""
        row = self._conn.execute(
            "SELECT coordinator_id, person_id, sig FROM cosignatures WHERE decision_hash = ?",
            (decision_hash,),
        ).fetchone()
        return None if row is None else (row[0], row[1], bytes(row[2]))


class FourEyesWrite(FourEyesRead):
    """A :class:`FourEyesRead` that also stores owners, pending decisions and cosignatures."""

    @contextmanager
    def trial(self) -> Iterator[None]:
        """Run the block's writes and undo them (a savepoint): does a decision pass the rules now?

        An exception inside still propagates, and the whole transaction then rolls back as usual.
        """
        self._conn.execute("SAVEPOINT trial")
        try:
            yield
        finally:
            self._conn.execute("ROLLBACK TO trial")
            self._conn.execute("RELEASE trial")

    def set_coordinator_person(self, coordinator_id: str, person_id: str) -> None:
        self._conn.execute(
            "UPDATE coordinators SET person_id = ? WHERE coordinator_id = ?", (person_id, coordinator_id)
        )

    def insert_pending_decision(self, pending: PendingDecision) -> None:
        """Keep a decision until it is cosigned; the same bytes again change nothing."""
        self._conn.execute(
            f"INSERT OR IGNORE INTO pending_decisions ({_PENDING_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                pending.decision_hash,
                pending.coordinator_id,
                pending.person_id,
                pending.kind,
                pending.site_id,
                pending.minutes,
                pending.body,
                pending.sig,
                pending.opening,
                pending.created_ms,
            ),
        )

    def delete_pending_decision(self, decision_hash: str) -> None:
        self._conn.execute("DELETE FROM pending_decisions WHERE decision_hash = ?", (decision_hash,))

    def insert_cosignature(
        self, decision_hash: str, coordinator_id: str, person_id: str | None, sig: bytes, at_ms: int
    ) -> None:
        self._conn.execute(
            "INSERT INTO cosignatures (decision_hash, coordinator_id, person_id, sig, at_ms) "
            "VALUES (?, ?, ?, ?, ?)",
            (decision_hash, coordinator_id, person_id, sig, at_ms),
        )
