"""A tag that answers after nfcpy gave up waiting: the race behind ``make demo``'s one ``no_ndef_support``.

nfcpy's Type 2 READ waits 5 ms for an answer, then sends the command again.
Over its ``udp`` driver a late answer is not lost as it would be in the air:
it waits in the reader's socket and is taken for the answer to the *next*
command, so every answer after it belongs to the command before.  The NDEF
read then parses pages 0–3 as pages 4–7, finds no NDEF TLV, and the tag is
reported as not NDEF formatted (``no_ndef_support``), read-only or not holding
what was written.  On a loaded host (``make demo`` on a fresh clone) the
emulator thread is easily 5 ms late.

These tests make the ordering happen every time instead of by load: the
emulator holds the answer to one frame back until the reader has sent its
next frame (``answer_late``), which is exactly the moment nfcpy has given up.
"""

from __future__ import annotations

from collections.abc import Callable

import ndef
import pytest

from hardware.emulator import EmulatedType2Tag, EmulatedType4Tag, serve_tag
from hardware.nfc import NfcpyReader, TagRemovedError, read_one_tag, write_one_tag
from hardware.reader import Tap

UID = bytes.fromhex("04a1b2c3d4e5f6")
MESSAGE = b"".join(
    ndef.message_encoder([ndef.Record("urn:nfc:ext:kokreativ.org:cred", "", bytes(range(105)))])
)
NEW_MESSAGE = b"".join(ndef.message_encoder([ndef.Record("urn:nfc:ext:kokreativ.org:cred", "", bytes(105))]))


def late_once(wanted: Callable[[bytes], bool]) -> Callable[[bytes], bool]:
    """Answer late the first frame that is ``wanted``, every other frame on time."""
    done = False

    def late(frame: bytes) -> bool:
        nonlocal done
        if done or not wanted(frame):
            return False
        done = True
        return True

    return late


READ_PAGE_0, READ_PAGE_4 = b"\x30\x00", b"\x30\x04"


@pytest.mark.parametrize("frame", [READ_PAGE_0, READ_PAGE_4], ids=["cc-page", "ndef-page"])
def test_a_late_answer_to_an_ndef_read_does_not_shift_the_answers_that_follow(frame):
    tag = EmulatedType2Tag(UID, MESSAGE)
    with serve_tag(tag, answer_late=late_once(lambda f: f == frame)) as emulation:
        reading = read_one_tag(emulation.path, timeout_s=10)
    assert emulation.late_answers_dropped >= 1  # the ordering did happen
    assert reading.uid == UID
    assert reading.ndef == MESSAGE


def test_a_late_answer_while_issuing_does_not_make_the_tag_look_unformatted():
    tag = EmulatedType2Tag(UID)
    with serve_tag(tag, answer_late=late_once(lambda f: f == READ_PAGE_4)) as emulation:
        written = write_one_tag(emulation.path, lambda _: NEW_MESSAGE, lock=True, timeout_s=10)
    assert emulation.late_answers_dropped >= 1
    assert written.ndef == NEW_MESSAGE and written.locked
    assert tag.ndef_message == NEW_MESSAGE and tag.read_only


def test_a_late_answer_on_a_type4_tag_is_not_taken_for_the_next_one():
    def select_ndef_file(frame: bytes) -> bool:  # an ISO-DEP I-block carrying SELECT E104
        return frame[1:5] == b"\x00\xa4\x00\x0c" and frame.endswith(b"\xe1\x04")

    tag = EmulatedType4Tag(UID, MESSAGE)
    with serve_tag(tag, answer_late=late_once(select_ndef_file)) as emulation:
        reading = read_one_tag(emulation.path, timeout_s=10)
    assert emulation.late_answers_dropped >= 1
    assert reading.ndef == MESSAGE


def test_the_kiosk_reader_taps_the_right_message_after_a_late_answer():
    tag = EmulatedType2Tag(UID, MESSAGE)
    with (
        serve_tag(tag, answer_late=late_once(lambda f: f == READ_PAGE_4)) as emulation,
        NfcpyReader(emulation.path) as reader,
    ):
        tap = reader.wait_for_tap(timeout=10)
        assert emulation.late_answers_dropped >= 1
    assert tap == Tap(uid=UID, ndef=MESSAGE, tag_type="Type2Tag")


def late_times(wanted: Callable[[bytes], bool], times: int) -> Callable[[bytes], bool]:
    """Answer late the first ``times`` frames that are ``wanted``, every other frame on time."""
    left = times

    def late(frame: bytes) -> bool:
        nonlocal left
        if left == 0 or not wanted(frame):
            return False
        left -= 1
        return True

    return late


def write_page_4(frame: bytes) -> bool:
    return frame[:2] == b"\xa2\x04"


def test_a_write_nfcpy_gave_up_on_is_written_again_while_the_tag_stays():
    # nfcpy sends a command three times; all three answered late make its write fail with a
    # timeout, as on the loaded CI host that failed `make demo` with "the tag left the field"
    tag = EmulatedType2Tag(UID)
    with serve_tag(tag, answer_late=late_times(write_page_4, 3)) as emulation:
        written = write_one_tag(emulation.path, lambda _: NEW_MESSAGE, lock=True, timeout_s=10)
    assert emulation.late_answers_dropped >= 3
    assert written.ndef == NEW_MESSAGE and written.locked
    assert tag.ndef_message == NEW_MESSAGE and tag.read_only


def test_a_write_that_keeps_timing_out_still_reports_the_tag_gone():
    tag = EmulatedType2Tag(UID)
    slow = late_times(write_page_4, 1000)
    with serve_tag(tag, answer_late=slow) as emulation, pytest.raises(TagRemovedError):
        write_one_tag(emulation.path, lambda _: NEW_MESSAGE, lock=True, timeout_s=10)
    assert not tag.read_only  # never locked after a write it could not confirm


def test_a_read_back_nfcpy_gave_up_on_is_read_again_while_the_tag_stays():
    # nfcpy answers a failed NDEF read with None, which _read_ndef reads once more
    reads_after_write = {"armed": False}

    def read_back(frame: bytes) -> bool:
        if write_page_4(frame):
            reads_after_write["armed"] = True
        return reads_after_write["armed"] and frame == READ_PAGE_4

    tag = EmulatedType2Tag(UID)
    with serve_tag(tag, answer_late=late_times(read_back, 3)) as emulation:
        written = write_one_tag(emulation.path, lambda _: NEW_MESSAGE, lock=True, timeout_s=10)
    assert emulation.late_answers_dropped >= 3
    assert written.ndef == NEW_MESSAGE and written.locked
