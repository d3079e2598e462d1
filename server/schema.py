"""The ledger's schema, as migration functions applied in order (written in SQLite's dialect).

Each function runs in one transaction together with the row that records it
(:meth:`server.storage.Storage.migrate`), so a crash leaves a migration either
fully applied or not at all.  Never edit a released migration; add the next.
The ledger tables hold random IDs only; names live in ``personal_data``, sealed
under per-person keys kept outside the database (:mod:`server.vault`, m016).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from protocol import clock as wall_clock
from protocol.encoding import b64encode
from protocol.logentry import make_entry
from protocol.merkle import leaf_hash
from server.tlogtree import Frontier

if TYPE_CHECKING:
    from server.storage.base import Connection

Migration = Callable[["Connection"], None]


def _m001_initial(conn: Connection) -> None:
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


def _m002_card_credentials(conn: Connection) -> None:
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


DEFAULT_LOG_ORIGIN: Final = "kokreativ.local/ledger"
_BACKFILL_PAGE: Final = 2000


def _m003_transparency_log(conn: Connection) -> None:
    """The transparency log's tables, and a backfill so a ledger from before it is covered too.

    ``tlog_hashes`` holds the hash of every complete aligned subtree (level 0
    is the leaf hashes), so any root or proof is O(log n) reads.  The origin
    defaults to ``kokreativ.local/ledger`` (``provision init --origin`` sets
    another for new data folders).

    The backfill appends one entry per fact already in the ledger, in this
    fixed order, so the same ledger always gives the same log:

    1. sites, oldest first, with their current rate, maximum and policy (``at_ms`` = created);
    2. issuer keys, oldest first, each once with its current status (``at_ms`` = last change);
    3. kiosks, in enrolment order (``kiosk_enrolled``, ``at_ms`` = enrolled);
    4. cards, in registration order (``card``);
    5. card blocks, by block time then card ID (``card_blocked``, ``at_ms`` = blocked);
    6. every event, by ``received_ms``, then kiosk ID, then ``seq``, with its stored flags and
       ``received_ms``; its ``log_index`` is filled in;
    7. the status of each kiosk that is not ``active`` (``kiosk_status``), last, because it was
       set after the kiosk's events were admitted; when is not recorded, so ``at_ms`` is the
       migration's time.

    Earlier values (a site's old policy, a key's ``retired`` before ``revoked``) were never
    recorded and cannot be logged.  No checkpoint is signed here, because migrations do not
    hold the server key: opening the data folder signs one for the backfilled size
    (:func:`server.tlog.ensure_checkpoint`).
    """
    statements = [
        "CREATE TABLE tlog_entries (idx INTEGER PRIMARY KEY CHECK (idx >= 0), entry BLOB NOT NULL)",
        """CREATE TABLE tlog_hashes (
            level INTEGER NOT NULL CHECK (level >= 0), idx INTEGER NOT NULL CHECK (idx >= 0),
            hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID""",
        """CREATE TABLE tlog_checkpoints (
            size INTEGER PRIMARY KEY CHECK (size >= 0), note BLOB NOT NULL, created_ms INTEGER NOT NULL)""",
        "ALTER TABLE events ADD COLUMN log_index INTEGER",
        """CREATE TABLE log_evidence (
            evidence_id INTEGER PRIMARY KEY, kiosk_id TEXT NOT NULL REFERENCES kiosks (kiosk_id),
            kind TEXT NOT NULL, body BLOB NOT NULL, received_ms INTEGER NOT NULL)""",
        "CREATE INDEX log_evidence_kiosk ON log_evidence (kiosk_id)",
    ]
    for statement in statements:
        conn.execute(statement)
    conn.execute(
        "INSERT OR IGNORE INTO settings (key, value) VALUES ('log_origin', ?)", (DEFAULT_LOG_ORIGIN,)
    )
    _backfill_log(conn)


# The facts m003 logs before the events, each a query and the log entry of one of its rows, in log order.
_BACKFILL_FACTS: Final[list[tuple[str, Callable[[Sequence[Any]], bytes]]]] = [
    (
        "SELECT site_id, tokens_per_hour, max_shift_hours, allow_uncredentialed, created_ms FROM sites "
        "ORDER BY created_ms, rowid",
        lambda r: make_entry(
            "site",
            site_id=r[0],
            tokens_per_hour=r[1],
            max_shift_hours=r[2],
            allow_uncredentialed=bool(r[3]),
            at_ms=r[4],
        ),
    ),
    (
        "SELECT key_id, public_key, status, changed_ms FROM issuer_keys ORDER BY created_ms, rowid",
        lambda r: make_entry(
            "issuer_key", key_id=r[0], public_key=b64encode(bytes(r[1])), status=r[2], at_ms=r[3]
        ),
    ),
    (
        "SELECT kiosk_id, site_id, public_key, enrolled_ms FROM kiosks ORDER BY enrolled_ms, rowid",
        lambda r: make_entry(
            "kiosk_enrolled", kiosk_id=r[0], site_id=r[1], public_key=b64encode(bytes(r[2])), at_ms=r[3]
        ),
    ),
    (
        "SELECT card_id, volunteer_id, registered_ms FROM cards ORDER BY registered_ms, rowid",
        lambda r: make_entry("card", card_id=r[0], volunteer_id=r[1], at_ms=r[2]),
    ),
    (
        "SELECT card_id, blocked_ms FROM cards WHERE blocked_ms IS NOT NULL ORDER BY blocked_ms, card_id",
        lambda r: make_entry("card_blocked", card_id=r[0], at_ms=r[1]),
    ),
]


def _backfill_log(conn: Connection) -> None:
    """Log what a database from before m003 holds: its facts, then its events, then kiosk statuses."""
    frontier = Frontier(0, {})

    def append(entries: list[bytes]) -> int:
        first = frontier.size
        rows = frontier.extend(leaf_hash(entry) for entry in entries)
        conn.executemany(
            "INSERT INTO tlog_entries (idx, entry) VALUES (?, ?)", enumerate(entries, start=first)
        )
        conn.executemany("INSERT INTO tlog_hashes (level, idx, hash) VALUES (?, ?, ?)", rows)
        return first

    now_ms = wall_clock.now_ms()
    for query, build in _BACKFILL_FACTS:
        append([build(row) for row in conn.execute(query).fetchall()])
    _backfill_events(conn, append)
    statuses = conn.execute(
        "SELECT kiosk_id, status FROM kiosks WHERE status != 'active' ORDER BY enrolled_ms, rowid"
    ).fetchall()
    append([make_entry("kiosk_status", kiosk_id=k, status=status, at_ms=now_ms) for k, status in statuses])


def _backfill_events(conn: Connection, append: Callable[[list[bytes]], int]) -> None:
    """Log every stored event, in the order the server received them, and note each one's log index."""
    for page in _events_in_log_order(conn):
        first = append(
            [
                make_entry(
                    "event",
                    body=b64encode(bytes(body)),
                    sig=b64encode(bytes(sig)),
                    received_ms=received_ms,
                    flags=[str(flag) for flag in json.loads(flags)],
                )
                for _, _, body, sig, flags, received_ms in page
            ]
        )
        conn.executemany(
            "UPDATE events SET log_index = ? WHERE kiosk_id = ? AND seq = ?",
            ((first + offset, row[0], row[1]) for offset, row in enumerate(page)),
        )


def _events_in_log_order(conn: Connection) -> Iterator[list[tuple[Any, ...]]]:
    """Every event by ``(received_ms, kiosk_id, seq)``, a page at a time (bounded memory).

    Keyset pages over a temporary index: each page is read whole before the
    caller updates those rows, so no query is stepping while its table changes.
    """
    conn.execute("CREATE INDEX m003_events_order ON events (received_ms, kiosk_id, seq)")
    columns = "SELECT kiosk_id, seq, body, sig, flags, received_ms FROM events"
    order = f"ORDER BY received_ms, kiosk_id, seq LIMIT {_BACKFILL_PAGE}"
    page = conn.execute(f"{columns} {order}").fetchall()
    while page:
        yield page
        last = page[-1]
        page = conn.execute(
            f"{columns} WHERE (received_ms, kiosk_id, seq) > (?, ?, ?) {order}", (last[5], last[0], last[1])
        ).fetchall()
    conn.execute("DROP INDEX m003_events_order")


def _m004_coordinator_cards(conn: Connection) -> None:
    """Which cards are coordinator cards: when the role was granted, ``NULL`` for everyone else.

    A column of ``cards`` rather than a table, as blocks are: the role belongs to
    one card, and every trust list reads all coordinator cards, which the partial
    index keeps a short scan.  No card is a coordinator before this migration.
    """
    conn.execute("ALTER TABLE cards ADD COLUMN coordinator_ms INTEGER")
    conn.execute("CREATE INDEX cards_coordinator ON cards (card_id) WHERE coordinator_ms IS NOT NULL")


def _m005_economy(conn: Connection) -> None:
    """Shops and redemptions, earning rules, coordinator keys and their decisions (``docs/economy.md``).

    * ``sites`` gains its ``kind`` (every existing site is a check-in site), the
      earning rules beyond the rate (``daily_cap``, ``bonuses`` as canonical JSON)
      and, for shops, their limits and till presets.
    * ``shifts`` is rebuilt, because SQLite cannot change a ``CHECK``: a shift
      can now be ``rejected``, and one added by hand has no taps (``source`` is
      ``manual``, ``kiosk_id`` is ``NULL``) but the decision that made it.
      ``decision`` names the decision that approved, rejected or added it, and
      ``uncapped_tokens`` what it would have paid without the daily cap.
    * ``redemptions``: one row per redemption ID, its state and the event that
      settled it; ``balances``: each volunteer's balance, kept in the same
      transaction as every ledger entry (so a read is one row, and the sum of the
      entries can be checked against it); ``ledger_entries.log_index`` points
      each entry at the log entry that caused it.
    * ``coordinators`` (public keys; their names in ``coordinator_names``) and
      ``decisions`` (every applied decision, by the hash of its bytes).
    """
    statements = [
        "ALTER TABLE sites ADD COLUMN kind TEXT NOT NULL DEFAULT 'checkin' "
        "CHECK (kind IN ('checkin', 'shop'))",
        "ALTER TABLE sites ADD COLUMN daily_cap INTEGER NOT NULL DEFAULT 0 CHECK (daily_cap >= 0)",
        "ALTER TABLE sites ADD COLUMN bonuses TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE sites ADD COLUMN max_amount INTEGER",
        "ALTER TABLE sites ADD COLUMN offline_allowance INTEGER",
        "ALTER TABLE sites ADD COLUMN offline_daily_cap INTEGER",
        "ALTER TABLE sites ADD COLUMN void_window_s INTEGER",
        "ALTER TABLE sites ADD COLUMN presets TEXT NOT NULL DEFAULT '[]'",
        """CREATE TABLE shifts_m005 (
            shift_id INTEGER PRIMARY KEY, card_id TEXT NOT NULL REFERENCES cards (card_id),
            volunteer_id TEXT NOT NULL REFERENCES volunteers (volunteer_id),
            site_id TEXT NOT NULL REFERENCES sites (site_id), kiosk_id TEXT,
            in_kiosk TEXT, in_seq INTEGER, out_kiosk TEXT, out_seq INTEGER,
            start_ms INTEGER NOT NULL, end_ms INTEGER,
            minutes INTEGER NOT NULL CHECK (minutes >= 0), tokens INTEGER NOT NULL CHECK (tokens >= 0),
            status TEXT NOT NULL CHECK (status IN ('open', 'paid', 'review', 'rejected')), reason TEXT,
            source TEXT NOT NULL DEFAULT 'taps' CHECK (source IN ('taps', 'manual')),
            decision TEXT, uncapped_tokens INTEGER)""",
        "INSERT INTO shifts_m005 (shift_id, card_id, volunteer_id, site_id, kiosk_id, in_kiosk, in_seq, "
        "out_kiosk, out_seq, start_ms, end_ms, minutes, tokens, status, reason) "
        "SELECT shift_id, card_id, volunteer_id, site_id, kiosk_id, in_kiosk, in_seq, out_kiosk, out_seq, "
        "start_ms, end_ms, minutes, tokens, status, reason FROM shifts",
        "DROP TABLE shifts",
        "ALTER TABLE shifts_m005 RENAME TO shifts",
        "CREATE UNIQUE INDEX shifts_one_open ON shifts (card_id, site_id) WHERE status = 'open'",
        "CREATE INDEX shifts_card ON shifts (card_id)",
        "CREATE INDEX shifts_volunteer ON shifts (volunteer_id)",
        "CREATE INDEX shifts_in_tap ON shifts (in_kiosk, in_seq)",
        "CREATE INDEX shifts_out_tap ON shifts (out_kiosk, out_seq)",
        """CREATE TABLE redemptions (
            redemption_id TEXT PRIMARY KEY, site_id TEXT NOT NULL REFERENCES sites (site_id),
            kiosk_id TEXT NOT NULL, seq INTEGER NOT NULL, card_id TEXT NOT NULL REFERENCES cards (card_id),
            volunteer_id TEXT NOT NULL REFERENCES volunteers (volunteer_id),
            amount INTEGER NOT NULL CHECK (amount >= 1), online INTEGER NOT NULL CHECK (online IN (0, 1)),
            status TEXT NOT NULL CHECK (status IN ('debited', 'declined', 'voided')),
            wall_ms INTEGER NOT NULL, received_ms INTEGER NOT NULL,
            overdraft INTEGER NOT NULL DEFAULT 0 CHECK (overdraft IN (0, 1)), acknowledged TEXT,
            void_kiosk TEXT, void_seq INTEGER, void_wall_ms INTEGER)""",
        "CREATE INDEX redemptions_site ON redemptions (site_id, wall_ms)",
        "CREATE INDEX redemptions_volunteer ON redemptions (volunteer_id)",
        "CREATE INDEX redemptions_overdraft ON redemptions (redemption_id) "
        "WHERE overdraft = 1 AND acknowledged IS NULL AND status = 'debited'",
        "CREATE TABLE balances (volunteer_id TEXT PRIMARY KEY REFERENCES volunteers (volunteer_id), "
        "balance INTEGER NOT NULL) WITHOUT ROWID",
        "INSERT INTO balances (volunteer_id, balance) "
        "SELECT volunteer_id, SUM(delta) FROM ledger_entries GROUP BY volunteer_id",
        "ALTER TABLE ledger_entries ADD COLUMN log_index INTEGER",
        """CREATE TABLE coordinators (
            coordinator_id TEXT PRIMARY KEY, public_key BLOB NOT NULL UNIQUE,
            status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
            created_ms INTEGER NOT NULL, changed_ms INTEGER NOT NULL)""",
        """CREATE TABLE coordinator_names (
            coordinator_id TEXT PRIMARY KEY REFERENCES coordinators (coordinator_id), name TEXT NOT NULL)""",
        """CREATE TABLE decisions (
            decision_hash TEXT PRIMARY KEY,
            coordinator_id TEXT NOT NULL REFERENCES coordinators (coordinator_id),
            kind TEXT NOT NULL, body BLOB NOT NULL, sig BLOB NOT NULL, result TEXT NOT NULL,
            received_ms INTEGER NOT NULL, log_index INTEGER NOT NULL)""",
    ]
    for statement in statements:
        conn.execute(statement)


def _m006_kiosk_health(conn: Connection) -> None:
    """The latest heartbeat of each kiosk and the clock offset the server measured from it.

    Health is operational, not ledger: this table is not in the transparency log,
    holds one row per kiosk (each heartbeat replaces the last) and may be emptied
    at any time without changing a balance.  ``offset_ms`` is the server's clock
    minus the kiosk's ``sent_ms`` when the heartbeat arrived (``docs/protocol.md``).
    """
    conn.execute(
        """CREATE TABLE kiosk_health (
            kiosk_id TEXT PRIMARY KEY REFERENCES kiosks (kiosk_id),
            received_ms INTEGER NOT NULL, sent_ms INTEGER NOT NULL, offset_ms INTEGER NOT NULL,
            boot TEXT NOT NULL, mono_ms INTEGER NOT NULL,
            synced INTEGER NOT NULL CHECK (synced IN (0, 1)), version TEXT NOT NULL,
            pending INTEGER NOT NULL CHECK (pending >= 0),
            reader TEXT NOT NULL CHECK (reader IN ('ok', 'missing', 'error', 'unknown')),
            last_seq INTEGER NOT NULL CHECK (last_seq >= 0)) WITHOUT ROWID"""
    )


def _m007_clock_refs(conn: Connection) -> None:
    """Clock references (``protocol.clockref``), and the time the ledger counts for a corrected event.

    ``clock_refs`` mirrors the log's ``clock_ref`` entries, so ingest finds a
    boot's references without reading the log.  ``events.corrected_ms`` is the
    time an unsynced event got from them (``NULL``: its own ``wall_ms`` counts);
    an open shift needs it to know its check-in's time can be trusted.
    """
    conn.execute(
        """CREATE TABLE clock_refs (
            kiosk_id TEXT NOT NULL REFERENCES kiosks (kiosk_id), boot TEXT NOT NULL,
            mono_ms INTEGER NOT NULL, at_ms INTEGER NOT NULL, log_index INTEGER NOT NULL UNIQUE,
            PRIMARY KEY (kiosk_id, boot, mono_ms)) WITHOUT ROWID"""
    )
    conn.execute("ALTER TABLE events ADD COLUMN corrected_ms INTEGER")


def _m008_server_keys(conn: Connection) -> None:
    """Server key transitions (``protocol.serverkeys``), oldest first, as the log's ``server_key`` entries.

    Kept here as well so ``GET /v1/server-keys`` answers without reading the log.
    """
    conn.execute(
        """CREATE TABLE server_key_transitions (
            log_index INTEGER PRIMARY KEY, body BLOB NOT NULL, sig_old BLOB NOT NULL,
            sig_new BLOB NOT NULL, new_key BLOB NOT NULL UNIQUE, at_ms INTEGER NOT NULL)"""
    )


def _m009_signed_evidence(conn: Connection) -> None:
    """Kiosks sign their evidence reports (``protocol.evidence``): keep each report's number and signature.

    Reports stored before have neither (``NULL``); a kiosk's numbers are unique, so a replay is refused.
    """
    conn.execute("ALTER TABLE log_evidence ADD COLUMN number INTEGER")
    conn.execute("ALTER TABLE log_evidence ADD COLUMN sig BLOB")
    conn.execute("CREATE UNIQUE INDEX log_evidence_number ON log_evidence (kiosk_id, number)")


def _m010_held_redemptions(conn: Connection) -> None:
    """Offline redemptions held for review (``docs/economy.md``, "The worst-case loss").

    ``redemptions`` is rebuilt, because SQLite cannot change a ``CHECK``: a
    redemption can now be ``held`` (beyond its till's offline bound, nothing
    debited) or ``rejected`` (held, then rejected by a coordinator).  ``held`` keeps
    the reason it was held, ``reviewed`` the decision that approved or rejected it.
    The new index serves the bound's two sums, per till and receive time.
    """
    statements = [
        """CREATE TABLE redemptions_m010 (
            redemption_id TEXT PRIMARY KEY, site_id TEXT NOT NULL REFERENCES sites (site_id),
            kiosk_id TEXT NOT NULL, seq INTEGER NOT NULL, card_id TEXT NOT NULL REFERENCES cards (card_id),
            volunteer_id TEXT NOT NULL REFERENCES volunteers (volunteer_id),
            amount INTEGER NOT NULL CHECK (amount >= 1), online INTEGER NOT NULL CHECK (online IN (0, 1)),
            status TEXT NOT NULL CHECK (status IN ('debited', 'declined', 'voided', 'held', 'rejected')),
            wall_ms INTEGER NOT NULL, received_ms INTEGER NOT NULL,
            overdraft INTEGER NOT NULL DEFAULT 0 CHECK (overdraft IN (0, 1)), acknowledged TEXT,
            void_kiosk TEXT, void_seq INTEGER, void_wall_ms INTEGER, held TEXT, reviewed TEXT)""",
        "INSERT INTO redemptions_m010 (rowid, redemption_id, site_id, kiosk_id, seq, card_id, volunteer_id, "
        "amount, online, status, wall_ms, received_ms, overdraft, acknowledged, void_kiosk, void_seq, "
        "void_wall_ms) SELECT rowid, redemption_id, site_id, kiosk_id, seq, card_id, volunteer_id, amount, "
        "online, status, wall_ms, received_ms, overdraft, acknowledged, void_kiosk, void_seq, void_wall_ms "
        "FROM redemptions",
        "DROP TABLE redemptions",
        "ALTER TABLE redemptions_m010 RENAME TO redemptions",
        "CREATE INDEX redemptions_site ON redemptions (site_id, wall_ms)",
        "CREATE INDEX redemptions_volunteer ON redemptions (volunteer_id)",
        "CREATE INDEX redemptions_overdraft ON redemptions (redemption_id) "
        "WHERE overdraft = 1 AND acknowledged IS NULL AND status = 'debited'",
        "CREATE INDEX redemptions_till ON redemptions (kiosk_id, received_ms) WHERE online = 0",
        "CREATE INDEX redemptions_held ON redemptions (received_ms) WHERE status = 'held'",
    ]
    for statement in statements:
        conn.execute(statement)


def _m011_kiosk_limits(conn: Connection) -> None:
    """A check-in site's kiosk limits (``protocol.economy.kiosklimits``), and an index to check them by.

    The defaults are :data:`protocol.economy.models.DEFAULT_MAX_DAY_HOURS` and
    ``DEFAULT_BACKDATE_DAYS``, the values an auditor assumes for a site until a
    ``kiosk_limits`` decision changes them.
    """
    for statement in (
        "ALTER TABLE sites ADD COLUMN max_day_hours INTEGER NOT NULL DEFAULT 12 "
        "CHECK (max_day_hours BETWEEN 1 AND 24)",
        "ALTER TABLE sites ADD COLUMN backdate_days INTEGER NOT NULL DEFAULT 14 "
        "CHECK (backdate_days BETWEEN 0 AND 90)",
        "CREATE INDEX shifts_card_paid ON shifts (card_id, start_ms) WHERE status = 'paid'",
    ):
        conn.execute(statement)


LOG_FORMAT_SETTING: Final = "log_format"  # 1: entries name cards (before issue 17); 2: they name none


def _m012_private_log(conn: Connection) -> None:
    """A log that names no card (issue 17): the ``openings`` kept off it, and the format it is written in.

    ``openings`` holds what opens each commitment of the log (``docs/privacy.md``):
    by the index of the log entry it opens, and for an event also by its kiosk
    and seq.  ``volunteer_id`` is set for a card registration only (its
    commitment is to ``card|volunteer``).  ``event_sealed`` is allowed already,
    for the v1 events a hand-over seals (SQLite cannot change a ``CHECK``
    later).  These rows are never logged and never public: the auditor reads
    them over ``GET /v1/audit/openings``.

    ``log_format`` is ``2`` for a data folder whose log is still empty (it writes
    entry v2 from its first entry) and ``1`` for one that holds v1 entries,
    which keeps writing v1 until its log moves to a new origin.  The index on
    ``ledger_entries.log_index`` serves each entry's ``issued`` and ``redeemed``.
    """
    logged = conn.execute("SELECT 1 FROM tlog_entries LIMIT 1").fetchone() is not None
    for statement in (
        """CREATE TABLE openings (
            log_index INTEGER PRIMARY KEY, kind TEXT NOT NULL
                CHECK (kind IN ('event', 'card', 'card_blocked', 'decision', 'event_sealed')),
            card_id TEXT NOT NULL, salt TEXT NOT NULL, volunteer_id TEXT,
            kiosk_id TEXT, seq INTEGER,
            CHECK ((kiosk_id IS NULL) = (seq IS NULL)),
            UNIQUE (kiosk_id, seq))""",
        "CREATE INDEX openings_card ON openings (card_id)",
        "CREATE INDEX ledger_log_index ON ledger_entries (log_index) WHERE log_index IS NOT NULL",
    ):
        conn.execute(statement)
    conn.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?)", (LOG_FORMAT_SETTING, "1" if logged else "2")
    )


