"""Sites, enrolment codes, kiosks, their heartbeats and clock references, and the server's key history."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from protocol.clockref import ClockRef
from protocol.serverkeys import SignedTransition, parse_transition
from server.models import EnrolmentCode, Kiosk, KioskHealth, KioskStatus, Site
from server.storage.base import Queries, chunks
from server.storage.rows import (
    HEALTH_COLUMNS,
    KIOSK_COLUMNS,
    SITE_COLUMNS,
    health_from_row,
    kiosk_from_row,
    site_from_row,
    site_to_row,
)

# Every column but the key, from the row offered: one row per kiosk, the latest heartbeat wins.
_HEALTH_UPDATE: Final = ", ".join(
    f"{name} = excluded.{name}" for name in HEALTH_COLUMNS.split(", ") if name != "kiosk_id"
)


class FleetRead(Queries):
    """The sites, kiosks and what is known of them that a transaction can read."""

    def get_site(self, site_id: str) -> Site | None:
        row = self._conn.execute(f"SELECT {SITE_COLUMNS} FROM sites WHERE site_id = ?", (site_id,)).fetchone()
        return None if row is None else site_from_row(row)

    def list_sites(self) -> list[Site]:
        rows = self._conn.execute(f"SELECT {SITE_COLUMNS} FROM sites ORDER BY created_ms, rowid")
        return [site_from_row(row) for row in rows]

    def get_enrolment_code(self, code_sha256: str) -> EnrolmentCode | None:
        row = self._conn.execute(
            "SELECT code_sha256, site_id, expires_ms, used_ms, kiosk_id FROM enrolment_codes "
            "WHERE code_sha256 = ?",
            (code_sha256,),
        ).fetchone()
        return None if row is None else EnrolmentCode(*row)

    def count_outstanding_codes(self, now_ms: int) -> int:
        """Enrolment codes neither spent nor expired at ``now_ms``: the ones a guess could still hit."""
        row = self._conn.execute(
            "SELECT COUNT(*) FROM enrolment_codes WHERE used_ms IS NULL AND expires_ms > ?", (now_ms,)
        ).fetchone()
        return int(row[0])

    def get_kiosk(self, kiosk_id: str) -> Kiosk | None:
        row = self._conn.execute(
            f"SELECT {KIOSK_COLUMNS} FROM kiosks WHERE kiosk_id = ?", (kiosk_id,)
        ).fetchone()
        return None if row is None else kiosk_from_row(row)

    def kiosk_id_for_key(self, public_key: bytes) -> str | None:
        row = self._conn.execute("SELECT kiosk_id FROM kiosks WHERE public_key = ?", (public_key,)).fetchone()
        return None if row is None else str(row[0])

    def list_kiosks(self) -> list[Kiosk]:
        rows = self._conn.execute(f"SELECT {KIOSK_COLUMNS} FROM kiosks ORDER BY enrolled_ms, rowid")
        return [kiosk_from_row(row) for row in rows]

    def get_kiosk_health(self, kiosk_id: str) -> KioskHealth | None:
        row = self._conn.execute(
            f"SELECT {HEALTH_COLUMNS} FROM kiosk_health WHERE kiosk_id = ?", (kiosk_id,)
        ).fetchone()
        return None if row is None else health_from_row(row)

    def kiosk_health(self) -> dict[str, KioskHealth]:
        """Every stored heartbeat by kiosk ID."""
        rows = self._conn.execute(f"SELECT {HEALTH_COLUMNS} FROM kiosk_health")
        return {row[0]: health_from_row(row) for row in rows}

    def last_batch_ms(self) -> dict[str, int]:
        """When each kiosk's newest stored event arrived, by kiosk ID (kiosks without events are absent).

        One primary-key lookup per kiosk: the newest event is the one at the kiosk's ``last_seq``.
        ``CROSS JOIN`` keeps SQLite to that order: left to choose (without statistics) it scanned
        every event and looked its kiosk up, half a second for half a million events.
        """
        rows = self._conn.execute(
            "SELECT k.kiosk_id, e.received_ms FROM kiosks k "
            "CROSS JOIN events e ON e.kiosk_id = k.kiosk_id AND e.seq = k.last_seq"
        )
        return {row[0]: int(row[1]) for row in rows}

    def clock_refs(self, kiosk_id: str, boots: Iterable[str]) -> dict[str, list[ClockRef]]:
        """``boot -> references`` (in log order) of ``kiosk_id`` for those of ``boots`` that have any."""
        found: dict[str, list[ClockRef]] = {}
        for chunk in chunks(sorted(set(boots))):
            rows = self._conn.execute(
                "SELECT boot, mono_ms, at_ms FROM clock_refs WHERE kiosk_id = ? "
                f"AND boot IN ({','.join('?' * len(chunk))}) ORDER BY log_index",
                (kiosk_id, *chunk),
            )
            for boot, mono_ms, at_ms in rows:
                found.setdefault(boot, []).append(ClockRef(mono_ms, at_ms))
        return found

    def server_key_transitions(self) -> list[SignedTransition]:
        """Every server key transition, oldest first (they were verified before they were stored)."""
        rows = self._conn.execute(
            "SELECT body, sig_old, sig_new FROM server_key_transitions ORDER BY log_index"
        ).fetchall()
        return [
            SignedTransition(parse_transition(bytes(b)), bytes(b), bytes(o), bytes(n)) for b, o, n in rows
        ]


class FleetWrite(FleetRead):
    """A :class:`FleetRead` that also creates and changes sites and kiosks and records what they report."""

    def record_balance_query(self, kiosk_id: str, nonce: str, at_ms: int, *, forget_before_ms: int) -> bool:
        """Keep a balance query's nonce; ``False`` (and nothing changed) if ``kiosk_id`` used it before.

        Nonces of queries before ``forget_before_ms`` are dropped first: such queries
        are refused as stale, so their nonces need not be remembered.
        """
        self._conn.execute("DELETE FROM balance_queries WHERE at_ms < ?", (forget_before_ms,))
        cursor = self._conn.execute(
            "INSERT OR IGNORE INTO balance_queries (kiosk_id, nonce, at_ms) VALUES (?, ?, ?)",
            (kiosk_id, nonce, at_ms),
        )
        return cursor.rowcount == 1

    def insert_site(self, site: Site, created_ms: int) -> None:
        self._conn.execute(
            f"INSERT INTO sites ({SITE_COLUMNS}, created_ms) VALUES ({', '.join('?' * 16)})",
            (*site_to_row(site), created_ms),
        )

    def update_site(self, site: Site) -> None:
        """Store ``site``'s rules, policy, limits and presets (its ID, name and kind never change)."""
        row = site_to_row(site)
        self._conn.execute(
            "UPDATE sites SET tokens_per_hour = ?, max_shift_hours = ?, allow_uncredentialed = ?, "
            "daily_cap = ?, bonuses = ?, max_amount = ?, offline_allowance = ?, offline_daily_cap = ?, "
            "void_window_s = ?, presets = ?, max_day_hours = ?, backdate_days = ? WHERE site_id = ?",
            (*row[2:5], *row[6:], site.site_id),
        )

    def set_site_policy(self, site_id: str, allow_uncredentialed: bool) -> None:
        self._conn.execute(
            "UPDATE sites SET allow_uncredentialed = ? WHERE site_id = ?",
            (int(allow_uncredentialed), site_id),
        )

    def insert_enrolment_code(self, code_sha256: str, site_id: str, created_ms: int, expires_ms: int) -> None:
        self._conn.execute(
            "INSERT INTO enrolment_codes (code_sha256, site_id, created_ms, expires_ms) VALUES (?, ?, ?, ?)",
            (code_sha256, site_id, created_ms, expires_ms),
        )

    def delete_unused_codes(self, site_id: str, expired_before_ms: int) -> None:
        """Forget ``site_id``'s codes that expired unused before ``expired_before_ms``."""
        self._conn.execute(
            "DELETE FROM enrolment_codes WHERE site_id = ? AND used_ms IS NULL AND expires_ms < ?",
            (site_id, expired_before_ms),
        )

    def mark_code_used(self, code_sha256: str, used_ms: int, kiosk_id: str) -> None:
        self._conn.execute(
            "UPDATE enrolment_codes SET used_ms = ?, kiosk_id = ? WHERE code_sha256 = ?",
            (used_ms, kiosk_id, code_sha256),
        )

    def insert_kiosk(self, kiosk: Kiosk) -> None:
        self._conn.execute(
            f"INSERT INTO kiosks ({KIOSK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                kiosk.kiosk_id,
                kiosk.site_id,
                kiosk.public_key,
                kiosk.status.value,
                kiosk.last_seq,
                kiosk.head,
                kiosk.enrolled_ms,
            ),
        )

    def set_kiosk_status(self, kiosk_id: str, status: KioskStatus) -> None:
        self._conn.execute("UPDATE kiosks SET status = ? WHERE kiosk_id = ?", (status.value, kiosk_id))

    def advance_kiosk(self, kiosk_id: str, last_seq: int, head: str) -> None:
        self._conn.execute(
            "UPDATE kiosks SET last_seq = ?, head = ? WHERE kiosk_id = ?", (last_seq, head, kiosk_id)
        )

    def put_kiosk_health(self, health: KioskHealth) -> None:
        """Replace the kiosk's stored heartbeat (one row per kiosk: health is not history)."""
        self._conn.execute(
            f"INSERT INTO kiosk_health ({HEALTH_COLUMNS}) VALUES ({', '.join('?' * 11)}) "
            f"ON CONFLICT (kiosk_id) DO UPDATE SET {_HEALTH_UPDATE}",
            (
                *(health.kiosk_id, health.received_ms, health.sent_ms, health.offset_ms, health.boot),
                *(health.mono_ms, int(health.synced), health.version, health.pending, health.reader),
                health.last_seq,
            ),
        )

    def insert_clock_ref(self, kiosk_id: str, boot: str, ref: ClockRef, log_index: int) -> None:
        self._conn.execute(
            "INSERT INTO clock_refs (kiosk_id, boot, mono_ms, at_ms, log_index) VALUES (?, ?, ?, ?, ?)",
            (kiosk_id, boot, ref.mono_ms, ref.at_ms, log_index),
        )

    def insert_server_key_transition(self, signed: SignedTransition, log_index: int) -> None:
        self._conn.execute(
            "INSERT INTO server_key_transitions (log_index, body, sig_old, sig_new, new_key, at_ms) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                log_index,
                signed.body,
                signed.sig_old,
                signed.sig_new,
                signed.transition.new.raw,
                signed.transition.at_ms,
            ),
        )
