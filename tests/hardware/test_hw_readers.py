"""Readers without hardware: the queue base, the code-driven fake and the script reader."""

from __future__ import annotations

import io
import threading

import ndef
import pytest

from hardware.reader import CardReader, QueueReader, ReaderStatus, Tap
from hardware.simulated import ScriptedReader, SimulatedReader, card_ndef, parse_script_line
from protocol import CARD_RECORD_TYPE, ids, parse_card_record_payload

CARD = "c_00a71ed80fa1e76c198371c3ece0dc0e"


def test_card_ndef_is_one_external_record_naming_the_card():
    (record,) = list(ndef.message_decoder(card_ndef(CARD)))
    assert record.type == CARD_RECORD_TYPE
    assert parse_card_record_payload(bytes(record.data)) == CARD


def test_card_ndef_refuses_a_non_card_id():
    with pytest.raises(ValueError):
        card_ndef(ids.new_id(ids.UID_CARD))


def test_tap_repr_never_shows_the_uid():
    uid = bytes.fromhex("04a1b2c3d4e5f6")
    assert "04a1b2" not in repr(Tap(uid=uid)) and str(uid) not in repr(Tap(uid=uid))


def test_simulated_reader_hands_over_taps_in_order_and_times_out_when_idle():
    reader = SimulatedReader()
    assert isinstance(reader, CardReader)
    reader.present_card(b"\x04\x01\x02\x03", card_ndef(CARD))
    reader.present_card(b"\x04\x01\x02\x04")
    assert reader.wait_for_tap(timeout=0) == Tap(b"\x04\x01\x02\x03", card_ndef(CARD))
    assert reader.wait_for_tap(timeout=0) == Tap(b"\x04\x01\x02\x04", None)
    assert reader.wait_for_tap(timeout=0) is None
    assert not reader.exhausted and reader.status is ReaderStatus.OK


def test_taps_pushed_from_many_threads_all_arrive():
    reader = SimulatedReader()

    def tap_many(prefix: int) -> None:
        for i in range(100):
            reader.present_card(bytes([4, prefix, i, 0]))

    threads = [threading.Thread(target=tap_many, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    reader.finish()
    uids = []
    while (tap := reader.wait_for_tap(timeout=None)) is not None:
        uids.append(tap.uid)
    assert len(set(uids)) == 400 and reader.exhausted


def test_finished_reader_is_exhausted_after_the_queue_drains_and_refuses_more():
    reader = QueueReader()
    reader.push(Tap(b"\x04\x00\x00\x01"))
    reader.finish()
    assert not reader.exhausted
    assert reader.wait_for_tap(timeout=None) is not None
    assert reader.wait_for_tap(timeout=None) is None  # returns at once, no timeout needed
    assert reader.exhausted
    with pytest.raises(RuntimeError):
        reader.push(Tap(b"\x04\x00\x00\x02"))


def test_status_reports_what_the_producer_says():
    reader = QueueReader()
    reader.set_status(ReaderStatus.MISSING)
    assert reader.status is ReaderStatus.MISSING


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("", None),
        ("   \n", None),
        ("# just a comment\n", None),
        ("04A2B3C4\n", Tap(bytes.fromhex("04a2b3c4"), None)),
        (f"04a2b3c4 {CARD}  # volunteer\n", Tap(bytes.fromhex("04a2b3c4"), card_ndef(CARD))),
    ],
)
def test_script_lines(line, expected):
    assert parse_script_line(line) == expected


@pytest.mark.parametrize("line", ["zz", "04a2 c_nope", f"04a2 {CARD} extra", "0"])
def test_malformed_script_lines_raise(line):
    with pytest.raises(ValueError):
        parse_script_line(line)


def test_scripted_reader_reads_a_stream_skips_junk_and_is_exhausted_at_eof(caplog):
    script = io.StringIO(f"# shift start\n04a2b3c4 {CARD}\n\nnot-hex\ndeadbeef\n")
    reader = ScriptedReader(script)
    taps = []
    while (tap := reader.wait_for_tap(timeout=None)) is not None:
        taps.append(tap)
    reader.close()
    assert taps == [Tap(bytes.fromhex("04a2b3c4"), card_ndef(CARD)), Tap(bytes.fromhex("deadbeef"), None)]
    assert reader.exhausted
    assert "line 4" in caplog.text and "not-hex" not in caplog.text
