"""The tap rules: check-in/out pairing, double taps, abandoned shifts, unknown cards, commit-before-signal."""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import tempfile
from pathlib import Path

import ndef
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hardware.indicator import RecordingIndicator
from hardware.reader import Tap
from protocol import (
    GENESIS_PREV,
    BalanceSheet,
    EarningRules,
    EventKind,
    PrivateKey,
    Reason,
    event_hash,
    ids,
    uid_pseudonym,
    verify_event,
)
from terminal.clock import SimulatedClock
from terminal.config import KioskConfig
from terminal.outbox import Outbox
from terminal.tap import Kiosk, Outcome, shift_estimate, signal_of
from tests.cardfactory import FixedTrust, TestIssuer
from tests.terminal.terminal_helpers import recorded_events

START_MS = 1_764_400_000_000  # the clock fixture's start


def _rows(path: Path) -> list[tuple[int, bytes, bytes]]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.execute("SELECT seq, body, sig FROM events ORDER BY seq"))
    finally:
        conn.close()


def test_first_tap_checks_in_and_second_checks_out_with_token_estimate(kiosk, clock, card_tap, indicator):
    card = ids.new_id(ids.CARD)
    first = kiosk.handle_tap(card_tap(card))
    assert (first.kind, first.card_id, first.seq, first.wall_ms) == (Outcome.CHECK_IN, card, 1, START_MS)

    clock.advance(2 * 3600 + 59 * 60 + 59)  # 2 h 59 min 59 s: minutes round down to 179
    second = kiosk.handle_tap(card_tap(card))
    assert second.kind is Outcome.CHECK_OUT
    assert (second.seq, second.shift_start_ms, second.shift_minutes) == (2, START_MS, 179)
    assert second.tokens == 179 * 10 // 60 == 29
    assert indicator.signals == ["ok", "ok"]


def test_double_tap_within_window_records_nothing_and_after_window_checks_out(
    kiosk, clock, card_tap, indicator, outbox
):
    card = ids.new_id(ids.CARD)
    kiosk.handle_tap(card_tap(card))
    clock.advance(9.9)
    again = kiosk.handle_tap(card_tap(card))
    assert again.kind is Outcome.ALREADY_RECORDED
    assert again.seq is None and again.recorded_kind is Outcome.CHECK_IN
    assert outbox.head()[0] == 1
    assert indicator.signals == ["ok", "ok"]

    clock.advance(0.1)  # exactly the window after the recorded tap
    later = kiosk.handle_tap(card_tap(card))
    assert (later.kind, later.seq) == (Outcome.CHECK_OUT, 2)


def test_window_uses_monotonic_time_not_the_wall_clock(kiosk, clock, card_tap):
    card = ids.new_id(ids.CARD)
    kiosk.handle_tap(card_tap(card))
    clock.set_wall(
        START_MS + 3_600_000
    )  # NTP jumps the wall clock an hour ahead; monotonic time did not move
    assert kiosk.handle_tap(card_tap(card)).kind is Outcome.ALREADY_RECORDED


def test_open_shift_older_than_maximum_is_abandoned_and_tap_checks_in_again(kiosk, clock, card_tap, outbox):
    card = ids.new_id(ids.CARD)
    kiosk.handle_tap(card_tap(card))
    clock.advance(12 * 3600 + 1)
    outcome = kiosk.handle_tap(card_tap(card))
    assert outcome.kind is Outcome.CHECK_IN
    assert outcome.abandoned_start_ms == START_MS
    assert outbox.open_shift(card).in_seq == 2


def test_exactly_the_maximum_still_checks_out(kiosk, clock, card_tap):
    card = ids.new_id(ids.CARD)
    kiosk.handle_tap(card_tap(card))
    clock.advance(12 * 3600)
    assert kiosk.handle_tap(card_tap(card)).kind is Outcome.CHECK_OUT


