"""Redemptions at shop tills, and the overdrafts coordinators acknowledge."""

from __future__ import annotations

from server.models import Redemption
from server.storage.base import Queries
from server.storage.rows import REDEMPTION_COLUMNS, REDEMPTION_NAMES, redemption_from_row, redemption_to_row


class RedemptionsRead(Queries):
    """The redemptions a transaction can read."""

    def get_redemption(self, redemption_id: str) -> Redemption | None:
        row = self._conn.execute(
            f"SELECT {REDEMPTION_COLUMNS}, rowid FROM redemptions WHERE redemption_id = ?", (redemption_id,)
        ).fetchone()
        return None if row is None else redemption_from_row(row)

    def unacknowledged_overdrafts(self) -> list[Redemption]:
        """Debited redemptions that took a balance below zero and no decision acknowledged, oldest first."""
        rows = self._conn.execute(
            f"SELECT {REDEMPTION_COLUMNS}, rowid FROM redemptions "
            "WHERE overdraft = 1 AND acknowledged IS NULL AND status = 'debited' ORDER BY received_ms, rowid"
        )
        return [redemption_from_row(row) for row in rows]

    def debited_by_shop(self) -> list[tuple[str, str, int, int, int]]:
        """``(site_id, volunteer_id, redemptions, tokens, last wall_ms)`` of debited redemptions.

        Voided and declined ones moved no tokens (a void gives them back), so they do not count.
        """
        rows = self._conn.execute(
            "SELECT site_id, volunteer_id, COUNT(*), SUM(amount), MAX(wall_ms) FROM redemptions "
            "WHERE status = 'debited' GROUP BY site_id, volunteer_id"
        )
        return [(row[0], row[1], int(row[2]), int(row[3]), int(row[4])) for row in rows]

    def held_redemptions(self) -> list[Redemption]:
        """Offline redemptions held for review and not yet decided, oldest first."""
        rows = self._conn.execute(
            f"SELECT {REDEMPTION_COLUMNS}, rowid FROM redemptions WHERE status = 'held' "
            "ORDER BY received_ms, rowid"
        )
        return [redemption_from_row(row) for row in rows]

    def shop_redemptions(
        self, site_id: str, from_ms: int, to_ms: int | None, *, declined: bool = False
    ) -> list[Redemption]:
        """Redemptions at ``site_id`` that moved tokens or wait for review, by ``wall_ms``.

        ``wall_ms`` lies in ``[from_ms, to_ms)``.

        Debited, voided, held and rejected ones, in time order; ``to_ms`` ``None`` means no
        upper end.  Declined ones moved nothing and are left out, unless ``declined`` (the
        shop owner's page shows them: a customer turned away at the till asks about it).
        """
        statuses = "'debited', 'voided', 'held', 'rejected'" + (", 'declined'" if declined else "")
        rows = self._conn.execute(
            f"SELECT {REDEMPTION_COLUMNS}, rowid FROM redemptions WHERE site_id = ? AND wall_ms >= ? "
            f"AND (CAST(? AS INTEGER) IS NULL OR wall_ms < ?) AND status IN ({statuses}) "
            "ORDER BY wall_ms, rowid",
            (site_id, from_ms, to_ms, to_ms),
        )
        return [redemption_from_row(row) for row in rows]

    def offline_pending(self, kiosk_id: str, card_id: str, received_ms: int) -> int:
        """See :meth:`protocol.economy.book.RedemptionBook.offline_pending`."""
        row = self._conn.execute(
            "SELECT COALESCE(SUM(amount), 0) FROM redemptions WHERE kiosk_id = ? AND online = 0 "
            "AND received_ms = ? AND card_id = ? AND status IN ('debited', 'held')",
            (kiosk_id, received_ms, card_id),
        ).fetchone()
        return int(row[0])

    def offline_paid(self, kiosk_id: str, day_start_ms: int, day_end_ms: int) -> int:
        """See :meth:`protocol.economy.book.RedemptionBook.offline_paid`."""
        row = self._conn.execute(
            "SELECT COALESCE(SUM(amount), 0) FROM redemptions WHERE kiosk_id = ? AND online = 0 "
            "AND received_ms >= ? AND received_ms < ? AND held IS NULL AND status IN ('debited', 'voided')",
            (kiosk_id, day_start_ms, day_end_ms),
        ).fetchone()
        return int(row[0])

    def offline_held(self, kiosk_id: str, day_start_ms: int, day_end_ms: int) -> tuple[int, int]:
        """``(count, tokens)`` of ``kiosk_id``'s offline redemptions received in ``[day_start_ms,
        day_end_ms)`` that were held beyond its bound (however a coordinator decided them since)."""
        row = self._conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM redemptions WHERE kiosk_id = ? AND online = 0 "
            "AND received_ms >= ? AND received_ms < ? AND held IS NOT NULL",
            (kiosk_id, day_start_ms, day_end_ms),
        ).fetchone()
        return int(row[0]), int(row[1])


class RedemptionsWrite(RedemptionsRead):
    """A :class:`RedemptionsRead` that also stores and changes redemptions."""

    def insert_redemption(self, redemption: Redemption) -> int:
        """Store a redemption seen for the first time; return its row ID (its ledger entries' ``ref``)."""
        marks = ", ".join("?" * len(REDEMPTION_NAMES))
        row = self._conn.execute(
            f"INSERT INTO redemptions ({REDEMPTION_COLUMNS}) VALUES ({marks}) RETURNING rowid",
            redemption_to_row(redemption),
        ).fetchone()
        return int(row[0])

    def update_redemption(self, redemption: Redemption) -> None:
        """Store everything about ``redemption`` that a later event may change (all but its ID)."""
        self._conn.execute(
            f"UPDATE redemptions SET ({REDEMPTION_COLUMNS}) = ({', '.join('?' * len(REDEMPTION_NAMES))}) "
            "WHERE redemption_id = ?",
            (*redemption_to_row(redemption), redemption.redemption_id),
        )

    def acknowledge_overdraft(self, redemption_id: str, decision_hash: str) -> None:
        """Record that the decision ``decision_hash`` accepted the overdraft of ``redemption_id``."""
        self._conn.execute(
            "UPDATE redemptions SET acknowledged = ? WHERE redemption_id = ?", (decision_hash, redemption_id)
        )
