"""The kiosk's stored trust list: verified in, verified out, never rolled back, fail closed on tamper."""

from __future__ import annotations

import dataclasses
import json
import sqlite3

import pytest

from protocol import PrivateKey, Reason, VerificationError, b64encode, ids, sign_trust_list
from terminal.outbox import Outbox
from terminal.sync import SyncClient
from terminal.trust import TrustStore
from tests.conftest import EnrolledKiosk


@pytest.fixture
def store(outbox, config, server_key) -> TrustStore:
    return TrustStore(outbox, server_key=server_key.public_key, kiosk_id=config.kiosk_id)


def test_nothing_stored_means_no_trust(store):
    assert store.current() is None


def test_a_verified_list_is_stored_and_survives_a_restart(store, trust, server_key, config):
    store.store(sign_trust_list(trust.trust, server_key))
    assert store.current() == trust.trust
    with Outbox(config.outbox_path) as again:
        fresh = TrustStore(again, server_key=server_key.public_key, kiosk_id=config.kiosk_id)
        assert fresh.current() == trust.trust


@pytest.mark.parametrize("signer", ["other-key", "other-kiosk"])
def test_a_list_that_does_not_verify_is_refused_and_nothing_changes(store, trust, server_key, signer):
    store.store(sign_trust_list(trust.trust, server_key))
    newer = dataclasses.replace(trust.trust, issued_ms=trust.trust.issued_ms + 1, blocked=frozenset())
    if signer == "other-key":
        wire = sign_trust_list(newer, PrivateKey.generate())
    else:
        wire = sign_trust_list(dataclasses.replace(newer, kiosk=ids.new_id(ids.KIOSK)), server_key)
    with pytest.raises(VerificationError) as info:
        store.store(wire)
    assert info.value.reason is Reason.BAD_TRUST_LIST
    assert store.current() == trust.trust


def test_an_older_list_never_replaces_a_newer_one(store, trust, server_key):
    card = ids.new_id(ids.CARD)
    newer = dataclasses.replace(trust.trust, issued_ms=trust.trust.issued_ms + 1, blocked=frozenset({card}))
    store.store(sign_trust_list(newer, server_key))
    assert store.store(sign_trust_list(trust.trust, server_key)) == newer  # the replay unblocks nothing
    assert store.current() == newer


def test_a_newer_list_from_another_process_is_picked_up(store, trust, server_key, config):
    store.store(sign_trust_list(trust.trust, server_key))
    assert store.current() == trust.trust
    newer = dataclasses.replace(trust.trust, issued_ms=trust.trust.issued_ms + 5, allow_uncredentialed=True)
    with Outbox(config.outbox_path) as other:  # e.g. the sync service
        TrustStore(other, server_key=server_key.public_key, kiosk_id=config.kiosk_id).store(
            sign_trust_list(newer, server_key)
        )
    assert store.current() == newer


def test_a_tampered_list_on_disk_fails_closed(store, trust, server_key, config):
    store.store(sign_trust_list(trust.trust, server_key))
    conn = sqlite3.connect(config.outbox_path)
    wire = json.loads(conn.execute("SELECT wire FROM trust_list").fetchone()[0])
    # Someone with the SD card drops every block and bumps issued_ms so the kiosk reloads.
    forged = dataclasses.replace(trust.trust, blocked=frozenset(), issued_ms=trust.trust.issued_ms + 1)
    wire["body"] = sign_trust_list(forged, PrivateKey.generate())["body"]
    conn.execute("UPDATE trust_list SET wire = ?, issued_ms = issued_ms + 1", (json.dumps(wire),))
    conn.commit()
    conn.close()
    assert store.current() is None


def test_sync_fetches_and_stores_the_list_after_a_round(config, outbox, fake_ledger, trust):
    with SyncClient(dataclasses.replace(config, server_url=fake_ledger.url), outbox) as client:
        result = client.sync_once()
        assert result.ok and result.trust_issued_ms == trust.trust.issued_ms
        assert client.trust.current() == trust.trust
        assert client.sync_once().ok
    assert fake_ledger.trust_requests == 1  # the second round is inside trust_refresh_s


