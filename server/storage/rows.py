"""How each :mod:`server.models` record is stored: its columns, and the converters both ways.

One place per record, so a query in any domain module reads and writes the same
columns in the same order, and a second engine can reuse the mapping.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any, Final

from protocol import ClockEvidence, ShopLimits, parse_event
from protocol.trust import parse_presets
from server.models import (
    Card,
    CardKind,
    CoordinatorKey,
    CoordinatorStatus,
    IssuerKey,
    IssuerKeyStatus,
    Kiosk,
    KioskHealth,
    KioskStatus,
    Redemption,
    RedemptionStatus,
    Shift,
    ShiftStatus,
    Site,
    SiteKind,
    TapClock,
)

SITE_COLUMNS: Final = (
    "site_id, name, tokens_per_hour, max_shift_hours, allow_uncredentialed, kind, daily_cap, bonuses, "
    "max_amount, offline_allowance, offline_daily_cap, void_window_s, presets, max_day_hours, backdate_days"
)


def site_from_row(row: Sequence[Any]) -> Site:
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
        max_day_hours=row[13],
        backdate_days=row[14],
    )


def site_to_row(site: Site) -> tuple[Any, ...]:
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
        *(site.max_day_hours, site.backdate_days),
    )


COORDINATOR_COLUMNS: Final = "c.coordinator_id, c.public_key, c.status, c.created_ms, c.changed_ms, n.name"


def coordinator_from_row(row: Sequence[Any]) -> CoordinatorKey:
    return CoordinatorKey(
        coordinator_id=row[0],
        public_key=bytes(row[1]),
        status=CoordinatorStatus(row[2]),
        created_ms=row[3],
        changed_ms=row[4],
        name=row[5],
    )


ISSUER_COLUMNS: Final = "key_id, public_key, status, created_ms, changed_ms"


def issuer_key_from_row(row: Sequence[Any]) -> IssuerKey:
    return IssuerKey(
        key_id=row[0],
        public_key=bytes(row[1]),
        status=IssuerKeyStatus(row[2]),
        created_ms=row[3],
        changed_ms=row[4],
    )


CARD_NAMES: Final = (
    *("card_id", "volunteer_id", "kind", "registered_ms", "issuer_key_id", "valid_from_s"),
    *("valid_until_s", "blocked_ms", "block_reason", "coordinator_ms"),
)
CARD_COLUMNS: Final = ", ".join(CARD_NAMES)


def card_from_row(row: Sequence[Any]) -> Card:
    values = dict(zip(CARD_NAMES, row, strict=True))
    values["kind"] = CardKind(values["kind"])
    return Card(**values)


def kiosk_from_row(row: Sequence[Any]) -> Kiosk:
    return Kiosk(
        kiosk_id=row[0],
        site_id=row[1],
        public_key=bytes(row[2]),
        status=KioskStatus(row[3]),
        last_seq=row[4],
        head=row[5],
        enrolled_ms=row[6],
    )


KIOSK_COLUMNS: Final = "kiosk_id, site_id, public_key, status, last_seq, head, enrolled_ms"
SHIFT_NAMES: Final = (
    *("shift_id", "card_id", "volunteer_id", "site_id", "kiosk_id", "in_kiosk", "in_seq", "out_kiosk"),
    *("out_seq", "start_ms", "end_ms", "minutes", "tokens", "status", "reason", "source", "decision"),
    "uncapped_tokens",
)
SHIFT_COLUMNS: Final = ", ".join(SHIFT_NAMES)
SHIFT_COLUMNS_S: Final = ", ".join(f"s.{name}" for name in SHIFT_NAMES)


def shift_from_row(row: Sequence[Any]) -> Shift:
    values = dict(zip(SHIFT_NAMES, row, strict=True))
    values["status"] = ShiftStatus(values["status"])
    return Shift(**values)


def shift_to_row(s: Shift) -> tuple[Any, ...]:
    """``s`` as a row of :data:`SHIFT_NAMES` (one tuple literal: ingest stores a row per shift)."""
    return (
        s.shift_id,
        s.card_id,
        s.volunteer_id,
        s.site_id,
        s.kiosk_id,
        s.in_kiosk,
        s.in_seq,
        s.out_kiosk,
        s.out_seq,
        s.start_ms,
        s.end_ms,
        s.minutes,
        s.tokens,
        s.status.value,
        s.reason,
        s.source,
        s.decision,
        s.uncapped_tokens,
    )


REDEMPTION_NAMES: Final = (
    *("redemption_id", "site_id", "kiosk_id", "seq", "card_id", "volunteer_id", "amount", "online"),
    *("status", "wall_ms", "received_ms", "overdraft", "acknowledged", "void_kiosk", "void_seq"),
    *("void_wall_ms", "held", "reviewed", "staff_id"),
)
REDEMPTION_COLUMNS: Final = ", ".join(REDEMPTION_NAMES)


def tap_clock(
    body: bytes, sealed: str | None, flags: Sequence[str], corrected_ms: int | None, enrolled_ms: int
) -> TapClock:
    """The clock of a stored (so valid) check-in event, for pairing its open shift.

    A v2 event's bytes seal its clock: it is read from ``sealed``, the stored
    opening's ``{clock, data, kind}`` (JSON); a v1 event's bytes name it.  A
    check-in a clock reference corrected counts as synced at its corrected time,
    exactly as it did when it was paired (:func:`protocol.clockref.event_time`).
    ``enrolled_ms`` is when its kiosk was enrolled.
    """
    if sealed is not None:
        c = json.loads(sealed)["clock"]
        clock = ClockEvidence(
            wall_ms=c["wall_ms"], synced=c["synced"], boot_id=c["boot"], mono_ms=c["mono_ms"]
        )
    else:
        clock = parse_event(body).require_opened().clock
    wall_ms, synced = (clock.wall_ms, clock.synced) if corrected_ms is None else (corrected_ms, True)
    return TapClock(
        wall_ms,
        clock.boot_id,
        clock.mono_ms,
        synced,
        flags[0] if flags else None,
        len(flags) > 1,
        enrolled_ms,
    )


def redemption_from_row(row: Sequence[Any]) -> Redemption:
    """A redemption from its columns followed by its ``rowid``."""
    values = dict(zip(REDEMPTION_NAMES, row[:-1], strict=True))
    values["online"] = bool(values["online"])
    values["overdraft"] = bool(values["overdraft"])
    values["status"] = RedemptionStatus(values["status"])
    return Redemption(**values, row_id=row[-1])


def redemption_to_row(r: Redemption) -> tuple[Any, ...]:
    return (
        *(r.redemption_id, r.site_id, r.kiosk_id, r.seq, r.card_id, r.volunteer_id, r.amount),
        *(int(r.online), r.status.value, r.wall_ms, r.received_ms, int(r.overdraft), r.acknowledged),
        *(r.void_kiosk, r.void_seq, r.void_wall_ms, r.held, r.reviewed, r.staff_id),
    )


HEALTH_COLUMNS: Final = (
    "kiosk_id, received_ms, sent_ms, offset_ms, boot, mono_ms, synced, version, pending, reader, last_seq"
)


def health_from_row(row: Sequence[Any]) -> KioskHealth:
    return KioskHealth(
        *(row[0], int(row[1]), int(row[2]), int(row[3]), row[4], int(row[5]), bool(row[6]), row[7]),
        *(int(row[8]), row[9], int(row[10])),
    )


@functools.lru_cache(maxsize=64)
def encode_flags(flags: tuple[str, ...]) -> str:
    """How an event's flags are stored: a JSON array of reason codes (cached: there are few)."""
    return json.dumps(list(flags), separators=(",", ":"))


def decode_flags(text: str) -> list[str]:
    value = json.loads(text)
    return [str(flag) for flag in value]
