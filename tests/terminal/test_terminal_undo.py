"""Undo at the kiosk: :meth:`terminal.tap.Kiosk.undo` signs an ``undo`` and fixes the open shift, at once.

The rules the server applies are ``docs/protocol.md``, "Undo at the kiosk"; the
last test sends the kiosk's outbox to a real ledger on loopback and reads the
balance back.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import requests
import tomli_w

from hardware.indicator import RecordingIndicator
from hardware.reader import Tap
from protocol import EventKind, PrivateKey, Reason, ids
from terminal.clock import SimulatedClock
from terminal.config import KioskConfig, config_to_toml, load_config, write_config
from terminal.errors import ConfigError
from terminal.outbox import Outbox
from terminal.sync import SyncClient
from terminal.tap import Kiosk, Outcome, TapOutcome
from terminal.trust import TrustStore
from tests.conftest import clock_from_now
from tests.terminal import test_terminal_real_server as real_server
from tests.terminal.terminal_helpers import recorded_events
from tests.terminal.test_terminal_real_server import Ledger, _enrol

ledger = real_server.ledger  # the real ledger on loopback, as a fixture here too


def test_an_undone_check_in_leaves_no_open_shift_and_the_next_tap_checks_in(
    kiosk: Kiosk,
    clock: SimulatedClock,
    card_tap: Callable[[str], Tap],
    outbox: Outbox,
    config: KioskConfig,
    kiosk_key: PrivateKey,
    indicator: RecordingIndicator,
) -> None:
    card = ids.new_id(ids.CARD)
    tapped = kiosk.handle_tap(card_tap(card))
    clock.advance(4)
    undone = kiosk.undo(tapped)
    assert (undone.kind, undone.seq, undone.recorded_kind, undone.undone_seq) == (
        Outcome.UNDONE,
        2,
        Outcome.CHECK_IN,
        1,
    )
    assert outbox.open_shift(card) is None  # committed with the undo, in one transaction
    events = recorded_events(config, kiosk_key)
    assert [(e.kind, e.card, dict(e.data)) for e in events] == [
        (EventKind.CHECK_IN, card, {}),
        (EventKind.UNDO, card, {"seq": 1}),
    ]
    assert events[1].version == 2  # sealed like every event the kiosk signs today
    clock.advance(1)  # within the double-tap window: an undone tap is no double tap
    assert kiosk.handle_tap(card_tap(card)).kind is Outcome.CHECK_IN
    assert indicator.signals == ["ok", "ok", "ok"]


def test_an_undone_check_out_reopens_the_shift_as_it_was(
    kiosk: Kiosk, clock: SimulatedClock, card_tap: Callable[[str], Tap], outbox: Outbox
) -> None:
    card = ids.new_id(ids.CARD)
    check_in = kiosk.handle_tap(card_tap(card))
    clock.advance(3600)
    check_out = kiosk.handle_tap(card_tap(card))
    assert outbox.open_shift(card) is None
    clock.advance(9)
    assert kiosk.undo(check_out).kind is Outcome.UNDONE
    reopened = outbox.open_shift(card)
    assert reopened is not None and (reopened.in_seq, reopened.in_wall_ms) == (1, check_in.wall_ms)
    clock.advance(3600)
    later = kiosk.handle_tap(card_tap(card))
    assert (later.kind, later.shift_start_ms, later.shift_minutes) == (
        Outcome.CHECK_OUT,
        check_in.wall_ms,
        120,
    )


def test_an_undo_refused_at_the_kiosk_records_nothing(
    kiosk: Kiosk,
    clock: SimulatedClock,
    card_tap: Callable[[str], Tap],
    outbox: Outbox,
    indicator: RecordingIndicator,
) -> None:
    card, other = ids.new_id(ids.CARD), ids.new_id(ids.CARD)
    first = kiosk.handle_tap(card_tap(card))
    clock.advance(11)  # past the 10 s window
    late = kiosk.undo(first)
    assert (late.kind, late.reason) == (Outcome.ERROR, Reason.UNDO_TOO_LATE)
    second = kiosk.handle_tap(card_tap(card))  # the check-out
    assert kiosk.undo(first).reason is Reason.UNDO_SUPERSEDED  # the card tapped since
    kiosk.handle_tap(card_tap(other))  # another card's tap does not matter
    assert kiosk.undo(second).kind is Outcome.UNDONE
    assert kiosk.undo(second).reason is Reason.ALREADY_UNDONE
    assert kiosk.undo(TapOutcome(Outcome.DENIED, card, 0, seq=1)).reason is Reason.UNDO_UNKNOWN_TAP
    assert outbox.head()[0] == 4  # check-in, check-out, the other card, one undo
    assert indicator.signals[-1] == "error"


def test_the_window_is_set_in_kiosk_toml_within_the_protocols_cap(
    make_config: Callable[..., KioskConfig], tmp_path: Path
) -> None:
    config = make_config(undo_window_s=0)
    path = tmp_path / "kiosk.toml"
    write_config(path, config)
    assert load_config(path).undo_window_s == 0.0
    table = config_to_toml(config)
    for bad in (31, -1, "10"):
        table["undo_window_s"] = bad
        path.write_text(tomli_w.dumps(table))
        with pytest.raises(ConfigError):
            load_config(path)


def test_a_window_of_zero_offers_no_undo(
    make_config: Callable[..., KioskConfig],
    kiosk_key: PrivateKey,
    outbox: Outbox,
    clock: SimulatedClock,
    indicator: RecordingIndicator,
    trust: object,
    card_tap: Callable[[str], Tap],
) -> None:
    kiosk = Kiosk(
        config=make_config(undo_window_s=0),
        key=kiosk_key,
        outbox=outbox,
        clock=clock,
        indicator=indicator,
        trust=trust,  # type: ignore[arg-type]
    )
    tapped = kiosk.handle_tap(card_tap(ids.new_id(ids.CARD)))
    assert kiosk.undo(tapped).reason is Reason.UNDO_TOO_LATE


def test_an_undo_syncs_to_the_real_ledger_and_takes_the_pay_back(
    ledger: Ledger,
    tmp_path: Path,
    issuer,
    card_tap,
    indicator,
) -> None:
    ledger.admin.post(
        f"{ledger.url}/v1/admin/issuer-keys", json={"public_key": issuer.key.public_key.to_b64()}
    ).raise_for_status()
    config, key, first_trust = _enrol(ledger, tmp_path / "kiosk")
    card = ledger.admin.post(
        f"{ledger.url}/v1/admin/cards", json={"name": "Ada", "site_id": config.site_id}
    ).json()["card_id"]
    clock = clock_from_now()
    with Outbox(config.outbox_path) as outbox:
        trust = TrustStore(outbox, server_key=config.server_public_key, kiosk_id=config.kiosk_id)
        trust.store(first_trust)
        kiosk = Kiosk(config=config, key=key, outbox=outbox, clock=clock, indicator=indicator, trust=trust)
        kiosk.handle_tap(card_tap(card))
        clock.advance(3600)
        check_out = kiosk.handle_tap(card_tap(card))
        with SyncClient(config, outbox) as client:  # online: the check-out is paid at once
            assert client.sync_once().ok
        balance = f"{ledger.url}/v1/cards/{card}/balance"
        assert ledger.admin.get(balance).json()["balance"] == 12
        clock.advance(5)
        assert kiosk.undo(check_out).kind is Outcome.UNDONE
        with SyncClient(config, outbox) as client:
            result = client.sync_once()
            assert result.ok and (result.sent, result.pending) == (1, 0)
        assert ledger.admin.get(balance).json()["balance"] == 0
        shifts = ledger.admin.get(f"{ledger.url}/v1/cards/{card}/shifts").json()["shifts"]
        assert [(s["status"], s["reason"]) for s in shifts] == [("rejected", "undone"), ("open", None)]
        clock.advance(3600)
        assert kiosk.handle_tap(card_tap(card)).shift_minutes == 120
        with SyncClient(config, outbox) as client:
            assert client.sync_once().ok
        assert ledger.admin.get(balance).json()["balance"] == 24
    verify = ledger.admin.get(f"{ledger.url}/v1/admin/verify").json()
    assert verify["ok"], verify
    assert requests.get(f"{ledger.url}/v1/kiosks/{config.kiosk_id}", timeout=10).json()["last_seq"] == 4
