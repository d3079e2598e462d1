"""The nfcpy adapter against emulated tags: nfcpy's real reader stack over UDP on loopback.

Every test serves its own tag on a fresh port (``serve_tag`` binds port 0).
Tests wait for events the emulated tag counts (polls heard, commands
received) instead of sleeping, and assert on UIDs and exact NDEF bytes, never
on nfcpy's product name (its GET_VERSION probe has a 10 ms timeout).
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Callable

import ndef
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.emulator import EmulatedType2Tag, EmulatedType4Tag, serve_tag
from hardware.nfc import (
    NfcError,
    NfcpyReader,
    NoNdefSupportError,
    NoTagError,
    ReaderNotFoundError,
    TagNotWritableError,
    TagReading,
    TagRemovedError,
    TagTooSmallError,
    read_one_tag,
    write_one_tag,
)
from hardware.reader import ReaderStatus, Tap

UID = bytes.fromhex("04a1b2c3d4e5f6")
RECORD_TYPE = "urn:nfc:ext:kokreativ.org:cred"
SMALL = b"".join(ndef.message_encoder([ndef.Record(RECORD_TYPE, "", b"\x01\x02\x03")]))
LARGE = b"".join(ndef.message_encoder([ndef.Record(RECORD_TYPE, "", bytes(range(110)))]))
GARBAGE = b"\xde\xad\xbe\xef not ndef"
NTAG213_CAPACITY, NTAG215_CAPACITY = 142, 492  # what nfcpy computes from the CC: 144 - 2, 496 - 4


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Wait for ``condition``; the 10 s limit only turns a hang into a failure."""
    deadline = time.monotonic() + 10
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def read(tag) -> TagReading:
    with serve_tag(tag) as emulation:
        return read_one_tag(emulation.path, timeout_s=10)


# --------------------------------------------------------------------------- read_one_tag


def test_ntag215_reading_has_the_uid_and_the_exact_ndef_bytes():
    reading = read(EmulatedType2Tag(UID, SMALL, product="NTAG215"))
    assert (reading.uid, reading.ndef, reading.tag_type) == (UID, SMALL, "Type2Tag")
    assert (reading.ndef_capacity, reading.writable, reading.locked) == (NTAG215_CAPACITY, True, None)
    assert "04a1b2" not in repr(reading) and UID.hex() not in repr(reading)


def test_ntag213_holds_a_credential_sized_record():
    assert len(LARGE) == 131
    reading = read(EmulatedType2Tag(UID, LARGE, product="NTAG213"))
    assert (reading.uid, reading.ndef, reading.ndef_capacity) == (UID, LARGE, NTAG213_CAPACITY)


def test_bytes_that_are_not_ndef_come_back_as_they_are():
    with pytest.raises(ndef.DecodeError):
        list(ndef.message_decoder(GARBAGE))
    assert read(EmulatedType2Tag(UID, GARBAGE)).ndef == GARBAGE


@pytest.mark.parametrize("make_tag", [EmulatedType2Tag, EmulatedType4Tag], ids=["type2", "type4"])
def test_a_formatted_empty_tag_reads_as_an_empty_message(make_tag):
    assert read(make_tag(UID)).ndef == b""


def test_an_unformatted_tag_has_no_ndef_and_cannot_be_written():
    reading = read(EmulatedType2Tag(UID, formatted=False))
    assert (reading.ndef, reading.ndef_capacity, reading.writable) == (None, None, False)


def test_type4_reading_has_the_uid_and_the_exact_ndef_bytes():
    reading = read(EmulatedType4Tag(UID, LARGE, max_read=59))  # three READ BINARYs for the message
    assert (reading.uid, reading.ndef, reading.tag_type) == (UID, LARGE, "Type4Tag")
    assert (reading.product, reading.ndef_capacity, reading.writable) == (None, 254, False)


