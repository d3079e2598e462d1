"""The emulated tags: frame by frame as the data sheets say, and through nfcpy's real stack over UDP.

Frame-level tests call ``respond`` directly, like nfcpy's own tests script the
bytes a tag returns; the UDP tests check that nfcpy activates and reads what
the frames describe.
"""

from __future__ import annotations

import socket
import time

import nfc
import nfc.tag.tt2
import nfc.tag.tt2_nxp
import pytest

from hardware.emulator import (
    NDEF_AID,
    NTAG_PRODUCTS,
    EmulatedTag,
    EmulatedType2Tag,
    EmulatedType4Tag,
    TagServer,
    free_udp_port,
    ndef_tlv,
    serve_tag,
)

UID = bytes.fromhex("04a1b2c3d4e5f6")
ACK, NAK = b"\x0a", b"\x00"


def select(tag: EmulatedTag, uid: bytes = UID) -> bytes | None:
    """Run ISO 14443-3 anticollision as nfcpy's udp driver does; the final SAK, or None."""
    assert tag.respond(b"\x26") == tag.sens_res
    cl1 = tag.respond(b"\x93\x20")
    assert cl1 == b"\x88" + uid[:3] + bytes([0x88 ^ uid[0] ^ uid[1] ^ uid[2]])
    assert tag.respond(b"\x93\x70" + cl1) == b"\x04"  # cascade bit: the UID goes on
    cl2 = tag.respond(b"\x95\x20")
    assert cl2 == uid[3:] + bytes([uid[3] ^ uid[4] ^ uid[5] ^ uid[6]])
    return tag.respond(b"\x95\x70" + cl2)


def page_write(tag: EmulatedType2Tag, page: int, data: bytes) -> bytes | None:
    answer = tag.respond(bytes([0xA2, page]) + data)
    if answer == NAK:
        select(tag)  # a NAK sends the tag back to IDLE
    return answer


def connect(clf: nfc.ContactlessFrontend):  # returns an nfcpy Tag
    rdwr = {"targets": ["106A"], "on-connect": lambda tag: False, "iterations": 1, "beep-on-connect": False}
    started = time.monotonic()
    tag = clf.connect(rdwr=rdwr, terminate=lambda: time.monotonic() - started > 5)
    assert tag, "nfcpy found no tag"
    return tag


# --------------------------------------------------------------------------- Type 2, frame by frame


@pytest.mark.parametrize("product", sorted(NTAG_PRODUCTS))
def test_fresh_ntag_memory_holds_uid_bcc_cc_and_an_empty_ndef_tlv(product):
    tag = EmulatedType2Tag(UID, product=product)
    layout = NTAG_PRODUCTS[product]
    memory = tag.memory
    assert len(memory) == layout.pages * 4 == {"NTAG213": 180, "NTAG215": 540, "NTAG216": 924}[product]
    assert memory[0:4] == UID[0:3] + bytes([0x88 ^ 0x04 ^ 0xA1 ^ 0xB2])
    assert memory[4:8] == UID[3:7]
    assert memory[8] == 0xC3 ^ 0xD4 ^ 0xE5 ^ 0xF6
    assert memory[10:12] == b"\x00\x00"
    assert memory[12:16] == bytes(
        [0xE1, 0x10, {"NTAG213": 0x12, "NTAG215": 0x3E, "NTAG216": 0x6D}[product], 0]
    )
    assert memory[16:19] == b"\x03\x00\xfe"
    assert tag.ndef_message == b""
    assert not tag.read_only


def test_an_unformatted_blank_has_no_cc_and_no_ndef():
    tag = EmulatedType2Tag(UID, formatted=False)
    assert tag.memory[12 : 16 + 126 * 4] == bytes(4 + 126 * 4)
    assert tag.ndef_message is None


def test_an_initial_ndef_message_is_stored_as_a_tlv_with_the_long_length_form_when_needed():
    short, long = b"\xd1" * 20, b"\xd1" * 300
    assert EmulatedType2Tag(UID, short).memory[16 : 16 + 23] == b"\x03\x14" + short + b"\xfe"
    tag = EmulatedType2Tag(UID, long)
    assert tag.memory[16:20] == b"\x03\xff\x01\x2c"
    assert tag.ndef_message == long
    assert ndef_tlv(long) == tag.memory[16 : 16 + 304]


def test_a_message_larger_than_the_ndef_area_is_refused():
    EmulatedType2Tag(UID, bytes(142), product="NTAG213")  # 2 + 142 = 144 bytes: exactly full
    with pytest.raises(ValueError, match="do not fit"):
        EmulatedType2Tag(UID, bytes(143), product="NTAG213")


