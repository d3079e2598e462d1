"""The outbox keeps everything durably, writes atomically, and trusts only receipts that match its chain."""

from __future__ import annotations

import sqlite3

import pytest

from protocol import (
    GENESIS_PREV,
    Event,
    EventKind,
    PrivateKey,
    Reason,
    Receipt,
    VerificationError,
    ids,
    sign_event,
    sign_receipt,
    verify_receipt,
)
from terminal.errors import OutboxError, ReceiptError
from terminal.outbox import OpenShift, Outbox, OutboxReader
from terminal.tap import Kiosk


def _tap_many(kiosk: Kiosk, clock, card_tap, count: int) -> list[str]:
    cards = [ids.new_id(ids.CARD) for _ in range(count)]
    for card in cards:
        clock.advance(1)
        kiosk.handle_tap(card_tap(card))
    return cards


def test_reopening_keeps_events_head_and_open_shifts(config, kiosk, outbox, clock, card_tap):
    cards = _tap_many(kiosk, clock, card_tap, 5)
    head = outbox.head()
    outbox.close()
    with Outbox(config.outbox_path) as again:
        assert again.head() == head
        assert [e.event.card for e in again.pending()] == cards
        assert again.open_shift(cards[2]) == OpenShift(cards[2], 3, clock.wall_ms - 2000)
        assert again.pending_count() == 5


