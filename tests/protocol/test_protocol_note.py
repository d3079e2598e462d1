"""C2SP signed notes: Go's sumdb test vectors, the key-ID rule, the verification rules, strict parsing.

The vectors come from golang.org/x/mod/sumdb/note's tests: if these pass, notes we
sign verify with Go's ``note.Open`` and notes Go signs verify here.
"""

from __future__ import annotations

import base64
import hashlib
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import MalformedError, PrivateKey, ProtocolError, Reason
from protocol.note import (
    MAX_SIGNATURES,
    NoteSignature,
    NoteVerifier,
    note_key_id,
    parse_note,
    sign_note,
    verify_note,
)

# --- Go's test vectors -------------------------------------------------------------------------------

TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SIG = (
    "— PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
PETER_PRIVATE = PrivateKey(base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:])
ENOCH_KEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
ENOCH_SIG = (
    "— EnochRoot "
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)
PETER = NoteVerifier.parse(PETER_KEY)
ENOCH = NoteVerifier.parse(ENOCH_KEY)
NOTE = (TEXT + "\n" + PETER_SIG).encode()

STRANGER = PrivateKey(bytes(range(1, 33)))

# --- Strategies --------------------------------------------------------------------------------------

# Built from integers rather than st.text(), whose Unicode tables are slow on a cold cache.
code_points = st.integers(0x20, 0x10FFFF).filter(lambda c: not 0xD800 <= c <= 0xDFFF).map(chr)
text_chars = st.sampled_from(["\n", " ", "—", "+", "é", "\u2028", "\x7f", "\U0001f600"]) | code_points
note_texts = st.lists(text_chars, max_size=40).map(lambda chars: "".join(chars) + "\n")
name_chars = (st.sampled_from(["a", "é", ".", "/", "—"]) | code_points).filter(
    lambda ch: ch != "+" and not ch.isspace() and unicodedata.category(ch) != "Zs"
)
key_names = st.lists(name_chars, min_size=1, max_size=20).map("".join)
private_keys = st.binary(min_size=32, max_size=32).map(PrivateKey)


def reason_of(data: bytes, verifiers: list[NoteVerifier]) -> Reason:
    with pytest.raises(ProtocolError) as info:
        verify_note(data, verifiers)
    return info.value.reason


def sig_line(name: str, key_id: int, signature: bytes) -> str:
    return f"— {name} {base64.b64encode(key_id.to_bytes(4, 'big') + signature).decode()}\n"


# --- Keys --------------------------------------------------------------------------------------------


def test_go_verifier_keys_carry_the_ids_the_formula_gives():
    assert PETER.name == "PeterNeumann"
    assert PETER.key_id == 0xC74F20A3
    digest = hashlib.sha256(b"PeterNeumann\n\x01" + PETER.public_key.raw).digest()
    assert note_key_id("PeterNeumann", PETER.public_key) == int.from_bytes(digest[:4], "big")
    assert ENOCH.key_id == note_key_id("EnochRoot", ENOCH.public_key) == 0xAF0CFE78
    assert PETER_PRIVATE.public_key == PETER.public_key


@given(key_names, private_keys)
def test_key_id_is_the_first_four_bytes_of_sha256_name_newline_type_key(name, key):
    public = key.public_key
    digest = hashlib.sha256(name.encode() + b"\n" + b"\x01" + public.raw).digest()
    verifier = NoteVerifier.for_key(name, public)
    assert verifier.key_id == note_key_id(name, public) == int.from_bytes(digest[:4], "big")
    encoded = base64.b64encode(b"\x01" + public.raw).decode()
    assert str(verifier) == f"{name}+{digest[:4].hex()}+{encoded}"


@given(key_names, private_keys)
def test_verifier_keys_round_trip(name, key):
    text = str(NoteVerifier.for_key(name, key.public_key))
    parsed = NoteVerifier.parse(text)
    assert str(parsed) == text
    assert parsed == NoteVerifier.for_key(name, key.public_key)


def test_verifier_keys_whose_base64_holds_a_plus_parse():
    # About half of all Ed25519 keys have a '+' in their base64; only name and ID are '+'-free.
    keys = (PrivateKey(seed.to_bytes(32, "big")).public_key for seed in range(100))
    verifier = next(
        v for v in (NoteVerifier.for_key("example.org/log", k) for k in keys) if str(v).count("+") > 2
    )
    assert NoteVerifier.parse(str(verifier)) == verifier