def test_a_uid_must_have_seven_bytes():
    with pytest.raises(ValueError, match="7-byte"):
        EmulatedType2Tag(UID[:4])


def test_anticollision_selects_the_tag_and_a_wrong_uid_gets_silence():
    tag = EmulatedType2Tag(UID)
    assert tag.respond(b"\x30\x00") is None  # not selected yet
    assert select(tag) == b"\x00"
    other = EmulatedType2Tag(UID)
    other.respond(b"\x26")
    assert other.respond(b"\x93\x70\x88\x04\xa1\xb3" + bytes([0x88 ^ 0x04 ^ 0xA1 ^ 0xB3])) is None


@pytest.mark.parametrize(
    ("product", "version"),
    [("NTAG213", "0004040201000f03"), ("NTAG215", "0004040201001103"), ("NTAG216", "0004040201001303")],
)
def test_get_version_names_the_product(product, version):
    tag = EmulatedType2Tag(UID, product=product)
    select(tag)
    assert tag.respond(b"\x60") == bytes.fromhex(version)
    assert nfc.tag.tt2_nxp.VERSION_MAP[bytes.fromhex(version)].__name__ == product


def test_read_sig_answers_the_given_signature_or_zeros():
    plain, signed = EmulatedType2Tag(UID), EmulatedType2Tag(UID, signature=bytes(range(32)))
    for tag in (plain, signed):
        select(tag)
    assert plain.respond(b"\x3c\x00") == bytes(32)
    assert signed.respond(b"\x3c\x00") == bytes(range(32))


def test_read_returns_four_pages_rolls_over_to_page_zero_and_hides_the_password():
    tag = EmulatedType2Tag(UID, product="NTAG213")
    select(tag)
    memory = tag.memory
    assert tag.respond(b"\x30\x03") == memory[12:28]
    assert memory[43 * 4 : 44 * 4] == b"\xff\xff\xff\xff"  # PWD as the chip holds it …
    assert tag.respond(b"\x30\x2a") == memory[42 * 4 : 43 * 4] + bytes(8) + memory[0:4]  # … reads as zeros


def test_read_past_the_last_page_is_nakd_and_the_tag_falls_silent_until_selected_again():
    tag = EmulatedType2Tag(UID, product="NTAG213")
    select(tag)
    assert tag.respond(b"\x30\x2d") == NAK
    assert tag.respond(b"\x30\x00") is None
    select(tag)
    assert tag.respond(b"\x30\x00") == tag.memory[0:16]


def test_write_changes_one_user_page_and_never_the_uid():
    tag = EmulatedType2Tag(UID)
    select(tag)
    assert page_write(tag, 4, b"abcd") == ACK
    assert tag.memory[16:20] == b"abcd"
    assert page_write(tag, 0, b"\x00\x00\x00\x00") == NAK
    assert page_write(tag, 1, b"\x00\x00\x00\x00") == NAK
    assert tag.memory[0:8] == EmulatedType2Tag(UID).memory[0:8]
    assert page_write(tag, 135, b"abcd") == NAK


def test_lock_bytes_and_the_capability_container_can_only_gain_bits():
    tag = EmulatedType2Tag(UID)
    select(tag)
    assert page_write(tag, 2, b"\x00\x00\x10\x00") == ACK  # locks page 4; BCC1 and internal byte stay
    assert page_write(tag, 2, b"\x00\x00\x00\x01") == ACK
    assert tag.memory[8:12] == bytes([0xC3 ^ 0xD4 ^ 0xE5 ^ 0xF6, 0x48, 0x10, 0x01])
    assert page_write(tag, 3, b"\x00\x00\x00\x0f") == ACK
    assert tag.memory[12:16] == b"\xe1\x10\x3e\x0f"


@pytest.mark.parametrize(
    ("product", "locked", "free"),
    [("NTAG213", [16, 17], [18, 39]), ("NTAG215", [16, 31], [32, 129]), ("NTAG216", [16, 31], [32, 225])],
)
def test_static_and_dynamic_lock_bits_make_writes_to_their_pages_fail(product, locked, free):
    tag = EmulatedType2Tag(UID, product=product)
    dynamic = NTAG_PRODUCTS[product].dynamic_lock_page
    select(tag)
    assert page_write(tag, 2, b"\x00\x00\x20\x02") == ACK  # static: page 5 and page 9
    assert page_write(tag, dynamic, b"\x01\x00\x00\x00") == ACK  # dynamic bit 0
    for page in [5, 9, *locked]:
        assert page_write(tag, page, b"WXYZ") == NAK, page
    for page in [4, 6, 8, 10, *free]:
        assert page_write(tag, page, b"WXYZ") == ACK, page
    assert not tag.read_only


