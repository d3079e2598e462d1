"""A shop's till staff and the voids its owner asked the till for (issue 19).

Staff rows hold the shop's own label for the person and the argon2id hash of
their PIN: neither goes to the log (the log holds ``till_staff`` entries with
ID, role and daily maximum, :mod:`server.tlog`).  The rules read only the active
members (:meth:`TillStaffRead.till_staff`) and what a member's redemptions
debited on a day (:meth:`TillStaffRead.staff_paid`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from protocol.economy.models import StaffRole, TillStaff
from server.storage.base import Queries

_STAFF_COLUMNS = (
    "staff_id, site_id, name, role, daily_max, pin_hash, created_ms, created_by, changed_ms, removed_ms"
)


class StaffRow(NamedTuple):
    """A till staff member as stored: the rules' :class:`TillStaff` plus name, PIN hash and times."""

    staff_id: str
    site_id: str
    name: str
    role: StaffRole
    daily_max: int
    pin_hash: str
    created_ms: int
    created_by: str
    changed_ms: int
    removed_ms: int | None

    @property
    def limits(self) -> TillStaff:
        """What the rules (and the log) know of this member."""
        return TillStaff(self.staff_id, self.site_id, self.role, self.daily_max)


class VoidRequestRow(NamedTuple):
    """A void the shop's owner asked for: its redemption, shop, status and when."""

    redemption_id: str
    site_id: str
    status: str  # pending, done or cancelled
    requested_ms: int
    requested_by: str
    changed_ms: int


def _staff(row: Sequence[Any]) -> StaffRow:
    return StaffRow(
        *(row[0], row[1], row[2], StaffRole(row[3]), int(row[4]), row[5]),
        *(int(row[6]), row[7], int(row[8]), None if row[9] is None else int(row[9])),
    )


class TillStaffRead(Queries):
    """Till staff and void requests a transaction can read."""

    def staff_rows(self, site_id: str, *, removed: bool = False) -> list[StaffRow]:
        """The shop's staff in the order they were added; ``removed`` includes those removed."""
        rows = self._conn.execute(
            f"SELECT {_STAFF_COLUMNS} FROM till_staff WHERE site_id = ? AND (? = 1 OR removed_ms IS NULL) "
            "ORDER BY created_ms, rowid",
            (site_id, int(removed)),
        )
        return [_staff(row) for row in rows]

    def get_staff(self, staff_id: str) -> StaffRow | None:
        row = self._conn.execute(
            f"SELECT {_STAFF_COLUMNS} FROM till_staff WHERE staff_id = ?", (staff_id,)
        ).fetchone()
        return None if row is None else _staff(row)

    def till_staff(self, site_id: str) -> dict[str, TillStaff] | None:
        """See :meth:`protocol.economy.book.RedemptionBook.till_staff`."""
        rows = self.staff_rows(site_id, removed=True)
        if not rows:
            return None
        return {row.staff_id: row.limits for row in rows if row.removed_ms is None}

    def staff_paid(self, staff_id: str, day_start_ms: int, day_end_ms: int) -> int:
        """See :meth:`protocol.economy.book.RedemptionBook.staff_paid`."""
        row = self._conn.execute(
            "SELECT COALESCE(SUM(amount), 0) FROM redemptions WHERE staff_id = ? "
            "AND received_ms >= ? AND received_ms < ? AND held IS NULL AND status IN ('debited', 'voided')",
            (staff_id, day_start_ms, day_end_ms),
        ).fetchone()
        return int(row[0])

    def void_requests(self, site_id: str, status: str = "pending") -> list[VoidRequestRow]:
        """The shop's void requests of ``status``, oldest first."""
        rows = self._conn.execute(
            "SELECT redemption_id, site_id, status, requested_ms, requested_by, changed_ms "
            "FROM void_requests WHERE site_id = ? AND status = ? ORDER BY requested_ms, rowid",
            (site_id, status),
        )
        return [VoidRequestRow(*row) for row in rows]

    def get_void_request(self, redemption_id: str) -> VoidRequestRow | None:
        row = self._conn.execute(
            "SELECT redemption_id, site_id, status, requested_ms, requested_by, changed_ms "
            "FROM void_requests WHERE redemption_id = ?",
            (redemption_id,),
        ).fetchone()
        return None if row is None else VoidRequestRow(*row)


class TillStaffWrite(TillStaffRead):
    """A :class:`TillStaffRead` that also adds and changes staff and void requests."""

    def insert_staff(self, row: StaffRow) -> None:
        self._conn.execute(
            f"INSERT INTO till_staff ({_STAFF_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*row[:3], row.role.value, *row[4:]),
        )

    def update_staff(self, row: StaffRow) -> None:
        """Store ``row``'s daily maximum, PIN hash, change time and removal (its ID, shop and name stay)."""
        self._conn.execute(
            "UPDATE till_staff SET daily_max = ?, pin_hash = ?, changed_ms = ?, removed_ms = ? "
            "WHERE staff_id = ?",
            (row.daily_max, row.pin_hash, row.changed_ms, row.removed_ms, row.staff_id),
        )

    def put_void_request(self, site_id: str, redemption_id: str, now_ms: int, requested_by: str) -> None:
        """A pending request to void ``redemption_id`` (anew, over a cancelled one)."""
        self._conn.execute(
            "INSERT INTO void_requests "
            "(redemption_id, site_id, status, requested_ms, requested_by, changed_ms) "
            "VALUES (?, ?, 'pending', ?, ?, ?) ON CONFLICT (redemption_id) DO UPDATE SET status = 'pending', "
            "requested_ms = excluded.requested_ms, requested_by = excluded.requested_by, "
            "changed_ms = excluded.changed_ms",
            (redemption_id, site_id, now_ms, requested_by, now_ms),
        )

    def mark_void_request(self, redemption_id: str, status: str, now_ms: int) -> bool:
        """Move a pending request to ``done`` or ``cancelled``; whether there was one."""
        cursor = self._conn.execute(
            "UPDATE void_requests SET status = ?, changed_ms = ? "
            "WHERE redemption_id = ? AND status = 'pending'",
            (status, now_ms, redemption_id),
        )
        return cursor.rowcount > 0
