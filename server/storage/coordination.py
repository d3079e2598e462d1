"""Settings, coordinator keys and the decisions they signed."""

from __future__ import annotations

import json

from server.models import AppliedDecision, CoordinatorKey, CoordinatorStatus
from server.storage.base import Queries
from server.storage.rows import COORDINATOR_COLUMNS, coordinator_from_row


class CoordinationRead(Queries):
    """The settings, coordinator keys and applied decisions a transaction can read."""

    def get_setting(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def get_coordinator(self, coordinator_id: str) -> CoordinatorKey | None:
        row = self._conn.execute(
            f"SELECT {COORDINATOR_COLUMNS} FROM coordinators c "
            "LEFT JOIN coordinator_names n ON n.coordinator_id = c.coordinator_id WHERE c.coordinator_id = ?",
            (coordinator_id,),
        ).fetchone()
        return None if row is None else coordinator_from_row(row)

    def list_coordinators(self) -> list[CoordinatorKey]:
        rows = self._conn.execute(
            f"SELECT {COORDINATOR_COLUMNS} FROM coordinators c "
            "LEFT JOIN coordinator_names n ON n.coordinator_id = c.coordinator_id "
            "ORDER BY c.created_ms, c.rowid"
        )
        return [coordinator_from_row(row) for row in rows]

    def get_decision(self, decision_hash: str) -> AppliedDecision | None:
        row = self._conn.execute(
            "SELECT decision_hash, coordinator_id, kind, body, sig, result, received_ms, log_index "
            "FROM decisions WHERE decision_hash = ?",
            (decision_hash,),
        ).fetchone()
        if row is None:
            return None
        return AppliedDecision(
            *(row[0], row[1], row[2], bytes(row[3]), bytes(row[4]), json.loads(row[5]), row[6], row[7])
        )


class CoordinationWrite(CoordinationRead):
    """A :class:`CoordinationRead` that also stores settings, coordinator keys and decisions."""

    def set_setting(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def insert_coordinator(self, key: CoordinatorKey) -> None:
        """Store a coordinator key, and its name apart (``coordinator_names``: never logged)."""
        self._conn.execute(
            "INSERT INTO coordinators (coordinator_id, public_key, status, created_ms, changed_ms) "
            "VALUES (?, ?, ?, ?, ?)",
            (key.coordinator_id, key.public_key, key.status.value, key.created_ms, key.changed_ms),
        )
        if key.name is not None:
            self._conn.execute(
                "INSERT INTO coordinator_names (coordinator_id, name) VALUES (?, ?)",
                (key.coordinator_id, key.name),
            )

    def set_coordinator_status(self, coordinator_id: str, status: CoordinatorStatus, changed_ms: int) -> None:
        self._conn.execute(
            "UPDATE coordinators SET status = ?, changed_ms = ? WHERE coordinator_id = ?",
            (status.value, changed_ms, coordinator_id),
        )

    def insert_decision(self, decision: AppliedDecision) -> None:
        self._conn.execute(
            "INSERT INTO decisions (decision_hash, coordinator_id, kind, body, sig, result, received_ms, "
            "log_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                *(decision.decision_hash, decision.coordinator_id, decision.kind, decision.body),
                *(decision.sig, json.dumps(decision.result, separators=(",", ":"), ensure_ascii=False)),
                *(decision.received_ms, decision.log_index),
            ),
        )
