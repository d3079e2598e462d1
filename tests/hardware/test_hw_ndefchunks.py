"""Chunked NDEF records at the parser: reassembled exactly, or refused with a stable reason.

The same cards on emulated tags, read through nfcpy: test_hw_ndef_edges.py.
"""

from __future__ import annotations

import ndef
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.cardrecord import credential_message, find_credential
from hardware.ndefchunks import MAX_CHUNKED_PAYLOAD, unchunk
from protocol import MalformedError, Reason
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

CREDENTIAL = bytes(range(105))
URI = ndef.UriRecord("https://kokreativ.org")


def reason_of(message: bytes) -> Reason:
    with pytest.raises(MalformedError) as refused:
        find_credential(message)
    return refused.value.reason


def test_ndeflib_alone_takes_each_chunk_for_a_record():
    """Why reassembly is needed: ndeflib 0.3.3 yields the typed first chunk, the rest as 'unchanged'."""
    records = list(ndef.message_decoder(chunked(split(CREDENTIAL, [40, 40]))))
    assert [r.type for r in records] == ["urn:nfc:ext:kokreativ.org:cred", "unchanged", "unchanged"]
    assert bytes(records[0].data) == CREDENTIAL[:40]


def test_a_chunked_credential_is_found_whole():
    assert find_credential(chunked(split(CREDENTIAL, [40, 40]))) == CREDENTIAL
    assert find_credential(chunked(split(CREDENTIAL, [1]))) == CREDENTIAL


def test_a_message_without_chunks_is_passed_on_untouched():
    message = credential_message(CREDENTIAL)
    assert unchunk(message) is message


def test_chunked_records_among_others_keep_their_place_and_ids():
    uri = b"".join(ndef.message_encoder([URI]))
    uri_first = bytes([uri[0] & ~ME]) + uri[1:]  # MB stays, ME goes to the chunked record's last chunk
    message = uri_first + chunked(split(CREDENTIAL, [50]), first=False)
    records = list(ndef.message_decoder(unchunk(message)))
    assert [r.type for r in records] == ["urn:nfc:wkt:U", "urn:nfc:ext:kokreativ.org:cred"]
    assert records[0].iri == URI.iri and bytes(records[1].data) == CREDENTIAL
    with_id = record(MB | CF, TNF_EXTERNAL, CREDENTIAL_TYPE, CREDENTIAL[:10], rid=b"card") + record(
        ME, TNF_UNCHANGED, b"", CREDENTIAL[10:]
    )
    (whole,) = ndef.message_decoder(unchunk(with_id))
    assert whole.name == "card" and bytes(whole.data) == CREDENTIAL


def test_bytes_after_the_record_with_me_are_not_part_of_the_message():
    """As ndeflib reads it, and the same once chunks are reassembled (docs/protocol.md, Cards)."""
    assert find_credential(credential_message(CREDENTIAL) + b"\xff trailing") == CREDENTIAL
    assert find_credential(chunked(split(CREDENTIAL, [50])) + b"\xff trailing") == CREDENTIAL


def test_a_large_chunked_payload_is_encoded_with_a_long_length():
    payload = bytes(300)
    (whole,) = ndef.message_decoder(unchunk(chunked(split(payload, [200]))))
    assert bytes(whole.data) == payload


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "missing last chunk: the message stops",
            record(MB | CF, TNF_EXTERNAL, CREDENTIAL_TYPE, CREDENTIAL[:40]),
        ),
        (
            "missing last chunk: CF on the record with ME",
            record(MB | CF, TNF_EXTERNAL, CREDENTIAL_TYPE, CREDENTIAL[:40])
            + record(ME | CF, TNF_UNCHANGED, b"", CREDENTIAL[40:]),
        ),
        (
            "a middle chunk with a type",
            record(MB | CF, TNF_EXTERNAL, CREDENTIAL_TYPE, CREDENTIAL[:40])
            + record(CF, TNF_UNCHANGED, CREDENTIAL_TYPE, CREDENTIAL[40:80])
            + record(ME, TNF_UNCHANGED, b"", CREDENTIAL[80:]),
        ),
        (
            "a middle chunk that is a record of its own",
            record(MB | CF, TNF_EXTERNAL, CREDENTIAL_TYPE, CREDENTIAL[:40])
            + record(CF, TNF_EXTERNAL, CREDENTIAL_TYPE, CREDENTIAL[40:80])
            + record(ME, TNF_UNCHANGED, b"", CREDENTIAL[80:]),
        ),
        (
            "a last chunk with an ID",
            record(MB | CF, TNF_EXTERNAL, CREDENTIAL_TYPE, CREDENTIAL[:40])
            + record(ME, TNF_UNCHANGED, b"", CREDENTIAL[40:], rid=b"x"),
        ),
        (
            "the chunks end in another record",
            record(MB | CF, TNF_EXTERNAL, CREDENTIAL_TYPE, CREDENTIAL[:40])
            + record(ME, TNF_EXTERNAL, CREDENTIAL_TYPE, CREDENTIAL[40:]),
        ),
        ("an 'unchanged' record on its own", record(MB | ME, TNF_UNCHANGED, b"", CREDENTIAL)),
        (
            "an empty record as first chunk",
            record(MB | CF, 0x00, b"", b"") + record(ME, TNF_UNCHANGED, b"", CREDENTIAL),
        ),
        (
            "the message is cut inside a chunk",
            chunked(split(CREDENTIAL, [40, 40]))[:-5],
        ),
    ],
)
def test_a_broken_chunk_sequence_is_refused_as_bad_ndef_chunk(name, message):
    assert reason_of(message) == Reason.BAD_NDEF_CHUNK, name