def _m013_log_archive(conn: Connection) -> None:
    """Room for an archived log origin and its signed hand-over (``server.handover``).

    A log that still names cards (entry v1) moves to a new origin at the next
    server start, which holds the key (migrations do not): its entries, hashes
    and checkpoints move to the ``tlog_archive_*`` tables under their old
    origin, so old proofs keep working, and ``log_handovers`` keeps the signed
    hand-over document.  Nothing moves here.
    """
    for statement in (
        """CREATE TABLE tlog_archive_entries (
            origin TEXT NOT NULL, idx INTEGER NOT NULL CHECK (idx >= 0), entry BLOB NOT NULL,
            PRIMARY KEY (origin, idx))""",
        """CREATE TABLE tlog_archive_hashes (
            origin TEXT NOT NULL, level INTEGER NOT NULL CHECK (level >= 0),
            idx INTEGER NOT NULL CHECK (idx >= 0), hash BLOB NOT NULL,
            PRIMARY KEY (origin, level, idx)) WITHOUT ROWID""",
        """CREATE TABLE tlog_archive_checkpoints (
            origin TEXT NOT NULL, size INTEGER NOT NULL CHECK (size >= 0), note BLOB NOT NULL,
            created_ms INTEGER NOT NULL, PRIMARY KEY (origin, size))""",
        """CREATE TABLE log_handovers (
            old_origin TEXT PRIMARY KEY, old_size INTEGER NOT NULL, old_root BLOB NOT NULL,
            new_origin TEXT NOT NULL UNIQUE, new_size INTEGER NOT NULL, at_ms INTEGER NOT NULL,
            body BLOB NOT NULL, sig BLOB NOT NULL)""",
    ):
        conn.execute(statement)