@pytest.mark.parametrize(
    "tag",
    [
        # answers AUTHENTICATE probe, GET_VERSION, pages 0-3 and 4-7, then leaves mid-message
        EmulatedType2Tag(UID, LARGE, product="NTAG213", vanish_after_commands=4),
        # answers RATS, 5 APDUs to reach the NDEF file, NLEN, the first 59 bytes, then leaves
        EmulatedType4Tag(UID, LARGE, vanish_after_commands=8),
    ],
    ids=["type2", "type4"],
)
def test_a_tag_pulled_away_mid_read_is_an_error_not_a_partial_message(tag):
    with pytest.raises(TagRemovedError) as caught:
        read(tag)
    assert caught.value.code == "tag_removed" and isinstance(caught.value, NfcError)
    assert not tag.in_field


def test_no_tag_before_the_timeout():
    tag = EmulatedType2Tag(UID)
    tag.remove()
    with serve_tag(tag) as emulation, pytest.raises(NoTagError) as caught:
        read_one_tag(emulation.path, timeout_s=0.2)
    assert caught.value.code == "no_tag" and isinstance(caught.value, TimeoutError)
    assert tag.polls_heard >= 1


def test_a_reader_that_cannot_be_opened_keeps_nfcpys_errno():
    with pytest.raises(ReaderNotFoundError) as caught:
        read_one_tag("tty:NONEXIST:pn532", timeout_s=1)
    assert caught.value.code == "reader_not_found"
    assert caught.value.errno == errno.ENODEV
    assert "tty:NONEXIST:pn532" in str(caught.value)


# --------------------------------------------------------------------------- write_one_tag


def credential_for(reading: TagReading) -> bytes:
    """A message bound to the tag's UID, as ``card issue`` builds one inside the connection."""
    return b"".join(ndef.message_encoder([ndef.Record(RECORD_TYPE, "", reading.uid + bytes(80))]))


@pytest.mark.parametrize("product", ["NTAG213", "NTAG215"])
def test_write_one_tag_writes_a_message_built_from_the_reading_and_reads_it_back(product):
    tag = EmulatedType2Tag(UID, product=product)
    seen: list[TagReading] = []

    def make_message(reading: TagReading) -> bytes:
        seen.append(reading)
        return credential_for(reading)

    with serve_tag(tag) as emulation:
        written = write_one_tag(emulation.path, make_message, lock=False, timeout_s=10)
        again = read_one_tag(emulation.path, timeout_s=10)
    expected = credential_for(seen[0])
    assert seen[0].uid == UID and seen[0].ndef == b""
    assert (written.uid, written.ndef, written.writable, written.locked) == (UID, expected, True, False)
    assert again.ndef == expected == tag.ndef_message
    assert not tag.read_only


@pytest.mark.parametrize("product", ["NTAG213", "NTAG215"])
def test_write_and_lock_leaves_a_read_only_tag_that_refuses_the_next_write(product):
    tag = EmulatedType2Tag(UID, product=product)
    with serve_tag(tag) as emulation:
        written = write_one_tag(emulation.path, credential_for, lock=True, timeout_s=10)
        assert (written.locked, written.writable, written.ndef) == (True, False, tag.ndef_message)
        assert tag.read_only
        memory = tag.memory
        with pytest.raises(TagNotWritableError) as caught:
            write_one_tag(emulation.path, lambda reading: SMALL, lock=False, timeout_s=10)
    assert caught.value.code == "tag_not_writable"
    assert tag.memory == memory


def test_lock_bits_refuse_a_write_even_where_the_capability_container_claims_write_access():
    tag = EmulatedType2Tag(UID)
    tag.respond(b"\x26")  # select the tag frame by frame, then set the static lock bits
    cl1 = tag.respond(b"\x93\x20")
    tag.respond(b"\x93\x70" + (cl1 or b""))
    cl2 = tag.respond(b"\x95\x20")
    tag.respond(b"\x95\x70" + (cl2 or b""))
    assert tag.respond(b"\xa2\x02\x00\x00\xff\xff") == b"\x0a"
    memory = tag.memory
    with serve_tag(tag) as emulation, pytest.raises(TagNotWritableError, match="refused"):
        write_one_tag(emulation.path, credential_for, lock=False, timeout_s=10)
    assert tag.memory == memory


