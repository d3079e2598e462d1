"""Hours certificates: the entry, the QR payload and the offline check (:mod:`protocol.certificates`)."""

from __future__ import annotations

import base64
import contextlib
import datetime
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import PrivateKey, ProtocolError, Reason
from protocol.certificates import (
    CertificatePayload,
    certificate_entry,
    name_hash,
    normalise_name,
    parse_payload,
    verify_certificate,
)
from protocol.checkpoint import Checkpoint, sign_checkpoint
from protocol.logentry import make_entry, parse_entry
from protocol.merkle import inclusion_proof, leaf_hash, node_hash, root_hash
from protocol.note import NoteVerifier

ORIGIN = "ledger.example.org"
KEY = PrivateKey(bytes(range(32)))
VERIFIER = NoteVerifier.for_key(ORIGIN, KEY.public_key)
SALT = "00112233445566778899aabbccddeeff"
NAME = "Erika Müller-Lüdenscheidt"


def _log(entries: list[bytes]) -> tuple[list[list[bytes]], int]:
    levels = [[leaf_hash(e) for e in entries]]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([node_hash(below[j], below[j + 1]) for j in range(0, len(below) - 1, 2)])
    return levels, len(entries)


def issued(name: str = NAME, *, key: PrivateKey = KEY, at: int = 5, size: int = 13) -> str:
    """A payload for a certificate at index ``at`` of a log of ``size`` entries, signed by ``key``."""
    entry = certificate_entry(
        from_day=datetime.date(2025, 1, 1),
        to_day=datetime.date(2025, 12, 31),
        minutes=15_000,
        hashed_name=name_hash(SALT, name),
        at_ms=1_767_225_600_123,
    )
    entries = [b"entry %d" % i for i in range(size)]
    entries[at] = entry
    levels, n = _log(entries)

    def read(level: int, index: int) -> bytes:
        return levels[level][index]

    note = sign_checkpoint(Checkpoint(ORIGIN, n, root_hash(n, read)), key)
    return CertificatePayload(entry, at, tuple(inclusion_proof(at, n, read)), note).encode()


def test_a_certificate_verifies_offline_with_name_and_salt():
    facts = verify_certificate(issued(), [VERIFIER], name=NAME, salt=SALT)
    assert (facts.from_day, facts.to_day, facts.minutes) == (
        datetime.date(2025, 1, 1),
        datetime.date(2025, 12, 31),
        15_000,
    )
    assert facts.issued_day_ms == 1_767_225_600_000  # only the UTC day is public
    assert facts.index == 5 and facts.checkpoint.size == 13


def test_the_entry_names_no_card_volunteer_or_site():
    entry = parse_entry(parse_payload(issued()).entry)
    assert set(entry) == {"kind", "type", "v", "from_day", "to_day", "minutes", "name_hash", "at_ms"}
    assert NAME.encode() not in parse_payload(issued()).entry


def test_another_name_fails():
    with pytest.raises(ProtocolError) as caught:
        verify_certificate(issued(), [VERIFIER], name="Erika Mueller-Luedenscheidt", salt=SALT)
    assert caught.value.reason is Reason.CERTIFICATE_NAME_MISMATCH
    with pytest.raises(ProtocolError) as caught:
        verify_certificate(issued(), [VERIFIER], name=NAME, salt="f" * 32)
    assert caught.value.reason is Reason.CERTIFICATE_NAME_MISMATCH


def test_the_name_as_typed_from_paper_matches():
    decomposed = unicodedata.normalize("NFD", "  Erika   Müller-Lüdenscheidt ")
    assert normalise_name(decomposed) == NAME
    verify_certificate(issued(), [VERIFIER], name=decomposed, salt=SALT)


def test_the_qr_url_is_accepted_as_payload():
    url = "https://ledger.example.org/nachweis?p=" + issued()
    verify_certificate(url, [VERIFIER], name=NAME, salt=SALT)


def test_a_checkpoint_signed_by_another_key_fails():
    with pytest.raises(ProtocolError) as caught:
        verify_certificate(issued(key=PrivateKey(bytes(32))), [VERIFIER], name=NAME, salt=SALT)
    assert caught.value.reason in (Reason.NOTE_UNVERIFIED, Reason.BAD_SIGNATURE)


def test_a_changed_entry_fails_its_inclusion_proof():
    payload = parse_payload(issued())
    forged = payload.entry.replace(b'"minutes":15000', b'"minutes":25000')
    with pytest.raises(ProtocolError) as caught:
        verify_certificate(
            CertificatePayload(forged, payload.index, payload.proof, payload.checkpoint).encode(),
            [VERIFIER],
            name=NAME,
            salt=SALT,
        )
    assert caught.value.reason is Reason.BAD_PROOF


def test_another_entry_kind_is_no_certificate():
    payload = parse_payload(issued())
    other = make_entry("card_blocked", card_id="c_" + "0" * 32, at_ms=0)
    with pytest.raises(ProtocolError) as caught:
        parse_payload(CertificatePayload(other, 0, payload.proof, payload.checkpoint).encode())
    assert caught.value.reason is Reason.BAD_CERTIFICATE


def test_payload_stays_small_enough_for_a_printable_qr_code():
    # 2**20 entries: a proof of 20 hashes, the deepest a pilot's log gets in years.
    payload = issued(at=0, size=1)
    raw = len(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert raw < 300  # the entry as its 43 bytes of fields, the index and the signed checkpoint
    assert (raw + 20 * 32) * 4 / 3 < 1300  # with 20 proof hashes, in base64: a QR code of version 29 at M


@given(st.text(max_size=300))
def test_garbage_text_never_crashes_the_parser(text):
    with contextlib.suppress(ProtocolError):
        parse_payload(text)


@given(st.binary(max_size=600))
def test_garbage_bytes_never_crash_the_parser(raw):
    text = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    with contextlib.suppress(ProtocolError):
        verify_certificate(text, [VERIFIER], name=NAME, salt=SALT)


@given(st.integers(0, 2000), st.binary(max_size=40))
def test_a_mangled_real_payload_never_crashes(cut, junk):
    raw = base64.urlsafe_b64decode(issued() + "==")
    mangled = raw[:cut] + junk + raw[cut + len(junk) :]
    text = base64.urlsafe_b64encode(mangled).rstrip(b"=").decode()
    with contextlib.suppress(ProtocolError):
        verify_certificate(text, [VERIFIER], name=NAME, salt=SALT)


@given(st.one_of(st.none(), st.integers(), st.lists(st.integers()), st.binary()))
def test_non_text_is_refused(value):
    with pytest.raises(ProtocolError):
        parse_payload(value)