def test_go_verifier_keys_round_trip():
    assert str(PETER) == PETER_KEY
    assert str(ENOCH) == ENOCH_KEY


def _key_with_small_id() -> tuple[str, str, str]:
    """A verifier key whose ID starts with "00", so int() would accept other spellings of it."""
    for seed in range(2000):
        verifier = NoteVerifier.for_key("example.org/log", PrivateKey(seed.to_bytes(32, "big")).public_key)
        if verifier.key_id < 1 << 24:
            name, hex_id, b64 = str(verifier).split("+", 2)
            return name, hex_id, b64
    raise AssertionError("no small key ID found")


def test_verifier_key_id_must_be_exactly_eight_lowercase_hex_digits():
    name, hex_id, b64 = _key_with_small_id()
    NoteVerifier.parse(f"{name}+{hex_id}+{b64}")
    digits = hex_id[2:]  # the six significant digits
    for spelling in ["0x" + digits, "0X" + digits, " 0" + digits, "0" + digits + " ", "0_" + digits]:
        assert len(spelling) == 8 and int(spelling, 16) == int(hex_id, 16)
        with pytest.raises(MalformedError) as info:
            NoteVerifier.parse(f"{name}+{spelling}+{b64}")
        assert info.value.reason is Reason.BAD_NOTE, spelling


@pytest.mark.parametrize(
    "text",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong key ID
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # uppercase ID
        "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # seven digits
        "PeterNeumann+c74f20a3a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # nine digits
        "PeterNeumann+c74f20g3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # not hex
        "PeterNeumann+c74f20a3+ApRc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # other key, same ID
        "PeterNeumann+c74f20a3+" + base64.b64encode(b"\x02" + PETER.public_key.raw).decode(),  # type 2
        "PeterNeumann+c74f20a3+" + base64.b64encode(b"\x01" + PETER.public_key.raw[:31]).decode(),
        "PeterNeumann+c74f20a3+" + base64.b64encode(b"\x01" + PETER.public_key.raw + b"\x00").decode(),
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T!",  # not base64
        "PeterNeumann+c74f20a3",  # two parts
        "Peter+Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # '+' in the name
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # space in the name
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # no name
    ],
    ids=[
        "wrong-id",
        "uppercase-id",
        "short-id",
        "long-id",
        "non-hex-id",
        "other-key",
        "type-2",
        "key-31-bytes",
        "key-33-bytes",
        "not-base64",
        "two-parts",
        "plus-in-name",
        "space-in-name",
        "empty-name",
    ],
)
def test_malformed_verifier_keys_are_rejected(text):
    with pytest.raises(MalformedError) as info:
        NoteVerifier.parse(text)
    assert info.value.reason is Reason.BAD_NOTE


# --- Verification rules ------------------------------------------------------------------------------


def test_go_note_verifies():
    assert verify_note(NOTE, [PETER]) == (TEXT, (PETER,))


def test_signing_with_go_private_key_gives_go_bytes_exactly():
    assert sign_note(TEXT, "PeterNeumann", PETER_PRIVATE) == NOTE


