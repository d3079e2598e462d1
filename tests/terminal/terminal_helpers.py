"""Helpers shared by the kiosk tests."""

from __future__ import annotations

import json
import sqlite3

from protocol import Event, PrivateKey, verify_event
from protocol.commitments import parse_opening
from terminal.config import KioskConfig


def recorded_events(config: KioskConfig, kiosk_key: PrivateKey) -> list[Event]:
    """Every event in the kiosk's outbox, in order, each with its signature checked.

    A v2 event the outbox still keeps the opening of comes opened (its ``card`` set).
    """
    conn = sqlite3.connect(config.outbox_path)
    try:
        rows = list(conn.execute("SELECT body, sig, opening FROM events ORDER BY seq"))
    finally:
        conn.close()
    events = []
    for body, sig, opening in rows:
        event = verify_event(body, sig, kiosk_key.public_key).event
        events.append(event if opening is None else event.opened(parse_opening(json.loads(opening))))
    return events