def test_cfglck_freezes_the_configuration_pages():
    tag = EmulatedType2Tag(UID, product="NTAG213")
    select(tag)
    assert page_write(tag, 41, b"\x04\x00\x00\x10") == ACK  # AUTH0 may change while unlocked
    assert page_write(tag, 42, b"\x40\x05\x00\x00") == ACK  # set CFGLCK
    assert page_write(tag, 41, b"\x04\x00\x00\xff") == NAK
    assert page_write(tag, 42, b"\x00\x05\x00\x00") == NAK
    assert tag.memory[41 * 4 : 43 * 4] == bytes.fromhex("0400001040050000")


def test_unknown_commands_such_as_ultralight_c_authenticate_are_nakd():
    tag = EmulatedType2Tag(UID)
    select(tag)
    assert tag.respond(b"\x1a\x00") == NAK
    assert tag.respond(b"\x60") is None  # IDLE after the NAK, as nfcpy's re-sense expects


def test_a_tag_vanishes_after_the_given_number_of_commands_and_returns_when_presented():
    tag = EmulatedType2Tag(UID, vanish_after_commands=2)
    select(tag)
    assert tag.respond(b"\x30\x00") is not None
    assert tag.respond(b"\x30\x04") is not None
    assert tag.respond(b"\x30\x08") is None
    assert not tag.in_field
    assert tag.respond(b"\x26") is None  # gone, not just idle
    assert tag.commands_received == 3 and tag.polls_heard == 2
    tag.present()
    assert select(tag) == b"\x00"
    assert tag.respond(b"\x30\x08") == tag.memory[32:48]


def test_a_removed_tag_answers_nothing_until_presented_again():
    tag = EmulatedType2Tag(UID)
    tag.remove()
    assert tag.respond(b"\x26") is None and tag.respond(b"\x52") is None
    tag.present()
    assert select(tag) == b"\x00"


def test_field_off_ends_the_session():
    tag = EmulatedType2Tag(UID)
    select(tag)
    tag.field_off()
    assert tag.respond(b"\x30\x00") is None


# --------------------------------------------------------------------------- Type 4, frame by frame


def apdu(tag: EmulatedType4Tag, block: int, command: str) -> bytes:
    answer = tag.respond(bytes([0x02 | block]) + bytes.fromhex(command))
    assert answer is not None and answer[0] == 0x02 | block
    return answer[1:]


def test_type4_answers_rats_and_serves_the_cc_and_ndef_files():
    message = b"\xd1\x01\x05T\x02enhi"  # a Text record, "hi"
    tag = EmulatedType4Tag(UID, message, file_size=128, max_read=8)
    assert select(tag) == b"\x20"
    assert tag.respond(b"\xe0\x80") == bytes.fromhex("0578807000")
    assert apdu(tag, 0, "00a4040007" + NDEF_AID.hex() + "00") == b"\x90\x00"
    assert apdu(tag, 1, "00a4000c02e103") == b"\x90\x00"
    assert apdu(tag, 0, "00b000000f") == bytes.fromhex("000f20000800340406e104008000ff9000")
    assert apdu(tag, 1, "00a4000c02e104") == b"\x90\x00"
    assert apdu(tag, 0, "00b0000002") == b"\x00\x09\x90\x00"
    assert apdu(tag, 1, "00b0000208") == message[:8] + b"\x90\x00"
    assert apdu(tag, 0, "00d6000002ffff") == b"\x69\x82"  # read-only
    assert tag.ndef_message == message


def test_type4_refuses_other_applications_and_files_before_the_application():
    tag = EmulatedType4Tag(UID)
    select(tag)
    tag.respond(b"\xe0\x80")
    assert apdu(tag, 0, "00a4000c02e103") == b"\x6a\x82"
    assert apdu(tag, 1, "00a4040007d276000085010000") == b"\x6a\x82"  # mapping 1.0 AID
    assert apdu(tag, 0, "00b0000002") == b"\x69\x86"


def test_type4_resends_its_last_block_on_nak_and_acks_otherwise():
    tag = EmulatedType4Tag(UID)
    select(tag)
    assert tag.respond(b"\xb2") is None  # no RATS yet: not an ISO-DEP frame
    tag.respond(b"\xe0\x80")
    assert tag.respond(b"\xb2") == b"\xa3"  # nothing sent yet: R(ACK) with the PICC's block 1
    answer = tag.respond(bytes.fromhex("0200a4040007") + NDEF_AID + b"\x00")
    assert tag.respond(b"\xb2") == answer  # the reader missed block 0: send it again
    assert tag.respond(b"\xb3") == b"\xa2"  # presence check: R(NAK) for the next block


def test_type4_refuses_a_message_larger_than_its_file():
    with pytest.raises(ValueError):
        EmulatedType4Tag(UID, bytes(255), file_size=256)


