"""C2SP tlog-checkpoint and tlog-proof: exact text, every parsing rule, end-to-end checks on a real tree."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import MalformedError, PrivateKey, ProtocolError, Reason, VerificationError
from protocol.checkpoint import (
    PROOF_HEADER,
    Checkpoint,
    TlogProof,
    format_tlog_proof,
    parse_checkpoint_text,
    parse_tlog_proof,
    sign_checkpoint,
    verify_checkpoint,
    verify_tlog_proof,
)
from protocol.merkle import inclusion_proof, leaf_hash, node_hash, root_hash
from protocol.note import NoteVerifier, sign_note

ORIGIN = "ledger.example.org"
KEY = PrivateKey(bytes(range(32)))
VERIFIER = NoteVerifier.for_key(ORIGIN, KEY.public_key)
ROOT = base64.b64decode("sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=")
ROOT_B64 = "sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08="

# A real log of 13 entries, its complete subtrees, and its signed checkpoint.
ENTRIES = [b"entry %d" % i for i in range(13)]
LEVELS = [[leaf_hash(e) for e in ENTRIES]]
while len(LEVELS[-1]) > 1:
    below = LEVELS[-1]
    LEVELS.append([node_hash(below[j], below[j + 1]) for j in range(0, len(below) - 1, 2)])


def read(level: int, index: int) -> bytes:
    return LEVELS[level][index]


SIZE = len(ENTRIES)
TREE = Checkpoint(ORIGIN, SIZE, root_hash(SIZE, read))
SIGNED_TREE = sign_checkpoint(TREE, KEY)

code_points = st.integers(0x20, 0x10FFFF).filter(lambda c: not 0xD800 <= c <= 0xDFFF).map(chr)
lines = st.lists(
    st.sampled_from(["a", " ", "—", "é", "+", "\U0001f600"]) | code_points, min_size=1, max_size=20
)
origins = st.sampled_from([ORIGIN, "example.com/fancylog", "sum.golang.org", "ex.org/ä/ü"])


def signed(text: str, name: str = ORIGIN) -> bytes:
    return sign_note(text, name, KEY)


def checkpoint_reason(data: bytes, **kwargs: object) -> Reason:
    with pytest.raises(ProtocolError) as info:
        verify_checkpoint(data, [VERIFIER], **kwargs)  # type: ignore[arg-type]
    return info.value.reason


def proof_reason(data: bytes, leaf: bytes, **kwargs: object) -> Reason:
    with pytest.raises(ProtocolError) as info:
        verify_tlog_proof(data, [VERIFIER], leaf_hash=leaf, **kwargs)  # type: ignore[arg-type]
    return info.value.reason


# --- Checkpoints -------------------------------------------------------------------------------------


def test_checkpoint_text_is_the_documented_three_lines():
    checkpoint = Checkpoint(ORIGIN, 1042, ROOT)
    assert checkpoint.text() == f"{ORIGIN}\n1042\n{ROOT_B64}\n"
    assert parse_checkpoint_text(checkpoint.text()) == checkpoint


def test_signed_checkpoint_is_a_note_signed_under_the_origin():
    data = sign_checkpoint(Checkpoint(ORIGIN, 1042, ROOT), KEY)
    text, _, signature = data.decode().partition("\n\n")
    assert text + "\n" == f"{ORIGIN}\n1042\n{ROOT_B64}\n"
    assert signature.startswith(f"— {ORIGIN} ") and signature.endswith("\n") and signature.count("\n") == 1


@given(
    origins,
    st.integers(0, 2**64 - 1),
    st.binary(min_size=32, max_size=32),
    st.lists(lines.map("".join), max_size=3),
)
def test_sign_verify_round_trip(origin, size, root, extensions):
    checkpoint = Checkpoint(origin, size, root, tuple(extensions))
    verifier = NoteVerifier.for_key(origin, KEY.public_key)
    assert verify_checkpoint(sign_checkpoint(checkpoint, KEY), [verifier]) == checkpoint
    assert verify_checkpoint(sign_checkpoint(checkpoint, KEY), [verifier], origin=origin) == checkpoint


def test_extension_lines_are_kept_in_order():
    checkpoint = Checkpoint(ORIGIN, 7, ROOT, ("Timestamp: 1700000000", "— not a signature", "x"))
    got = verify_checkpoint(sign_checkpoint(checkpoint, KEY), [VERIFIER])
    assert got.extensions == ("Timestamp: 1700000000", "— not a signature", "x")
    assert got.text() == f"{ORIGIN}\n7\n{ROOT_B64}\nTimestamp: 1700000000\n— not a signature\nx\n"


def test_origin_must_be_a_verifying_key_name_or_the_one_asked_for():
    other = NoteVerifier.for_key("witness.example", KEY.public_key)
    by_witness = sign_checkpoint(Checkpoint(ORIGIN, 3, ROOT), KEY, key_name="witness.example")
    with pytest.raises(VerificationError) as info:
        verify_checkpoint(by_witness, [other])
    assert info.value.reason is Reason.BAD_CHECKPOINT
    assert verify_checkpoint(by_witness, [other], origin=ORIGIN).origin == ORIGIN
    # The origin asked for wins over the key name, even when the key name matches.
    assert checkpoint_reason(SIGNED_TREE, origin="other.example.org") is Reason.BAD_CHECKPOINT
    # A checkpoint of another log, signed by that log, is refused when ours is asked for.
    theirs = NoteVerifier.for_key("other.example.org", KEY.public_key)
    data = sign_checkpoint(Checkpoint("other.example.org", 3, ROOT), KEY)
    with pytest.raises(VerificationError) as info:
        verify_checkpoint(data, [VERIFIER, theirs], origin=ORIGIN)
    assert info.value.reason is Reason.BAD_CHECKPOINT


@pytest.mark.parametrize(
    "size",
    ["01", "00", "-1", "+1", "1.0", "1e3", "0x1f", " 1", "1 ", "1_000", "\u0661\u0662", "½", "one"],
)
def test_tree_size_must_be_plain_decimal(size):
    text = f"{ORIGIN}\n{size}\n{ROOT_B64}\n"
    with pytest.raises(MalformedError) as info:
        parse_checkpoint_text(text)
    assert info.value.reason is Reason.BAD_CHECKPOINT
    assert checkpoint_reason(signed(text)) is Reason.BAD_CHECKPOINT


@pytest.mark.parametrize("size", ["0", "1", "10", "18446744073709551615"])
def test_tree_sizes_that_are_plain_decimal_parse(size):
    assert parse_checkpoint_text(f"{ORIGIN}\n{size}\n{ROOT_B64}\n").size == int(size)


@pytest.mark.parametrize(
    "root",
    [
        base64.b64encode(ROOT[:31]).decode(),
        base64.b64encode(ROOT + b"\x00").decode(),
        "",
        ROOT_B64.rstrip("="),
        ROOT_B64[:-2] + "9=",  # the same 32 bytes with a padding bit set
        ROOT_B64.replace("/", "_"),  # URL-safe alphabet
        ROOT_B64 + " ",
    ],
    ids=["31-bytes", "33-bytes", "empty", "no-padding", "padding-bits", "url-safe", "trailing-space"],
)
def test_root_hash_must_be_32_bytes_of_canonical_base64(root):
    text = f"{ORIGIN}\n5\n{root}\n"
    with pytest.raises(MalformedError) as info:
        parse_checkpoint_text(text)
    assert info.value.reason is Reason.BAD_CHECKPOINT
    assert checkpoint_reason(signed(text)) is Reason.BAD_CHECKPOINT


@pytest.mark.parametrize(
    "text",
    [
        f"{ORIGIN}\n5\n",
        f"{ORIGIN}\n",
        f"{ORIGIN}\n5\n{ROOT_B64}\n\nextension\n",
        f"{ORIGIN}\n5\n{ROOT_B64}\nextension\n\n",
        f"{ORIGIN}\n5\n{ROOT_B64}\n\n",
        f"\n5\n{ROOT_B64}\n",
    ],
    ids=[
        "two-lines",
        "one-line",
        "empty-extension",
        "empty-last-extension",
        "empty-line-after-root",
        "no-origin",
    ],
)
def test_checkpoint_lines(text):
    with pytest.raises(MalformedError) as info:
        parse_checkpoint_text(text)
    assert info.value.reason is Reason.BAD_CHECKPOINT
    assert checkpoint_reason(signed(text)) is Reason.BAD_CHECKPOINT


def test_checkpoint_text_ends_with_a_newline():
    with pytest.raises(MalformedError) as info:
        parse_checkpoint_text(f"{ORIGIN}\n5\n{ROOT_B64}")
    assert info.value.reason is Reason.BAD_CHECKPOINT


def test_checkpoint_signatures_are_checked():
    assert checkpoint_reason(SIGNED_TREE.replace(b"\n13\n", b"\n14\n")) is Reason.BAD_SIGNATURE
    assert checkpoint_reason(sign_checkpoint(TREE, PrivateKey(bytes(32)))) is Reason.NOTE_UNVERIFIED
    assert checkpoint_reason(SIGNED_TREE.replace("—".encode(), b"-")) is Reason.BAD_NOTE


# --- tlog-proof -------------------------------------------------------------------------------------


def test_tlog_proof_text_is_the_documented_layout():
    hashes = [hashlib.sha256(b"a").digest(), hashlib.sha256(b"b").digest()]
    data = format_tlog_proof(73894, hashes, SIGNED_TREE, extra=b"hi")
    b64 = [base64.b64encode(h).decode() for h in hashes]
    assert data == f"{PROOF_HEADER}\nextra aGk=\nindex 73894\n{b64[0]}\n{b64[1]}\n\n".encode() + SIGNED_TREE
    assert format_tlog_proof(0, [], SIGNED_TREE) == f"{PROOF_HEADER}\nindex 0\n\n".encode() + SIGNED_TREE
    assert PROOF_HEADER == "c2sp.org/tlog-proof@v1"


@given(
    st.integers(0, 2**64),
    st.lists(st.binary(min_size=32, max_size=32), max_size=64),
    st.none() | st.binary(max_size=100),
)
def test_tlog_proof_round_trip(index, hashes, extra):
    data = format_tlog_proof(index, hashes, SIGNED_TREE, extra=extra)
    assert parse_tlog_proof(data) == TlogProof(index, tuple(hashes), SIGNED_TREE, extra)


@pytest.mark.parametrize("index", [0, SIZE // 2, SIZE - 1])
def test_tlog_proof_verifies_against_a_real_tree(index):
    data = format_tlog_proof(index, inclusion_proof(index, SIZE, read), SIGNED_TREE, extra=b"context")
    checkpoint, proof = verify_tlog_proof(data, [VERIFIER], leaf_hash=leaf_hash(ENTRIES[index]))
    assert checkpoint == TREE
    assert (proof.index, proof.extra) == (index, b"context")
    verify_tlog_proof(data, [VERIFIER], leaf_hash=leaf_hash(ENTRIES[index]), origin=ORIGIN)


def test_every_entry_of_the_tree_verifies_only_at_its_own_index():
    for index, entry in enumerate(ENTRIES):
        data = format_tlog_proof(index, inclusion_proof(index, SIZE, read), SIGNED_TREE)
        verify_tlog_proof(data, [VERIFIER], leaf_hash=leaf_hash(entry))
        for other in ENTRIES[:index] + ENTRIES[index + 1 :]:
            assert proof_reason(data, leaf_hash(other)) is Reason.BAD_PROOF


def _valid_proof(index: int = 5) -> bytes:
    return format_tlog_proof(index, inclusion_proof(index, SIZE, read), SIGNED_TREE)


def test_a_wrong_leaf_or_index_is_a_bad_proof():
    assert proof_reason(_valid_proof(), leaf_hash(b"entry 6")) is Reason.BAD_PROOF
    assert proof_reason(_valid_proof(), leaf_hash(b"entry 5")[:31]) is Reason.BAD_PROOF
    wrong_index = _valid_proof().replace(b"index 5\n", b"index 4\n")
    assert proof_reason(wrong_index, leaf_hash(b"entry 5")) is Reason.BAD_PROOF
    past_end = format_tlog_proof(SIZE, inclusion_proof(5, SIZE, read), SIGNED_TREE)
    assert proof_reason(past_end, leaf_hash(b"entry 5")) is Reason.BAD_PROOF


def test_a_proof_with_a_hash_missing_or_added_is_a_bad_proof():
    hashes = inclusion_proof(5, SIZE, read)
    for changed in (hashes[:-1], hashes[1:], [*hashes, hashes[0]], [hashes[0], *hashes]):
        data = format_tlog_proof(5, changed, SIGNED_TREE)
        assert proof_reason(data, leaf_hash(b"entry 5")) is Reason.BAD_PROOF


def test_a_tampered_checkpoint_is_rejected():
    bigger = format_tlog_proof(5, inclusion_proof(5, SIZE, read), SIGNED_TREE.replace(b"\n13\n", b"\n14\n"))
    assert proof_reason(bigger, leaf_hash(b"entry 5")) is Reason.BAD_SIGNATURE
    other_root = base64.b64encode(hashlib.sha256(b"x").digest())
    forged = SIGNED_TREE.replace(base64.b64encode(TREE.root_hash), other_root)
    data = format_tlog_proof(5, inclusion_proof(5, SIZE, read), forged)
    assert proof_reason(data, leaf_hash(b"entry 5")) is Reason.BAD_SIGNATURE
    stranger = sign_checkpoint(TREE, PrivateKey(bytes(32)))
    data = format_tlog_proof(5, inclusion_proof(5, SIZE, read), stranger)
    assert proof_reason(data, leaf_hash(b"entry 5")) is Reason.NOTE_UNVERIFIED
    assert (
        proof_reason(_valid_proof(), leaf_hash(b"entry 5"), origin="other.example") is Reason.BAD_CHECKPOINT
    )


HASH = base64.b64encode(hashlib.sha256(b"h").digest()).decode()


@pytest.mark.parametrize(
    "head",
    [
        f"c2sp.org/tlog-proof@v2\nindex 5\n{HASH}",
        f"C2SP.org/tlog-proof@v1\nindex 5\n{HASH}",
        f"index 5\n{HASH}",
        f"{PROOF_HEADER}\nindex 05\n{HASH}",
        f"{PROOF_HEADER}\nindex 00\n{HASH}",
        f"{PROOF_HEADER}\nindex -1\n{HASH}",
        f"{PROOF_HEADER}\nindex +5\n{HASH}",
        f"{PROOF_HEADER}\nindex 5 \n{HASH}",
        f"{PROOF_HEADER}\nindex  5\n{HASH}",
        f"{PROOF_HEADER}\nindex\n{HASH}",
        f"{PROOF_HEADER}\nIndex 5\n{HASH}",
        f"{PROOF_HEADER}\n{HASH}",
        f"{PROOF_HEADER}",
        f"{PROOF_HEADER}\nindex 5\nextra aGk=\n{HASH}",
        f"{PROOF_HEADER}\nextra aGk\nindex 5\n{HASH}",
        f"{PROOF_HEADER}\nextra aGl=\nindex 5\n{HASH}",
        f"{PROOF_HEADER}\nextra !!!!\nindex 5\n{HASH}",
        f"{PROOF_HEADER}\nindex 5\n{HASH[:-1]}",
        f"{PROOF_HEADER}\nindex 5\n{base64.b64encode(bytes(31)).decode()}",
        f"{PROOF_HEADER}\nindex 5\n{base64.b64encode(bytes(33)).decode()}",
        f"{PROOF_HEADER}\nindex 5\n{HASH} ",
        f"{PROOF_HEADER}\r\nindex 5\r\n{HASH}",
        f"{PROOF_HEADER}\nindex 5\n{HASH}\u00e9",
    ],
    ids=[
        "version-2",
        "header-case",
        "no-header",
        "index-leading-zero",
        "index-double-zero",
        "index-negative",
        "index-plus",
        "index-trailing-space",
        "index-two-spaces",
        "index-without-number",
        "index-case",
        "no-index",
        "header-only",
        "extra-after-index",
        "extra-missing-padding",
        "extra-padding-bits",
        "extra-not-base64",
        "hash-not-canonical",
        "hash-31-bytes",
        "hash-33-bytes",
        "hash-trailing-space",
        "crlf",
        "not-ascii",
    ],
)
def test_malformed_tlog_proofs_are_bad_proofs(head):
    data = head.encode() + b"\n\n" + SIGNED_TREE
    with pytest.raises(MalformedError) as info:
        parse_tlog_proof(data)
    assert info.value.reason is Reason.BAD_PROOF
    assert proof_reason(data, leaf_hash(b"entry 5")) is Reason.BAD_PROOF


def test_a_tlog_proof_needs_the_blank_line_before_its_checkpoint():
    data = f"{PROOF_HEADER}\nindex 5\n".encode() + SIGNED_TREE.replace(b"\n\n", b"\n")
    with pytest.raises(MalformedError) as info:
        parse_tlog_proof(data)
    assert info.value.reason is Reason.BAD_PROOF
    assert proof_reason(f"{PROOF_HEADER}\nindex 5\n".encode(), leaf_hash(b"entry 5")) is Reason.BAD_PROOF


@given(st.binary(max_size=300))
def test_random_bytes_never_verify_and_never_crash(data):
    with pytest.raises(ProtocolError):
        verify_tlog_proof(data, [VERIFIER], leaf_hash=leaf_hash(b"entry 5"))
