"""Every SQL statement of the ledger server, behind a small transactional interface.

Services never see SQL: they open a transaction with :meth:`Storage.write` or
:meth:`Storage.read` and call methods of :class:`Tx` that speak in
:mod:`server.models` records.  A PostgreSQL backend is therefore one more
class with the same methods, and the rules do not change.

The SQLite choices are deliberate:

* WAL with ``synchronous=FULL``: a committed batch survives power loss and
  ``SIGKILL``; a receipt is only ever issued after its commit.
* ``BEGIN IMMEDIATE`` for writes, so a transaction never fails half-way on a
  lock upgrade, and one connection behind a lock: the server is one process
  with one writer, and SQLite serialises writers anyway.
* Migrations are a list of functions.  Each runs in one transaction together
  with the row that records it, so a crash leaves a migration either fully
  applied or not at all (as ``sqlite_utils/migrations.py`` does).
* The ledger tables hold IDs only.  A volunteer's name lives in
  ``personal_data`` and nowhere else, so erasing a person is one ``DELETE``.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from protocol import ShopLimits, parse_event
from protocol.clockref import ClockRef
from protocol.serverkeys import SignedTransition, parse_transition
from protocol.trust import parse_presets
from server.models import (
    AppliedDecision,
    Card,
    CardKind,
    CoordinatorKey,
    CoordinatorStatus,
    EnrolmentCode,
    HeldEvent,
    IssuerKey,
    IssuerKeyStatus,
    Kiosk,
    KioskHealth,
    KioskStatus,
    LedgerEntry,
    NewEvent,
    Redemption,
    RedemptionStatus,
    Shift,
    ShiftStatus,
    Site,
    SiteKind,
    StoredEvent,
    TapClock,
    Volunteer,
)
from server.schema import MIGRATIONS

_MS_PER_HOUR: Final = 3_600_000
# SQLite's default limit on bound parameters is 32766 since 3.32; stay far below it.
_IN_CHUNK: Final = 500


_SITE_COLUMNS: Final = (
    "site_id, name, tokens_per_hour, max_shift_hours, allow_uncredentialed, kind, daily_cap, bonuses, "
    "max_amount, offline_allowance, offline_daily_cap, void_window_s, presets"
)


def _site(row: Sequence[Any]) -> Site:
    kind = SiteKind(row[5])
    shop = None
    if kind is SiteKind.SHOP:
        shop = ShopLimits(
            max_amount=row[8],
            offline_allowance=row[9],
            offline_daily_cap=row[10],
            void_window_s=row[11],
            presets=parse_presets(json.loads(row[12])),
        )
    return Site(
        site_id=row[0],
        name=row[1],
        tokens_per_hour=row[2],
        max_shift_hours=row[3],
        allow_uncredentialed=bool(row[4]),
        kind=kind,
        daily_cap=row[6],
        bonuses=tuple(json.loads(row[7])),
        shop=shop,
    )


def _site_row(site: Site) -> tuple[Any, ...]:
    shop = site.shop
    limits: tuple[Any, ...] = (None, None, None, None, "[]")
    if shop is not None:
        presets = json.dumps(shop.to_json()["presets"], separators=(",", ":"), ensure_ascii=False)
        limits = (
            shop.max_amount,
            shop.offline_allowance,
            shop.offline_daily_cap,
            shop.void_window_s,
            presets,
        )
    return (
        *(site.site_id, site.name, site.tokens_per_hour, site.max_shift_hours),
        *(int(site.allow_uncredentialed), site.kind.value, site.daily_cap),
        json.dumps(list(site.bonuses), separators=(",", ":")),
        *limits,
    )


_COORDINATOR_COLUMNS: Final = "c.coordinator_id, c.public_key, c.status, c.created_ms, c.changed_ms, n.name"


def _coordinator(row: Sequence[Any]) -> CoordinatorKey:
    return CoordinatorKey(
        coordinator_id=row[0],
        public_key=bytes(row[1]),
        status=CoordinatorStatus(row[2]),
        created_ms=row[3],
        changed_ms=row[4],
        name=row[5],
    )


_ISSUER_COLUMNS: Final = "key_id, public_key, status, created_ms, changed_ms"


def _issuer_key(row: Sequence[Any]) -> IssuerKey:
    return IssuerKey(
        key_id=row[0],
        public_key=bytes(row[1]),
        status=IssuerKeyStatus(row[2]),
        created_ms=row[3],
        changed_ms=row[4],
    )


_CARD_NAMES: Final = (
    *("card_id", "volunteer_id", "kind", "registered_ms", "issuer_key_id", "valid_from_s"),
    *("valid_until_s", "blocked_ms", "block_reason", "coordinator_ms"),
)
_CARD_COLUMNS: Final = ", ".join(_CARD_NAMES)


def _card(row: Sequence[Any]) -> Card:
    values = dict(zip(_CARD_NAMES, row, strict=True))
    values["kind"] = CardKind(values["kind"])
    return Card(**values)


def _kiosk(row: Sequence[Any]) -> Kiosk:
    return Kiosk(
        kiosk_id=row[0],
        site_id=row[1],
        public_key=bytes(row[2]),
        status=KioskStatus(row[3]),
        last_seq=row[4],
        head=row[5],
        enrolled_ms=row[6],
    )


_KIOSK_COLUMNS: Final = "kiosk_id, site_id, public_key, status, last_seq, head, enrolled_ms"
_SHIFT_NAMES: Final = (
    *("shift_id", "card_id", "volunteer_id", "site_id", "kiosk_id", "in_kiosk", "in_seq", "out_kiosk"),
    *("out_seq", "start_ms", "end_ms", "minutes", "tokens", "status", "reason", "source", "decision"),
    "uncapped_tokens",
)
_SHIFT_COLUMNS: Final = ", ".join(_SHIFT_NAMES)
_SHIFT_COLUMNS_S: Final = ", ".join(f"s.{name}" for name in _SHIFT_NAMES)


def _shift(row: Sequence[Any]) -> Shift:
    values = dict(zip(_SHIFT_NAMES, row, strict=True))
    values["status"] = ShiftStatus(values["status"])
    return Shift(**values)


def _shift_row(s: Shift) -> tuple[Any, ...]:
    return (
        *(s.shift_id, s.card_id, s.volunteer_id, s.site_id, s.kiosk_id, s.in_kiosk, s.in_seq, s.out_kiosk),
        *(s.out_seq, s.start_ms, s.end_ms, s.minutes, s.tokens, s.status.value, s.reason, s.source),
        *(s.decision, s.uncapped_tokens),
    )


_REDEMPTION_NAMES: Final = (
    *("redemption_id", "site_id", "kiosk_id", "seq", "card_id", "volunteer_id", "amount", "online"),
    *("status", "wall_ms", "received_ms", "overdraft", "acknowledged", "void_kiosk", "void_seq"),
    "void_wall_ms",
)
_REDEMPTION_COLUMNS: Final = ", ".join(_REDEMPTION_NAMES)


def _tap_clock(body: bytes, flags: Sequence[str], corrected_ms: int | None) -> TapClock:
    """The clock of a stored (so valid) check-in event, for pairing its open shift.

    A check-in a clock reference corrected counts as synced at its corrected time,
    exactly as it did when it was paired (:func:`protocol.clockref.event_time`).
    """
    clock = parse_event(body).clock
    wall_ms, synced = (clock.wall_ms, clock.synced) if corrected_ms is None else (corrected_ms, True)
    return TapClock(
        wall_ms, clock.boot_id, clock.mono_ms, synced, flags[0] if flags else None, len(flags) > 1
    )


def _redemption(row: Sequence[Any]) -> Redemption:
    """A redemption from its columns followed by its ``rowid``."""
    values = dict(zip(_REDEMPTION_NAMES, row[:-1], strict=True))
    values["online"] = bool(values["online"])
    values["overdraft"] = bool(values["overdraft"])
    values["status"] = RedemptionStatus(values["status"])
    return Redemption(**values, row_id=row[-1])


def _redemption_row(r: Redemption) -> tuple[Any, ...]:
    return (
        *(r.redemption_id, r.site_id, r.kiosk_id, r.seq, r.card_id, r.volunteer_id, r.amount),
        *(int(r.online), r.status.value, r.wall_ms, r.received_ms, int(r.overdraft), r.acknowledged),
        *(r.void_kiosk, r.void_seq, r.void_wall_ms),
    )


_HEALTH_COLUMNS: Final = (
    "kiosk_id, received_ms, sent_ms, offset_ms, boot, mono_ms, synced, version, pending, reader, last_seq"
)


def _health(row: Sequence[Any]) -> KioskHealth:
    return KioskHealth(
        *(row[0], int(row[1]), int(row[2]), int(row[3]), row[4], int(row[5]), bool(row[6]), row[7]),
        *(int(row[8]), row[9], int(row[10])),
    )


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start : start + _IN_CHUNK]


@functools.lru_cache(maxsize=64)
def encode_flags(flags: tuple[str, ...]) -> str:
    """How an event's flags are stored: a JSON array of reason codes (cached: there are few)."""
    return json.dumps(list(flags), separators=(",", ":"))