def test_sync_refreshes_once_the_interval_has_passed(config, outbox, fake_ledger, trust):
    now = [0]
    url_config = dataclasses.replace(config, server_url=fake_ledger.url)
    with SyncClient(url_config, outbox, trust_refresh_s=60, now_ms=lambda: now[0]) as client:
        assert client.sync_once().ok
        card = ids.new_id(ids.CARD)
        fake_ledger.trust = dataclasses.replace(
            trust.trust, issued_ms=trust.trust.issued_ms + 1, blocked=frozenset({card})
        )
        now[0] = 59_999
        assert client.sync_once().ok and fake_ledger.trust_requests == 1
        now[0] = 60_000
        assert client.sync_once().ok and fake_ledger.trust_requests == 2
        current = client.trust.current()
        assert current is not None and card in current.blocked


def test_a_bad_list_from_the_server_fails_the_round_and_keeps_the_old_one(
    config, outbox, fake_ledger, trust, server_key
):
    url_config = dataclasses.replace(config, server_url=fake_ledger.url)
    with SyncClient(url_config, outbox, trust_refresh_s=0) as client:
        assert client.sync_once().ok
        fake_ledger.trust = dataclasses.replace(trust.trust, kiosk=ids.new_id(ids.KIOSK), issued_ms=2**40)
        result = client.sync_once()
        assert result.error == Reason.BAD_TRUST_LIST.value
        assert client.trust.current() == trust.trust


def test_no_trust_list_on_the_server_is_an_error_not_a_crash(config, outbox, fake_ledger):
    fake_ledger.trust = None
    with SyncClient(dataclasses.replace(config, server_url=fake_ledger.url), outbox) as client:
        result = client.sync_once()
    assert result.error == Reason.NOT_FOUND.value


# -- coordinator cards ---------------------------------------------------------------------------


def test_no_list_means_no_coordinator(store):
    assert store.is_coordinator(ids.new_id(ids.CARD)) is False


def test_a_stored_list_names_its_coordinator_cards(store, trust, server_key, config):
    boss, blocked_boss, volunteer = (ids.new_id(ids.CARD) for _ in range(3))
    listed = dataclasses.replace(
        trust.trust, coordinators=frozenset({boss, blocked_boss}), blocked=frozenset({blocked_boss})
    )
    store.store(sign_trust_list(listed, server_key))
    current = store.current()
    assert current is not None and current.coordinators == frozenset({boss, blocked_boss})
    assert store.is_coordinator(boss) is True
    assert store.is_coordinator(blocked_boss) is False  # a block wins, whatever the list says
    assert store.is_coordinator(volunteer) is False
    with Outbox(config.outbox_path) as again:  # and after a restart
        assert TrustStore(again, server_key=server_key.public_key, kiosk_id=config.kiosk_id).is_coordinator(
            boss
        )


def test_a_version_1_list_from_an_older_server_has_no_coordinators(store, trust, server_key):
    obj = json.loads(
        dataclasses.replace(trust.trust, coordinators=frozenset({ids.new_id(ids.CARD)})).to_bytes()
    )
    del obj["coordinators"], obj["shop"], obj["earning"]
    obj["v"] = 1
    body = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    stored = store.store({"body": b64encode(body), "sig": b64encode(server_key.sign(body))})
    assert stored.coordinators == frozenset() and stored.issuers == trust.trust.issuers
    assert store.current() == dataclasses.replace(trust.trust, coordinators=frozenset())


def test_sync_with_the_real_server_learns_coordinator_cards(enrolled_kiosk: EnrolledKiosk, server_process):
    config = enrolled_kiosk.config
    boss, volunteer, _ = enrolled_kiosk.card_ids
    with Outbox(config.outbox_path) as outbox, SyncClient(config, outbox, trust_refresh_s=0) as client:
        assert client.sync_once().ok
        assert client.trust.is_coordinator(boss) is False
        with server_process.admin() as admin:
            assert admin.set_card_coordinator(boss, coordinator=True)["coordinator"] is True
        result = client.sync_once()
        assert result.ok, result
        current = client.trust.current()
        assert current is not None and len(current.coordinators) == 1 and current.card_salt is not None
        assert client.trust.is_coordinator(boss) and not client.trust.is_coordinator(volunteer)
        with server_process.admin() as admin:
            admin.set_card_coordinator(boss, coordinator=False)
        assert client.sync_once().ok
        assert client.trust.is_coordinator(boss) is False