def _m016_person_vault(conn: Connection) -> None:
    """Personal data as ciphertext only (:mod:`server.vault`), and the record of erasures.

    ``personal_data`` becomes ``(volunteer_id, sealed)``.  A migration holds no
    key folder, so rows written in plaintext before move to ``personal_data_m016``
    untouched; opening the data folder seals them, drops that table and vacuums
    (:func:`server.people.seal_legacy`).  A ledger without such rows drops it here.
    ``erasures`` keeps only when a volunteer was erased: no name, no reason.
    """
    for statement in (
        "ALTER TABLE personal_data RENAME TO personal_data_m016",
        """CREATE TABLE personal_data (
            volunteer_id TEXT PRIMARY KEY REFERENCES volunteers (volunteer_id), sealed BLOB NOT NULL)""",
        """CREATE TABLE erasures (
            volunteer_id TEXT PRIMARY KEY REFERENCES volunteers (volunteer_id),
            erased_ms INTEGER NOT NULL)""",
    ):
        conn.execute(statement)
    if conn.execute("SELECT 1 FROM personal_data_m016 LIMIT 1").fetchone() is None:
        conn.execute("DROP TABLE personal_data_m016")


def _m015_access(conn: Connection) -> None:
    """Who may read a volunteer's data (issue 17): home sites, scoped admin tokens, access secrets, sessions.

    A volunteer registered before has as home site the site of their earliest
    shift (the site of the kiosk they first checked in at, or of a shift entered
    by hand), else none: then only an economy-wide admin may read their data
    until a coordinator sets it.  Tokens, secrets and sessions are stored only
    as SHA-256 (hex); none of this is in the transparency log.
    """
    for statement in (
        "ALTER TABLE volunteers ADD COLUMN home_site_id TEXT REFERENCES sites (site_id)",
        "UPDATE volunteers SET home_site_id = (SELECT s.site_id FROM shifts s "
        "WHERE s.volunteer_id = volunteers.volunteer_id ORDER BY s.start_ms, s.shift_id LIMIT 1)",
        """CREATE TABLE admin_tokens (
            token_sha256 TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,
            permissions TEXT NOT NULL, sites TEXT,
            created_ms INTEGER NOT NULL, revoked_ms INTEGER)""",
        """CREATE TABLE volunteer_access (
            volunteer_id TEXT PRIMARY KEY REFERENCES volunteers (volunteer_id),
            secret_sha256 TEXT UNIQUE, issued_ms INTEGER NOT NULL, revoked_ms INTEGER,
            CHECK ((secret_sha256 IS NULL) = (revoked_ms IS NOT NULL)))""",
        """CREATE TABLE sessions (
            session_sha256 TEXT PRIMARY KEY, volunteer_id TEXT NOT NULL REFERENCES volunteers (volunteer_id),
            created_ms INTEGER NOT NULL, last_used_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL)""",
        "CREATE INDEX sessions_volunteer ON sessions (volunteer_id, created_ms)",
    ):
        conn.execute(statement)


