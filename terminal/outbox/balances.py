"""What the kiosk knows of cards' tokens: balances from verified sheets, and a shop terminal's redemptions.

Balances come from the server's signed balance sheets (verified by the sync side
first) and are kept per card with the server time they are as of; an older sheet
never overwrites a newer balance.  A shop terminal's redemption rows are written
with their events (:mod:`.events`) and the server's results with the receipt that
covers them (:mod:`.receipts`); :mod:`terminal.redemptions` has the rules.
"""

from __future__ import annotations

from protocol import BalanceSheet
from terminal import redemptions
from terminal.outbox.base import OutboxBase, immediate
from terminal.redemptions import EventResult, OfflineUsage, RedemptionRecord


class BalancesMixin(OutboxBase):
    """Balances (written by sync, read at check-out) and redemptions (part of the Outbox)."""

    def save_balances(self, sheet: BalanceSheet) -> int:
        """Keep each balance of ``sheet`` (already verified by the caller); how many rows changed.

        A row is replaced only by a balance as of the same or a later server time, so a
        sheet that arrives late (or is replayed) never turns a balance back.  One transaction.
        """
        with self._lock, immediate(self._conn):
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