@pytest.mark.parametrize(
    "message",
    [
        None,
        b"",
        b"".join(ndef.message_encoder([ndef.UriRecord("https://example.org")])),
        b"".join(
            ndef.message_encoder([ndef.Record("urn:nfc:ext:kokreativ.org:card", "", b"c_" + b"0" * 32)])
        ),
    ],
    ids=["no-ndef", "empty", "foreign-record", "old-unsigned-record"],
)
def test_card_without_credential_is_denied_under_its_pseudonym_and_the_uid_is_stored_nowhere(
    config, kiosk_key, clock, indicator, message, trust
):
    uid = bytes.fromhex("04deadbeefcafe")
    outbox = Outbox(config.outbox_path)
    try:
        kiosk = Kiosk(
            config=config, key=kiosk_key, outbox=outbox, clock=clock, indicator=indicator, trust=trust
        )
        outcome = kiosk.handle_tap(Tap(uid=uid, ndef=message))
        assert outcome.kind is Outcome.DENIED and outcome.reason is Reason.UNKNOWN_CARD
        assert outcome.card_id == uid_pseudonym(uid, config.uid_pseudonym_key)
        assert outcome.card_id.startswith("u_")
        assert indicator.signals == ["denied"]
        # The signed v2 event is sealed; the opening the outbox keeps beside it opens the denial.
        (event,) = recorded_events(config, kiosk_key)
        assert event.version == 2 and event.card == outcome.card_id
        assert event.kind is EventKind.DENIED and event.data == {"reason": "unknown_card"}
        assert outbox.open_shift(outcome.card_id) is None
        # A denied card is refused every time; it never opens a shift.
        assert kiosk.handle_tap(Tap(uid=uid, ndef=message)).kind is Outcome.DENIED
    finally:
        outbox.close()
    for path in config.data_dir.iterdir():  # the db and any WAL/SHM left behind
        data = path.read_bytes()
        assert uid not in data and uid.hex().encode() not in data, path


def test_shift_estimate_rounds_down_and_never_goes_negative():
    assert shift_estimate(0, 59_999, EarningRules(60)) == (0, 0)
    assert shift_estimate(0, 60 * 60_000, EarningRules(7)) == (60, 7)
    assert shift_estimate(0, 90 * 60_000, EarningRules(7)) == (90, 10)
    assert shift_estimate(10_000, 0, EarningRules(60)) == (0, 0)


class _CommitCheckingIndicator:
    """Opens a second connection when signalled and checks the newest event is already committed."""

    def __init__(self, path: Path, outbox: Outbox) -> None:
        self.path = path
        self.outbox = outbox
        self.seen: list[tuple[str, int]] = []

    def _check(self, name: str) -> None:
        conn = sqlite3.connect(self.path)
        try:
            (max_seq,) = conn.execute("SELECT MAX(seq) FROM events").fetchone()
        finally:
            conn.close()
        assert max_seq == self.outbox.head()[0]
        self.seen.append((name, max_seq))

    def ok(self) -> None:
        self._check("ok")

    def denied(self) -> None:
        self._check("denied")

    def error(self) -> None:
        self.seen.append(("error", -1))


def test_indicator_is_called_only_after_the_event_is_committed(
    config, kiosk_key, outbox, clock, card_tap, trust
):
    indicator = _CommitCheckingIndicator(config.outbox_path, outbox)
    kiosk = Kiosk(config=config, key=kiosk_key, outbox=outbox, clock=clock, indicator=indicator, trust=trust)
    card = ids.new_id(ids.CARD)
    kiosk.handle_tap(card_tap(card))
    clock.advance(60)
    kiosk.handle_tap(card_tap(card))
    kiosk.handle_tap(Tap(uid=b"\x04\x01\x02\x03", ndef=None))
    assert indicator.seen == [("ok", 1), ("ok", 2), ("denied", 3)]


def test_failure_while_recording_signals_error_writes_nothing_and_the_loop_goes_on(
    kiosk, outbox, config, card_tap, indicator, clock
):
    conn = sqlite3.connect(config.outbox_path)
    conn.execute(
        "CREATE TRIGGER boom BEFORE INSERT ON open_shifts BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
    )
    conn.commit()
    card = ids.new_id(ids.CARD)
    outcome = kiosk.handle_tap(card_tap(card))
    assert outcome.kind is Outcome.ERROR and outcome.seq is None
    assert indicator.signals == ["error"]
    assert outbox.head() == (0, GENESIS_PREV) and outbox.open_shift(card) is None
    assert _rows(config.outbox_path) == []

    conn.execute("DROP TRIGGER boom")
    conn.commit()
    conn.close()
    clock.advance(1)
    assert kiosk.handle_tap(card_tap(card)).kind is Outcome.CHECK_IN  # not "already recorded": nothing was
    assert outbox.head()[0] == 1