def _m014_balance_queries(conn: Connection) -> None:
    """The nonces of kiosk-signed balance queries (``protocol.balancequery``) of the last hour.

    A nonce seen is refused (``replayed``); the rows of the last hour are also each
    kiosk's quota count.  Older rows go: their queries are stale anyway.  No card ID
    is kept, only when and from which kiosk.
    """
    conn.execute(
        """CREATE TABLE balance_queries (
            kiosk_id TEXT NOT NULL REFERENCES kiosks (kiosk_id),
            nonce TEXT NOT NULL,
            at_ms INTEGER NOT NULL,
            PRIMARY KEY (kiosk_id, nonce)
        )"""
    )
    conn.execute("CREATE INDEX balance_queries_at ON balance_queries (kiosk_id, at_ms)")


TOTALS_LAST_SETTING: Final = "totals_last"  # the last log index a ``totals`` entry covers
TOTALS_DAY_SETTING: Final = "totals_day"  # the UTC day (ms) of the log's latest append in format 2


def _m017_sealed_openings(conn: Connection) -> None:
    """The openings keep what an entry v2 of an event no longer shows (issue 17, round 2).

    A v2 event seals its kind, clock and data, and its entry shows only the UTC
    day it was received: ``openings`` gains ``sealed`` (the opening's
    ``{clock, data, kind}`` as JSON), the exact ``received_ms``, the ``flags`` and
    how the entry moved the totals (``issued``, ``redeemed``).  Every decision gets
    a row for its totals, most without a card, so ``card_id`` and ``salt`` may be
    ``NULL`` (SQLite cannot drop a ``NOT NULL``: the table is rebuilt).  An
    ``event_sealed`` row's v1 body and signature are the stored event's (joined
    by kiosk and seq, not copied).  Existing rows are filled from the events,
    their bytes (an event signed before this change shows its fields) and the
    ledger; the ``totals`` entries start with the next day.
    """
    for statement in (
        "ALTER TABLE openings RENAME TO openings_m017",
        """CREATE TABLE openings (
            log_index INTEGER PRIMARY KEY, kind TEXT NOT NULL
                CHECK (kind IN ('event', 'card', 'card_blocked', 'decision', 'event_sealed')),
            card_id TEXT, salt TEXT, volunteer_id TEXT,
            kiosk_id TEXT, seq INTEGER,
            sealed TEXT, received_ms INTEGER, flags TEXT, issued INTEGER, redeemed INTEGER,
            CHECK ((kiosk_id IS NULL) = (seq IS NULL)),
            CHECK ((card_id IS NULL) = (salt IS NULL)),
            UNIQUE (kiosk_id, seq))""",
        "INSERT INTO openings (log_index, kind, card_id, salt, volunteer_id, kiosk_id, seq) "
        "SELECT log_index, kind, card_id, salt, volunteer_id, kiosk_id, seq FROM openings_m017",
        "DROP TABLE openings_m017",
        "CREATE INDEX openings_card ON openings (card_id)",
        "INSERT INTO openings (log_index, kind) SELECT d.log_index, 'decision' FROM decisions d "
        "WHERE d.log_index >= 0 AND (SELECT value FROM settings WHERE key = 'log_format') = '2' "
        "AND NOT EXISTS (SELECT 1 FROM openings o WHERE o.log_index = d.log_index)",
        "UPDATE openings SET (received_ms, flags) = (SELECT e.received_ms, e.flags FROM events e "
        "WHERE e.kiosk_id = openings.kiosk_id AND e.seq = openings.seq) WHERE kiosk_id IS NOT NULL",
        "UPDATE openings SET (issued, redeemed) = (SELECT "
        "COALESCE(SUM(CASE WHEN kind = 'shift' THEN delta ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN kind = 'shift' THEN 0 ELSE -delta END), 0) "
        "FROM ledger_entries l WHERE l.log_index = openings.log_index) "
        "WHERE kind IN ('event', 'event_sealed', 'decision')",
    ):
        conn.execute(statement)
    rows = conn.execute(
        "SELECT o.log_index, e.body FROM openings o "
        "JOIN events e ON e.kiosk_id = o.kiosk_id AND e.seq = o.seq"
    ).fetchall()
    for log_index, body in rows:
        try:
            obj = json.loads(bytes(body))
            sealed = {"clock": obj["clock"], "data": obj["data"], "kind": obj["kind"]}
        except (ValueError, KeyError, TypeError):
            continue  # a sealed body: its opening came with this change, never before it
        conn.execute(
            "UPDATE openings SET sealed = ? WHERE log_index = ?",
            (json.dumps(sealed, sort_keys=True, separators=(",", ":")), log_index),
        )