def test_go_note_with_two_known_signatures_reports_both():
    note = (TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode()
    assert verify_note(note, [PETER, ENOCH]) == (TEXT, (PETER, ENOCH))
    assert verify_note(note, [ENOCH]) == (TEXT, (ENOCH,))


@given(note_texts, key_names, private_keys, key_names, private_keys)
@settings(max_examples=50)
def test_sign_verify_round_trip(text, name, key, other_name, other_key):
    verifier, other = (
        NoteVerifier.for_key(name, key.public_key),
        NoteVerifier.for_key(other_name, other_key.public_key),
    )
    note = sign_note(text, name, key, also=[(other_name, other_key)])
    parsed = parse_note(note)
    assert parsed.text == text
    assert parsed.signatures[0] == NoteSignature(name, verifier.key_id, key.sign(text.encode()))
    assert verify_note(note, [verifier]) == (text, (verifier,))
    assert verify_note(note, [other, verifier])[1] == (
        (verifier, other) if verifier != other else (verifier,)
    )


def test_signatures_from_unknown_keys_are_ignored():
    note = sign_note(TEXT, "PeterNeumann", PETER_PRIVATE, also=[("stranger.example", STRANGER)])
    assert verify_note(note, [PETER]) == (TEXT, (PETER,))
    # An unknown key's signature is not even checked: garbage of any length is fine.
    for garbage in [b"\x00", bytes(64), bytes(200)]:
        assert verify_note(NOTE + sig_line("stranger.example", 1, garbage).encode(), [PETER])[1] == (PETER,)


@pytest.mark.parametrize(
    "impostor",
    [
        NoteVerifier("PeterNeumann", PETER.key_id ^ 1, PETER.public_key),
        NoteVerifier("PeterNeumann", note_key_id("PeterNeumann", STRANGER.public_key), STRANGER.public_key),
        NoteVerifier("EnochRoot", PETER.key_id, PETER.public_key),
        NoteVerifier("peterneumann", PETER.key_id, PETER.public_key),
    ],
    ids=["name-matches-id-differs", "name-matches-other-key", "id-matches-name-differs", "name-case-differs"],
)
def test_a_key_is_known_only_if_name_and_id_both_match(impostor):
    # The impostors hold Peter's public key where they can, so the signature would verify
    # if they were (wrongly) looked up: being ignored is the only way to get note_unverified.
    assert reason_of(NOTE, [impostor]) is Reason.NOTE_UNVERIFIED
    assert verify_note(NOTE, [impostor, PETER])[1] == (PETER,)


def test_a_known_key_with_a_bad_signature_rejects_the_note():
    raw = bytearray(base64.b64decode(PETER_SIG.split()[-1]))
    raw[10] ^= 1  # in the signature, past the key ID
    bad_peter = sig_line("PeterNeumann", PETER.key_id, bytes(raw[4:]))
    assert reason_of((TEXT + "\n" + bad_peter).encode(), [PETER]) is Reason.BAD_SIGNATURE
    # Even when another known key signed correctly.
    assert reason_of((TEXT + "\n" + ENOCH_SIG + bad_peter).encode(), [PETER, ENOCH]) is Reason.BAD_SIGNATURE
    # And when the signature has the wrong length.
    for length in (1, 63, 65):
        short = sig_line("PeterNeumann", PETER.key_id, bytes(length))
        assert reason_of((TEXT + "\n" + short).encode(), [PETER]) is Reason.BAD_SIGNATURE


def test_a_changed_text_fails_the_signature():
    assert reason_of(NOTE.replace(b"problem", b"pr0blem", 1), [PETER]) is Reason.BAD_SIGNATURE


def test_no_known_key_means_unverified():
    assert reason_of(NOTE, []) is Reason.NOTE_UNVERIFIED
    assert reason_of(NOTE, [ENOCH]) is Reason.NOTE_UNVERIFIED
    note = sign_note(TEXT, "stranger.example", STRANGER)
    assert reason_of(note, [PETER, ENOCH]) is Reason.NOTE_UNVERIFIED


def test_repeated_signatures_from_one_key_count_once():
    assert verify_note(NOTE + PETER_SIG.encode(), [PETER]) == (TEXT, (PETER,))


def test_sixteen_signers_are_accepted_and_all_reported():
    keys = [(f"witness{i}.example", PrivateKey(bytes([i]) * 32)) for i in range(1, 16)]
    note = sign_note(TEXT, "PeterNeumann", PETER_PRIVATE, also=keys)
    verifiers = [PETER, *(NoteVerifier.for_key(name, key.public_key) for name, key in keys)]
    assert verify_note(note, verifiers[::-1]) == (TEXT, tuple(verifiers))


def test_text_may_hold_blank_lines_and_ends_at_the_last_one():
    text = "first\n\n— looks like a signature AAAA\n"
    note = sign_note(text, "PeterNeumann", PETER_PRIVATE)
    assert verify_note(note, [PETER]) == (text, (PETER,))


# --- Strict parsing ----------------------------------------------------------------------------------

PADDING_BITS_SET = PETER_SIG.replace("JnAM=", "JnAN=")


def test_a_signature_with_padding_bits_set_decodes_to_the_same_bytes():
    # So the only thing wrong with it (below) is that it is not the canonical spelling.
    assert base64.b64decode(PADDING_BITS_SET.split()[-1]) == base64.b64decode(PETER_SIG.split()[-1])


@pytest.mark.parametrize(
    "data",
    [
        (TEXT + PETER_SIG).encode(),
        (TEXT.replace(" ", "\t", 1) + "\n" + PETER_SIG).encode(),
        (TEXT.replace("\n", "\r\n") + "\n" + PETER_SIG).encode(),
        (TEXT.replace(" ", "\x00", 1) + "\n" + PETER_SIG).encode(),
        (TEXT.replace(" ", "\x1b", 1) + "\n" + PETER_SIG).encode(),
        (TEXT + "\n" + PETER_SIG.replace("\n", "\r\n")).encode(),
        (TEXT + "\n" + PETER_SIG.replace("—", "-")).encode(),
        (TEXT + "\n" + PETER_SIG.replace("—", "\u2013")).encode(),
        (TEXT + "\n" + PETER_SIG.replace("— ", "—")).encode(),
        (TEXT + "\n" + PETER_SIG.replace("— ", "—  ")).encode(),
        (TEXT + "\n" + PETER_SIG.replace(" x08go", "  x08go")).encode(),
        (TEXT + "\n" + PADDING_BITS_SET).encode(),
        (TEXT + "\n" + PETER_SIG.replace("=\n", "\n")).encode(),
        (TEXT + "\n" + PETER_SIG.replace("=\n", "==\n")).encode(),
        (TEXT + "\n" + PETER_SIG.replace("x08go", "x08g!")).encode(),
        TEXT.encode().replace(b"you", b"\xff", 1) + b"\n" + PETER_SIG.encode(),
        TEXT.encode().replace(b"you", b"\xed\xa0\x80", 1) + b"\n" + PETER_SIG.encode(),
        NOTE[:-1],
        NOTE + PETER_SIG[:-1].encode(),
        NOTE + b"\n",
        (TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Peter+Neumann")).encode(),
        (TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Peter Neumann")).encode(),
        (TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Peter\u00a0Neumann")).encode(),
        (TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Peter\u3000Neumann")).encode(),
        (TEXT + "\n").encode(),
        (TEXT + "\n" + sig_line("PeterNeumann", PETER.key_id, b"")).encode(),
        (TEXT + "\n" + PETER_SIG + "trailer\n").encode(),
        b"",
        b"\n",
        NOTE + PETER_SIG.encode() * MAX_SIGNATURES,
        (TEXT * 20_000 + "\n" + PETER_SIG).encode(),
    ],
    ids=[
        "no-blank-line",
        "tab-in-text",
        "cr-in-text",
        "nul-in-text",
        "escape-in-text",
        "cr-in-signature",
        "hyphen-minus",
        "en-dash",
        "no-space-after-dash",
        "two-spaces-after-dash",
        "two-spaces-before-signature",
        "padding-bits-set",
        "missing-padding",
        "extra-padding",
        "not-base64",
        "not-utf8",
        "utf8-surrogate",
        "no-final-newline",
        "no-newline-after-second-signature",
        "blank-line-after-signatures",
        "plus-in-name",
        "space-in-name",
        "nbsp-in-name",
        "ideographic-space-in-name",
        "no-signatures",
        "signature-without-bytes",
        "line-after-signatures",
        "empty",
        "only-newline",
        "too-many-signatures",
        "too-large",
    ],
)
def test_malformed_notes_are_rejected(data):
    with pytest.raises(MalformedError) as info:
        verify_note(data, [PETER])
    assert info.value.reason is Reason.BAD_NOTE


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("no final newline", "PeterNeumann"),
        ("tab\there\n", "PeterNeumann"),
        ("fine\n", "Peter Neumann"),
        ("fine\n", "Peter+Neumann"),
        ("fine\n", ""),
    ],
    ids=["no-final-newline", "control-character", "space-in-name", "plus-in-name", "empty-name"],
)
def test_signing_refuses_what_verifiers_would_reject(text, name):
    with pytest.raises(MalformedError) as info:
        sign_note(text, name, PETER_PRIVATE)
    assert info.value.reason is Reason.BAD_NOTE


@given(st.binary(max_size=300))
def test_random_bytes_never_verify_and_never_crash(data):
    with pytest.raises(ProtocolError):
        verify_note(data, [PETER])
