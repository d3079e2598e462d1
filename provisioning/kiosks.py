"""``kokreativ provision terminal list`` as a table for people: each kiosk's health, silent ones marked.

The server decides which kiosks are silent (``GET /v1/admin/kiosks``,
``silent_after_s``); this module only filters and formats.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from protocol.localtime import ZONE_NAME
from provisioning.coordinator_keys import format_local
from provisioning.reports import table

SILENT_MARK = "SILENT"


def silent_only(kiosks: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The kiosks the server marked silent, in its order."""
    return [k for k in kiosks if k.get("silent") is True]


def format_offset(ms: object) -> str:
    """A clock offset for people: ``+1.2 s``, ``-3 min``; ``-`` when unknown.

    Positive means the kiosk's clock is behind the server's (as in the API).
    """
    if isinstance(ms, bool) or not isinstance(ms, int):
        return "-"
    sign = "+" if ms >= 0 else "-"
    size = abs(ms)
    if size < 60_000:
        return f"{sign}{size / 1000:.1f} s"
    if size < 3_600_000:
        return f"{sign}{size // 60_000} min"
    if size < 172_800_000:
        return f"{sign}{size / 3_600_000:.1f} h"
    return f"{sign}{size // 86_400_000} d"


def render_kiosks(
    kiosks: Sequence[Mapping[str, Any]], names: Mapping[str, str] | None = None, *, silent_after_s: int
) -> str:
    """The kiosk list as a table; a silent kiosk's status reads ``SILENT`` (and why, below the table)."""
    names = names or {}
    if not kiosks:
        return "No kiosks.\n"
    rows = [
        (
            k.get("kiosk_id"),
            names.get(str(k.get("site_id"))) or k.get("site_id"),
            SILENT_MARK if k.get("silent") else k.get("status"),
            format_local(k.get("last_seen_ms")),
            k.get("pending"),
            k.get("reader"),
            format_offset(k.get("clock_offset_ms")),
        )
        for k in kiosks
    ]
    text = table(
        ("kiosk", "site", "status", f"last seen ({ZONE_NAME})", "pending", "reader", "clock offset"),
        rows,
        right=frozenset({4, 6}),
    )
    silent = len(silent_only(kiosks))
    note = (
        f"\n{silent} silent: no heartbeat and no sync for more than {silent_after_s} s.\n" if silent else "\n"
    )
    return text + note
