"""The person vault (server/vault.py): per-person keys outside the database, sealed personal data.

Plus the start-up step that seals plaintext rows of a ledger from before m016 and
vacuums, and the key backups with their retention (server/backup.py).
"""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest
from server_helpers import T0, FakeClock

from protocol import ids
from server.backup import KEY_BACKUP_PREFIX, backup_person_keys, prune_key_backups
from server.datadir import LEDGER, init_data_dir, open_data_dir
from server.errors import PersonalDataCorrupted
from server.people import people
from server.vault import PERSON_KEYS, PersonalData, PersonVault

NAME = "Jördis Quellmalz-Nachtigall"
NUMBER = "EAK-QM-550071"
DAY_MS = 86_400_000


def _files_hold(folder: Path, needle: bytes) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes())


def test_sealed_data_opens_only_for_its_volunteer_and_never_after_the_key_is_destroyed(
    tmp_path: Path,
) -> None:
    vault = PersonVault.open_folder(tmp_path / PERSON_KEYS)
    alice, bob = ids.new_id(ids.VOLUNTEER), ids.new_id(ids.VOLUNTEER)
    sealed = vault.seal(alice, PersonalData(NAME, NUMBER))
    assert NAME.encode() not in sealed and NUMBER.encode() not in sealed
    assert vault.open(alice, sealed) == PersonalData(NAME, NUMBER)
    vault.seal(bob, PersonalData("Bob"))
    with pytest.raises(PersonalDataCorrupted):  # moved to another person's row: the bound ID differs
        vault.open(bob, sealed)
    with pytest.raises(PersonalDataCorrupted):  # changed
        vault.open(alice, sealed[:-1] + bytes([sealed[-1] ^ 1]))
    assert stat.S_IMODE((tmp_path / PERSON_KEYS).stat().st_mode) == 0o700
    assert stat.S_IMODE(vault.key_path(alice).stat().st_mode) == 0o600
    assert vault.key_ids() == sorted([alice, bob])
    assert vault.destroy(alice) is True
    assert vault.open(alice, sealed) is None
    assert vault.destroy(alice) is False
    assert not any(p.name.startswith(".") for p in (tmp_path / PERSON_KEYS).iterdir())  # no partial files
    with pytest.raises(ValueError):
        vault.key_path("../server")


def _old_ledger(path: Path) -> str:
    """A data folder whose ledger is as before m016: the name and number in plaintext."""
    init_data_dir(path)
    volunteer_id = ids.new_id(ids.VOLUNTEER)
    conn = sqlite3.connect(path / LEDGER, isolation_level=None)
    try:
        conn.execute("DELETE FROM migrations WHERE name = 'm016_person_vault'")
        conn.execute("DROP TABLE personal_data")
        conn.execute("DROP TABLE erasures")
        conn.execute(
            "CREATE TABLE personal_data (volunteer_id TEXT PRIMARY KEY REFERENCES volunteers (volunteer_id), "
            "name TEXT NOT NULL, ehrenamtskarte TEXT)"
        )
        conn.execute("INSERT INTO volunteers (volunteer_id, created_ms) VALUES (?, 1)", (volunteer_id,))
        conn.execute("INSERT INTO personal_data VALUES (?, ?, ?)", (volunteer_id, NAME, NUMBER))
        # Other volunteers too, so the plaintext is spread over pages as in a real ledger.
        for i in range(300):
            other = ids.new_id(ids.VOLUNTEER)
            conn.execute("INSERT INTO volunteers (volunteer_id, created_ms) VALUES (?, 2)", (other,))
            conn.execute("INSERT INTO personal_data VALUES (?, ?, NULL)", (other, f"Person {i} " + "x" * 40))
    finally:
        conn.close()
    assert _files_hold(path, NAME.encode()) != []  # the control: the plaintext is there to find
    return volunteer_id


def test_opening_an_old_data_folder_seals_its_names_and_leaves_no_plaintext_in_any_page(
    tmp_path: Path,
) -> None:
    path = tmp_path / "server"
    volunteer_id = _old_ledger(path)
    with open_data_dir(path, now_ms=FakeClock()) as ctx:
        with ctx.storage.read() as tx:
            found = {person.volunteer_id: person for person in people(ctx, tx)}
            assert tx.legacy_personal_rows() == []
        assert (found[volunteer_id].name, found[volunteer_id].ehrenamtskarte) == (NAME, NUMBER)
        assert len(found) == 301 and all(person.name is not None for person in found.values())
        # While the server runs: neither the file, its free pages nor the WAL holds the plaintext.
        assert _files_hold(path, NAME.encode()) == []
        assert _files_hold(path, NUMBER.encode()) == []
        assert _files_hold(path, b"Person 17 ") == []
    assert _files_hold(path, NAME.encode()) == []
    assert len(list((path / PERSON_KEYS).glob("v_*.key"))) == 301


def test_key_backups_older_than_the_retention_are_destroyed(tmp_path: Path) -> None:
    path, out = tmp_path / "server", tmp_path / "keys"
    out.mkdir()
    init_data_dir(path)
    vault = PersonVault(path / PERSON_KEYS)
    volunteer_id = ids.new_id(ids.VOLUNTEER)
    vault.seal(volunteer_id, PersonalData(NAME))
    first = backup_person_keys(path, out, now_ms=T0, retention_days=30)
    assert first.keys == 1 and first.pruned == ()
    assert stat.S_IMODE(first.path.stat().st_mode) == 0o700
    assert first.path.name.startswith(KEY_BACKUP_PREFIX)
    vault.destroy(volunteer_id)  # the person is erased the next day
    second = backup_person_keys(path, out, now_ms=T0 + DAY_MS, retention_days=30)
    assert second.keys == 0 and second.pruned == ()
    assert PersonVault(first.path).has_key(volunteer_id)  # still in the older backup, within the retention
    third = backup_person_keys(path, out, now_ms=T0 + 31 * DAY_MS, retention_days=30)
    assert third.pruned == (first.path,)
    assert sorted(p.name for p in out.iterdir()) == sorted([second.path.name, third.path.name])
    assert not any(PersonVault(p).has_key(volunteer_id) for p in out.iterdir())
    assert prune_key_backups(out, now_ms=T0 + 62 * DAY_MS, retention_days=30) == [second.path, third.path]
