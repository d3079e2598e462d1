"""Helpers shared by the kiosk tests."""

from __future__ import annotations

import sqlite3

from protocol import Event, PrivateKey, verify_event
from terminal.config import KioskConfig


def recorded_events(config: KioskConfig, kiosk_key: PrivateKey) -> list[Event]:
    """Every event in the kiosk's outbox, in order, each with its signature checked."""
    conn = sqlite3.connect(config.outbox_path)
    try:
        rows = list(conn.execute("SELECT body, sig FROM events ORDER BY seq"))
    finally:
        conn.close()
    return [verify_event(body, sig, kiosk_key.public_key).event for body, sig in rows]