def test_chunks_adding_up_to_more_than_the_bound_are_refused():
    payload = bytes(MAX_CHUNKED_PAYLOAD + 1)
    assert reason_of(chunked(split(payload, [255] * 4))) == Reason.NDEF_CHUNK_TOO_LARGE
    (whole,) = ndef.message_decoder(unchunk(chunked(split(payload[:-1], [255] * 4))))
    assert len(whole.data) == MAX_CHUNKED_PAYLOAD


def test_a_misplaced_mb_flag_is_still_refused_by_ndeflib():
    message = record(CF, TNF_EXTERNAL, CREDENTIAL_TYPE, CREDENTIAL[:40]) + record(
        ME, TNF_UNCHANGED, b"", b"x"
    )
    assert reason_of(message) == Reason.BAD_CREDENTIAL


def test_two_credentials_one_of_them_chunked_are_still_two():
    first = credential_message(CREDENTIAL)
    message = bytes([first[0] & ~ME]) + first[1:] + chunked(split(CREDENTIAL, [9]), first=False)
    assert reason_of(message) == Reason.BAD_CREDENTIAL


# --------------------------------------------------------------------------- properties

payloads = st.binary(max_size=MAX_CHUNKED_PAYLOAD)
cuts = st.lists(st.integers(min_value=0, max_value=255), min_size=1, max_size=8)


@given(payload=payloads, sizes=cuts)
def test_any_split_of_any_payload_reads_as_the_payload(payload, sizes):
    message = chunked(split(payload, sizes))
    whole = credential_message(payload)
    assert list(ndef.message_decoder(unchunk(message))) == list(ndef.message_decoder(whole))
    assert find_credential(message) == payload


@given(payload=st.binary(min_size=1, max_size=300), sizes=cuts, data=st.data())
def test_a_chunked_message_cut_short_is_refused_never_read_in_part(payload, sizes, data):
    message = chunked(split(payload, sizes))
    cut = data.draw(st.integers(min_value=1, max_value=len(message) - 1))
    assert reason_of(message[:cut]) in {Reason.BAD_NDEF_CHUNK, Reason.BAD_CREDENTIAL}


@given(st.binary(max_size=600))
def test_any_bytes_give_a_payload_none_or_a_malformed_error(message):
    try:
        found = find_credential(message)
    except MalformedError as exc:
        assert exc.reason in {Reason.BAD_CREDENTIAL, Reason.BAD_NDEF_CHUNK, Reason.NDEF_CHUNK_TOO_LARGE}
    else:
        assert found is None or isinstance(found, bytes)


@given(
    st.lists(
        st.tuples(
            st.sampled_from([0, MB, ME, CF, MB | CF, ME | CF]),
            st.sampled_from(range(8)),
            st.binary(max_size=40),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_any_flag_soup_of_well_framed_records_is_read_or_refused_with_a_reason(parts):
    message = b"".join(
        record(flags, tnf, b"t" if tnf in (1, 2, 3, 4) else b"", body) for flags, tnf, body in parts
    )
    try:
        find_credential(message)
    except MalformedError as exc:
        assert exc.reason in {Reason.BAD_CREDENTIAL, Reason.BAD_NDEF_CHUNK, Reason.NDEF_CHUNK_TOO_LARGE}
