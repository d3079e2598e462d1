"""A planned rotation of the server key, kiosk side: followed only when the pinned key vouches for it.

Against the fake ledger (conftest) over real HTTP: :meth:`FakeLedger.rotate_key` does what
``kokreativ server rotate-key`` and a restart do to a server (new key for receipts, balance
sheets and trust lists, checkpoints co-signed by both, the transition at ``/v1/server-keys``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging

import pytest

from protocol import PrivateKey, Reason, VerificationError, b64encode, ids, sign_trust_list
from protocol.serverkeys import sign_transition
from protocol.trust import verify_trust_list
from terminal.cli import configure
from terminal.config import write_config
from terminal.outbox import Outbox
from terminal.serverkey import key_prefix
from terminal.sync import SyncClient
from terminal.tap import Kiosk, Outcome
from terminal.trust import TrustStore


def _client(config, outbox: Outbox, url: str, **kwargs) -> SyncClient:
    return SyncClient(dataclasses.replace(config, server_url=url), outbox, **kwargs)


@pytest.fixture
def trust_store(outbox, config, server_key, trust) -> TrustStore:
    """The kiosk's trust list as after enrolment: stored, signed by the enrolment key."""
    store = TrustStore(outbox, server_key=server_key.public_key, kiosk_id=config.kiosk_id)
    store.store(sign_trust_list(trust.trust, server_key))
    return store


@pytest.fixture
def stored_kiosk(config, kiosk_key, outbox, clock, indicator, trust_store) -> Kiosk:
    """A check-in kiosk whose tap path checks cards against the stored (verified) trust list."""
    return Kiosk(
        config=config, key=kiosk_key, outbox=outbox, clock=clock, indicator=indicator, trust=trust_store
    )


def _taps(kiosk: Kiosk, clock, card_tap, count: int) -> None:
    for _ in range(count):
        clock.advance(61)
        outcome = kiosk.handle_tap(card_tap(ids.new_id(ids.CARD)))
        assert outcome.kind is Outcome.CHECK_IN, outcome


def test_after_a_rotation_the_kiosk_follows_pins_the_new_key_and_its_events_are_acknowledged(
    config, stored_kiosk, outbox, clock, card_tap, fake_ledger, server_key, caplog
):
    _taps(stored_kiosk, clock, card_tap, 3)
    with _client(config, outbox, fake_ledger.url) as client:
        assert client.sync_once().ok
        assert fake_ledger.server_keys_requests == 0  # everything verified: nothing to ask
        new_key = fake_ledger.rotate_key()
        _taps(stored_kiosk, clock, card_tap, 2)
        with caplog.at_level(logging.WARNING, logger="terminal.sync"):
            result = client.sync_once()
        # The first attempt met a receipt by the new key, followed, pinned; the retry went through.
        assert result.ok, result
        assert (result.acknowledged, result.pending) == (2, 0)
        assert fake_ledger.batch_sizes == [3, 2, 2]
        assert outbox.server_key() == new_key.public_key
        assert f"now pinning {key_prefix(new_key.public_key)}" in caplog.text
        assert fake_ledger.server_keys_requests == 1

        _taps(stored_kiosk, clock, card_tap, 1)
        later = client.sync_once()
    assert later.ok and later.acknowledged == 1 and later.pending == 0
    assert fake_ledger.server_keys_requests == 1  # the next round verifies with the new key
    assert len(fake_ledger.stored) == 6
    assert outbox.server_key() != server_key.public_key


def test_the_trust_list_of_the_new_key_is_stored_and_the_tap_path_still_accepts_cards(
    config, stored_kiosk, outbox, clock, card_tap, fake_ledger, server_key, trust_store
):
    _taps(stored_kiosk, clock, card_tap, 1)
    new_key = fake_ledger.rotate_key()
    with _client(config, outbox, fake_ledger.url) as client:
        assert client.sync_once().ok
    stored = outbox.trust_list()
    assert stored is not None
    verify_trust_list(stored[1], new_key.public_key, kiosk_id=config.kiosk_id)  # re-signed by the new key
    with pytest.raises(VerificationError):
        verify_trust_list(stored[1], server_key.public_key, kiosk_id=config.kiosk_id)
    assert trust_store.current() == fake_ledger.trust
    card = ids.new_id(ids.CARD)
    clock.advance(61)
    assert stored_kiosk.handle_tap(card_tap(card)).kind is Outcome.CHECK_IN
    clock.advance(3600)
    assert stored_kiosk.handle_tap(card_tap(card)).kind is Outcome.CHECK_OUT