def _flags(event: NewEvent) -> str:
    return encode_flags(event.flags)


def decode_flags(text: str) -> list[str]:
    value = json.loads(text)
    return [str(flag) for flag in value]


class Tx:
    """The queries of one transaction.  Only valid inside ``Storage.write()``/``read()``."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    # -- settings ------------------------------------------------------------------------------
    def get_setting(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_setting(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- coordinator keys, decisions and rules -------------------------------------------------
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

    def get_coordinator(self, coordinator_id: str) -> CoordinatorKey | None:
        row = self._conn.execute(
            f"SELECT {_COORDINATOR_COLUMNS} FROM coordinators c "
            "LEFT JOIN coordinator_names n ON n.coordinator_id = c.coordinator_id WHERE c.coordinator_id = ?",
            (coordinator_id,),
        ).fetchone()
        return None if row is None else _coordinator(row)

    def list_coordinators(self) -> list[CoordinatorKey]:
        rows = self._conn.execute(
            f"SELECT {_COORDINATOR_COLUMNS} FROM coordinators c "
            "LEFT JOIN coordinator_names n ON n.coordinator_id = c.coordinator_id "
            "ORDER BY c.created_ms, c.rowid"
        )
        return [_coordinator(row) for row in rows]

    def set_coordinator_status(self, coordinator_id: str, status: CoordinatorStatus, changed_ms: int) -> None:
        self._conn.execute(
            "UPDATE coordinators SET status = ?, changed_ms = ? WHERE coordinator_id = ?",
            (status.value, changed_ms, coordinator_id),
        )

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

    def shift_by_tap(self, kiosk_id: str, seq: int) -> Shift | None:
        """The shift whose first tap is ``(kiosk_id, seq)``: its check-in, or an orphan check-out."""
        row = self._conn.execute(
            f"SELECT {_SHIFT_COLUMNS} FROM shifts WHERE in_kiosk = ? AND in_seq = ?", (kiosk_id, seq)
        ).fetchone()
        if row is None:
            row = self._conn.execute(
                f"SELECT {_SHIFT_COLUMNS} FROM shifts "
                "WHERE in_kiosk IS NULL AND out_kiosk = ? AND out_seq = ?",
                (kiosk_id, seq),
            ).fetchone()
        return None if row is None else _shift(row)

    def tokens_paid_on_day(self, site_id: str, volunteer_id: str, day_start_ms: int, day_end_ms: int) -> int:
        """Tokens paid to ``volunteer_id`` at ``site_id`` for shifts started in the given day.

        The daily cap's "paid so far": ``[day_start_ms, day_end_ms)`` is one local day
        (:func:`server.rules.local_day`), and a shift counts by its ``start_ms``.
        """
        row = self._conn.execute(
            "SELECT COALESCE(SUM(tokens), 0) FROM shifts WHERE volunteer_id = ? AND site_id = ? "
            "AND status = 'paid' AND start_ms >= ? AND start_ms < ?",
            (volunteer_id, site_id, day_start_ms, day_end_ms),
        ).fetchone()
        return int(row[0])

    # -- sites and enrolment codes -------------------------------------------------------------
    def insert_site(self, site: Site, created_ms: int) -> None:
        self._conn.execute(
            f"INSERT INTO sites ({_SITE_COLUMNS}, created_ms) VALUES ({', '.join('?' * 14)})",
            (*_site_row(site), created_ms),
        )

    def update_site(self, site: Site) -> None:
        """Store ``site``'s rules, policy, limits and presets (its ID, name and kind never change)."""
        row = _site_row(site)
        self._conn.execute(
            "UPDATE sites SET tokens_per_hour = ?, max_shift_hours = ?, allow_uncredentialed = ?, "
            "daily_cap = ?, bonuses = ?, max_amount = ?, offline_allowance = ?, offline_daily_cap = ?, "
            "void_window_s = ?, presets = ? WHERE site_id = ?",
            (*row[2:5], *row[6:], site.site_id),
        )

    def get_site(self, site_id: str) -> Site | None:
        row = self._conn.execute(
            f"SELECT {_SITE_COLUMNS} FROM sites WHERE site_id = ?", (site_id,)
        ).fetchone()
        return None if row is None else _site(row)

    def list_sites(self) -> list[Site]:
        rows = self._conn.execute(f"SELECT {_SITE_COLUMNS} FROM sites ORDER BY created_ms, rowid")
        return [_site(row) for row in rows]

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

    def get_enrolment_code(self, code_sha256: str) -> EnrolmentCode | None:
        row = self._conn.execute(
            "SELECT code_sha256, site_id, expires_ms, used_ms, kiosk_id FROM enrolment_codes "
            "WHERE code_sha256 = ?",
            (code_sha256,),
        ).fetchone()
        return None if row is None else EnrolmentCode(*row)

    def mark_code_used(self, code_sha256: str, used_ms: int, kiosk_id: str) -> None:
        self._conn.execute(
            "UPDATE enrolment_codes SET used_ms = ?, kiosk_id = ? WHERE code_sha256 = ?",
            (used_ms, kiosk_id, code_sha256),
        )

    # -- kiosks --------------------------------------------------------------------------------
    def insert_kiosk(self, kiosk: Kiosk) -> None:
        self._conn.execute(
            f"INSERT INTO kiosks ({_KIOSK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
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

    def get_kiosk(self, kiosk_id: str) -> Kiosk | None:
        row = self._conn.execute(
            f"SELECT {_KIOSK_COLUMNS} FROM kiosks WHERE kiosk_id = ?", (kiosk_id,)
        ).fetchone()
        return None if row is None else _kiosk(row)

    def kiosk_id_for_key(self, public_key: bytes) -> str | None:
        row = self._conn.execute("SELECT kiosk_id FROM kiosks WHERE public_key = ?", (public_key,)).fetchone()
        return None if row is None else str(row[0])

    def list_kiosks(self) -> list[Kiosk]:
        rows = self._conn.execute(f"SELECT {_KIOSK_COLUMNS} FROM kiosks ORDER BY enrolled_ms, rowid")
        return [_kiosk(row) for row in rows]

    def server_key_transitions(self) -> list[SignedTransition]:
        """Every server key transition, oldest first (they were verified before they were stored)."""
        rows = self._conn.execute(
            "SELECT body, sig_old, sig_new FROM server_key_transitions ORDER BY log_index"
        ).fetchall()
        return [
            SignedTransition(parse_transition(bytes(b)), bytes(b), bytes(o), bytes(n)) for b, o, n in rows
        ]

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

    def clock_refs(self, kiosk_id: str, boots: Iterable[str]) -> dict[str, list[ClockRef]]:
        """``boot -> references`` (in log order) of ``kiosk_id`` for those of ``boots`` that have any."""
        found: dict[str, list[ClockRef]] = {}
        for chunk in _chunks(sorted(set(boots))):
            rows = self._conn.execute(
                "SELECT boot, mono_ms, at_ms FROM clock_refs WHERE kiosk_id = ? "
                f"AND boot IN ({','.join('?' * len(chunk))}) ORDER BY log_index",
                (kiosk_id, *chunk),
            )
            for boot, mono_ms, at_ms in rows:
                found.setdefault(boot, []).append(ClockRef(mono_ms, at_ms))
        return found

    def insert_clock_ref(self, kiosk_id: str, boot: str, ref: ClockRef, log_index: int) -> None:
        self._conn.execute(
            "INSERT INTO clock_refs (kiosk_id, boot, mono_ms, at_ms, log_index) VALUES (?, ?, ?, ?, ?)",
            (kiosk_id, boot, ref.mono_ms, ref.at_ms, log_index),
        )

    def get_kiosk_health(self, kiosk_id: str) -> KioskHealth | None:
        row = self._conn.execute(
            f"SELECT {_HEALTH_COLUMNS} FROM kiosk_health WHERE kiosk_id = ?", (kiosk_id,)
        ).fetchone()
        return None if row is None else _health(row)

    def put_kiosk_health(self, health: KioskHealth) -> None:
        """Replace the kiosk's stored heartbeat (one row per kiosk: health is not history)."""
        self._conn.execute(
            f"INSERT OR REPLACE INTO kiosk_health ({_HEALTH_COLUMNS}) VALUES ({', '.join('?' * 11)})",
            (
                *(health.kiosk_id, health.received_ms, health.sent_ms, health.offset_ms, health.boot),
                *(health.mono_ms, int(health.synced), health.version, health.pending, health.reader),
                health.last_seq,
            ),
        )

    def kiosk_health(self) -> dict[str, KioskHealth]:
        """Every stored heartbeat by kiosk ID."""
        rows = self._conn.execute(f"SELECT {_HEALTH_COLUMNS} FROM kiosk_health")
        return {row[0]: _health(row) for row in rows}

    def last_batch_ms(self) -> dict[str, int]:
        """When each kiosk's newest stored event arrived, by kiosk ID (kiosks without events are absent).

        One primary-key lookup per kiosk: the newest event is the one at the kiosk's ``last_seq``.
        """
        rows = self._conn.execute(
            "SELECT k.kiosk_id, e.received_ms FROM kiosks k "
            "JOIN events e ON e.kiosk_id = k.kiosk_id AND e.seq = k.last_seq"
        )
        return {row[0]: int(row[1]) for row in rows}

    def set_kiosk_status(self, kiosk_id: str, status: KioskStatus) -> None:
        self._conn.execute("UPDATE kiosks SET status = ? WHERE kiosk_id = ?", (status.value, kiosk_id))

    def advance_kiosk(self, kiosk_id: str, last_seq: int, head: str) -> None:
        self._conn.execute(
            "UPDATE kiosks SET last_seq = ?, head = ? WHERE kiosk_id = ?", (last_seq, head, kiosk_id)
        )

    # -- events --------------------------------------------------------------------------------
    def stored_events(self, kiosk_id: str, first_seq: int, last_seq: int) -> dict[int, HeldEvent]:
        """``seq -> stored copy`` for the stored events of ``kiosk_id`` in ``first_seq..last_seq``."""
        rows = self._conn.execute(
            "SELECT seq, body, flags, received_ms, log_index FROM events "
            "WHERE kiosk_id = ? AND seq BETWEEN ? AND ?",
            (kiosk_id, first_seq, last_seq),
        )
        return {row[0]: HeldEvent(bytes(row[1]), row[2], row[3], row[4]) for row in rows}

    def event_log_index(self, kiosk_id: str, seq: int) -> int | None:
        """Where the event ``(kiosk_id, seq)`` is in the transparency log; ``None`` if not stored."""
        row = self._conn.execute(
            "SELECT log_index FROM events WHERE kiosk_id = ? AND seq = ?", (kiosk_id, seq)
        ).fetchone()
        return None if row is None else row[0]

    def insert_events(self, events: Iterable[NewEvent]) -> None:
        self._conn.executemany(
            "INSERT INTO events (kiosk_id, seq, body, sig, hash, kind, card_id, wall_ms, flags, received_ms, "
            "log_index, corrected_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    e.kiosk_id,
                    e.seq,
                    e.body,
                    e.sig,
                    e.hash,
                    e.kind,
                    e.card_id,
                    e.wall_ms,
                    _flags(e),
                    e.received_ms,
                    e.log_index,
                    e.corrected_ms,
                )
                for e in events
            ),
        )

    def iter_events(self, kiosk_id: str) -> Iterator[StoredEvent]:
        """Every stored event of ``kiosk_id`` in ``seq`` order, streamed."""
        rows = self._conn.execute(
            "SELECT kiosk_id, seq, body, sig, hash FROM events WHERE kiosk_id = ? ORDER BY seq", (kiosk_id,)
        )
        for row in rows:
            yield StoredEvent(kiosk_id=row[0], seq=row[1], body=bytes(row[2]), sig=bytes(row[3]), hash=row[4])

    def count_events(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def insert_equivocation(
        self,
        kiosk_id: str,
        seq: int,
        stored_body: bytes,
        offered_body: bytes,
        offered_sig: bytes,
        now_ms: int,
    ) -> None:
        self._conn.execute(
            "INSERT INTO equivocations (kiosk_id, seq, stored_body, offered_body, offered_sig, received_ms) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (kiosk_id, seq, stored_body, offered_body, offered_sig, now_ms),
        )

    def count_equivocations(self, kiosk_id: str) -> int:
        row = self._conn.execute(
            "SELECT COUNT(*) FROM equivocations WHERE kiosk_id = ?", (kiosk_id,)
        ).fetchone()
        return int(row[0])

    # -- issuer keys ---------------------------------------------------------------------------
    def insert_issuer_key(self, key: IssuerKey) -> None:
        self._conn.execute(
            f"INSERT INTO issuer_keys ({_ISSUER_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
            (key.key_id, key.public_key, key.status.value, key.created_ms, key.changed_ms),
        )

    def get_issuer_key(self, key_id: str) -> IssuerKey | None:
        row = self._conn.execute(
            f"SELECT {_ISSUER_COLUMNS} FROM issuer_keys WHERE key_id = ?", (key_id,)
        ).fetchone()
        return None if row is None else _issuer_key(row)

    def list_issuer_keys(self) -> list[IssuerKey]:
        rows = self._conn.execute(f"SELECT {_ISSUER_COLUMNS} FROM issuer_keys ORDER BY created_ms, rowid")
        return [_issuer_key(row) for row in rows]

    def set_issuer_key_status(self, key_id: str, status: IssuerKeyStatus, changed_ms: int) -> None:
        self._conn.execute(
            "UPDATE issuer_keys SET status = ?, changed_ms = ? WHERE key_id = ?",
            (status.value, changed_ms, key_id),
        )

    # -- volunteers and cards ------------------------------------------------------------------
    def insert_volunteer(
        self, volunteer_id: str, name: str, created_ms: int, *, ehrenamtskarte: str | None = None
    ) -> None:
        self._conn.execute(
            "INSERT INTO volunteers (volunteer_id, created_ms) VALUES (?, ?)", (volunteer_id, created_ms)
        )
        self._conn.execute(
            "INSERT INTO personal_data (volunteer_id, name, ehrenamtskarte) VALUES (?, ?, ?)",
            (volunteer_id, name, ehrenamtskarte),
        )

    def volunteer_exists(self, volunteer_id: str) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM volunteers WHERE volunteer_id = ?", (volunteer_id,)
        ).fetchone()
        return row is not None

    def insert_card(self, card: Card) -> None:
        marks = ", ".join("?" * len(_CARD_NAMES))
        self._conn.execute(
            f"INSERT INTO cards ({_CARD_COLUMNS}) VALUES ({marks})",
            (
                *(card.card_id, card.volunteer_id, card.kind.value, card.registered_ms, card.issuer_key_id),
                *(card.valid_from_s, card.valid_until_s, card.blocked_ms, card.block_reason),
                card.coordinator_ms,
            ),
        )

    def get_card(self, card_id: str) -> Card | None:
        row = self._conn.execute(
            f"SELECT {_CARD_COLUMNS} FROM cards WHERE card_id = ?", (card_id,)
        ).fetchone()
        return None if row is None else _card(row)

    def cards(self, card_ids: Iterable[str]) -> dict[str, Card]:
        """``card_id -> card`` for those of ``card_ids`` that are registered."""
        wanted = sorted(set(card_ids))
        found: dict[str, Card] = {}
        for chunk in _chunks(wanted):
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT {_CARD_COLUMNS} FROM cards WHERE card_id IN ({marks})", tuple(chunk)
            )
            found.update((row[0], _card(row)) for row in rows)
        return found

    def list_cards(self, volunteer_id: str | None = None) -> list[Card]:
        """Every card, or those of ``volunteer_id``, in the order they were registered."""
        where, args = ("WHERE volunteer_id = ?", (volunteer_id,)) if volunteer_id is not None else ("", ())
        rows = self._conn.execute(
            f"SELECT {_CARD_COLUMNS} FROM cards {where} ORDER BY registered_ms, rowid", args
        )
        return [_card(row) for row in rows]

    def block_card(self, card_id: str, blocked_ms: int, reason: str | None) -> None:
        """Block ``card_id`` unless it already is: the first block's time and reason stay.

        A blocked card is no coordinator card either; blocks are final, so neither is that.
        """
        self._conn.execute(
            "UPDATE cards SET blocked_ms = ?, block_reason = ?, coordinator_ms = NULL "
            "WHERE card_id = ? AND blocked_ms IS NULL",
            (blocked_ms, reason, card_id),
        )

    def blocked_card_ids(self) -> list[str]:
        rows = self._conn.execute("SELECT card_id FROM cards WHERE blocked_ms IS NOT NULL ORDER BY card_id")
        return [row[0] for row in rows]

    def set_card_coordinator(self, card_id: str, coordinator_ms: int | None) -> None:
        """Make ``card_id`` a coordinator card since ``coordinator_ms``, or (``None``) no longer one."""
        self._conn.execute("UPDATE cards SET coordinator_ms = ? WHERE card_id = ?", (coordinator_ms, card_id))

    def coordinator_card_ids(self) -> list[str]:
        """Coordinator cards that are credential cards and not blocked, sorted.

        The conditions repeat what the service enforces, so a row changed behind its
        back (or a rule bug) can still never put a blocked or uncredentialed card on a trust list.
        """
        rows = self._conn.execute(
            "SELECT card_id FROM cards WHERE coordinator_ms IS NOT NULL AND blocked_ms IS NULL "
            "AND kind = 'credential' ORDER BY card_id"
        )
        return [row[0] for row in rows]

    def card_volunteers(self, card_ids: Iterable[str]) -> dict[str, str]:
        """``card_id -> volunteer_id`` for those of ``card_ids`` that are registered."""
        wanted = sorted(set(card_ids))
        found: dict[str, str] = {}
        for chunk in _chunks(wanted):
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT card_id, volunteer_id FROM cards WHERE card_id IN ({marks})", tuple(chunk)
            )
            found.update((row[0], row[1]) for row in rows)
        return found

    def volunteers(self) -> list[Volunteer]:
        """Every volunteer with their personal data (``None`` once erased)."""
        rows = self._conn.execute(
            "SELECT v.volunteer_id, p.name, p.ehrenamtskarte FROM volunteers v "
            "LEFT JOIN personal_data p ON p.volunteer_id = v.volunteer_id "
            "ORDER BY v.created_ms, v.rowid"
        )
        return [Volunteer(volunteer_id=row[0], name=row[1], ehrenamtskarte=row[2]) for row in rows]

    def cards_by_volunteer(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {}
        for volunteer_id, card_id in self._conn.execute(
            "SELECT volunteer_id, card_id FROM cards ORDER BY registered_ms, rowid"
        ):
            result.setdefault(volunteer_id, []).append(card_id)
        return result

    # -- shifts and the ledger -----------------------------------------------------------------
    def open_shifts(self, site_id: str, card_ids: Iterable[str]) -> dict[str, Shift]:
        """``card_id -> open shift`` at ``site_id`` for those of ``card_ids`` that have one."""
        wanted = sorted(set(card_ids))
        found: dict[str, Shift] = {}
        for chunk in _chunks(wanted):
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT {_SHIFT_COLUMNS_S}, e.body, e.flags, e.corrected_ms "
                "FROM shifts s LEFT JOIN events e ON e.kiosk_id = s.in_kiosk AND e.seq = s.in_seq "
                f"WHERE s.status = 'open' AND s.site_id = ? AND s.card_id IN ({marks})",
                (site_id, *chunk),
            )
            for row in rows:
                shift = _shift(row[: len(_SHIFT_NAMES)])
                body, flags, corrected_ms = row[len(_SHIFT_NAMES) :]
                if body is not None:
                    shift.in_clock = _tap_clock(bytes(body), decode_flags(flags), corrected_ms)
                found[shift.card_id] = shift
        return found

    def next_shift_id(self) -> int:
        """The ID for the next new shift.  Safe to extend in a write transaction: there is one writer."""
        return int(self._conn.execute("SELECT COALESCE(MAX(shift_id), 0) + 1 FROM shifts").fetchone()[0])

    def insert_shifts(self, shifts: Iterable[Shift]) -> None:
        """Store new shifts with the IDs they carry (see :meth:`next_shift_id`)."""
        marks = ", ".join("?" * len(_SHIFT_NAMES))
        self._conn.executemany(
            f"INSERT INTO shifts ({_SHIFT_COLUMNS}) VALUES ({marks})",
            (_shift_row(shift) for shift in shifts),
        )

    def close_shifts(self, shifts: Iterable[Shift]) -> None:
        """Write the fields of existing shifts that pairing or a review decision may change."""
        self._conn.executemany(
            "UPDATE shifts SET start_ms = ?, out_kiosk = ?, out_seq = ?, end_ms = ?, minutes = ?, "
            "tokens = ?, status = ?, reason = ?, decision = ?, uncapped_tokens = ? WHERE shift_id = ?",
            (
                (
                    *(s.start_ms, s.out_kiosk, s.out_seq, s.end_ms, s.minutes, s.tokens, s.status.value),
                    *(s.reason, s.decision, s.uncapped_tokens, s.shift_id),
                )
                for s in shifts
            ),
        )

    def insert_ledger_entries(self, entries: Iterable[LedgerEntry]) -> None:
        """Append ledger entries and move each volunteer's stored balance by their deltas.

        Both in this transaction, so the ``balances`` row always equals the sum of the
        volunteer's entries (:meth:`summed_balances` recomputes it for checks).
        """
        entries = list(entries)
        self._conn.executemany(
            "INSERT INTO ledger_entries (volunteer_id, delta, kind, ref, created_ms, log_index) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            entries,
        )
        self._conn.executemany(
            "INSERT INTO balances (volunteer_id, balance) VALUES (?, ?) "
            "ON CONFLICT (volunteer_id) DO UPDATE SET balance = balance + excluded.balance",
            ((entry.volunteer_id, entry.delta) for entry in entries),
        )

    def shifts_for_card(self, card_id: str) -> list[Shift]:
        rows = self._conn.execute(
            f"SELECT {_SHIFT_COLUMNS} FROM shifts WHERE card_id = ? ORDER BY shift_id", (card_id,)
        )
        return [_shift(row) for row in rows]

    def shifts_by_volunteer(self) -> dict[str, list[Shift]]:
        result: dict[str, list[Shift]] = {}
        for row in self._conn.execute(f"SELECT {_SHIFT_COLUMNS} FROM shifts ORDER BY shift_id"):
            shift = _shift(row)
            result.setdefault(shift.volunteer_id, []).append(shift)
        return result

    def review_shifts(self, now_ms: int) -> list[Shift]:
        """Shifts in review, and open shifts that are flagged or older than their site's maximum.

        An overdue open shift is reported with reason ``missing_check_out``; it stays open in
        storage, so a late check-out can still close it (and send it to review as too long).
        """
        rows = self._conn.execute(
            f"SELECT {_SHIFT_COLUMNS_S} "
            "FROM shifts s JOIN sites t ON t.site_id = s.site_id "
            "WHERE s.status = 'review' OR (s.status = 'open' AND "
            "(s.reason IS NOT NULL OR s.start_ms < ? - t.max_shift_hours * ?)) ORDER BY s.shift_id",
            (now_ms, _MS_PER_HOUR),
        )
        shifts = [_shift(row) for row in rows]
        for shift in shifts:
            if shift.status is ShiftStatus.OPEN and shift.reason is None:
                shift.reason = "missing_check_out"
        return shifts

    def balances(self) -> dict[str, int]:
        """Every stored balance, by volunteer (volunteers without entries have no row)."""
        rows = self._conn.execute("SELECT volunteer_id, balance FROM balances")
        return {row[0]: int(row[1]) for row in rows}

    def summed_balances(self) -> dict[str, int]:
        """Balances recomputed as the sum of each volunteer's ledger entries (to check :meth:`balances`)."""
        rows = self._conn.execute("SELECT volunteer_id, SUM(delta) FROM ledger_entries GROUP BY volunteer_id")
        return {row[0]: int(row[1]) for row in rows}

    def card_balances(self, card_ids: Iterable[str]) -> dict[str, int]:
        """``card_id -> its volunteer's balance`` for those of ``card_ids`` that are registered."""
        wanted = sorted(set(card_ids))
        found: dict[str, int] = {}
        for chunk in _chunks(wanted):
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                "SELECT c.card_id, COALESCE(b.balance, 0) FROM cards c "
                "LEFT JOIN balances b ON b.volunteer_id = c.volunteer_id "
                f"WHERE c.card_id IN ({marks})",
                tuple(chunk),
            )
            found.update((row[0], int(row[1])) for row in rows)
        return found

    def balance(self, volunteer_id: str) -> int:
        row = self._conn.execute(
            "SELECT balance FROM balances WHERE volunteer_id = ?", (volunteer_id,)
        ).fetchone()
        return 0 if row is None else int(row[0])

    def all_balances(self) -> dict[str, int]:
        """Every volunteer's balance, 0 for those without ledger entries."""
        rows = self._conn.execute(
            "SELECT v.volunteer_id, COALESCE(b.balance, 0) FROM volunteers v "
            "LEFT JOIN balances b ON b.volunteer_id = v.volunteer_id ORDER BY v.volunteer_id"
        )
        return {row[0]: int(row[1]) for row in rows}

    # -- redemptions ---------------------------------------------------------------------------
    def get_redemption(self, redemption_id: str) -> Redemption | None:
        row = self._conn.execute(
            f"SELECT {_REDEMPTION_COLUMNS}, rowid FROM redemptions WHERE redemption_id = ?", (redemption_id,)
        ).fetchone()
        return None if row is None else _redemption(row)

    def insert_redemption(self, redemption: Redemption) -> int:
        """Store a redemption seen for the first time; return its row ID (its ledger entries' ``ref``)."""
        marks = ", ".join("?" * len(_REDEMPTION_NAMES))
        cursor = self._conn.execute(
            f"INSERT INTO redemptions ({_REDEMPTION_COLUMNS}) VALUES ({marks})", _redemption_row(redemption)
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def update_redemption(self, redemption: Redemption) -> None:
        """Store everything about ``redemption`` that a later event may change (all but its ID)."""
        self._conn.execute(
            f"UPDATE redemptions SET ({_REDEMPTION_COLUMNS}) = ({', '.join('?' * len(_REDEMPTION_NAMES))}) "
            "WHERE redemption_id = ?",
            (*_redemption_row(redemption), redemption.redemption_id),
        )

    def unacknowledged_overdrafts(self) -> list[Redemption]:
        """Debited redemptions that took a balance below zero and no decision acknowledged, oldest first."""
        rows = self._conn.execute(
            f"SELECT {_REDEMPTION_COLUMNS}, rowid FROM redemptions "
            "WHERE overdraft = 1 AND acknowledged IS NULL AND status = 'debited' ORDER BY received_ms, rowid"
        )
        return [_redemption(row) for row in rows]

    def acknowledge_overdraft(self, redemption_id: str, decision_hash: str) -> None:
        """Record that the decision ``decision_hash`` accepted the overdraft of ``redemption_id``."""
        self._conn.execute(
            "UPDATE redemptions SET acknowledged = ? WHERE redemption_id = ?", (decision_hash, redemption_id)
        )

    def shop_redemptions(self, site_id: str, from_ms: int, to_ms: int | None) -> list[Redemption]:
        """Debited and voided redemptions at ``site_id``, ``wall_ms`` in ``[from_ms, to_ms)``, in time order.

        ``to_ms`` ``None`` means no upper end.  Declined ones moved nothing and are left out.
        """
        rows = self._conn.execute(
            f"SELECT {_REDEMPTION_COLUMNS}, rowid FROM redemptions WHERE site_id = ? AND wall_ms >= ? "
            "AND (? IS NULL OR wall_ms < ?) AND status IN ('debited', 'voided') ORDER BY wall_ms, rowid",
            (site_id, from_ms, to_ms, to_ms),
        )
        return [_redemption(row) for row in rows]

    def get_volunteer(self, volunteer_id: str) -> Volunteer | None:
        """The volunteer with their personal data (``name`` ``None`` once erased), or ``None``."""
        row = self._conn.execute(
            "SELECT v.volunteer_id, p.name, p.ehrenamtskarte FROM volunteers v "
            "LEFT JOIN personal_data p ON p.volunteer_id = v.volunteer_id WHERE v.volunteer_id = ?",
            (volunteer_id,),
        ).fetchone()
        return None if row is None else Volunteer(volunteer_id=row[0], name=row[1], ehrenamtskarte=row[2])

    def balance_before(self, volunteer_id: str, before_ms: int) -> int:
        """The sum of ``volunteer_id``'s ledger entries created before ``before_ms``."""
        row = self._conn.execute(
            "SELECT COALESCE(SUM(delta), 0) FROM ledger_entries WHERE volunteer_id = ? AND created_ms < ?",
            (volunteer_id, before_ms),
        ).fetchone()
        return int(row[0])

    def ledger_lines(
        self, volunteer_id: str, from_ms: int, to_ms: int | None
    ) -> list[tuple[LedgerEntry, str | None, str | None]]:
        """``(entry, site_id, card_id)`` of ``volunteer_id``'s entries created in ``[from_ms, to_ms)``.

        In ``(created_ms, entry_id)`` order; the site and card are the shift's or the
        redemption's the entry is for (``None`` for any other kind).
        """
        rows = self._conn.execute(
            "SELECT e.volunteer_id, e.delta, e.kind, e.ref, e.created_ms, e.log_index, "
            "COALESCE(s.site_id, r.site_id), COALESCE(s.card_id, r.card_id) FROM ledger_entries e "
            "LEFT JOIN shifts s ON e.kind = 'shift' AND s.shift_id = e.ref "
            "LEFT JOIN redemptions r ON e.kind IN ('redeem', 'void') AND r.rowid = e.ref "
            "WHERE e.volunteer_id = ? AND e.created_ms >= ? AND (? IS NULL OR e.created_ms < ?) "
            "ORDER BY e.created_ms, e.entry_id",
            (volunteer_id, from_ms, to_ms, to_ms),
        )
        return [(LedgerEntry(*row[:6]), row[6], row[7]) for row in rows]

    # -- the transparency log ------------------------------------------------------------------
    def tlog_size(self) -> int:
        """How many entries the log holds (indexes are dense from 0)."""
        return int(self._conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM tlog_entries").fetchone()[0])

    def append_tlog(
        self, first_index: int, entries: Sequence[bytes], hashes: Iterable[tuple[int, int, bytes]]
    ) -> None:
        """Store ``entries`` from ``first_index`` on, and the ``(level, index, hash)`` rows they complete."""
        self._conn.executemany(
            "INSERT INTO tlog_entries (idx, entry) VALUES (?, ?)",
            zip(range(first_index, first_index + len(entries)), entries, strict=True),
        )
        self._conn.executemany("INSERT INTO tlog_hashes (level, idx, hash) VALUES (?, ?, ?)", hashes)

    def tlog_hash(self, level: int, index: int) -> bytes | None:
        row = self._conn.execute(
            "SELECT hash FROM tlog_hashes WHERE level = ? AND idx = ?", (level, index)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def tlog_hash_range(self, level: int, start: int, end: int) -> list[bytes]:
        """The stored hashes of ``level`` with indexes in ``[start, end)``, in order."""
        rows = self._conn.execute(
            "SELECT hash FROM tlog_hashes WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx",
            (level, start, end),
        )
        return [bytes(row[0]) for row in rows]

    def tlog_entry(self, index: int) -> bytes | None:
        row = self._conn.execute("SELECT entry FROM tlog_entries WHERE idx = ?", (index,)).fetchone()
        return None if row is None else bytes(row[0])

    def tlog_entry_range(self, start: int, end: int) -> list[bytes]:
        """The entries with indexes in ``[start, end)``, in order."""
        rows = self._conn.execute(
            "SELECT entry FROM tlog_entries WHERE idx >= ? AND idx < ? ORDER BY idx", (start, end)
        )
        return [bytes(row[0]) for row in rows]

    def insert_checkpoint(self, size: int, note: bytes, created_ms: int) -> None:
        """Keep a signed checkpoint; the first one signed for a size stays."""
        self._conn.execute(
            "INSERT OR IGNORE INTO tlog_checkpoints (size, note, created_ms) VALUES (?, ?, ?)",
            (size, note, created_ms),
        )

    def latest_checkpoint(self) -> tuple[int, bytes] | None:
        """``(size, note)`` of the largest checkpoint signed so far."""
        row = self._conn.execute(
            "SELECT size, note FROM tlog_checkpoints ORDER BY size DESC LIMIT 1"
        ).fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def checkpoint(self, size: int) -> bytes | None:
        row = self._conn.execute("SELECT note FROM tlog_checkpoints WHERE size = ?", (size,)).fetchone()
        return None if row is None else bytes(row[0])

    def has_checkpoint_between(self, low: int, high: int) -> bool:
        """Whether a checkpoint was signed for a size in ``low..high`` (inclusive)."""
        row = self._conn.execute(
            "SELECT 1 FROM tlog_checkpoints WHERE size BETWEEN ? AND ? LIMIT 1", (low, high)
        ).fetchone()
        return row is not None

    def insert_log_evidence(self, kiosk_id: str, kind: str, body: bytes, received_ms: int) -> None:
        self._conn.execute(
            "INSERT INTO log_evidence (kiosk_id, kind, body, received_ms) VALUES (?, ?, ?, ?)",
            (kiosk_id, kind, body, received_ms),
        )

    def list_log_evidence(self, kiosk_id: str) -> list[tuple[str, bytes, int]]:
        """``(kind, body, received_ms)`` of every report from ``kiosk_id``, oldest first."""
        rows = self._conn.execute(
            "SELECT kind, body, received_ms FROM log_evidence WHERE kiosk_id = ? ORDER BY evidence_id",
            (kiosk_id,),
        )
        return [(row[0], bytes(row[1]), row[2]) for row in rows]


class Storage:
    """One SQLite ledger file.  Thread-safe: every transaction holds the connection's lock.

    Example::

        storage = Storage(path)          # opens, and applies pending migrations
        with storage.write() as tx:
            tx.set_setting("k", "v")     # committed when the block ends, rolled back on error
        storage.close()
    """

    def __init__(self, path: Path, *, migrate: bool = True) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = FULL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._conn.execute("PRAGMA busy_timeout = 10000")
            if migrate:
                self.migrate()
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def migrate(self) -> list[str]:
        """Apply pending migrations, each in its own transaction with its record; return their names."""
        applied: list[str] = []
        with self._lock:
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_ms INTEGER NOT NULL)"
            )
            for migration in MIGRATIONS:
                name = migration.__name__.lstrip("_")
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    done = self._conn.execute("SELECT 1 FROM migrations WHERE name = ?", (name,)).fetchone()
                    if done is None:
                        migration(self._conn)
                        self._conn.execute(
                            "INSERT INTO migrations (name, applied_ms) VALUES (?, ?)",
                            (name, time.time_ns() // 1_000_000),
                        )
                        applied.append(name)
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
        return applied

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on success, rolled back on any error."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A read transaction: one consistent snapshot for several queries."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield Tx(self._conn)
            finally:
                self._conn.execute("ROLLBACK")
