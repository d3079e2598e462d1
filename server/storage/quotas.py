"""How many of each thing a caller has stored: what :mod:`server.quotas` compares with its limits."""

from __future__ import annotations

from server.storage.base import Queries


class QuotasRead(Queries):
    """Counts of stored rows, each for one quota (the log's evidence counts live with the log)."""

    def count_sites(self) -> int:
        """Sites, shops included (a shop is a site)."""
        return int(self._conn.execute("SELECT COUNT(*) FROM sites").fetchone()[0])

    def count_unused_codes(self, site_id: str) -> int:
        """Enrolment codes of ``site_id`` not used (yet, or before they expired)."""
        row = self._conn.execute(
            "SELECT COUNT(*) FROM enrolment_codes WHERE site_id = ? AND used_ms IS NULL", (site_id,)
        ).fetchone()
        return int(row[0])

    def count_kiosks(self, site_id: str) -> int:
        """Kiosks enrolled at ``site_id``, revoked ones included."""
        row = self._conn.execute("SELECT COUNT(*) FROM kiosks WHERE site_id = ?", (site_id,)).fetchone()
        return int(row[0])

    def count_cards(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM cards").fetchone()[0])

    def count_issuer_keys(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM issuer_keys").fetchone()[0])

    def count_coordinators(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM coordinators").fetchone()[0])

    def count_balance_queries(self, kiosk_id: str, since_ms: int) -> int:
        """Balance queries ``kiosk_id`` made from ``since_ms`` on (by their signed ``at_ms``)."""
        row = self._conn.execute(
            "SELECT COUNT(*) FROM balance_queries WHERE kiosk_id = ? AND at_ms >= ?", (kiosk_id, since_ms)
        ).fetchone()
        return int(row[0])