def _m018_accounts(conn: Connection) -> None:
    """People's console accounts (issue 18): organisations, persons, teams, console sessions, activity.

    * ``organisations`` (Träger) own sites (``sites.org_id``, ``NULL`` for none); a
      team scoped to an organisation holds its rights for the organisation's sites
      as they are when a request is checked.
    * ``persons``: staff who log in to the console (not volunteers): an e-mail
      address, a display name, an argon2id password hash, the confirmed TOTP
      secret (``NULL`` until enrolled) and the last TOTP time step used (a code
      counts once), failed logins and a lockout.  Staff accounts are not personal
      data of the programme's volunteers, so they are not sealed in the vault.
    * ``teams`` (permissions as a JSON list, a scope kind) with ``team_sites``
      (the scope's IDs: sites, shops or organisations) and ``team_members``.
    * ``console_sessions`` and ``invitations``: stored as SHA-256 of the cookie
      or link token, never the value.
    * ``activity``: who did what, when, to which object and site.
    * ``coordinators.person_id``: the person a browser device key belongs to.
    """
    for statement in (
        """CREATE TABLE organisations (
            org_id TEXT PRIMARY KEY, name TEXT NOT NULL, created_ms INTEGER NOT NULL)""",
        "ALTER TABLE sites ADD COLUMN org_id TEXT REFERENCES organisations (org_id)",
        "CREATE INDEX sites_org ON sites (org_id) WHERE org_id IS NOT NULL",
        """CREATE TABLE persons (
            person_id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE COLLATE NOCASE,
            display_name TEXT NOT NULL, password_hash TEXT NOT NULL,
            totp_secret TEXT, totp_pending TEXT, totp_last_step INTEGER,
            failed_logins INTEGER NOT NULL DEFAULT 0 CHECK (failed_logins >= 0), locked_until_ms INTEGER,
            created_ms INTEGER NOT NULL, password_ms INTEGER NOT NULL, disabled_ms INTEGER)""",
        """CREATE TABLE teams (
            team_id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, permissions TEXT NOT NULL,
            scope_kind TEXT NOT NULL CHECK (scope_kind IN ('economy', 'sites', 'organisation', 'shops')),
            created_ms INTEGER NOT NULL)""",
        """CREATE TABLE team_sites (
            team_id TEXT NOT NULL REFERENCES teams (team_id) ON DELETE CASCADE, scope_id TEXT NOT NULL,
            PRIMARY KEY (team_id, scope_id))""",
        """CREATE TABLE team_members (
            team_id TEXT NOT NULL REFERENCES teams (team_id) ON DELETE CASCADE,
            person_id TEXT NOT NULL REFERENCES persons (person_id), added_ms INTEGER NOT NULL,
            PRIMARY KEY (team_id, person_id))""",
        "CREATE INDEX team_members_person ON team_members (person_id)",
        """CREATE TABLE console_sessions (
            session_sha256 TEXT PRIMARY KEY, session_id TEXT NOT NULL UNIQUE,
            person_id TEXT NOT NULL REFERENCES persons (person_id),
            created_ms INTEGER NOT NULL, last_used_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,
            user_agent TEXT NOT NULL DEFAULT '')""",
        "CREATE INDEX console_sessions_person ON console_sessions (person_id, created_ms)",
        """CREATE TABLE invitations (
            token_sha256 TEXT PRIMARY KEY, invitation_id TEXT NOT NULL UNIQUE,
            email TEXT NOT NULL, display_name TEXT NOT NULL DEFAULT '',
            team_id TEXT NOT NULL REFERENCES teams (team_id), invited_by TEXT,
            created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,
            used_ms INTEGER, revoked_ms INTEGER, person_id TEXT REFERENCES persons (person_id))""",
        """CREATE TABLE activity (
            activity_id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL,
            person_id TEXT, actor TEXT NOT NULL, action TEXT NOT NULL,
            object_id TEXT NOT NULL DEFAULT '', site_id TEXT, data TEXT NOT NULL DEFAULT '{}')""",
        "CREATE INDEX activity_at ON activity (at_ms)",
        "CREATE INDEX activity_person ON activity (person_id, at_ms)",
        "ALTER TABLE coordinators ADD COLUMN person_id TEXT REFERENCES persons (person_id)",
    ):
        conn.execute(statement)


