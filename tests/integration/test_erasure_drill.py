"""The erasure drill (issue 17): erase one volunteer, then search every file the system wrote.

A small economy runs through the real ``kokreativ server run`` process on
loopback (its output captured in ``server.log``) and a real check-in kiosk
whose outbox syncs to it.  One volunteer, Jördis, has a credential card and an
uncredentialed tag known by its UID.  A backup (ledger copy and key backup) is
taken before and after she is erased.  Then every file under the test's folder
(the server's data folder with its WAL and person keys, the server log, the
backups, the kiosk's config, key and outbox with its WAL) is searched for her
name, her Ehrenamtskarte number and both UIDs (hex in either case, raw bytes).

None is found, the backup from before the erasure included: ledger copies hold
personal data only as ciphertext.  That backup's key copy still opens it until
the key backup retention has passed (docs/operations.md, "Backups"); the drill
shows both.  The drill then lists which pseudonymous IDs remain, in which
files and why, and checks that nothing left ties them to her.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hardware.indicator import RecordingIndicator
from hardware.reader import Tap
from protocol.clock import now_ms
from provisioning.enrol import enrol_kiosk
from server.backup import backup_ledger, backup_person_keys, prune_key_backups
from server.vault import PERSON_KEYS, PersonVault
from terminal.keystore import load_key
from terminal.outbox import Outbox
from terminal.sync import SyncClient
from terminal.tap import Kiosk, Outcome
from terminal.trust import TrustStore
from tests.cardfactory import TestIssuer
from tests.conftest import ServerProcess, clock_from_now

NAME = "Jördis Quellmalz-Nachtigall"
NUMBER = "EAK-QM-550071"
CARD_UID = bytes.fromhex("04C3D2E1F0A9B8")  # her credential card's tag
TAG_UID = bytes.fromhex("045A6B7C8D9E0F")  # an existing tag of hers, registered by its UID
DAY_MS = 86_400_000
HOUR_S = 3600

# Where a pseudonymous ID may remain after the erasure, and why (docs/privacy.md, "Erasure").
ALLOWED_HOMES = {
    "ledger.db": "ledger tables (cards, shifts, ledger entries, events) and the transparency log",
    "ledger.db-wal": "the same pages, not yet checkpointed",
    "ledger-before.db": "the ledger backup from before the erasure (its personal data is ciphertext)",
    "ledger-after.db": "the ledger backup from after the erasure",
    "outbox.db": "the kiosk's signed events and balance cache, by card ID",
    "outbox.db-wal": "the same pages, not yet checkpointed",
    "server.log": "the access log line of the erasure request itself (the volunteer ID in its path)",
}


def _needles() -> dict[str, bytes]:
    found = {"name": NAME.encode(), "surname": b"Quellmalz", "number": NUMBER.encode()}
    for label, uid in (("card uid", CARD_UID), ("tag uid", TAG_UID)):
        found[f"{label} hex"] = uid.hex().encode()
        found[f"{label} HEX"] = uid.hex().upper().encode()
        found[f"{label} bytes"] = uid
    found["name utf-16"] = NAME.encode("utf-16-le")
    return found


def _search(root: Path, needles: dict[str, bytes]) -> dict[str, list[str]]:
    """``label -> [file relative to root]`` for every needle found in any file under ``root``."""
    hits: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        for label, needle in needles.items():
            if needle in data:
                hits.setdefault(label, []).append(str(path.relative_to(root)))
    return hits


def _links(ledger: Path, volunteer_id: str) -> dict[str, int]:
    """How many rows of the tables that tie a person to their pseudonyms still name ``volunteer_id``."""
    conn = sqlite3.connect(ledger)
    try:
        return {
            table: conn.execute(
                f"SELECT COUNT(*) FROM {table} WHERE volunteer_id = ?", (volunteer_id,)
            ).fetchone()[0]
            for table in ("openings", "volunteer_access")
        }
    finally:
        conn.close()


def _shift(kiosk: Kiosk, tap: Tap, clock) -> None:  # type: ignore[no-untyped-def]
    assert kiosk.handle_tap(tap).kind is Outcome.CHECK_IN
    clock.advance(2 * HOUR_S)
    assert kiosk.handle_tap(tap).kind is Outcome.CHECK_OUT
    clock.advance(60)


def test_after_an_erasure_no_file_holds_the_name_the_number_or_the_uid(
    server_process: ServerProcess, tmp_path: Path
) -> None:
    server = server_process
    data = server.data_dir
    backups = tmp_path / "backups"
    backups.mkdir()
    issuer = TestIssuer()
    with server.admin() as admin:
        site = admin.add_site("Tafel Nord", tokens_per_hour=10, allow_uncredentialed=True)
        admin.add_issuer_key(issuer.key.public_key.to_b64())
        home = site["site_id"]  # each new volunteer's home site (issue 17)
        jordis = admin.register_card(name=NAME, site_id=home, ehrenamtskarte=NUMBER)
        tag = admin.register_card(volunteer_id=jordis["volunteer_id"], uid=TAG_UID)
        others = [
            admin.register_card(name=n, site_id=home)["card_id"] for n in ("Bertolt Beispiel", "Cem Çelik")
        ]
        code = admin.create_enrolment_code(site["site_id"])["code"]
    volunteer_id, card_id, tag_id = jordis["volunteer_id"], jordis["card_id"], tag["card_id"]
    _, config = enrol_kiosk(server.url, code, tmp_path / "kiosk")

    clock = clock_from_now()
    taps = {
        card_id: Tap(uid=CARD_UID, ndef=issuer.ndef(card_id, uid=CARD_UID)),
        tag_id: Tap(uid=TAG_UID, ndef=None),
        **{other: issuer.tap(other) for other in others},
    }
    with Outbox(config.outbox_path) as outbox:
        trust = TrustStore(outbox, server_key=config.server_public_key, kiosk_id=config.kiosk_id)
        kiosk = Kiosk(
            config=config,
            key=load_key(config.key_path),
            outbox=outbox,
            clock=clock,
            indicator=RecordingIndicator(),
            trust=trust,
        )
        for card in (card_id, *others, tag_id):
            _shift(kiosk, taps[card], clock)
        with SyncClient(config, outbox) as client:
            assert client.sync_once().ok

        # The control: before the erasure her name is readable by a coordinator.
        with server.admin() as admin:
            assert admin.export_volunteer(volunteer_id)["personal_data"] == {
                "name": NAME,
                "ehrenamtskarte": NUMBER,
            }
        backup_ledger(data, backups / "ledger-before.db")
        before_keys = backup_person_keys(data, backups, now_ms=now_ms()).path

        with server.admin() as admin:
            erased = admin.erase_volunteer(volunteer_id)
            assert sorted(erased["cards_blocked"]) == sorted([card_id, tag_id])
            assert erased["key_destroyed"] is True
        with SyncClient(config, outbox, trust_refresh_s=0) as client:
            assert client.sync_once().ok
        assert kiosk.handle_tap(taps[card_id]).kind is Outcome.DENIED  # blocked from the next trust list on
        with SyncClient(config, outbox) as client:
            assert client.sync_once().ok
    backup_ledger(data, backups / "ledger-after.db")
    after_keys = backup_person_keys(data, backups, now_ms=now_ms()).path

    # While the server runs (its WAL in place), and once it stopped: no file holds what names her.
    assert _search(tmp_path, _needles()) == {}
    server.stop()
    assert _search(tmp_path, _needles()) == {}
    assert not (data / PERSON_KEYS / f"{volunteer_id}.key").exists()
    assert not PersonVault(after_keys).has_key(volunteer_id)

    # The backup from before: its ledger copy holds her data as ciphertext only, which its key copy
    # opens until the retention destroys that copy (backup-keys prunes on every run; here by hand).
    old = sqlite3.connect(backups / "ledger-before.db")
    try:
        (sealed,) = old.execute(
            "SELECT sealed FROM personal_data WHERE volunteer_id = ?", (volunteer_id,)
        ).fetchone()
    finally:
        old.close()
    assert PersonVault(before_keys).open(volunteer_id, sealed) is not None  # within the retention
    pruned = prune_key_backups(backups, now_ms=now_ms() + 31 * DAY_MS, retention_days=30)
    assert before_keys in pruned
    remaining_keys = [p for p in backups.iterdir() if p.is_dir()]
    assert not any(PersonVault(folder).has_key(volunteer_id) for folder in remaining_keys)

    # Nothing links her card IDs to her volunteer ID any more: the registration openings (card|volunteer)
    # are gone, with her access secret and sessions; the backup from before still had them (the control).
    assert _links(backups / "ledger-before.db", volunteer_id) == {"openings": 2, "volunteer_access": 1}
    assert _links(data / "ledger.db", volunteer_id) == {"openings": 0, "volunteer_access": 0}

    # What remains: her pseudonymous IDs, where, and why. None of those files holds anything above.
    remains = _search(
        tmp_path,
        {"volunteer id": volunteer_id.encode(), "card id": card_id.encode(), "tag id": tag_id.encode()},
    )
    homes = {Path(path).name for paths in remains.values() for path in paths}
    unexplained = homes - set(ALLOWED_HOMES)
    assert not unexplained, f"pseudonymous IDs in unexpected files: {unexplained} ({remains})"
    print("\nPseudonymous IDs left after the erasure:")
    for label, paths in sorted(remains.items()):
        for path in paths:
            print(f"  {label:13} {path}: {ALLOWED_HOMES[Path(path).name]}")
    assert remains["volunteer id"]  # the ledger still accounts for her tokens, pseudonymously
