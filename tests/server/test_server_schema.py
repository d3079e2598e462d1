"""Migrations: a ledger made by an older release upgrades in place and keeps its data."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from server.models import Card, CardKind, Site
from server.schema import (
    MIGRATIONS,
    _m001_initial,
    _m002_card_credentials,
    _m003_transparency_log,
    _m004_coordinator_cards,
    _m015_access,
)
from server.storage import SqliteStorage
from tests.server.ledger_file import ledger_file


def _m001_ledger(path: Path) -> None:
    """A ledger as release m001 left it: one site, one volunteer with one card."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_ms INTEGER NOT NULL)")
    _m001_initial(conn)
    conn.execute("INSERT INTO migrations VALUES ('m001_initial', 1)")
    conn.execute("INSERT INTO sites VALUES ('s_1', 'Café', 10, 12, 1)")
    conn.execute("INSERT INTO volunteers VALUES ('v_1', 1)")
    conn.execute("INSERT INTO personal_data VALUES ('v_1', 'Ada')")
    conn.execute("INSERT INTO cards VALUES ('c_1', 'v_1', 5)")
    conn.close()


def test_m002_upgrades_an_m001_ledger(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    _m001_ledger(path)
    with SqliteStorage(path, migrate=False) as storage:
        assert storage.migrate() == [
            "m002_card_credentials",
            "m003_transparency_log",
            "m004_coordinator_cards",
            "m005_economy",
            "m006_kiosk_health",
            "m007_clock_refs",
            "m008_server_keys",
            "m009_signed_evidence",
            "m010_held_redemptions",
            "m011_kiosk_limits",
            "m012_private_log",
            "m013_log_archive",
            "m014_balance_queries",
            "m015_access",
            "m016_person_vault",
            "m017_sealed_openings",
            "m018_accounts",
            "m019_certificates",
            "m020_four_eyes",
            "m021_card_issuing",
            "m022_console_views",
            "m023_shop_profiles",
            "m024_till_staff",
            "m025_void_requests",
            "m027_alert_notices",
            "m028_guess_windows",
            "m029_scale_indexes",
        ]
        assert storage.migrate() == []
        with storage.read() as tx:
            assert tx.list_sites() == [Site("s_1", "Café", 10, 12, allow_uncredentialed=False)]
            assert tx.list_cards() == [Card("c_1", "v_1", CardKind.CREDENTIAL, 5)]
            # m016 sets the plaintext aside; opening the data folder seals it (test_server_vault.py).
            assert tx.legacy_personal_rows() == [("v_1", "Ada", None)]
            assert tx.list_issuer_keys() == [] and tx.blocked_card_ids() == []
            assert tx.coordinator_card_ids() == []


def test_m004_upgrades_an_m003_ledger_with_no_coordinator_cards(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    _m001_ledger(path)
    conn = sqlite3.connect(path, isolation_level=None)
    for migration in (_m002_card_credentials, _m003_transparency_log):
        migration(conn)
        conn.execute("INSERT INTO migrations VALUES (?, 1)", (migration.__name__.lstrip("_"),))
    conn.execute("UPDATE cards SET blocked_ms = 7")
    conn.close()
    with SqliteStorage(path, migrate=False) as storage:
        assert storage.migrate() == [
            "m004_coordinator_cards",
            "m005_economy",
            "m006_kiosk_health",
            "m007_clock_refs",
            "m008_server_keys",
            "m009_signed_evidence",
            "m010_held_redemptions",
            "m011_kiosk_limits",
            "m012_private_log",
            "m013_log_archive",
            "m014_balance_queries",
            "m015_access",
            "m016_person_vault",
            "m017_sealed_openings",
            "m018_accounts",
            "m019_certificates",
            "m020_four_eyes",
            "m021_card_issuing",
            "m022_console_views",
            "m023_shop_profiles",
            "m024_till_staff",
            "m025_void_requests",
            "m027_alert_notices",
            "m028_guess_windows",
            "m029_scale_indexes",
        ]
        with storage.read() as tx:
            assert tx.list_cards() == [Card("c_1", "v_1", CardKind.CREDENTIAL, 5, blocked_ms=7)]
            assert tx.coordinator_card_ids() == []


def test_every_migration_is_recorded_once(tmp_path: Path) -> None:
    with SqliteStorage(tmp_path / "ledger.db") as storage, ledger_file(storage) as conn:
        names = [row[0] for row in conn.execute("SELECT name FROM migrations ORDER BY rowid")]
    assert [m.__name__.lstrip("_") for m in MIGRATIONS] == names
    assert names == [
        "m001_initial",
        "m002_card_credentials",
        "m003_transparency_log",
        "m004_coordinator_cards",
        "m005_economy",
        "m006_kiosk_health",
        "m007_clock_refs",
        "m008_server_keys",
        "m009_signed_evidence",
        "m010_held_redemptions",
        "m011_kiosk_limits",
        "m012_private_log",
        "m013_log_archive",
        "m014_balance_queries",
        "m015_access",
        "m016_person_vault",
        "m017_sealed_openings",
        "m018_accounts",
        "m019_certificates",
        "m020_four_eyes",
        "m021_card_issuing",
        "m022_console_views",
        "m023_shop_profiles",
        "m024_till_staff",
        "m025_void_requests",
        "m027_alert_notices",
        "m028_guess_windows",
        "m029_scale_indexes",
    ]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE cards SET kind = 'magic'",
        "UPDATE sites SET allow_uncredentialed = 2",
        "INSERT INTO issuer_keys VALUES ('i_1', x'00', 'lost', 1, 1)",
        "UPDATE cards SET issuer_key_id = 'i_missing'",
    ],
)
def test_schema_refuses_impossible_values(tmp_path: Path, statement: str) -> None:
    path = tmp_path / "ledger.db"
    _m001_ledger(path)
    with (
        SqliteStorage(path) as storage,
        ledger_file(storage, write=True) as conn,
        pytest.raises(sqlite3.IntegrityError),
    ):
        conn.execute(statement)