def _m020_four_eyes(conn: Connection) -> None:
    """Decisions waiting for a second person's cosignature, and the cosignatures given (issue 18).

    ``pending_decisions`` keeps a signed decision that credits more than the
    four-eyes threshold until a second coordinator key of another person
    cosigns it (``server.foureyes``); its opening (a v2 manual shift's card and
    salt) waits with it and leaves with it.  ``cosignatures`` keeps who cosigned
    an applied decision; the log entry carries the same signature.  Who holds a
    browser device key is m018's ``coordinators.person_id``.
    """
    for statement in (
        """CREATE TABLE pending_decisions (
            decision_hash TEXT PRIMARY KEY,
            coordinator_id TEXT NOT NULL REFERENCES coordinators (coordinator_id),
            person_id TEXT, kind TEXT NOT NULL, site_id TEXT NOT NULL, minutes INTEGER NOT NULL,
            body BLOB NOT NULL, sig BLOB NOT NULL, opening TEXT, created_ms INTEGER NOT NULL)""",
        "CREATE INDEX pending_decisions_site ON pending_decisions (site_id, created_ms)",
        """CREATE TABLE cosignatures (
            decision_hash TEXT PRIMARY KEY REFERENCES decisions (decision_hash),
            coordinator_id TEXT NOT NULL REFERENCES coordinators (coordinator_id),
            person_id TEXT, sig BLOB NOT NULL, at_ms INTEGER NOT NULL)""",
    ):
        conn.execute(statement)