# --------------------------------------------------------------------------- over UDP, through nfcpy


def test_nfcpy_reads_the_emulated_memory_and_signature_over_udp():
    tag = EmulatedType2Tag(UID, b"\xd1" * 40, signature=bytes(range(32)))
    with serve_tag(tag) as emulation, nfc.ContactlessFrontend(emulation.path) as clf:
        remote = connect(clf)
        assert isinstance(remote, nfc.tag.tt2.Type2Tag)
        assert remote.identifier == UID
        assert bytes(remote.read(4)) == tag.memory[16:32]
        assert remote.signature == bytes(range(32))


def test_the_tag_stays_presentable_across_reader_connections_and_re_senses():
    tag = EmulatedType2Tag(UID)
    with serve_tag(tag) as emulation, nfc.ContactlessFrontend(emulation.path) as clf:
        for _ in range(3):  # each connect switches the field off (RFOFF) and senses again
            assert connect(clf).identifier == UID
    assert tag.polls_heard >= 6  # activation of an NTAG re-senses once, after nfcpy's AUTHENTICATE probe


def test_nfcpy_cannot_write_a_page_after_protect():
    tag = EmulatedType2Tag(UID, b"\xd1" * 40, product="NTAG213")
    with serve_tag(tag) as emulation, nfc.ContactlessFrontend(emulation.path) as clf:
        remote = connect(clf)
        assert remote.protect() is True
        with pytest.raises(nfc.tag.tt2.Type2TagCommandError):
            remote.write(4, b"abcd")
    assert tag.read_only
    assert tag.memory[10:16] == b"\xff\xff\xe1\x10\x12\x0f"
    select(tag)
    for page in range(3, 40):
        assert page_write(tag, page, b"abcd") == NAK, page
    assert tag.ndef_message == b"\xd1" * 40


def test_the_server_ignores_other_technologies_and_junk():
    tag = EmulatedType2Tag(UID)
    with serve_tag(tag) as emulation, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.settimeout(2.0)
        address = ("127.0.0.1", emulation.port)
        for junk in (b"212F 0600ffff0100", b"106B 050010", b"not a frame", b"106A zz"):
            probe.sendto(junk, address)
        probe.sendto(b"106A 26", address)
        assert probe.recvfrom(64)[0] == b"106A 4400"  # the first and only answer


def test_stop_releases_the_port():
    server = TagServer(EmulatedType2Tag(UID)).start()
    port = server.port
    server.stop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
        again.bind(("127.0.0.1", port))


def test_free_udp_port_can_be_bound():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", free_udp_port()))


def test_a_tag_arriving_during_a_poll_answers_that_poll_like_a_polling_pn53x():
    """nfcpy's udp poll waits 1 s; a tag that arrives meanwhile answers it, so no second poll is needed."""
    from hardware.emulator import EmulatedType2Tag, serve_tag
    from hardware.nfc import NfcpyReader

    tag = EmulatedType2Tag(bytes.fromhex("04a1b2c3d4e5f6"))
    tag.remove()
    with serve_tag(tag) as emulation, NfcpyReader(emulation.path, debounce_s=0).start() as reader:
        deadline = time.monotonic() + 10
        while tag.polls_heard == 0 and time.monotonic() < deadline:
            time.sleep(0.001)
        tag.present()  # the reader's poll is still waiting for an answer
        tap = reader.wait_for_tap(timeout=10)
        assert tap is not None and tap.uid == tag.uid
        assert emulation.polls_answered_on_arrival == 1


def test_nfcpy_cannot_open_a_port_that_etc_services_names():
    """Why the emulator avoids named ports: nfcpy's udp driver turns the port's service name into an int."""
    import nfc.clf.udp

    from hardware.emulator.server import nfcpy_can_open

    try:
        named = socket.getservbyname("domain", "udp")  # 53, named in every /etc/services
    except OSError:
        pytest.skip("this system's /etc/services names no port")
    assert not nfcpy_can_open("127.0.0.1", named)
    with pytest.raises(ValueError):
        nfc.clf.udp.Device("127.0.0.1", named)


def test_a_tag_server_skips_a_free_port_that_nfcpy_cannot_open(monkeypatch):
    from hardware.emulator import server

    seen: list[int] = []

    def first_refused(host: str, port: int) -> bool:
        seen.append(port)
        return len(seen) > 1  # the first free port the system offers counts as named

    monkeypatch.setattr(server, "nfcpy_can_open", first_refused)
    tag_server = server.TagServer(EmulatedType2Tag(bytes(7)))
    try:
        assert len(seen) == 2 and tag_server.port == seen[1]
    finally:
        tag_server.stop()
