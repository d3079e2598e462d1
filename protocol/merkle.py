"""RFC 6962 / RFC 9162 Merkle trees: hashing, proofs from stored subtrees, and proof verification.

The ledger is an append-only Merkle log.  Everything here follows RFC 9162 §2.1
exactly, because auditors will check our proofs with other people's tools:

* leaf hash ``SHA-256(0x00 ‖ entry)``, node hash ``SHA-256(0x01 ‖ left ‖ right)``;
* the hash of an empty tree is ``SHA-256("")``;
* the tree over ``n`` leaves splits at the largest power of two below ``n``.

Proof *generation* reads only hashes of complete, aligned subtrees through a
:data:`HashReader` (``read(level, index)`` is the hash over leaves
``index·2^level … (index+1)·2^level − 1``), which a store keeps when it appends
(:mod:`server.tlog`) and a tile client gets from tiles.  Any root or proof then
needs O(log n) reads.

Proof *verification* is the RFC 9162 §2.1.3.2 and §2.1.4.2 algorithms, which
reject proofs that are too short or too long and insist that the second tree
size is consumed completely.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from typing import Final

HASH_BYTES: Final = 32
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()

HashReader = Callable[[int, int], bytes]
"""``read(level, index)``: hash of the complete subtree over leaves ``[index·2^level, (index+1)·2^level)``."""


class ProofError(ValueError):
    """A proof that does not verify, or that cannot be built for the sizes asked."""


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two strictly below ``size`` (``size`` ≥ 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def reference_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over the given leaf hashes by the RFC's recursive definition; for tests and small trees."""
    if not leaf_hashes:
        return EMPTY_ROOT
    if len(leaf_hashes) == 1:
        return leaf_hashes[0]
    k = _split(len(leaf_hashes))
    return node_hash(reference_root(leaf_hashes[:k]), reference_root(leaf_hashes[k:]))


def subtree_hash(start: int, end: int, read: HashReader) -> bytes:
    """MTH of leaves ``[start, end)``, composed from complete subtrees (O(log n) reads)."""
    if not 0 <= start < end:
        raise ProofError("empty or negative range")
    size = end - start
    if size & (size - 1) == 0 and start % size == 0:
        level = size.bit_length() - 1
        return read(level, start >> level)
    k = _split(size)
    return node_hash(subtree_hash(start, start + k, read), subtree_hash(start + k, end, read))


def root_hash(size: int, read: HashReader) -> bytes:
    """The root of the tree of the first ``size`` leaves."""
    return EMPTY_ROOT if size == 0 else subtree_hash(0, size, read)


def inclusion_proof(index: int, size: int, read: HashReader) -> list[bytes]:
    """RFC 6962 ``PATH(index, D[0:size])``: sibling hashes from the leaf's up to the root's child."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    path: list[bytes] = []
    start, end, m = 0, size, index
    while end - start > 1:
        k = _split(end - start)
        if m < k:
            path.append(subtree_hash(start + k, end, read))
            end = start + k
        else:
            path.append(subtree_hash(start, start + k, read))
            start, m = start + k, m - k
    path.reverse()
    return path


def consistency_proof(old_size: int, new_size: int, read: HashReader) -> list[bytes]:
    """RFC 6962 ``PROOF(old_size, D[0:new_size])``; empty when ``old_size`` is 0 or equals ``new_size``."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"no consistency proof from {old_size} to {new_size}")
    if old_size in (0, new_size):
        return []
    path: list[bytes] = []
    start, end, m, whole = 0, new_size, old_size, True
    while True:
        n = end - start
        if m == n:
            if not whole:
                path.append(subtree_hash(start, end, read))
            break
        k = _split(n)
        if m <= k:
            path.append(subtree_hash(start + k, end, read))
            end = start + k
        else:
            path.append(subtree_hash(start, start + k, read))
            start, m, whole = start + k, m - k, False
    path.reverse()
    return path


def _check_hashes(*hashes: bytes) -> None:
    if any(len(h) != HASH_BYTES for h in hashes):
        raise ProofError("a hash is not 32 bytes")


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` implies for leaf hash ``leaf`` at ``index`` (RFC 9162 §2.1.3.2)."""
    _check_hashes(leaf, *proof)
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    return r


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows leaf hash ``leaf`` at ``index`` under ``root``."""
    _check_hashes(root)
    if not hmac.compare_digest(root_from_inclusion(leaf, index, size, proof), root):
        raise ProofError("inclusion proof does not lead to the root")


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    """Raise :class:`ProofError` unless the tree ``new_root`` extends ``old_root`` (RFC 9162 §2.1.4.2)."""
    _check_hashes(old_root, new_root, *proof)
    if not 0 <= old_size <= new_size:
        raise ProofError(f"a tree of size {new_size} cannot extend one of size {old_size}")
    if old_size == new_size:
        if proof:
            raise ProofError("consistency proof between equal sizes must be empty")
        if not hmac.compare_digest(old_root, new_root):
            raise ProofError("same size, different roots: the log forked")
        return
    if old_size == 0:
        if proof:
            raise ProofError("consistency proof from the empty tree must be empty")
        return
    if not proof:
        raise ProofError("consistency proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if not (hmac.compare_digest(fr, old_root) and hmac.compare_digest(sr, new_root)):
        raise ProofError("consistency proof does not match the roots: the log forked")