# The Ehrenamtskarte's thresholds (issue 18; ``server.eligibility``): settings an admin may change.
ELIGIBILITY_DEFAULTS: Final[Mapping[str, str]] = {
    "eligibility_hours_per_week": "5",  # averaged over the rolling year; 0: not a way to qualify
    "eligibility_hours_per_year": "250",  # 0: not a way to qualify
    "eligibility_years_required": "2",  # some sources say 3
    "eligibility_close_percent": "80",  # "close": every required year at this share of the threshold
}


def _m019_certificates(conn: Connection) -> None:
    """Hours certificates, prior engagement and the Ehrenamtskarte's thresholds (issue 18, page 7).

    * ``prior_hours``: engagement from before the ledger began, one row per signed
      ``prior_hours`` decision (by its log entry): hours for eligibility, never tokens.
    * ``certificates``: each issued hours certificate (Nachweis) by its ``certificate``
      log entry, with the volunteer it is about; the salt stays on the paper only.
    * ``settings``: the eligibility thresholds (:data:`ELIGIBILITY_DEFAULTS`).
    """
    for statement in (
        """CREATE TABLE prior_hours (
            log_index INTEGER PRIMARY KEY,
            volunteer_id TEXT NOT NULL REFERENCES volunteers (volunteer_id),
            card_id TEXT NOT NULL, site_id TEXT NOT NULL REFERENCES sites (site_id),
            from_ms INTEGER NOT NULL, to_ms INTEGER NOT NULL CHECK (to_ms > from_ms),
            minutes INTEGER NOT NULL CHECK (minutes > 0), reason TEXT NOT NULL, decision TEXT NOT NULL)""",
        "CREATE INDEX prior_hours_volunteer ON prior_hours (volunteer_id)",
        """CREATE TABLE certificates (
            log_index INTEGER PRIMARY KEY,
            volunteer_id TEXT NOT NULL REFERENCES volunteers (volunteer_id),
            from_day TEXT NOT NULL, to_day TEXT NOT NULL, minutes INTEGER NOT NULL CHECK (minutes >= 0),
            issued_ms INTEGER NOT NULL, issued_by TEXT NOT NULL)""",
        "CREATE INDEX certificates_volunteer ON certificates (volunteer_id)",
    ):
        conn.execute(statement)
    conn.executemany(
        "INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)", sorted(ELIGIBILITY_DEFAULTS.items())
    )


def _m021_card_issuing(conn: Connection) -> None:
    """Cards prepared in the console until a read-back confirms them, and hours confirmation links (issue 18).

    A prepared card is not in ``cards`` (nor in the log) until its written
    credential is read back: until then a kiosk tap with it is ``unknown_card``,
    exactly what the auditor's replay expects.  ``replaces`` names the lost card
    blocked when this one was prepared.  A confirmation link is stored only as
    the SHA-256 of its token; its lines name volunteers by ID only (the page
    opens a first name and initial from the vault when it renders).
    """
    for statement in (
        """CREATE TABLE prepared_cards (
            card_id TEXT PRIMARY KEY,
            volunteer_id TEXT NOT NULL REFERENCES volunteers (volunteer_id),
            status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'cancelled')),
            prepared_ms INTEGER NOT NULL, prepared_by TEXT NOT NULL,
            replaces TEXT, changed_ms INTEGER NOT NULL)""",
        "CREATE INDEX prepared_cards_volunteer ON prepared_cards (volunteer_id, prepared_ms)",
        """CREATE TABLE hours_lists (
            list_id TEXT PRIMARY KEY, token_sha256 TEXT NOT NULL UNIQUE,
            site_id TEXT NOT NULL REFERENCES sites (site_id),
            created_by TEXT NOT NULL, contact_label TEXT NOT NULL,
            created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, submitted_ms INTEGER)""",
        "CREATE INDEX hours_lists_creator ON hours_lists (created_by, created_ms)",
        """CREATE TABLE hours_lines (
            list_id TEXT NOT NULL REFERENCES hours_lists (list_id), line_no INTEGER NOT NULL,
            volunteer_id TEXT NOT NULL REFERENCES volunteers (volunteer_id),
            day TEXT NOT NULL, start_min INTEGER NOT NULL, end_min INTEGER NOT NULL,
            answer TEXT CHECK (answer IN ('confirmed', 'corrected', 'rejected')),
            answer_start_min INTEGER, answer_end_min INTEGER,
            PRIMARY KEY (list_id, line_no))""",
    ):
        conn.execute(statement)


def _m022_console_views(conn: Connection) -> None:
    """Indexes for the console's overview: events by when they arrived, ledger entries by when made.

    The overview counts today's check-ins and looks for anomalies in the last days, and
    charts the tokens issued and redeemed per day of the month; without these, each view
    of the page would read every event and every ledger entry ever stored.
    """
    conn.execute("CREATE INDEX events_received ON events (received_ms)")
    conn.execute("CREATE INDEX ledger_created ON ledger_entries (created_ms)")


def _m023_shop_profiles(conn: Connection) -> None:
    """A shop's public profile for the directory ``/laeden`` (issue 19): where it is, what it offers.

    A shop is a business, so its profile is public by nature; it lives beside
    ``sites`` rather than in the log because it decides no balance.  One row per
    shop, replaced whole when edited; who changed it last is kept for the
    activity page's sake (the activity log has the history).
    """
    conn.execute(
        """CREATE TABLE shop_profiles (
            shop_id TEXT PRIMARY KEY REFERENCES sites (site_id),
            street TEXT NOT NULL, postcode TEXT NOT NULL, city TEXT NOT NULL, district TEXT NOT NULL,
            offer TEXT NOT NULL, hours TEXT NOT NULL, website TEXT NOT NULL,
            updated_ms INTEGER NOT NULL, updated_by TEXT NOT NULL)"""
    )
    conn.execute("CREATE INDEX shop_profiles_district ON shop_profiles (district)")


