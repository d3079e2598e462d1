"""RFC 6962/9162 Merkle proofs: every tree size against the RFC's definitions, every mutation refused.

The reference here is written straight from RFC 6962 §2.1 (MTH), §2.1.1 (PATH)
and §2.1.2 (SUBPROOF), recursing over the list of leaf data with SHA-256 and
nothing from :mod:`protocol.merkle`.  Proofs are built by the module from a
dict of complete subtrees (what a store or a tile client holds); the reader
fails the test if the module asks for a subtree that is not inside the tree.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from protocol.merkle import (
    EMPTY_ROOT,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    reference_root,
    root_hash,
    subtree_hash,
    verify_consistency,
    verify_inclusion,
)

MAX_SIZE = 130  # every size up to 128, and the first two past it
# Leaf data of varied lengths; past MAX_SIZE only to name the roots of larger claimed trees.
DATA = [hashlib.sha256(b"entry %d" % i).digest()[: i % 7 + 1] * (i % 3 + 1) for i in range(4 * MAX_SIZE)]


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    """The largest power of two smaller than ``n`` (RFC 6962 §2.1: k < n ≤ 2k)."""
    k = 1
    while 2 * k < n:
        k *= 2
    return k


@functools.cache
def mth(start: int, end: int) -> bytes:
    """MTH(D[start:end]) over ``DATA``, by the RFC 6962 §2.1 recursion."""
    n = end - start
    if n == 0:
        return _sha256(b"")
    if n == 1:
        return _sha256(b"\x00" + DATA[start])
    k = _k(n)
    return _sha256(b"\x01" + mth(start, start + k) + mth(start + k, end))


def ref_path(m: int, start: int, end: int) -> list[bytes]:
    """PATH(m, D[start:end]), RFC 6962 §2.1.1."""
    n = end - start
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*ref_path(m, start, start + k), mth(start + k, end)]
    return [*ref_path(m - k, start + k, end), mth(start, start + k)]


def ref_subproof(m: int, start: int, end: int, complete: bool) -> list[bytes]:
    """SUBPROOF(m, D[start:end], b), RFC 6962 §2.1.2."""
    n = end - start
    if m == n:
        return [] if complete else [mth(start, end)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, start, start + k, complete), mth(start + k, end)]
    return [*ref_subproof(m - k, start + k, end, False), mth(start, start + k)]


def ref_consistency(m: int, n: int) -> list[bytes]:
    """PROOF(m, D[n]) for 0 < m < n, and the empty proof otherwise."""
    return ref_subproof(m, 0, n, True) if 0 < m < n else []


LEAVES = [mth(i, i + 1) for i in range(MAX_SIZE)]
SUBTREES = {
    (level, index): mth(index << level, (index + 1) << level)
    for level in range(MAX_SIZE.bit_length())
    for index in range(MAX_SIZE >> level)
}


def reader(size: int, reads: list[tuple[int, int]] | None = None) -> Callable[[int, int], bytes]:
    """A HashReader over the complete subtrees of the first ``size`` leaves."""

    def read(level: int, index: int) -> bytes:
        assert (index + 1) << level <= size, f"read ({level}, {index}) outside a tree of size {size}"
        if reads is not None:
            reads.append((level, index))
        return SUBTREES[(level, index)]

    return read


def flip(h: bytes, bit: int = 0) -> bytes:
    return bytes([h[0] ^ (1 << bit)]) + h[1:]


# --- hashing ---------------------------------------------------------------------------------------


def test_leaf_and_node_hashes_are_domain_separated_sha256():
    assert leaf_hash(b"abc") == _sha256(b"\x00abc")
    assert node_hash(b"L" * 32, b"R" * 32) == _sha256(b"\x01" + b"L" * 32 + b"R" * 32)
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_roots_match_known_answers_from_the_rfc_6962_test_vectors():
    # The eight-leaf tree used by certificate-transparency and transparency-dev/merkle.
    data = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43", bytes(range(0x50, 0x58))]
    data.append(bytes(range(0x60, 0x70)))
    roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
    for n, root in enumerate(roots, start=1):
        assert reference_root([leaf_hash(d) for d in data[:n]]).hex() == root


def test_every_root_equals_the_rfc_mth_and_reference_root():
    for n in range(MAX_SIZE + 1):
        reads: list[tuple[int, int]] = []
        assert root_hash(n, reader(n, reads)) == reference_root(LEAVES[:n]) == mth(0, n), n
        assert len(reads) <= n.bit_length()  # O(log n) reads, as the module promises


def test_every_subtree_hash_is_the_mth_of_its_range():
    # Aligned or not: an unaligned power-of-two range is not one stored subtree.
    for end in range(1, 41):
        for start in range(end):
            assert subtree_hash(start, end, reader(end)) == mth(start, end), (start, end)


# --- proofs against the RFC definitions ------------------------------------------------------------


def test_every_inclusion_proof_is_the_rfc_path_and_verifies():
    for n in range(1, MAX_SIZE + 1):
        root = mth(0, n)
        for i in range(n):
            reads: list[tuple[int, int]] = []
            proof = inclusion_proof(i, n, reader(n, reads))
            assert proof == ref_path(i, 0, n), (i, n)
            assert len(reads) <= 2 * n.bit_length(), (i, n)
            verify_inclusion(LEAVES[i], i, n, proof, root)


def test_every_consistency_proof_is_the_rfc_subproof_and_verifies():
    for n in range(MAX_SIZE + 1):
        read = reader(n)
        for m in range(n + 1):
            proof = consistency_proof(m, n, read)
            assert proof == ref_consistency(m, n), (m, n)
            verify_consistency(m, n, proof, mth(0, m), mth(0, n))


@pytest.mark.parametrize(
    ("build", "args"),
    [
        (inclusion_proof, (0, 0)),
        (inclusion_proof, (5, 5)),
        (inclusion_proof, (-1, 5)),
        (consistency_proof, (6, 5)),
        (consistency_proof, (-1, 5)),
    ],
    ids=["empty-tree", "index-past-end", "negative-index", "old-after-new", "negative-old"],
)
def test_proofs_that_cannot_exist_are_not_built(build, args):
    with pytest.raises(ProofError):
        build(*args, reader(MAX_SIZE))


# --- mutations: inclusion --------------------------------------------------------------------------

INCLUSION_MUTATIONS = [
    "flip-proof",
    "flip-leaf",
    "flip-root",
    "drop-first",
    "drop-last",
    "append",
    "prepend",
    "other-index",
    "other-leaf",
    "size-plus-one",
    "size-minus-one",
]


@settings(max_examples=500, deadline=None)
@given(
    st.integers(1, MAX_SIZE),
    st.data(),
    st.sampled_from(INCLUSION_MUTATIONS),
    st.integers(0, 255),
    st.binary(min_size=32, max_size=32),
)
def test_mutated_inclusion_proofs_are_rejected(n, data, mutation, bit, extra):
    i = data.draw(st.integers(0, n - 1))
    proof = inclusion_proof(i, n, reader(n))
    leaf, index, size, root = LEAVES[i], i, n, mth(0, n)
    if mutation == "flip-proof":
        assume(proof)
        j = data.draw(st.integers(0, len(proof) - 1))
        proof[j] = flip(proof[j], bit % 8)
    elif mutation == "flip-leaf":
        leaf = flip(leaf, bit % 8)
    elif mutation == "flip-root":
        root = flip(root, bit % 8)
    elif mutation == "drop-first":
        assume(proof)
        proof = proof[1:]
    elif mutation == "drop-last":
        assume(proof)
        proof = proof[:-1]
    elif mutation == "append":
        proof = [*proof, data.draw(st.sampled_from([extra, root, leaf, *proof]))]
    elif mutation == "prepend":
        proof = [data.draw(st.sampled_from([extra, root, leaf, *proof])), *proof]
    elif mutation == "other-index":
        index = data.draw(st.integers(-1, n).filter(lambda x: x != i))
    elif mutation == "other-leaf":
        leaf = LEAVES[data.draw(st.integers(0, MAX_SIZE - 1).filter(lambda x: x != i))]
    elif mutation == "size-plus-one":
        assume(n < MAX_SIZE)
        size, root = n + 1, mth(0, n + 1)
    else:
        assume(n - 1 > i)
        size, root = n - 1, mth(0, n - 1)
    with pytest.raises(ProofError):
        verify_inclusion(leaf, index, size, proof, root)


def test_inclusion_proof_for_a_neighbouring_size_or_index_is_rejected_everywhere():
    plausible = 0
    for n in range(1, MAX_SIZE + 1):
        for i in range(n):
            proof = inclusion_proof(i, n, reader(n))
            for size in (n - 1, n + 1):
                if i < size <= MAX_SIZE:
                    plausible += len(ref_path(i, 0, size)) == len(proof)
                    with pytest.raises(ProofError):
                        verify_inclusion(LEAVES[i], i, size, proof, mth(0, size))
            for index in (i - 1, i + 1):
                if 0 <= index < n:
                    with pytest.raises(ProofError):
                        verify_inclusion(LEAVES[i], index, n, proof, mth(0, n))
    assert plausible > 1000  # most of these fail on the hashes, not on the proof's length


@pytest.mark.parametrize("length", [0, 31, 33])
def test_inclusion_hashes_of_the_wrong_length_are_rejected(length):
    proof = inclusion_proof(2, 5, reader(5))
    bad = b"\x00" * length
    for args in [
        (bad, 2, 5, proof, mth(0, 5)),
        (LEAVES[2], 2, 5, [*proof[:-1], bad], mth(0, 5)),
        (LEAVES[2], 2, 5, proof, bad),
    ]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)


def test_a_single_leaf_tree_needs_an_empty_proof():
    verify_inclusion(LEAVES[0], 0, 1, [], LEAVES[0])
    with pytest.raises(ProofError):
        verify_inclusion(LEAVES[0], 0, 1, [LEAVES[1]], node_hash(LEAVES[0], LEAVES[1]))
    with pytest.raises(ProofError):
        verify_inclusion(LEAVES[0], 0, 0, [], EMPTY_ROOT)


def test_a_proof_one_hash_too_long_is_refused_even_when_it_reaches_a_real_root():
    # Leaf j in the right half of a tree of 2k leaves has the proof PATH(j-k, D[k:2k]) plus
    # MTH(D[0:k]).  Claimed for index j-k in a tree of size k, the hashes do give the root
    # of the 2k tree; only the length rule (RFC 9162 §2.1.3.2 step 4a) stops it.
    for k in (1, 2, 4, 8, 16, 32, 64):
        for j in range(k, 2 * k):
            proof = ref_path(j, 0, 2 * k)
            verify_inclusion(LEAVES[j], j, 2 * k, proof, mth(0, 2 * k))
            with pytest.raises(ProofError):
                verify_inclusion(LEAVES[j], j - k, k, proof, mth(0, 2 * k))


def test_an_index_outside_the_tree_is_refused_even_when_its_low_bits_fit():
    for n in range(1, MAX_SIZE + 1):
        for i in range(n):
            proof = ref_path(i, 0, n)
            for index in (i - n, i + n, i + (1 << n.bit_length()), -1):
                if not 0 <= index < n:
                    with pytest.raises(ProofError):
                        verify_inclusion(LEAVES[i], index, n, proof, mth(0, n))


def test_hashes_must_be_32_bytes_so_no_byte_can_move_between_leaf_and_proof():
    proof = inclusion_proof(4, 7, reader(7))
    leaf, sibling = LEAVES[4], proof[0]
    for short_leaf, long_sibling in [(leaf[:31], leaf[31:] + sibling), (leaf + sibling[:1], sibling[1:])]:
        assert node_hash(short_leaf, long_sibling) == node_hash(leaf, sibling)  # same bytes hashed
        with pytest.raises(ProofError):
            verify_inclusion(short_leaf, 4, 7, [long_sibling, *proof[1:]], mth(0, 7))


# --- mutations: consistency ------------------------------------------------------------------------

CONSISTENCY_MUTATIONS = [
    "flip-proof",
    "flip-old-root",
    "flip-new-root",
    "drop-first",
    "drop-last",
    "append",
    "prepend",
    "old-plus-one",
    "old-minus-one",
    "new-plus-one",
    "new-minus-one",
    "claim-larger-new-size",
    "swap-roots",
]


@settings(max_examples=600, deadline=None)
@given(
    st.integers(2, MAX_SIZE),
    st.data(),
    st.sampled_from(CONSISTENCY_MUTATIONS),
    st.integers(0, 255),
    st.binary(min_size=32, max_size=32),
)
def test_mutated_consistency_proofs_are_rejected(n, data, mutation, bit, extra):
    m = data.draw(st.integers(1, n - 1))
    proof = consistency_proof(m, n, reader(n))
    old, new, old_root, new_root = m, n, mth(0, m), mth(0, n)
    if mutation == "flip-proof":
        j = data.draw(st.integers(0, len(proof) - 1))
        proof[j] = flip(proof[j], bit % 8)
    elif mutation == "flip-old-root":
        old_root = flip(old_root, bit % 8)
    elif mutation == "flip-new-root":
        new_root = flip(new_root, bit % 8)
    elif mutation == "drop-first":
        proof = proof[1:]
    elif mutation == "drop-last":
        proof = proof[:-1]
    elif mutation == "append":
        proof = [*proof, data.draw(st.sampled_from([extra, old_root, new_root, *proof]))]
    elif mutation == "prepend":
        proof = [data.draw(st.sampled_from([extra, old_root, new_root, *proof])), *proof]
    elif mutation == "old-plus-one":
        old, old_root = m + 1, mth(0, m + 1)
    elif mutation == "old-minus-one":
        assume(m > 1)  # from the empty tree every pair of roots is consistent, with an empty proof
        old, old_root = m - 1, mth(0, m - 1)
    elif mutation == "new-plus-one":
        assume(n < MAX_SIZE)
        new, new_root = n + 1, mth(0, n + 1)
    elif mutation == "new-minus-one":
        new, new_root = n - 1, mth(0, n - 1)
    elif mutation == "claim-larger-new-size":
        # The roots stay those of (m, n); see test_the_second_tree_size_must_be_consumed_completely.
        new = data.draw(st.integers(n + 1, 4 * n))
        assume(len(ref_consistency(m, new)) != len(proof))
    else:
        old_root, new_root = new_root, old_root
    with pytest.raises(ProofError):
        verify_consistency(old, new, proof, old_root, new_root)


def test_consistency_proof_for_neighbouring_sizes_is_rejected_everywhere():
    for n in range(2, MAX_SIZE + 1):
        for m in range(1, n):
            proof = consistency_proof(m, n, reader(n))
            for old in (m - 1, m + 1):
                if old >= 1:
                    with pytest.raises(ProofError):
                        verify_consistency(old, n, proof, mth(0, old), mth(0, n))
            for new in (n - 1, n + 1):
                if m <= new <= MAX_SIZE:
                    with pytest.raises(ProofError):
                        verify_consistency(m, new, proof, mth(0, m), mth(0, new))


def test_the_second_tree_size_must_be_consumed_completely():
    # RFC 9162 §2.1.4.2 step 7: a proof whose hashes lead to both roots still fails
    # unless it used up every level of the second tree.  From 4 to 8 the proof is
    # MTH(D[4:8]); claimed for 4 → 9 the hashes give exactly the roots of 4 and 8.
    proof = consistency_proof(4, 8, reader(8))
    assert proof == [mth(4, 8)]
    assert node_hash(mth(0, 4), proof[0]) == mth(0, 8)
    verify_consistency(4, 8, proof, mth(0, 4), mth(0, 8))
    for claimed in (9, 12, 16):
        with pytest.raises(ProofError):
            verify_consistency(4, claimed, proof, mth(0, 4), mth(0, 8))
    # The same for every pair: a valid proof for (m, n) claimed for a larger size whose
    # proof has another length.  (Where the lengths agree, the claimed tree has the same
    # shape along the path and no Merkle verifier can tell the sizes apart: the size is
    # bound to the root by the signed checkpoint, and with the claimed tree's real root
    # the proof fails, as test_consistency_proof_for_neighbouring_sizes_... shows.)
    checked = 0
    for n in range(2, MAX_SIZE + 1):
        for m in range(1, n):
            proof = consistency_proof(m, n, reader(n))
            for claimed in range(n + 1, n + 9):
                if len(ref_consistency(m, claimed)) != len(proof):
                    checked += 1
                    with pytest.raises(ProofError):
                        verify_consistency(m, claimed, proof, mth(0, m), mth(0, n))
    assert checked > 10_000


def test_a_consistency_proof_one_hash_too_long_is_refused_even_when_it_reaches_real_roots():
    # The proof from m to n over D[K:K+n], plus MTH(D[0:K]) (K a power of two, n ≤ K), leads
    # to the real roots of K+m and K+n leaves; claimed for (m, n) only the length rule
    # (RFC 9162 §2.1.4.2 step 6a) refuses it.
    for k in (2, 4, 8, 16, 32, 64):
        for n in range(2, k + 1):
            for m in range(1, n):
                proof = [*ref_subproof(m, k, k + n, True), mth(0, k)]
                with pytest.raises(ProofError):
                    verify_consistency(m, n, proof, mth(0, k + m), mth(0, k + n))


@pytest.mark.parametrize(
    ("old", "new", "proof", "old_root", "new_root"),
    [
        (5, 5, [mth(0, 5)], mth(0, 5), mth(0, 5)),
        (5, 5, [], mth(0, 5), mth(0, 6)),
        (0, 5, [mth(0, 5)], EMPTY_ROOT, mth(0, 5)),
        (6, 5, [], mth(0, 6), mth(0, 5)),
        (6, 5, ref_consistency(5, 6), mth(0, 6), mth(0, 5)),
        (-1, 5, [], EMPTY_ROOT, mth(0, 5)),
        (3, 5, [], mth(0, 3), mth(0, 5)),
        (3, 5, ref_consistency(3, 5), mth(0, 3)[:31], mth(0, 5)),
        (3, 5, [*ref_consistency(3, 5)[:-1], b"\x00" * 33], mth(0, 3), mth(0, 5)),
    ],
    ids=[
        "equal-sizes-non-empty-proof",
        "equal-sizes-different-roots",
        "from-empty-non-empty-proof",
        "old-after-new",
        "old-after-new-with-proof",
        "negative-old",
        "empty-proof",
        "short-root",
        "long-hash",
    ],
)
def test_consistency_edge_cases_are_rejected(old, new, proof, old_root, new_root):
    with pytest.raises(ProofError):
        verify_consistency(old, new, proof, old_root, new_root)


def test_consistency_edge_cases_that_hold():
    verify_consistency(5, 5, [], mth(0, 5), mth(0, 5))
    verify_consistency(0, 5, [], EMPTY_ROOT, mth(0, 5))
    verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