def test_a_message_too_large_for_an_ntag213_is_refused_before_anything_is_written():
    tag = EmulatedType2Tag(UID, product="NTAG213")
    memory = tag.memory
    with serve_tag(tag) as emulation, pytest.raises(TagTooSmallError) as caught:
        write_one_tag(emulation.path, lambda reading: bytes(NTAG213_CAPACITY + 1), lock=False, timeout_s=10)
    assert caught.value.code == "tag_too_small" and "142" in str(caught.value)
    assert tag.memory == memory


def test_an_unformatted_tag_cannot_take_a_message():
    tag = EmulatedType2Tag(UID, formatted=False)
    with serve_tag(tag) as emulation, pytest.raises(NoNdefSupportError) as caught:
        write_one_tag(emulation.path, credential_for, lock=False, timeout_s=10)
    assert caught.value.code == "no_ndef_support"


def test_a_read_only_type4_tag_is_not_writable():
    with serve_tag(EmulatedType4Tag(UID, SMALL)) as emulation, pytest.raises(TagNotWritableError):
        write_one_tag(emulation.path, credential_for, lock=False, timeout_s=10)


def test_a_tag_pulled_away_mid_write_is_reported_as_removed():
    # answers the two activation probes, the two reads that find the empty TLV, and one WRITE
    tag = EmulatedType2Tag(UID, vanish_after_commands=5)
    with serve_tag(tag) as emulation, pytest.raises(TagRemovedError):
        write_one_tag(emulation.path, credential_for, lock=False, timeout_s=10)


def test_when_make_message_fails_nothing_is_written():
    tag = EmulatedType2Tag(UID)
    memory = tag.memory

    def refuse(reading: TagReading) -> bytes:
        raise RuntimeError("the server said no")

    with serve_tag(tag) as emulation, pytest.raises(RuntimeError, match="said no"):
        write_one_tag(emulation.path, refuse, lock=True, timeout_s=10)
    assert tag.memory == memory


def test_an_empty_message_is_refused_because_nfcpy_cannot_write_one():
    tag = EmulatedType2Tag(UID, SMALL)
    with serve_tag(tag) as emulation, pytest.raises(ValueError, match="empty"):
        write_one_tag(emulation.path, lambda reading: b"", lock=False, timeout_s=10)
    assert tag.ndef_message == SMALL


@settings(max_examples=10, deadline=None)
@given(message=st.binary(min_size=1, max_size=NTAG215_CAPACITY))
def test_any_message_that_fits_an_ntag215_round_trips(message):
    tag = EmulatedType2Tag(UID, product="NTAG215")
    with serve_tag(tag) as emulation:
        assert (
            write_one_tag(emulation.path, lambda reading: message, lock=False, timeout_s=10).ndef == message
        )
        assert read_one_tag(emulation.path, timeout_s=10).ndef == message
    assert tag.ndef_message == message


# --------------------------------------------------------------------------- NfcpyReader


def test_a_held_card_taps_once_and_taps_again_after_it_left():
    tag = EmulatedType2Tag(UID, SMALL)
    with serve_tag(tag) as emulation, NfcpyReader(emulation.path, debounce_s=0) as reader:
        first = reader.wait_for_tap(timeout=10)
        assert first == Tap(uid=UID, ndef=SMALL, tag_type="Type2Tag", complete=True)
        assert reader.status is ReaderStatus.OK
        held = tag.commands_received
        wait_until(lambda: tag.commands_received >= held + 3, "presence checks of the held card")
        assert reader.wait_for_tap(timeout=0) is None
        tag.remove()
        polls = tag.polls_heard
        wait_until(lambda: tag.polls_heard > polls, "the reader to look for a new card")
        tag.present()
        assert reader.wait_for_tap(timeout=10) == first