def test_another_process_picks_up_the_new_key_and_its_list(
    config, stored_kiosk, outbox, clock, card_tap, fake_ledger, server_key, trust, trust_store
):
    # The screen's store has verified and cached the enrolment list before the rotation.
    assert trust_store.current() == trust.trust
    new_key = fake_ledger.rotate_key()
    newer = dataclasses.replace(trust.trust, issued_ms=trust.trust.issued_ms + 1, allow_uncredentialed=True)
    fake_ledger.trust = newer  # what the server hands out from now on, signed by the new key
    with Outbox(config.outbox_path) as service_box:  # the separate sync service
        with _client(config, service_box, fake_ledger.url) as service:
            assert service.sync_once().ok
        assert service_box.server_key() == new_key.public_key
    # The screen's existing store and a fresh one (a restart) both see the new key's list.
    assert trust_store.current() == newer
    assert trust_store.server_key == new_key.public_key
    with Outbox(config.outbox_path) as again:
        fresh = TrustStore(again, server_key=server_key.public_key, kiosk_id=config.kiosk_id)
        assert fresh.current() == newer and fresh.server_key == new_key.public_key
        # The screen process's own sync client verifies with the key the service pinned.
        _taps(stored_kiosk, clock, card_tap, 2)
        with _client(config, again, fake_ledger.url) as client:
            result = client.sync_once()
    assert result.ok and result.acknowledged == 2
    assert fake_ledger.server_keys_requests == 1  # only the service had to ask


def test_a_kiosk_that_missed_two_rotations_follows_the_chain(
    config, stored_kiosk, outbox, clock, card_tap, fake_ledger
):
    _taps(stored_kiosk, clock, card_tap, 2)
    fake_ledger.rotate_key()
    newest = fake_ledger.rotate_key()
    with _client(config, outbox, fake_ledger.url) as client:
        result = client.sync_once()
    assert result.ok and result.pending == 0
    assert outbox.server_key() == newest.public_key


def test_a_checkpoint_without_the_old_signature_is_followed_on_an_idle_round(
    config, outbox, fake_ledger, trust_store
):
    """Rotation finished before this kiosk synced again: its checkpoint is ``note_unverified`` at first."""
    with _client(config, outbox, fake_ledger.url) as client:
        assert client.sync_once().ok
    new_key = fake_ledger.rotate_key()
    fake_ledger.finish_rotation()
    fake_ledger.append_entry()
    with _client(config, outbox, fake_ledger.url) as client:
        result = client.sync_once()
    assert result.ok, result
    assert outbox.server_key() == new_key.public_key
    assert fake_ledger.server_keys_requests == 1


def test_a_trust_list_by_the_new_key_is_followed_while_checkpoints_are_co_signed(
    config, outbox, fake_ledger, trust_store
):
    new_key = fake_ledger.rotate_key()
    with _client(config, outbox, fake_ledger.url) as client:  # nothing pending: checkpoint, then trust
        result = client.sync_once()
    assert result.ok, result
    assert outbox.server_key() == new_key.public_key
    assert trust_store.current() == fake_ledger.trust


def _forged(kind: str, old: PrivateKey, new: PrivateKey) -> list[dict[str, str]]:
    if kind == "none":
        return []
    if kind == "sig_old_by_new_key":
        signed = sign_transition(old, new, at_ms=1)
        wire = signed.to_wire()
        wire["sig_old"] = b64encode(new.sign(signed.body))  # signed by the new key only
        return [wire]
    if kind == "bad_sig_new":
        signed = sign_transition(old, new, at_ms=1)
        return [{**signed.to_wire(), "sig_new": b64encode(PrivateKey.generate().sign(signed.body))}]
    if kind == "from_another_key":
        return [sign_transition(PrivateKey.generate(), new, at_ms=1).to_wire()]
    if kind == "chain_broken":
        first = sign_transition(old, PrivateKey.generate(), at_ms=1).to_wire()
        return [first, sign_transition(PrivateKey.generate(), new, at_ms=2).to_wire()]
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind", ["none", "sig_old_by_new_key", "bad_sig_new", "from_another_key", "chain_broken"]
)
def test_a_transition_the_pinned_key_does_not_vouch_for_is_refused_and_fails_closed(
    config, stored_kiosk, outbox, clock, card_tap, fake_ledger, server_key, trust, trust_store, kind
):
    _taps(stored_kiosk, clock, card_tap, 3)
    before = outbox.trust_list()
    fake_ledger.rotate_key()
    fake_ledger.transitions = _forged(kind, server_key, fake_ledger.receipt_key)
    with _client(config, outbox, fake_ledger.url) as client:
        first = client.sync_once()
        second = client.sync_once()
    for result in (first, second):
        assert result.error == Reason.BAD_RECEIPT.value and result.pending == 3, result
    assert outbox.server_key() is None  # still the enrolled key
    assert outbox.pending_count() == 3 and outbox.alarm is None
    assert outbox.trust_list() == before and trust_store.current() == trust.trust
    assert fake_ledger.server_keys_requests == 2  # asked each time; followed nothing


