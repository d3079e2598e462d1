"""The kiosk as a witness of the server's transparency log, against the fake ledger's real Merkle log.

docs/protocol.md, "Receipts with proofs": a receipt is applied only when its checkpoint verifies
under the pinned origin, extends the last verified one, and proves every event of the batch in
the log.  A checkpoint that does not extend the verified one is evidence: the alarm
``log_inconsistent`` is set, the evidence is kept and reported, and sync halts.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import sqlite3

import pytest

from protocol import PrivateKey, Reason, ids
from terminal.cli import configure
from terminal.config import write_config
from terminal.outbox import Outbox
from terminal.sync import SyncClient
from terminal.tap import Kiosk
from tests.terminal.conftest import ORIGIN, FakeLedger


def _fill(kiosk: Kiosk, clock, card_tap, count: int) -> None:
    for _ in range(count):
        clock.advance(61)
        kiosk.handle_tap(card_tap(ids.new_id(ids.CARD)))


def _client(config, outbox: Outbox, ledger: FakeLedger, **changes) -> SyncClient:
    return SyncClient(dataclasses.replace(config, server_url=ledger.url, **changes), outbox)


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kokreativ terminal")
    configure(parser)
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.fixture
def config_path(config, fake_ledger, tmp_path):
    path = tmp_path / "kiosk.toml"
    write_config(path, dataclasses.replace(config, server_url=fake_ledger.url))
    return path


def _assert_verified(outbox: Outbox, ledger: FakeLedger) -> None:
    """The kiosk holds exactly the checkpoint the ledger serves now."""
    verified = outbox.log_checkpoint()
    assert verified is not None
    assert (verified.origin, verified.size, verified.root) == (
        ORIGIN,
        ledger.log.size,
        ledger.log.root(verified.size),
    )
    assert verified.note == ledger.checkpoint_note().encode()


# -- an honest server ------------------------------------------------------------------------------------


def test_an_honest_server_is_witnessed_across_many_rounds_as_its_log_grows(
    config, kiosk, outbox, clock, card_tap, fake_ledger
):
    sizes_sent: list[int] = []
    empty_rounds: list[bool] = []  # for each round with nothing to send: had the log grown meanwhile?
    with _client(config, outbox, fake_ledger) as client:
        for round_no in range(12):
            if round_no % 3 == 1:
                fake_ledger.append_entry()  # other kiosks' facts land in the log between our syncs
            if round_no % 4 != 3:
                _fill(kiosk, clock, card_tap, 1 + round_no)
            before = outbox.log_checkpoint()
            posts, consistency = len(fake_ledger.log_sizes), len(fake_ledger.consistency_requests)
            result = client.sync_once()
            assert result.ok, (round_no, result)
            assert result.pending == 0 and result.log_size == fake_ledger.log.size
            _assert_verified(outbox, fake_ledger)
            if round_no % 4 != 3:  # the batch answer carried the checkpoint and the proofs
                sizes_sent.append(before.size if before else 0)
                assert fake_ledger.log_sizes[posts:] == [sizes_sent[-1]]
            else:  # nothing to send: the kiosk fetched the checkpoint, and a consistency proof if it grew
                assert fake_ledger.log_sizes[posts:] == []
                grew = fake_ledger.log.size > before.size
                assert fake_ledger.consistency_requests[consistency:] == (
                    [(before.size, fake_ledger.log.size)] if grew else []
                )
                empty_rounds.append(grew)
    assert fake_ledger.log_sizes == sizes_sent and sizes_sent[0] == 0
    assert sizes_sent == sorted(sizes_sent) and len(set(sizes_sent)) == len(sizes_sent)  # always growing
    assert empty_rounds == [False, True, False]
    assert outbox.alarm is None and outbox.evidence() == []


def test_a_round_with_nothing_new_anywhere_checks_the_checkpoint_without_a_proof(
    config, kiosk, outbox, clock, card_tap, fake_ledger
):
    _fill(kiosk, clock, card_tap, 2)
    with _client(config, outbox, fake_ledger) as client:
        assert client.sync_once().ok
        first = outbox.log_checkpoint()
        assert client.sync_once().ok
    assert fake_ledger.checkpoint_requests == 1 and fake_ledger.consistency_requests == []
    assert outbox.log_checkpoint().note == first.note


def test_the_servers_flags_are_part_of_what_the_kiosk_checks(
    config, kiosk, outbox, clock, card_tap, fake_ledger
):
    fake_ledger.flags = [Reason.UNKNOWN_CARD.value]  # the entry the kiosk rebuilds must carry them
    _fill(kiosk, clock, card_tap, 3)
    with _client(config, outbox, fake_ledger) as client:
        result = client.sync_once()
    assert result.ok and result.acknowledged == 3


def test_the_first_sync_pins_the_origin_of_an_old_config_on_first_use(
    config, kiosk, outbox, clock, card_tap, fake_ledger
):
    old_config = dataclasses.replace(config, log_origin=None)  # enrolled before the server had a log
    _fill(kiosk, clock, card_tap, 2)
    fake_ledger.log_key = PrivateKey.generate()
    with _client(old_config, outbox, fake_ledger) as client:
        # Only a checkpoint signed by the server key it pinned at enrolment can pin an origin.
        assert client.sync_once().error == Reason.NOTE_UNVERIFIED
        assert outbox.log_origin() is None and outbox.pending_count() == 2
        fake_ledger.log_key = fake_ledger.receipt_key
        assert client.sync_once().ok
        assert outbox.log_origin() == ORIGIN

        # From now on the server key must sign under that origin.
        fake_ledger.origin = "elsewhere.example/log"
        _fill(kiosk, clock, card_tap, 1)
        assert client.sync_once().error == Reason.NOTE_UNVERIFIED
        assert outbox.pending_count() == 1 and outbox.alarm is None
    with Outbox(config.outbox_path, create=False) as reopened:
        assert reopened.status().log_origin == ORIGIN


# -- answers that cannot be used: the round stops, the events stay ----------------------------------------


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (lambda ledger: setattr(ledger, "log_key", PrivateKey.generate()), Reason.NOTE_UNVERIFIED),
        (lambda ledger: setattr(ledger, "origin", "elsewhere.example/log"), Reason.NOTE_UNVERIFIED),
        (  # signed under our origin's name, but the checkpoint names another log
            lambda ledger: (
                setattr(ledger, "origin", "elsewhere.example/log"),
                setattr(ledger, "key_name", ORIGIN),
            ),
            Reason.BAD_CHECKPOINT,
        ),
        (lambda ledger: setattr(ledger, "corrupt_inclusion", True), Reason.BAD_PROOF),
        (lambda ledger: setattr(ledger, "omit_checkpoint", True), Reason.BAD_CHECKPOINT),  # an old server
    ],
    ids=["another-key", "another-origin", "origin-mismatch", "bad-inclusion-proof", "no-checkpoint"],
)
def test_an_unusable_checkpoint_or_proof_stops_the_round_and_keeps_the_events(
    config, kiosk, outbox, clock, card_tap, fake_ledger, fault, code
):
    _fill(kiosk, clock, card_tap, 2)
    with _client(config, outbox, fake_ledger) as client:
        assert client.sync_once().ok
        verified = outbox.log_checkpoint()
        _fill(kiosk, clock, card_tap, 3)
        fault(fake_ledger)
        result = client.sync_once()
    assert (result.error, result.sent, result.acknowledged, result.pending) == (code, 0, 0, 3)
    assert outbox.status().synced_seq == 2
    assert outbox.log_checkpoint() == verified  # nothing learnt from a bad answer
    assert outbox.alarm is None and outbox.evidence() == []  # not evidence of a rewrite, just unusable


def test_a_proof_for_the_wrong_event_is_bad_proof(config, kiosk, outbox, clock, card_tap, fake_ledger):
    _fill(kiosk, clock, card_tap, 2)
    fake_ledger.flags = [Reason.CLOCK_OUT_OF_RANGE.value]
    original = fake_ledger.proofs

    def lie_about_flags(seqs, log_size):  # the log holds flags the answer does not admit to
        answer = original(seqs, log_size)
        for item in answer["entries"]:
            item["flags"] = []
        return answer

    fake_ledger.proofs = lie_about_flags
    with _client(config, outbox, fake_ledger) as client:
        result = client.sync_once()
    assert (result.error, result.pending) == (Reason.BAD_PROOF, 2)


def test_a_receipt_that_forks_our_chain_stores_no_checkpoint_either(
    config, kiosk, outbox, clock, card_tap, fake_ledger
):
    _fill(kiosk, clock, card_tap, 2)
    fake_ledger.lie_about_head = True
    with _client(config, outbox, fake_ledger) as client:
        assert client.sync_once().error == Reason.FORK_DETECTED
    assert outbox.alarm_code == Reason.FORK_DETECTED and outbox.log_checkpoint() is None


# -- a server that rewrites history ------------------------------------------------------------------------


def test_a_server_that_serves_a_forked_checkpoint_is_detected_by_the_kiosk(
    config, config_path, kiosk, outbox, clock, card_tap, fake_ledger, capsys
):
    _fill(kiosk, clock, card_tap, 4)
    with _client(config, outbox, fake_ledger) as client:
        assert client.sync_once().ok
        witnessed = outbox.log_checkpoint()
        assert witnessed.size == 5

        fake_ledger.fork_log(0)  # an earlier entry rewritten: every later root changes
        _fill(kiosk, clock, card_tap, 3)
        result = client.sync_once()
        assert (result.error, result.acknowledged, result.pending) == (Reason.LOG_INCONSISTENT, 0, 3)
        assert "forked" in result.message
        assert outbox.status().synced_seq == 4  # nothing of that batch was marked synced
        assert outbox.log_checkpoint() == witnessed  # the kiosk still holds what it verified
        assert outbox.alarm_code == Reason.LOG_INCONSISTENT

        (evidence,) = outbox.evidence()
        assert evidence.kind == "log_inconsistent"
        assert evidence.old_checkpoint.encode() == witnessed.note
        assert evidence.new_checkpoint == fake_ledger.checkpoint_note()
        assert evidence.consistency == fake_ledger.log.consistency(5, 8) and evidence.consistency
        assert evidence.reported_ms is not None
        # Reported with POST …/evidence, signed by the kiosk's key (the fake ledger checked it).
        (report,) = fake_ledger.evidence
        assert (report.kiosk, report.number, report.truncated) == (config.kiosk_id, evidence.id, False)
        assert report.detected_ms == evidence.detected_ms
        assert (
            report.to_json() | evidence.to_json() == report.to_json()
        )  # the same kind, notes, proof, detail

        # Sync halts: nothing more is sent, however often it is tried, even to an honest server.
        posts = len(fake_ledger.log_sizes)
        for _ in range(3):
            halted = client.sync_once()
            assert (halted.error, halted.sent) == (Reason.LOG_INCONSISTENT, 0)
        assert len(fake_ledger.log_sizes) == posts and fake_ledger.checkpoint_requests == 0
        assert len(fake_ledger.evidence) == 1  # already reported: not sent again

    assert _main(["status", "--config", str(config_path)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["alarm_code"] == "log_inconsistent" and status["alarm"] == evidence.detail
    assert status["evidence"] == 1 and status["pending"] == 3
    assert status["log"]["size"] == 5 and status["log"]["origin"] == ORIGIN
    assert base64.b64decode(status["log"]["root"]) == witnessed.root and status["log"]["verified"]

    assert _main(["evidence", "--config", str(config_path)]) == 0
    (exported,) = json.loads(capsys.readouterr().out)
    assert {k: exported[k] for k in evidence.to_json()} == evidence.to_json()
    assert exported["detected_ms"] == evidence.detected_ms and exported["reported"] is not None

    # A coordinator has looked into it: clearing lifts the alarm, keeps the evidence, and the kiosk
    # starts again from the server's current log.
    assert _main(["clear-alarm", "--config", str(config_path)]) == 0
    assert json.loads(capsys.readouterr().out) == {"alarm_cleared": evidence.detail}
    assert outbox.alarm is None and len(outbox.evidence()) == 1 and outbox.log_checkpoint() is None
    with _client(config, outbox, fake_ledger) as client:
        again = client.sync_once()
    assert again.ok and again.pending == 0
    _assert_verified(outbox, fake_ledger)


def test_a_fork_is_detected_at_a_sync_with_nothing_to_send(
    config, kiosk, outbox, clock, card_tap, fake_ledger
):
    _fill(kiosk, clock, card_tap, 2)
    with _client(config, outbox, fake_ledger) as client:
        assert client.sync_once().ok
        fake_ledger.fork_log(1)
        fake_ledger.append_entry()
        result = client.sync_once()
    assert (result.error, result.sent) == (Reason.LOG_INCONSISTENT, 0)
    assert fake_ledger.consistency_requests == [(3, 4)]
    (evidence,) = outbox.evidence()
    assert evidence.new_checkpoint == fake_ledger.checkpoint_note() and len(fake_ledger.evidence) == 1


def test_same_size_with_another_root_is_a_fork(config, kiosk, outbox, clock, card_tap, fake_ledger):
    _fill(kiosk, clock, card_tap, 2)
    with _client(config, outbox, fake_ledger) as client:
        assert client.sync_once().ok
        fake_ledger.fork_log(2)
        result = client.sync_once()
    assert result.error == Reason.LOG_INCONSISTENT and "forked" in result.message
    assert fake_ledger.consistency_requests == []  # no proof can reconcile two roots of one size


def test_a_smaller_tree_is_evidence_of_a_rewrite(config, kiosk, outbox, clock, card_tap, fake_ledger):
    _fill(kiosk, clock, card_tap, 4)
    with _client(config, outbox, fake_ledger) as client:
        assert client.sync_once().ok
        fake_ledger.serve_size = 3  # the server shows an older tree head than the one the kiosk holds
        _fill(kiosk, clock, card_tap, 1)
        result = client.sync_once()
    assert (result.error, result.pending) == (Reason.LOG_INCONSISTENT, 1)
    assert "shrank" in result.message
    (evidence,) = outbox.evidence()
    assert evidence.new_checkpoint == fake_ledger.checkpoint_note(3) and evidence.consistency == []


def test_a_missing_consistency_proof_is_evidence_but_not_on_the_first_sync(
    config, kiosk, outbox, clock, card_tap, fake_ledger
):
    fake_ledger.omit_consistency = True
    _fill(kiosk, clock, card_tap, 2)
    with _client(config, outbox, fake_ledger) as client:
        assert client.sync_once().ok  # from nothing there is nothing to prove
        _fill(kiosk, clock, card_tap, 2)
        result = client.sync_once()
    assert result.error == Reason.LOG_INCONSISTENT and "no consistency proof" in result.message
    assert outbox.pending_count() == 2


def test_evidence_the_server_did_not_take_is_reported_on_a_later_round(
    config, kiosk, outbox, clock, card_tap, fake_ledger
):
    _fill(kiosk, clock, card_tap, 2)
    with _client(config, outbox, fake_ledger) as client:
        assert client.sync_once().ok
        fake_ledger.fork_log(0)
        fake_ledger.evidence_status = 503
        _fill(kiosk, clock, card_tap, 1)
        assert client.sync_once().error == Reason.LOG_INCONSISTENT  # reporting failed; nothing raised
        assert outbox.evidence(unreported=True) and fake_ledger.evidence == []
        fake_ledger.evidence_status = 202
        assert client.sync_once().error == Reason.LOG_INCONSISTENT  # still halted …
    assert len(fake_ledger.evidence) == 1 and outbox.evidence(unreported=True) == []  # … but reported


def test_evidence_the_server_already_holds_counts_as_reported_and_a_quota_stops_the_rest(
    config, outbox, fake_ledger
):
    for detail in ("first", "second"):
        outbox.record_log_inconsistency(old_note=b"old\n", new_note=b"new\n", consistency=[], detail=detail)
    with _client(config, outbox, fake_ledger) as client:
        # An earlier answer was lost: the server holds the report and says so (409 duplicate).
        fake_ledger.evidence_status, fake_ledger.evidence_code = 409, Reason.DUPLICATE
        assert client.report_evidence() == 2 and outbox.evidence(unreported=True) == []
    outbox.record_log_inconsistency(old_note=b"old\n", new_note=b"new\n", consistency=[], detail="third")
    with _client(config, outbox, fake_ledger) as client:
        # Over its quota the server takes no more; the kiosk keeps the report and tries again later.
        fake_ledger.evidence_status, fake_ledger.evidence_code = 429, Reason.QUOTA_EXCEEDED
        assert client.report_evidence() == 0
        assert [e.detail for e in outbox.evidence(unreported=True)] == ["third"]


def test_evidence_too_long_for_the_protocol_is_reported_cut_and_kept_whole(config, outbox, fake_ledger):
    proof = ["x" * 100] * 500  # what a hostile server could answer as a consistency proof
    outbox.record_log_inconsistency(
        old_note=b"old\n" * 10_000, new_note=b"new\n", consistency=proof, detail="hostile"
    )
    with _client(config, outbox, fake_ledger) as client:
        assert client.report_evidence() == 1
    (report,) = fake_ledger.evidence
    assert report.truncated and len(report.consistency) < len(proof)
    (kept,) = outbox.evidence()
    assert kept.consistency == proof and len(kept.old_checkpoint) == 40_000  # the kiosk keeps it whole


def test_evidence_command_prints_an_empty_list_or_writes_a_file(config_path, outbox, tmp_path, capsys):
    assert _main(["evidence", "--config", str(config_path)]) == 0
    assert json.loads(capsys.readouterr().out) == []
    outbox.record_log_inconsistency(old_note=b"old\n", new_note=b"new\n", consistency=["AA=="], detail="test")
    out = tmp_path / "evidence.json"
    assert _main(["evidence", "--config", str(config_path), "--out", str(out)]) == 0
    assert json.loads(capsys.readouterr().out) == {"evidence": 1, "written": str(out)}
    (item,) = json.loads(out.read_text())
    assert (item["old_checkpoint"], item["consistency"], item["reported"]) == ("old\n", ["AA=="], None)


def test_status_shows_no_log_before_the_first_sync(config_path, outbox, capsys):
    assert _main(["status", "--config", str(config_path)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["log"], status["alarm"], status["alarm_code"], status["evidence"]) == (None, None, None, 0)


def test_an_alarm_set_before_the_upgrade_is_a_fork_alarm(config, outbox):
    def older_version_sets(statement: str) -> None:  # another connection to the file, as an older kiosk
        conn = sqlite3.connect(config.outbox_path)
        try:
            conn.execute(statement)
            conn.commit()
        finally:
            conn.close()

    older_version_sets("UPDATE kiosk_state SET alarm = 'from an older version', alarm_code = NULL")
    assert outbox.alarm_code == Reason.FORK_DETECTED
    older_version_sets("UPDATE kiosk_state SET alarm = NULL")
    assert outbox.alarm_code is None


def test_an_outbox_from_before_the_log_is_upgraded_in_place(config, kiosk, clock, card_tap, outbox):
    _fill(kiosk, clock, card_tap, 2)
    outbox.close()
    conn = sqlite3.connect(config.outbox_path)
    try:  # back to the m002 schema, as a kiosk of the previous version left it
        conn.execute("DROP TABLE log_checkpoint")
        conn.execute("DROP TABLE log_evidence")
        conn.execute("ALTER TABLE kiosk_state DROP COLUMN alarm_code")
        conn.execute("ALTER TABLE kiosk_state DROP COLUMN log_origin")
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm003_log_witness'")
        conn.commit()
    finally:
        conn.close()
    with Outbox(config.outbox_path) as upgraded:
        assert upgraded.pending_count() == 2 and upgraded.log_checkpoint() is None
        assert upgraded.evidence() == [] and upgraded.alarm_code is None


def test_a_checkpoint_checked_against_a_stale_one_is_not_stored(outbox, fake_ledger):
    # Two syncs at once (the service and `kokreativ terminal sync`): each checks against what it read.
    from protocol.checkpoint import verify_checkpoint
    from protocol.note import NoteVerifier
    from terminal.outbox import LogUpdate

    verifier = NoteVerifier.for_key(ORIGIN, fake_ledger.receipt_key.public_key)

    def update(replaces):
        note = fake_ledger.checkpoint_note().encode()
        return LogUpdate(note, verify_checkpoint(note, [verifier], origin=ORIGIN), replaces)

    assert outbox.save_log_checkpoint(update(None))
    first = outbox.log_checkpoint()
    fake_ledger.append_entry()
    assert not outbox.save_log_checkpoint(update(None))  # checked against nothing, but one is stored
    assert outbox.log_checkpoint() == first
    assert outbox.save_log_checkpoint(update(first))
    assert outbox.log_checkpoint().size == first.size + 1
