"""After a run and a sync, a kiosk's outbox and logs hold no card ID or UID beyond the documented tables.

Issue 17: kiosks hold no names, and their logs no card IDs except where the protocol
needs them.  The documented exceptions (docs/kiosk.md, "What a kiosk keeps about
cards"): ``open_shifts`` names the card of a shift still open, ``balances`` caches
card IDs with their balance (no names), and an event no receipt covers yet keeps its
opening.  This runs the wired kiosk on a script, syncs, and then searches every
byte of the outbox files (database and WAL) and every log record.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import sqlite3
import threading
from pathlib import Path

import pytest

from protocol import ids, sign_trust_list, uid_pseudonym
from terminal.config import load_config, write_config
from terminal.outbox import Outbox
from terminal.service import open_service
from terminal.trust import TrustStore
from tests.cardfactory import TestIssuer, uid_for

LEAVER, STAYER = ids.new_id(ids.CARD), ids.new_id(ids.CARD)
STRANGER_UID = bytes.fromhex("deadbeef")
ISSUER = TestIssuer()
SCRIPT = f"""\
{uid_for(LEAVER).hex()} {ISSUER.ndef(LEAVER).hex()}
{uid_for(STAYER).hex()} {ISSUER.ndef(STAYER).hex()}
{STRANGER_UID.hex()}
{uid_for(LEAVER).hex()} {ISSUER.ndef(LEAVER).hex()}
"""


@pytest.fixture
def issuer() -> TestIssuer:
    return ISSUER


def _needles(card_id: str) -> list[bytes]:
    """How a card ID could show up: as itself, or its 32 hex digits alone."""
    return [card_id.encode(), card_id[2:].encode()]


def _files(outbox_path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in outbox_path.parent.glob(outbox_path.name + "*")}


def test_a_synced_outbox_and_the_logs_name_only_open_shifts(
    config, trust, server_key, fake_ledger, tmp_path, caplog
):
    with Outbox(config.outbox_path) as outbox:
        store = TrustStore(outbox, server_key=server_key.public_key, kiosk_id=config.kiosk_id)
        store.store(sign_trust_list(trust.trust, server_key))
    path = tmp_path / "kiosk.toml"
    write_config(path, dataclasses.replace(config, server_url=fake_ledger.url, double_tap_window_s=0))
    caplog.set_level(logging.DEBUG)
    stdout = io.StringIO()
    with open_service(load_config(path), stdin=io.StringIO(SCRIPT), stdout=stdout) as service:
        final = service.run(threading.Event())
    assert stdout.getvalue().splitlines() == ["OK", "OK", "DENIED", "OK"]
    assert final is not None and final.ok and final.pending == 0
    stranger = uid_pseudonym(STRANGER_UID, config.uid_pseudonym_key)

    logs = "\n".join(record.getMessage() for record in caplog.records).encode()
    assert logs  # the run did log
    for needle in [*_needles(LEAVER), *_needles(STAYER), *_needles(stranger)]:
        assert needle not in logs, needle
    for uid in (uid_for(LEAVER), uid_for(STAYER), STRANGER_UID):
        assert uid.hex().encode() not in logs and uid.hex().upper().encode() not in logs

    # The database, row by row: only the open shift names a card.
    conn = sqlite3.connect(config.outbox_path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        found: dict[str, list[str]] = {}
        for table in tables:
            for row in conn.execute(f"SELECT * FROM {table}"):
                text = repr(row)
                for card in (LEAVER, STAYER, stranger):
                    if card in text or card[2:] in text:
                        found.setdefault(table, []).append(card)
        assert found == {"open_shifts": [STAYER]}
        assert conn.execute("SELECT COUNT(*) FROM balances").fetchone()[0] == 0  # the fake sends no sheet
    finally:
        conn.close()
    # Every byte of the files (free pages and WAL frames included): the closed shift's card and the
    # stranger are gone, and no UID was ever written.
    for name, data in _files(config.outbox_path).items():
        for needle in [*_needles(LEAVER), *_needles(stranger)]:
            assert needle not in data, (name, needle)
        for uid in (uid_for(LEAVER), uid_for(STAYER), STRANGER_UID):
            assert uid not in data or len(uid) < 5, (name, uid)  # 4-byte UIDs may occur by chance