def test_no_trust_list_signed_by_the_new_key_means_no_pin(
    config, stored_kiosk, outbox, clock, card_tap, fake_ledger, trust, trust_store
):
    _taps(stored_kiosk, clock, card_tap, 1)
    fake_ledger.rotate_key()
    fake_ledger.trust = None  # GET …/trust answers 404
    with _client(config, outbox, fake_ledger.url) as client:
        result = client.sync_once()
    assert result.error == Reason.BAD_RECEIPT.value and result.pending == 1
    assert outbox.server_key() is None and trust_store.current() == trust.trust


def test_a_published_transition_is_not_followed_while_documents_verify(
    config, stored_kiosk, outbox, clock, card_tap, fake_ledger, server_key
):
    """Never follow on a document that verified: the transition waits until the server signs with it."""
    _taps(stored_kiosk, clock, card_tap, 2)
    fake_ledger.transitions = [sign_transition(server_key, PrivateKey.generate(), at_ms=1).to_wire()]
    with _client(config, outbox, fake_ledger.url) as client:
        assert client.sync_once().ok
    assert outbox.server_key() is None and fake_ledger.server_keys_requests == 0


def test_a_forged_receipt_under_the_pinned_key_is_not_a_reason_to_ask(
    config, stored_kiosk, outbox, clock, card_tap, fake_ledger
):
    _taps(stored_kiosk, clock, card_tap, 2)
    fake_ledger.lie_about_head = True  # validly signed, wrong head: a fork, not a rotation
    with _client(config, outbox, fake_ledger.url) as client:
        assert client.sync_once().error == Reason.FORK_DETECTED.value
    assert fake_ledger.server_keys_requests == 0


def test_pinning_refuses_an_older_list_and_a_key_another_process_replaced(
    config, outbox, server_key, trust, trust_store
):
    new_key, other_key = PrivateKey.generate(), PrivateKey.generate()
    older = dataclasses.replace(trust.trust, issued_ms=trust.trust.issued_ms - 1)
    assert not trust_store.adopt(sign_trust_list(older, new_key), new_key.public_key, replaces=None)
    assert outbox.server_key() is None and trust_store.current() == trust.trust

    assert trust_store.adopt(sign_trust_list(trust.trust, new_key), new_key.public_key, replaces=None)
    assert outbox.server_key() == new_key.public_key
    pinned_ms = outbox.server_key_pinned_ms()
    # A process that followed from the enrolled key meanwhile pins nothing over it.
    newer = dataclasses.replace(trust.trust, issued_ms=trust.trust.issued_ms + 1)
    assert not trust_store.adopt(sign_trust_list(newer, other_key), other_key.public_key, replaces=None)
    assert outbox.server_key() == new_key.public_key and outbox.server_key_pinned_ms() == pinned_ms
    assert trust_store.current() == trust.trust
    with pytest.raises(VerificationError):  # a list the key did not sign: nothing changes
        wrong = sign_trust_list(newer, server_key)
        trust_store.adopt(wrong, other_key.public_key, replaces=new_key.public_key)
    assert outbox.server_key() == new_key.public_key


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kokreativ terminal")
    configure(parser)
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_status_shows_the_pinned_key_and_where_it_came_from(
    config, stored_kiosk, outbox, clock, card_tap, fake_ledger, server_key, tmp_path, capsys
):
    path = tmp_path / "kiosk.toml"
    write_config(path, dataclasses.replace(config, server_url=fake_ledger.url))
    assert _main(["status", "--config", str(path)]) == 0
    report = json.loads(capsys.readouterr().out)["server_key"]
    assert report == {"public_key": server_key.public_key.to_b64(), "source": "enrolment", "pinned": None}

    _taps(stored_kiosk, clock, card_tap, 1)
    new_key = fake_ledger.rotate_key()
    with _client(config, outbox, fake_ledger.url) as client:
        assert client.sync_once().ok
    assert _main(["status", "--config", str(path)]) == 0
    report = json.loads(capsys.readouterr().out)["server_key"]
    assert report["public_key"] == new_key.public_key.to_b64() and report["source"] == "rotation"
    assert report["pinned"] is not None