def test_database_is_wal_with_full_sync_and_migration_recorded(config, outbox):
    conn = sqlite3.connect(config.outbox_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        names = [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations")]
    finally:
        conn.close()
    assert names == [
        "m001_initial",
        "m002_trust_list",
        "m003_log_witness",
        "m004_balances",
        "m005_sync_rounds",
        "m006_redemptions",
        "m007_clock_offset",
        "m008_reader_status",
        "m009_server_key",
        "m010_event_openings",
        "m011_log_handover",
        "m012_till_state",
        "m013_sealed_openings",
    ]
    assert outbox.synchronous == 2  # FULL, on the writing connection


def test_append_is_one_transaction_a_failure_after_the_event_insert_leaves_nothing(
    config, kiosk, outbox, clock, card_tap
):
    _tap_many(kiosk, clock, card_tap, 1)
    before = outbox.head()
    conn = sqlite3.connect(config.outbox_path)
    # Fail the head update: the last statement, after the event and shift rows were written.
    conn.execute(
        "CREATE TRIGGER boom BEFORE UPDATE ON kiosk_state BEGIN SELECT RAISE(ABORT, 'power cut'); END"
    )
    conn.commit()
    card = ids.new_id(ids.CARD)
    clock.advance(1)
    signed_seq = before[0] + 1
    event = Event(
        kiosk=config.kiosk_id,
        seq=signed_seq,
        prev=before[1],
        kind=EventKind.CHECK_IN,
        card=card,
        clock=clock.now(),
    )
    signed = sign_event(event, PrivateKey.generate())
    with pytest.raises(sqlite3.IntegrityError):
        outbox.append(signed, open_shift=OpenShift(card, signed_seq, clock.wall_ms))
    try:
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 1
        assert conn.execute("SELECT COUNT(*) FROM open_shifts WHERE card_id = ?", (card,)).fetchone()[0] == 0
        assert conn.execute("SELECT last_seq, head FROM kiosk_state").fetchone() == before
    finally:
        conn.execute("DROP TRIGGER boom")
        conn.commit()
        conn.close()
    assert outbox.head() == before and outbox.open_shift(card) is None
    outbox.append(signed, open_shift=OpenShift(card, signed_seq, clock.wall_ms))  # and it works afterwards
    assert outbox.head() == (signed_seq, signed.hash)


def test_append_refuses_an_event_that_does_not_extend_the_chain(config, kiosk, outbox, clock, card_tap):
    _tap_many(kiosk, clock, card_tap, 2)
    key = PrivateKey.generate()
    card = ids.new_id(ids.CARD)
    for seq, prev in [(2, outbox.head()[1]), (4, outbox.head()[1]), (3, GENESIS_PREV.replace("0", "1"))]:
        event = Event(
            kiosk=config.kiosk_id, seq=seq, prev=prev, kind=EventKind.CHECK_IN, card=card, clock=clock.now()
        )
        with pytest.raises(OutboxError) as info:
            outbox.append(sign_event(event, key))
        assert info.value.reason is Reason.CHAIN_BROKEN
    assert outbox.head()[0] == 2


def _receipt(outbox: Outbox, seq: int, key: PrivateKey, kiosk_id: str, head: str | None = None) -> Receipt:
    if head is None:
        head = next(e.hash for e in outbox.events_from(seq, 1))
    wire = sign_receipt(Receipt(kiosk=kiosk_id, seq=seq, head=head, issued_ms=1), key)
    return verify_receipt(wire, key.public_key, kiosk_id=kiosk_id)


def test_valid_receipt_marks_events_synced_and_they_stay_retained(
    config, kiosk, outbox, clock, card_tap, server_key
):
    _tap_many(kiosk, clock, card_tap, 5)
    assert outbox.apply_receipt(_receipt(outbox, 3, server_key, config.kiosk_id)) == 3
    assert outbox.pending_count() == 2
    assert [e.event.seq for e in outbox.pending()] == [4, 5]
    assert [e.event.seq for e in outbox.pending(from_seq=1)] == [
        1,
        2,
        3,
        4,
        5,
    ]  # synced rows kept for re-feeding
    status = outbox.status()
    assert (status.synced_seq, status.last_receipt["seq"], status.alarm) == (3, 3, None)
    assert status.last_sync_ms is not None
    assert outbox.apply_receipt(_receipt(outbox, 3, server_key, config.kiosk_id)) == 0  # idempotent


def test_receipt_with_a_different_head_is_a_fork_sets_the_alarm_and_removes_nothing(
    config, kiosk, outbox, clock, card_tap, server_key
):
    _tap_many(kiosk, clock, card_tap, 4)
    forged = _receipt(outbox, 4, server_key, config.kiosk_id, head="a" * 64)
    with pytest.raises(ReceiptError) as info:
        outbox.apply_receipt(forged)
    assert info.value.reason is Reason.FORK_DETECTED
    assert outbox.alarm is not None and "seq 4" in outbox.alarm
    assert outbox.pending_count() == 4 and len(outbox.pending()) == 4
    outbox.close()
    with Outbox(config.outbox_path) as again:
        assert again.alarm is not None  # the alarm is persistent
        again.clear_alarm()
        assert again.alarm is None


def test_receipt_for_an_event_we_never_wrote_is_a_fork(config, kiosk, outbox, clock, card_tap, server_key):
    _tap_many(kiosk, clock, card_tap, 2)
    with pytest.raises(ReceiptError) as info:
        outbox.apply_receipt(_receipt(outbox, 7, server_key, config.kiosk_id, head="b" * 64))
    assert info.value.reason is Reason.FORK_DETECTED
    assert outbox.pending_count() == 2


def test_receipt_signed_by_another_key_is_a_bad_receipt(config, kiosk, outbox, clock, card_tap, server_key):
    _tap_many(kiosk, clock, card_tap, 2)
    head = outbox.head()[1]
    wire = sign_receipt(Receipt(kiosk=config.kiosk_id, seq=2, head=head, issued_ms=1), PrivateKey.generate())
    with pytest.raises(VerificationError) as info:
        verify_receipt(wire, server_key.public_key, kiosk_id=config.kiosk_id)
    assert info.value.reason is Reason.BAD_RECEIPT
    assert outbox.pending_count() == 2 and outbox.alarm is None


def test_synced_events_beyond_both_retention_limits_are_pruned(
    config, kiosk_key, clock, card_tap, server_key, trust
):
    with Outbox(config.outbox_path, retain_synced=2, retain_days=0, now_ms=lambda: clock.wall_ms) as box:
        kiosk = Kiosk(config=config, key=kiosk_key, outbox=box, clock=clock, indicator=_Quiet(), trust=trust)
        _tap_many(kiosk, clock, card_tap, 6)
        box.apply_receipt(_receipt(box, 5, server_key, config.kiosk_id))
        assert box.oldest_seq() == 4  # 1..3 pruned; 4 and 5 retained; 6 is unsynced
        assert [e.event.seq for e in box.pending()] == [6]
        assert box.head()[0] == 6


class _Quiet:
    def ok(self) -> None: ...
    def denied(self) -> None: ...
    def error(self) -> None: ...


_OPENER = """\
import sys
from pathlib import Path
from terminal.outbox import Outbox

print("ready", flush=True)
for line in sys.stdin:  # one path per line; both processes get it at the same moment
    try:
        Outbox(Path(line.strip())).close()
        print("ok", flush=True)
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}", flush=True)
"""


@pytest.mark.slow
def test_two_processes_creating_the_same_new_outbox_both_succeed_and_migrate_once(tmp_path):
    # The kiosk and sync services start together on first boot and race to create outbox.db.
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPENER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=root,
        )
        for _ in range(2)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        for attempt in range(15):
            path = tmp_path / f"outbox-{attempt}.db"
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write(f"{path}\n")
            for proc in procs:  # flushed back to back so both start opening together
                assert proc.stdin is not None
                proc.stdin.flush()
            answers = [proc.stdout.readline().strip() for proc in procs if proc.stdout is not None]
            assert answers == ["ok", "ok"], (attempt, answers)
            conn = sqlite3.connect(path)
            try:
                assert [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations")] == [
                    "m001_initial",
                    "m002_trust_list",
                    "m003_log_witness",
                    "m004_balances",
                    "m005_sync_rounds",
                    "m006_redemptions",
                    "m007_clock_offset",
                    "m008_reader_status",
                    "m009_server_key",
                    "m010_event_openings",
                    "m011_log_handover",
                    "m012_till_state",
                    "m013_sealed_openings",
                ]
                assert conn.execute("SELECT COUNT(*) FROM kiosk_state").fetchone()[0] == 1
            finally:
                conn.close()
    finally:
        for proc in procs:
            if proc.stdin is not None:
                proc.stdin.close()
        for proc in procs:
            proc.wait(timeout=60)
            if proc.stdout is not None:
                proc.stdout.close()


def test_the_reader_status_noted_by_the_tap_loop_is_read_by_another_process(tmp_path):
    """A separate sync service reports the reader in its heartbeat: the tap loop leaves it in the outbox."""
    path = tmp_path / "outbox.db"
    with Outbox(path) as loop_side, Outbox(path) as sync_side:
        assert sync_side.reader_status() == "unknown"
        loop_side.record_reader_status("missing")
        assert sync_side.reader_status() == "missing"
        loop_side.record_reader_status("ok")
        loop_side.record_reader_status("ok")  # unchanged: no write
        assert sync_side.reader_status() == "ok"


def test_every_read_an_outbox_reader_offers_leaves_the_file_as_it_was(config, kiosk, outbox, clock, card_tap):
    """``OutboxReader`` is the type that says "reads only": each of its members writes nothing to disk."""
    cards = _tap_many(kiosk, clock, card_tap, 3)
    reader: OutboxReader = outbox

    def on_disk() -> dict[str, bytes]:  # the database and its WAL (the -shm index is no data)
        folder = config.outbox_path.parent
        return {p.name: p.read_bytes() for p in folder.glob("outbox.db*") if not p.name.endswith("-shm")}

    reads = {
        "path": lambda: reader.path,
        "head": reader.head,
        "open_shift": lambda: reader.open_shift(cards[0]),
        "events_from": lambda: reader.events_from(1, 10),
        "pending": reader.pending,
        "pending_count": reader.pending_count,
        "backlog": reader.backlog,
        "oldest_seq": reader.oldest_seq,
        "alarm": lambda: reader.alarm,
        "alarm_code": lambda: reader.alarm_code,
        "log_checkpoint": reader.log_checkpoint,
        "log_origin": reader.log_origin,
        "log_handovers": reader.log_handovers,
        "evidence": reader.evidence,
        "trust_list_issued_ms": reader.trust_list_issued_ms,
        "trust_list": reader.trust_list,
        "till_state": reader.till_state,
        "trust_version": reader.trust_version,
        "trust_list_and_key": reader.trust_list_and_key,
        "server_key": reader.server_key,
        "server_key_pinned_ms": reader.server_key_pinned_ms,
        "balance": lambda: reader.balance(cards[0]),
        "redemption": lambda: reader.redemption(ids.new_id(ids.REDEMPTION)),
        "recent_redemptions": reader.recent_redemptions,
        "event_result": lambda: reader.event_result(1),
        "offline_usage": lambda: reader.offline_usage(cards[0], "2026-01-01"),
        "offline_total": lambda: reader.offline_total("2026-01-01"),
        "sync_requested_ms": reader.sync_requested_ms,
        "reader_status": reader.reader_status,
        "status": reader.status,
    }
    assert set(reads) == {name for name in vars(OutboxReader) if not name.startswith("_")}
    before = on_disk()
    for read in reads.values():
        read()
    assert on_disk() == before
    assert reader.status().pending == 3  # it did read the taps