def test_a_disk_that_refuses_writes_is_a_clear_error_with_its_reason(kiosk, outbox, card_tap, indicator):
    """SQLite's "read-only" as the outbox's own connection sees it (query_only); the real disks,
    full and read-only, are in tests/integration/test_disk_faults.py (they need root to mount)."""
    outbox._conn.execute("PRAGMA query_only = 1")
    outcome = kiosk.handle_tap(card_tap(ids.new_id(ids.CARD)))
    assert outcome.kind is Outcome.ERROR and outcome.seq is None
    assert outcome.reason is Reason.STORAGE_UNAVAILABLE
    assert indicator.signals == ["error"]
    assert outbox.head() == (0, GENESIS_PREV)


def test_bad_uid_is_an_error_not_a_crash(kiosk, indicator):
    outcome = kiosk.handle_tap(Tap(uid=b"\x01", ndef=None))  # too short to pseudonymise
    assert outcome.kind is Outcome.ERROR
    assert indicator.signals == ["error"]


class _BrokenIndicator(RecordingIndicator):
    def ok(self) -> None:
        raise OSError("LED driver gone")


def test_a_broken_indicator_does_not_turn_a_recorded_tap_into_an_error(
    config, kiosk_key, outbox, clock, card_tap, trust
):
    kiosk = Kiosk(
        config=config, key=kiosk_key, outbox=outbox, clock=clock, indicator=_BrokenIndicator(), trust=trust
    )
    assert kiosk.handle_tap(card_tap(ids.new_id(ids.CARD))).kind is Outcome.CHECK_IN


CARDS = [ids.new_id(ids.CARD) for _ in range(3)]
ISSUER = TestIssuer()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, len(CARDS) - 1), st.integers(0, 20 * 3600)), max_size=25))
def test_random_taps_alternate_per_card_with_a_gapless_intact_chain(make_config, taps):
    key = PrivateKey.generate()
    with tempfile.TemporaryDirectory() as folder:
        config: KioskConfig = make_config(data_dir=Path(folder))
        clock = SimulatedClock(START_MS)
        with Outbox(config.outbox_path) as outbox:
            trust = FixedTrust(ISSUER.trust_list(kiosk=config.kiosk_id, site=config.site_id))
            kiosk = Kiosk(
                config=config,
                key=key,
                outbox=outbox,
                clock=clock,
                indicator=RecordingIndicator(),
                trust=trust,
            )
            model_open: dict[str, int] = {}  # card -> check-in wall ms
            model_last: dict[str, int] = {}  # card -> mono ms of the last recorded tap
            for index, pause in taps:
                card = CARDS[index]
                clock.advance(pause)
                now = clock.now()
                tap = ISSUER.tap(card)
                outcome = kiosk.handle_tap(tap)
                if card in model_last and now.mono_ms - model_last[card] < 10_000:
                    assert outcome.kind is Outcome.ALREADY_RECORDED
                    continue
                model_last[card] = now.mono_ms
                if card in model_open and now.wall_ms - model_open[card] <= 12 * 3_600_000:
                    assert outcome.kind is Outcome.CHECK_OUT
                    del model_open[card]
                else:
                    assert outcome.kind is Outcome.CHECK_IN
                    model_open[card] = now.wall_ms
            rows = _rows(config.outbox_path)
            prev = GENESIS_PREV
            for expected_seq, (seq, body, sig) in enumerate(rows, start=1):
                event = verify_event(body, sig, key.public_key).event
                assert seq == event.seq == expected_seq
                assert event.prev == prev
                prev = event_hash(body)
            assert outbox.head() == (len(rows), prev)


def test_outcome_json_has_plain_codes_and_no_empty_fields(kiosk, card_tap):
    outcome = kiosk.handle_tap(Tap(uid=b"\x04\x01\x02\x03", ndef=None))
    assert outcome.to_json() == {
        "kind": "denied",
        "card_id": outcome.card_id,
        "wall_ms": START_MS,
        "seq": 1,
        "reason": "unknown_card",
    }


def test_the_double_tap_memory_forgets_cards_outside_the_window(kiosk, clock, card_tap, config):
    for _ in range(300):
        clock.advance(config.double_tap_window_s + 1)
        kiosk.handle_tap(card_tap(ids.new_id(ids.CARD)))
    assert kiosk.remembered_cards == 1  # only the last card can still be a double tap