def test_the_same_card_back_within_the_debounce_time_is_not_a_new_tap():
    tag = EmulatedType2Tag(UID, SMALL)
    with serve_tag(tag) as emulation, NfcpyReader(emulation.path, debounce_s=60) as reader:
        assert reader.wait_for_tap(timeout=10) is not None
        tag.remove()
        polls = tag.polls_heard
        wait_until(lambda: tag.polls_heard > polls, "the reader to look for a new card")
        tag.present()
        seen = tag.commands_received
        # activation (2) and, had it been read, at most 3 reads: anything beyond is presence checks
        wait_until(lambda: tag.commands_received >= seen + 8, "the reader to hold the card again")
        assert reader.wait_for_tap(timeout=0) is None


def test_a_card_pulled_away_mid_read_gives_an_incomplete_tap_and_the_retry_is_not_debounced():
    tag = EmulatedType2Tag(UID, LARGE, product="NTAG213", vanish_after_commands=4)
    with serve_tag(tag) as emulation, NfcpyReader(emulation.path, debounce_s=60) as reader:
        assert reader.wait_for_tap(timeout=10) == Tap(uid=UID, ndef=None, tag_type="Type2Tag", complete=False)
        assert not tag.in_field
        tag.present()
        assert reader.wait_for_tap(timeout=10) == Tap(uid=UID, ndef=LARGE, tag_type="Type2Tag")


@pytest.mark.parametrize(
    ("tag", "tag_type"),
    [(EmulatedType4Tag(UID, LARGE), "Type4Tag"), (EmulatedType2Tag(UID), "Type2Tag")],
    ids=["type4", "empty-type2"],
)
def test_the_reader_taps_type4_tags_and_empty_tags(tag, tag_type):
    with serve_tag(tag) as emulation, NfcpyReader(emulation.path) as reader:
        assert reader.wait_for_tap(timeout=10) == Tap(uid=UID, ndef=tag.ndef_message, tag_type=tag_type)


def test_a_missing_reader_is_reported_once_retried_and_closed_promptly(caplog):
    caplog.set_level(logging.INFO)
    reader = NfcpyReader("tty:NONEXIST:pn532", retry_s=0.01).start()
    try:
        wait_until(lambda: reader.open_attempts >= 3, "three attempts to open the reader")
        assert reader.status is ReaderStatus.MISSING and reader.polling
        # one line from us, and none of nfcpy's per-attempt "no reader available" errors
        assert [(r.name, r.levelno) for r in caplog.records] == [("hardware.nfc", logging.WARNING)]
        assert "tty:NONEXIST:pn532" in caplog.records[0].getMessage()
    finally:
        reader.close()
    assert not reader.polling
    assert reader.wait_for_tap(timeout=0) is None and reader.exhausted


def test_a_reader_that_fails_after_opening_is_missing_and_reopened(caplog):
    # Port 0 opens fine but every send fails with EINVAL: nfcpy's connect() returns False,
    # which is how an unplugged USB or serial reader shows up.
    caplog.set_level(logging.INFO)
    reader = NfcpyReader("udp:127.0.0.1:0", retry_s=0.5).start()
    try:
        wait_until(lambda: caplog.text.count("stopped answering") >= 2, "the reader to be lost twice")
        assert caplog.text.count("NFC reader open at") >= 2  # reopened in between
        wait_until(lambda: reader.status is ReaderStatus.MISSING, "status MISSING")
        assert reader.polling
    finally:
        reader.close()
    assert not reader.polling


def test_an_unexpected_error_is_logged_by_type_and_retried(caplog):
    caplog.set_level(logging.INFO)
    reader = NfcpyReader("udp:127.0.0.1:notaport", retry_s=0.01).start()  # nfcpy raises ValueError
    try:
        wait_until(lambda: reader.status is ReaderStatus.ERROR, "status ERROR")
        wait_until(lambda: reader.open_attempts >= 2, "a retry")
        assert reader.polling
        ours = [r.getMessage() for r in caplog.records if r.name == "hardware.nfc"]
        assert ours == ["NFC reader error (ValueError); retrying"]
    finally:
        reader.close()
    assert not reader.polling
