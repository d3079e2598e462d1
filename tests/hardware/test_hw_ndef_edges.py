"""Edges of the NDEF on real tag layouts, read through nfcpy's udp driver and judged as a kiosk does.

Chunked records (NDEF 1.0, 3.2.3) and bytes after the end of the NDEF
message (after the Terminator TLV on Type 2, after NLEN on Type 4): the
emulated tag holds the exact bytes, nfcpy reads them, and
:func:`terminal.cardcheck.check_card` decides, as at the kiosk.
"""

from __future__ import annotations

import pytest

from hardware.emulator import EmulatedType2Tag, EmulatedType4Tag, ndef_tlv, serve_tag
from hardware.nfc import NfcpyReader, read_one_tag
from hardware.reader import Tap
from protocol import Reason, ids, issue_credential
from terminal.cardcheck import check_card
from tests.cardfactory import VALID_FROM_S, VALID_UNTIL_S, TestIssuer, uid_for
from tests.ndefchunking import (
    CF,
    CREDENTIAL_TYPE,
    MB,
    ME,
    TNF_EXTERNAL,
    TNF_UNCHANGED,
    chunked,
    record,
    split,
)

NOW_S = 1_764_400_000
KEY = bytes(range(32))


@pytest.fixture
def issuer() -> TestIssuer:
    return TestIssuer()


def credential(issuer: TestIssuer, card_id: str) -> bytes:
    return issue_credential(
        issuer.key,
        card_id=card_id,
        uid=uid_for(card_id),
        valid_from_s=VALID_FROM_S,
        valid_until_s=VALID_UNTIL_S,
    )


def read_tap(tag: EmulatedType2Tag | EmulatedType4Tag) -> Tap:
    """The tap the kiosk's reader gives for ``tag``, through nfcpy."""
    with serve_tag(tag) as emulation, NfcpyReader(emulation.path) as reader:
        tap = reader.wait_for_tap(timeout=10)
    assert tap is not None and tap.complete
    return tap


def verdict(issuer: TestIssuer, tap: Tap) -> tuple[str, Reason | None]:
    check = check_card(tap, issuer.trust_list(), pseudonym_key=KEY, now_s=NOW_S)
    return check.card_id, check.reason


# --------------------------------------------------------------------------- chunked records


@pytest.mark.parametrize("tag_type", ["Type2Tag", "Type4Tag"])
def test_a_chunked_credential_reads_like_any_other(issuer, tag_type):
    card = ids.new_id(ids.CARD)
    message = chunked(split(credential(issuer, card), [30, 30, 30]))
    tag = (EmulatedType2Tag if tag_type == "Type2Tag" else EmulatedType4Tag)(uid_for(card), message)
    tap = read_tap(tag)
    assert tap.ndef == message  # nfcpy hands over the chunks as stored
    assert verdict(issuer, tap) == (card, None)


BROKEN = {
    "no last chunk": lambda c: (
        record(MB | CF, TNF_EXTERNAL, CREDENTIAL_TYPE, c[:50]) + record(ME | CF, TNF_UNCHANGED, b"", c[50:])
    ),
    "a middle chunk with a type": lambda c: (
        record(MB | CF, TNF_EXTERNAL, CREDENTIAL_TYPE, c[:50])
        + record(CF, TNF_UNCHANGED, CREDENTIAL_TYPE, c[50:80])
        + record(ME, TNF_UNCHANGED, b"", c[80:])
    ),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_chunk_sequence_on_a_tag_is_denied_as_bad_ndef_chunk(issuer, name):
    card = ids.new_id(ids.CARD)
    tap = read_tap(EmulatedType2Tag(uid_for(card), BROKEN[name](credential(issuer, card))))
    card_id, reason = verdict(issuer, tap)
    assert reason == Reason.BAD_NDEF_CHUNK
    assert card_id.startswith("u_")  # a broken card is named by its UID pseudonym, never its claimed ID


def test_chunks_beyond_the_bound_on_a_type4_tag_are_denied_as_too_large(issuer):
    card = ids.new_id(ids.CARD)
    message = chunked(split(credential(issuer, card) + bytes(1000), [200] * 5))
    tap = read_tap(EmulatedType4Tag(uid_for(card), message, file_size=2048))
    assert tap.ndef == message
    assert verdict(issuer, tap)[1] == Reason.NDEF_CHUNK_TOO_LARGE


# --------------------------------------------------------------------------- after the end of the message


def test_bytes_after_the_terminator_tlv_are_not_part_of_the_message(issuer):
    """Even another NDEF TLV with another genuine credential there is never read."""
    card, other = ids.new_id(ids.CARD), ids.new_id(ids.CARD)
    message = issuer.ndef(card)
    hidden = ndef_tlv(issuer.ndef(other, uid=uid_for(card))) + b"\xfe"
    tag = EmulatedType2Tag(uid_for(card), message, after_terminator=hidden, product="NTAG215")
    assert tag.memory[16 : 16 + len(message) + 3 + len(hidden)] == ndef_tlv(message) + b"\xfe" + hidden
    tap = read_tap(tag)
    assert tap.ndef == message
    assert verdict(issuer, tap) == (card, None)


def test_a_terminator_before_any_ndef_tlv_leaves_the_tag_without_ndef(issuer):
    card = ids.new_id(ids.CARD)
    tag = EmulatedType2Tag(uid_for(card), b"", after_terminator=ndef_tlv(issuer.ndef(card)))
    tag_memory = bytearray(tag.memory)
    tag_memory[16:19] = b"\xfe\x00\x00"  # the terminator first: the NDEF TLV behind it does not count
    with serve_tag(_with_memory(tag, bytes(tag_memory))) as emulation:
        reading = read_one_tag(emulation.path, timeout_s=10)
    assert reading.ndef is None


def test_bytes_after_nlen_in_a_type4_ndef_file_are_not_part_of_the_message(issuer):
    card = ids.new_id(ids.CARD)
    message = issuer.ndef(card)
    tap = read_tap(
        EmulatedType4Tag(uid_for(card), message, file_size=512, after_message=issuer.ndef(card) + b"junk")
    )
    assert tap.ndef == message
    assert verdict(issuer, tap) == (card, None)


def _with_memory(tag: EmulatedType2Tag, memory: bytes) -> EmulatedType2Tag:
    """``tag`` with its whole memory replaced (to lay out TLVs the constructor would not write)."""
    tag._memory[:] = memory
    return tag