def test_the_double_tap_memory_keeps_the_cards_of_the_last_window(kiosk, clock, card_tap, config):
    cards = [ids.new_id(ids.CARD) for _ in range(5)]
    for card in cards:
        clock.advance(config.double_tap_window_s / 10)
        kiosk.handle_tap(card_tap(card))
    assert kiosk.remembered_cards == 5
    assert all(kiosk.handle_tap(card_tap(card)).kind is Outcome.ALREADY_RECORDED for card in cards)


def test_a_check_in_stores_the_seq_it_reports_in_its_open_shift(kiosk, clock, card_tap, outbox):
    cards = [ids.new_id(ids.CARD) for _ in range(3)]
    for card in cards:
        clock.advance(1)
        outcome = kiosk.handle_tap(card_tap(card))
        shift = outbox.open_shift(card)
        assert shift is not None and outcome.seq == shift.in_seq == outbox.head()[0]


def test_a_failed_tap_logs_one_line_with_type_and_code_and_the_traceback_only_at_debug(kiosk, caplog):
    bad = Tap(uid=b"\x01", ndef=None)  # too short to pseudonymise: MalformedError(bad_field)
    with caplog.at_level(logging.INFO, logger="terminal.tap"):
        kiosk.handle_tap(bad)
    records = [r for r in caplog.records if r.name == "terminal.tap"]
    assert [(r.levelno, r.getMessage(), r.exc_info) for r in records] == [
        (logging.WARNING, "tap failed: MalformedError (bad_field)", None)
    ]
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="terminal.tap"):
        kiosk.handle_tap(bad)
    assert [r.levelno for r in caplog.records if r.exc_info] == [logging.DEBUG]


def test_a_broken_indicator_is_one_warning_line(config, kiosk_key, outbox, clock, card_tap, caplog, trust):
    kiosk = Kiosk(
        config=config, key=kiosk_key, outbox=outbox, clock=clock, indicator=_BrokenIndicator(), trust=trust
    )
    with caplog.at_level(logging.INFO, logger="terminal.tap"):
        kiosk.handle_tap(card_tap(ids.new_id(ids.CARD)))
    records = [r for r in caplog.records if r.name == "terminal.tap"]
    assert [(r.getMessage(), r.exc_info) for r in records] == [("indicator failed: OSError", None)]


def test_a_coordinator_card_opens_the_menu_and_records_nothing(kiosk, trust, card_tap, indicator, outbox):
    boss = ids.new_id(ids.CARD)
    assert trust.trust is not None
    trust.trust = dataclasses.replace(trust.trust, coordinators=frozenset({boss}))
    outcome = kiosk.handle_tap(card_tap(boss))
    assert (outcome.kind, outcome.card_id, outcome.seq) == (Outcome.COORDINATOR, boss, None)
    assert outbox.head()[0] == 0 and outbox.open_shift(boss) is None
    assert indicator.signals == ["ok"]


def test_a_blocked_coordinator_card_is_denied_like_any_other(kiosk, trust, card_tap, outbox):
    boss = ids.new_id(ids.CARD)
    assert trust.trust is not None
    trust.trust = dataclasses.replace(trust.trust, coordinators=frozenset({boss}), blocked=frozenset({boss}))
    outcome = kiosk.handle_tap(card_tap(boss))
    assert (outcome.kind, outcome.reason) == (Outcome.DENIED, Reason.CARD_BLOCKED)


def test_check_out_carries_the_balance_of_the_last_sync(kiosk, clock, card_tap, outbox):
    card = ids.new_id(ids.CARD)
    kiosk.handle_tap(card_tap(card))
    clock.advance(3600)
    assert kiosk.handle_tap(card_tap(card)).balance is None  # the server never reported one
    # The outbox keeps sheets the sync side verified already; it does not check their kiosk again.
    sheet = BalanceSheet(kiosk=ids.new_id(ids.KIOSK), as_of_ms=START_MS - 5, balances={card: 70})
    outbox.save_balances(sheet)
    clock.advance(60)
    kiosk.handle_tap(card_tap(card))
    clock.advance(3600)
    out = kiosk.handle_tap(card_tap(card))
    assert (out.kind, out.balance, out.balance_as_of_ms) == (Outcome.CHECK_OUT, 70, START_MS - 5)


@pytest.mark.parametrize("kind", list(Outcome))
def test_the_indicator_plays_the_signal_of_the_outcome(kind):
    assert signal_of(kind) == {"denied": "denied", "error": "error"}.get(kind.value, "ok")
