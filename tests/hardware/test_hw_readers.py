"""Readers without hardware: the queue base, the code-driven fake and the script reader."""

from __future__ import annotations

import io
import threading

import ndef
import pytest

from hardware.reader import CardReader, QueueReader, ReaderStatus, Tap
from hardware.simulated import ScriptedReader, SimulatedReader, parse_script_line

# Any NDEF message will do here: readers pass bytes through, the kiosk judges them.
MESSAGE = b"".join(ndef.message_encoder([ndef.UriRecord("https://kokreativ.example/card")]))
HEX = MESSAGE.hex()


def test_tap_repr_never_shows_the_uid():
    uid = bytes.fromhex("04a1b2c3d4e5f6")
    assert "04a1b2" not in repr(Tap(uid=uid)) and str(uid) not in repr(Tap(uid=uid))


def test_simulated_reader_hands_over_taps_in_order_and_times_out_when_idle():
    reader = SimulatedReader()
    assert isinstance(reader, CardReader)
    reader.present_card(b"\x04\x01\x02\x03", MESSAGE)
    reader.present_card(b"\x04\x01\x02\x04")
    assert reader.wait_for_tap(timeout=0) == Tap(b"\x04\x01\x02\x03", MESSAGE)
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


def test_a_tap_pushed_after_finish_is_refused_and_logged_not_lost_silently(caplog):
    reader = QueueReader()
    reader.finish()
    assert reader.push(Tap(b"\x04\x00\x00\x02")) is False
    assert "after the reader was finished" in caplog.text and "04000002" not in caplog.text
    assert reader.wait_for_tap(timeout=None) is None and reader.exhausted


def test_every_accepted_tap_arrives_even_when_finish_races_the_producers():
    for _ in range(20):
        reader = QueueReader()
        accepted = [0] * 4
        go = threading.Barrier(5)

        def produce(
            index: int,
            reader: QueueReader = reader,
            accepted: list[int] = accepted,
            go: threading.Barrier = go,
        ) -> None:
            go.wait()
            for i in range(200):
                accepted[index] += reader.push(Tap(bytes([4, index, i, 0])))

        threads = [threading.Thread(target=produce, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        go.wait()
        reader.finish()
        for thread in threads:
            thread.join()
        delivered = 0
        while reader.wait_for_tap(timeout=None) is not None:
            delivered += 1
        assert delivered == sum(accepted) and reader.exhausted


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
        (f"04a2b3c4 {HEX}  # volunteer\n", Tap(bytes.fromhex("04a2b3c4"), MESSAGE)),
        (f"04a2b3c4 {HEX.upper()}\n", Tap(bytes.fromhex("04a2b3c4"), MESSAGE)),
    ],
)
def test_script_lines(line, expected):
    assert parse_script_line(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "zz",
        "04a2b3c4 c_nope",
        "04a2b3c4 abc",  # odd number of hex digits
        f"04a2b3c4 {HEX} extra",
        "0",
        "04a2b3",  # 3 bytes: too short for a UID
        "04a2b3c4d5e6f7a8b9c0d1",  # 11 bytes: too long
        f"04 {HEX}",
    ],
)
def test_malformed_script_lines_raise(line):
    with pytest.raises(ValueError):
        parse_script_line(line)


def test_scripted_reader_reads_a_stream_skips_junk_and_is_exhausted_at_eof(caplog):
    script = io.StringIO(f"# shift start\n04a2b3c4 {HEX}\n\nnot-hex\ndeadbeef\n")
    reader = ScriptedReader(script)
    taps = []
    while (tap := reader.wait_for_tap(timeout=None)) is not None:
        taps.append(tap)
    reader.close()
    assert taps == [Tap(bytes.fromhex("04a2b3c4"), MESSAGE), Tap(bytes.fromhex("deadbeef"), None)]
    assert reader.exhausted
    assert "line 4" in caplog.text and "not-hex" not in caplog.text


def test_scripted_reader_skips_uids_of_the_wrong_length_by_line_number_only(caplog):
    script = io.StringIO(f"04a2b3\n04a2b3c4 {HEX}\n04a2b3c4d5e6f7a8b9c0d1\n")
    reader = ScriptedReader(script)
    taps = []
    while (tap := reader.wait_for_tap(timeout=None)) is not None:
        taps.append(tap)
    reader.close()
    assert taps == [Tap(bytes.fromhex("04a2b3c4"), MESSAGE)]
    skipped = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(skipped) == 2 and "line 1" in skipped[0] and "line 3" in skipped[1]
    assert "04a2b3" not in caplog.text


class _EndlessScript:
    """A stream that never ends, like a stdin nobody closes, released only by the test."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.lines_read = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        self.release.wait(30)
        self.lines_read += 1
        if self.lines_read > 1000:
            raise StopIteration
        return f"04a2b3c4 {HEX}\n"


def test_closing_a_scripted_reader_finishes_it_even_while_its_input_is_open():
    stream = _EndlessScript()
    reader = ScriptedReader(stream)
    reader.close(timeout=0)  # the feeder is blocked in a read, as on an idle stdin
    # The timeout only keeps a broken close() from hanging the test; a finished reader answers at once.
    assert reader.wait_for_tap(timeout=10) is None
    assert reader.exhausted
    stream.release.set()
    reader.close(timeout=30)  # the feeder stops at the first refused tap instead of reading on
    assert not reader.feeding and stream.lines_read == 1