def _m024_till_staff(conn: Connection) -> None:
    """A shop's till staff (issue 19), and which of them redeemed what.

    ``name`` is the shop's own label for the person ("Aylin"): never logged, never
    sent to a till; ``pin_hash`` is the argon2id hash of the server-made PIN, sent
    to the shop's tills only (in a server-signed answer), never logged either.  A
    removed member keeps their row (``removed_ms``) so old redemptions still name
    them on the shop page.  ``redemptions.staff_id`` is the redeem event's optional
    ``staff`` field, what a member's daily maximum sums over.
    """
    for statement in (
        """CREATE TABLE till_staff (
            staff_id TEXT PRIMARY KEY,
            site_id TEXT NOT NULL REFERENCES sites (site_id),
            name TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('cashier', 'manager')),
            daily_max INTEGER NOT NULL CHECK (daily_max >= 0),
            pin_hash TEXT NOT NULL,
            created_ms INTEGER NOT NULL, created_by TEXT NOT NULL,
            changed_ms INTEGER NOT NULL, removed_ms INTEGER)""",
        "CREATE INDEX till_staff_site ON till_staff (site_id, removed_ms)",
        "ALTER TABLE redemptions ADD COLUMN staff_id TEXT",
        "CREATE INDEX redemptions_staff ON redemptions (staff_id, received_ms) WHERE staff_id IS NOT NULL",
    ):
        conn.execute(statement)


def _m025_void_requests(conn: Connection) -> None:
    """Voids a shop's owner asked for on the shop page, for the till to sign (issue 19).

    One row per redemption: ``pending`` until the till's ``void`` event for it
    arrives (``done``) or the owner takes the request back (``cancelled``); asking
    again after a cancel reuses the row.
    """
    for statement in (
        """CREATE TABLE void_requests (
            redemption_id TEXT PRIMARY KEY,
            site_id TEXT NOT NULL REFERENCES sites (site_id),
            status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'cancelled')),
            requested_ms INTEGER NOT NULL, requested_by TEXT NOT NULL, changed_ms INTEGER NOT NULL)""",
        "CREATE INDEX void_requests_site ON void_requests (site_id, status)",
    ):
        conn.execute(statement)


def _m027_alert_notices(conn: Connection) -> None:
    """Incidents the server told people about (issue 20): notified once, again only after recovering.

    One row per incident: ``incident_key`` names what went wrong where (``kiosk_silent:k_…``,
    ``equivocation:k_…``, ``log_inconsistent``, ``kiosk_log_report:k_…:N``); ``closed_ms`` is set
    once it recovered, and only one row per key may be open.  ``mail_ms`` and ``webhook_ms`` are
    when each channel delivered (``NULL``: not yet); a failed try counts in ``attempts``, keeps its error
    (never a card ID: the notices hold none) and waits until ``next_try_ms``.
    Operational, not ledger: not in the transparency log.
    """
    for statement in (
        """CREATE TABLE alert_notices (
            notice_id INTEGER PRIMARY KEY, incident_key TEXT NOT NULL,
            kind TEXT NOT NULL, site_id TEXT, kiosk_id TEXT,
            opened_ms INTEGER NOT NULL, closed_ms INTEGER,
            mail_ms INTEGER, webhook_ms INTEGER,
            attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            next_try_ms INTEGER NOT NULL, last_error TEXT)""",
        "CREATE UNIQUE INDEX alert_notices_open ON alert_notices (incident_key) WHERE closed_ms IS NULL",
    ):
        conn.execute(statement)


def _m028_guess_windows(conn: Connection) -> None:
    """The guessing limits' windows (issue 21), shared by every server worker (:mod:`server.ratelimit`).

    One row per open window: a kind of secret (``enrolment_code``, ``admin_token``, ...),
    a scope (``client`` or ``target``) and its key (``ip:192.0.2.7``, ``*``, an account),
    when it opened and ends, the failures counted in it, and whether its lockout was
    logged.  Rows are deleted once their window ends.  Operational, not ledger: not in
    the transparency log, and no secret, card or name in it.
    """
    for statement in (
        """CREATE TABLE guess_windows (
            kind TEXT NOT NULL, scope TEXT NOT NULL, key TEXT NOT NULL,
            start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL,
            failures INTEGER NOT NULL CHECK (failures >= 0),
            logged INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (kind, scope, key))""",
        "CREATE INDEX guess_windows_end ON guess_windows (kind, scope, end_ms)",
    ):
        conn.execute(statement)


def _m029_scale_indexes(conn: Connection) -> None:
    """Indexes that keep statements and reports flat as the log grows (issue 21, ``make bench-scale``).

    A volunteer's statement reads their ledger entries of a period in time order: by
    ``(volunteer_id, created_ms)`` it seeks the period instead of reading and sorting every
    entry of theirs, and with ``delta`` in the index its opening balance is summed from the
    index alone.  The coordinators' hours report reads the paid shifts that start in a
    year: by ``(status, start_ms)`` instead of every shift ever paid.  Plain indexes, the
    same on every engine.
    """
    for statement in (
        "CREATE INDEX IF NOT EXISTS ledger_volunteer_created "
        "ON ledger_entries (volunteer_id, created_ms, delta)",
        "CREATE INDEX IF NOT EXISTS shifts_status_start ON shifts (status, start_ms)",
    ):
        conn.execute(statement)


MIGRATIONS: Final[Sequence[Migration]] = (
    _m001_initial,
    _m002_card_credentials,
    _m003_transparency_log,
    _m004_coordinator_cards,
    _m005_economy,
    _m006_kiosk_health,
    _m007_clock_refs,
    _m008_server_keys,
    _m009_signed_evidence,
    _m010_held_redemptions,
    _m011_kiosk_limits,
    _m012_private_log,
    _m013_log_archive,
    _m014_balance_queries,
    _m015_access,
    _m016_person_vault,
    _m017_sealed_openings,
    _m018_accounts,
    _m019_certificates,
    _m020_four_eyes,
    _m021_card_issuing,
    _m022_console_views,
    _m023_shop_profiles,
    _m024_till_staff,
    _m025_void_requests,
    _m027_alert_notices,
    _m028_guess_windows,
    _m029_scale_indexes,
)
