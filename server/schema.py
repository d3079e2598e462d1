"""The ledger's SQLite schema, as migration functions applied in order.

Each function runs in one transaction together with the row that records it
(:meth:`server.storage.Storage.migrate`), so a crash leaves a migration either
fully applied or not at all.  Never edit a released migration; add the next.
The ledger tables hold random IDs only; names live in ``personal_data``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Final

Migration = Callable[[sqlite3.Connection], None]


def _m001_initial(conn: sqlite3.Connection) -> None:
    statements = [
        "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE sites (
            site_id TEXT PRIMARY KEY, name TEXT NOT NULL,
            tokens_per_hour INTEGER NOT NULL CHECK (tokens_per_hour >= 0),
            max_shift_hours INTEGER NOT NULL CHECK (max_shift_hours >= 1),
            created_ms INTEGER NOT NULL)""",
        """CREATE TABLE enrolment_codes (
            code_sha256 TEXT PRIMARY KEY, site_id TEXT NOT NULL REFERENCES sites (site_id),
            created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,
            used_ms INTEGER, kiosk_id TEXT)""",
        """CREATE TABLE kiosks (
            kiosk_id TEXT PRIMARY KEY, site_id TEXT NOT NULL REFERENCES sites (site_id),
            public_key BLOB NOT NULL UNIQUE,
            status TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'revoked')),
            last_seq INTEGER NOT NULL CHECK (last_seq >= 0), head TEXT NOT NULL,
            enrolled_ms INTEGER NOT NULL)""",
        """CREATE TABLE events (
            kiosk_id TEXT NOT NULL REFERENCES kiosks (kiosk_id), seq INTEGER NOT NULL CHECK (seq >= 1),
            body BLOB NOT NULL, sig BLOB NOT NULL, hash TEXT NOT NULL, kind TEXT NOT NULL,
            card_id TEXT NOT NULL, wall_ms INTEGER NOT NULL, flags TEXT NOT NULL,
            received_ms INTEGER NOT NULL,
            PRIMARY KEY (kiosk_id, seq))""",
        """CREATE TABLE equivocations (
            equivocation_id INTEGER PRIMARY KEY, kiosk_id TEXT NOT NULL REFERENCES kiosks (kiosk_id),
            seq INTEGER NOT NULL, stored_body BLOB NOT NULL, offered_body BLOB NOT NULL,
            offered_sig BLOB NOT NULL, received_ms INTEGER NOT NULL)""",
        "CREATE TABLE volunteers (volunteer_id TEXT PRIMARY KEY, created_ms INTEGER NOT NULL)",
        """CREATE TABLE personal_data (
            volunteer_id TEXT PRIMARY KEY REFERENCES volunteers (volunteer_id), name TEXT NOT NULL)""",
        """CREATE TABLE cards (
            card_id TEXT PRIMARY KEY, volunteer_id TEXT NOT NULL REFERENCES volunteers (volunteer_id),
            registered_ms INTEGER NOT NULL)""",
        "CREATE INDEX cards_volunteer ON cards (volunteer_id)",
        """CREATE TABLE shifts (
            shift_id INTEGER PRIMARY KEY, card_id TEXT NOT NULL REFERENCES cards (card_id),
            volunteer_id TEXT NOT NULL REFERENCES volunteers (volunteer_id),
            site_id TEXT NOT NULL REFERENCES sites (site_id), kiosk_id TEXT NOT NULL,
            in_kiosk TEXT, in_seq INTEGER, out_kiosk TEXT, out_seq INTEGER,
            start_ms INTEGER NOT NULL, end_ms INTEGER,
            minutes INTEGER NOT NULL CHECK (minutes >= 0), tokens INTEGER NOT NULL CHECK (tokens >= 0),
            status TEXT NOT NULL CHECK (status IN ('open', 'paid', 'review')), reason TEXT)""",
        # At most one open shift per card and site: the pairing rule, enforced by the schema too.
        "CREATE UNIQUE INDEX shifts_one_open ON shifts (card_id, site_id) WHERE status = 'open'",
        "CREATE INDEX shifts_card ON shifts (card_id)",
        "CREATE INDEX shifts_volunteer ON shifts (volunteer_id)",
        """CREATE TABLE ledger_entries (
            entry_id INTEGER PRIMARY KEY, volunteer_id TEXT NOT NULL REFERENCES volunteers (volunteer_id),
            delta INTEGER NOT NULL, kind TEXT NOT NULL, ref INTEGER, created_ms INTEGER NOT NULL,
            UNIQUE (kind, ref))""",
        "CREATE INDEX ledger_volunteer ON ledger_entries (volunteer_id)",
    ]
    for statement in statements:
        conn.execute(statement)


def _m002_card_credentials(conn: sqlite3.Connection) -> None:
    """Issuer keys, how each card was issued, blocks, the site card policy, the Ehrenamtskarte number.

    Cards registered before this migration become ``credential`` cards without
    issuance details (``issuer_key_id`` and the window stay ``NULL``).  Only
    public keys are stored: issuer private keys never reach the server.
    """
    statements = [
        """CREATE TABLE issuer_keys (
            key_id TEXT PRIMARY KEY, public_key BLOB NOT NULL UNIQUE,
            status TEXT NOT NULL CHECK (status IN ('active', 'retired', 'revoked')),
            created_ms INTEGER NOT NULL, changed_ms INTEGER NOT NULL)""",
        "ALTER TABLE cards ADD COLUMN kind TEXT NOT NULL DEFAULT 'credential' "
        "CHECK (kind IN ('credential', 'uid'))",
        "ALTER TABLE cards ADD COLUMN issuer_key_id TEXT REFERENCES issuer_keys (key_id)",
        "ALTER TABLE cards ADD COLUMN valid_from_s INTEGER",
        "ALTER TABLE cards ADD COLUMN valid_until_s INTEGER",
        "ALTER TABLE cards ADD COLUMN blocked_ms INTEGER",
        "ALTER TABLE cards ADD COLUMN block_reason TEXT",
        # Every trust list reads all blocked cards; a partial index keeps that a short scan.
        "CREATE INDEX cards_blocked ON cards (card_id) WHERE blocked_ms IS NOT NULL",
        "ALTER TABLE sites ADD COLUMN allow_uncredentialed INTEGER NOT NULL DEFAULT 0 "
        "CHECK (allow_uncredentialed IN (0, 1))",
        "ALTER TABLE personal_data ADD COLUMN ehrenamtskarte TEXT",
    ]
    for statement in statements:
        conn.execute(statement)


MIGRATIONS: Final[Sequence[Migration]] = (_m001_initial, _m002_card_credentials)