def test_m005_keeps_shifts_and_ledger_entries_and_sums_them_into_balances(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    _m001_ledger(path)
    conn = sqlite3.connect(path, isolation_level=None)
    for migration in (_m002_card_credentials, _m003_transparency_log, _m004_coordinator_cards):
        migration(conn)
        conn.execute("INSERT INTO migrations VALUES (?, 1)", (migration.__name__.lstrip("_"),))
    conn.execute("INSERT INTO volunteers VALUES ('v_2', 2)")
    conn.execute("INSERT INTO personal_data (volunteer_id, name) VALUES ('v_2', 'Bob')")
    conn.execute("INSERT INTO cards (card_id, volunteer_id, registered_ms) VALUES ('c_2', 'v_2', 6)")
    conn.execute("INSERT INTO volunteers VALUES ('v_3', 3)")  # never earned: no balances row
    shifts = [
        (1, "c_1", "v_1", "s_1", "k_1", "k_1", 1, "k_1", 2, 1000, 3_601_000, 60, 10, "paid", None),
        (2, "c_1", "v_1", "s_1", "k_1", "k_1", 3, "k_1", 4, 9000, 1_809_000, 30, 5, "paid", None),
        (3, "c_2", "v_2", "s_1", "k_1", "k_1", 5, None, None, 9000, None, 0, 0, "open", None),
        (
            4,
            "c_2",
            "v_2",
            "s_1",
            "k_1",
            None,
            None,
            "k_1",
            6,
            7000,
            7000,
            0,
            0,
            "review",
            "check_out_without_check_in",
        ),
        (5, "c_2", "v_2", "s_1", "k_1", "k_1", 7, "k_1", 8, 1000, 2_401_000, 40, 6, "paid", None),
    ]
    conn.executemany(f"INSERT INTO shifts VALUES ({', '.join('?' * 15)})", shifts)
    entries = [
        (1, "v_1", 10, "shift", 1, 100),
        (2, "v_1", 5, "shift", 2, 200),
        (3, "v_2", 6, "shift", 5, 300),
    ]
    conn.executemany("INSERT INTO ledger_entries VALUES (?, ?, ?, ?, ?, ?)", entries)
    conn.close()
    with SqliteStorage(path, migrate=False) as storage:
        assert storage.migrate() == [
            "m005_economy",
            "m006_kiosk_health",
            "m007_clock_refs",
            "m008_server_keys",
            "m009_signed_evidence",
            "m010_held_redemptions",
            "m011_kiosk_limits",
            "m012_private_log",
            "m013_log_archive",
            "m014_balance_queries",
            "m015_access",
            "m016_person_vault",
            "m017_sealed_openings",
            "m018_accounts",
            "m019_certificates",
            "m020_four_eyes",
            "m021_card_issuing",
            "m022_console_views",
            "m023_shop_profiles",
            "m024_till_staff",
            "m025_void_requests",
            "m027_alert_notices",
            "m028_guess_windows",
            "m029_scale_indexes",
        ]
        with storage.read() as tx:
            assert tx.balances() == tx.summed_balances() == {"v_1": 15, "v_2": 6}
            assert tx.all_balances() == {"v_1": 15, "v_2": 6, "v_3": 0}
            kept = [
                (s.shift_id, s.status.value, s.tokens, s.reason, s.source) for s in tx.shifts_for_card("c_2")
            ]
            assert kept == [
                (3, "open", 0, None, "taps"),
                (4, "review", 0, "check_out_without_check_in", "taps"),
                (5, "paid", 6, None, "taps"),
            ]
            assert [s.minutes for s in tx.shifts_for_card("c_1")] == [60, 30]
            lines = tx.ledger_lines("v_1", 0, None)
            assert [(e.delta, e.kind, e.ref, e.created_ms, e.log_index) for e, _, _ in lines] == [
                (10, "shift", 1, 100, None),
                (5, "shift", 2, 200, None),
            ]
            assert [(site, card) for _, site, card in lines] == [("s_1", "c_1"), ("s_1", "c_1")]
            assert tx.unacknowledged_overdrafts() == []
            assert [site.kind.value for site in tx.list_sites()] == ["checkin"]


def test_m015_gives_each_volunteer_the_site_of_their_first_shift_as_home(tmp_path: Path) -> None:
    """Existing volunteers: the site of their earliest shift; none without a shift (economy-wide only)."""
    path = tmp_path / "ledger.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_ms INTEGER NOT NULL)")
    for migration in MIGRATIONS:
        if migration is not _m015_access:
            migration(conn)
            conn.execute("INSERT INTO migrations VALUES (?, 1)", (migration.__name__.lstrip("_"),))
    for site in ("s_1", "s_2"):
        conn.execute(
            "INSERT INTO sites (site_id, name, tokens_per_hour, max_shift_hours, created_ms) "
            "VALUES (?, 'Café', 10, 12, 1)",
            (site,),
        )
    for volunteer, card in (("v_1", "c_1"), ("v_2", "c_2"), ("v_3", "c_3")):
        conn.execute("INSERT INTO volunteers (volunteer_id, created_ms) VALUES (?, 1)", (volunteer,))
        conn.execute(
            "INSERT INTO cards (card_id, volunteer_id, registered_ms) VALUES (?, ?, 1)", (card, volunteer)
        )
    shifts = [  # v_1 worked at s_1 last and at s_2 first (shift IDs in the other order); v_3 never
        (1, "c_1", "v_1", "s_1", 9000),
        (2, "c_1", "v_1", "s_2", 1000),
        (3, "c_2", "v_2", "s_1", 5000),
    ]
    conn.executemany(
        "INSERT INTO shifts (shift_id, card_id, volunteer_id, site_id, kiosk_id, start_ms, minutes, tokens, "
        "status) VALUES (?, ?, ?, ?, 'k_1', ?, 0, 0, 'open')",
        shifts,
    )
    conn.close()
    with SqliteStorage(path, migrate=False) as storage:
        assert storage.migrate() == ["m015_access"]
        with storage.read() as tx:
            assert [tx.home_site(v) for v in ("v_1", "v_2", "v_3")] == ["s_2", "s_1", None]
            assert tx.tokens() == [] and tx.access_of("v_1") is None


def test_m012_keeps_a_log_of_v1_entries_in_format_1(tmp_path: Path) -> None:
    """A ledger whose log holds v1 entries keeps writing v1 until its log moves to a new origin."""
    path = tmp_path / "ledger.db"
    _m001_ledger(path)  # m003 logs its card: the log is not empty when m012 runs
    with SqliteStorage(path) as storage, storage.read() as tx:
        assert tx.log_format() == 1
        assert tx.openings_after(-1, 10) == []


def test_m012_makes_an_empty_log_name_no_card(tmp_path: Path) -> None:
    with SqliteStorage(tmp_path / "ledger.db") as storage, storage.read() as tx:
        assert tx.log_format() == 2
