"""The right edge of an append-only Merkle tree: what appending needs, without reading the tree.

The ledger stores the hash of every complete, aligned subtree (``level``,
``index``), so any root or proof is O(log n) reads (:mod:`protocol.merkle`).
Appending a leaf completes its own level-0 subtree and, when its index is odd,
the parents up to the first left child: on average two new hashes per leaf.

The only older hashes those parents need are the left siblings waiting on the
right edge of the tree, one per set bit of the tree size (a "compact range").
:class:`Frontier` holds exactly those, so a batch of appends reads at most
log₂ n stored hashes once, computes every new subtree hash and the new root in
memory, and the caller writes the rows with one ``executemany``.

Pure: no SQL here, so the ``m003`` migration's backfill and :mod:`server.tlog`
share it.

Example::

    frontier = Frontier.load(size, read)         # O(log n) reads
    rows = frontier.extend(leaf_hashes)          # [(level, index, hash), ...] to store
    root = frontier.root()                       # the new tree's RFC 6962 root
"""

from __future__ import annotations

from collections.abc import Iterable

from protocol.merkle import EMPTY_ROOT, HashReader, leaf_hash, node_hash

HashRow = tuple[int, int, bytes]
"""``(level, index, hash)``: the complete subtree over leaves ``[index·2^level, (index+1)·2^level)``."""


class Frontier:
    """The complete subtrees on the right edge of a tree of ``size`` leaves, by level."""

    __slots__ = ("_nodes", "size")

    def __init__(self, size: int, nodes: dict[int, bytes]) -> None:
        self.size = size
        self._nodes = nodes

    @classmethod
    def load(cls, size: int, read: HashReader) -> Frontier:
        """The frontier of the stored tree of ``size`` leaves: one read per set bit of ``size``."""
        nodes = {
            level: read(level, (size >> level) - 1) for level in range(size.bit_length()) if size >> level & 1
        }
        return cls(size, nodes)

    def append(self, leaf: bytes) -> list[HashRow]:
        """Add one leaf hash; return the subtree hashes it completes, the leaf's own first."""
        index, level, value = self.size, 0, leaf
        rows = [(0, index, leaf)]
        while index & 1:
            value = node_hash(self._nodes.pop(level), value)
            index, level = index >> 1, level + 1
            rows.append((level, index, value))
        self._nodes[level] = value
        self.size += 1
        return rows

    def extend(self, leaves: Iterable[bytes]) -> list[HashRow]:
        """:meth:`append` each leaf hash in order; all the rows to store.

        The same loop as :meth:`append`, inlined: a batch extends by hundreds of leaves,
        and a call and a list per leaf were a fair part of the append.
        """
        rows: list[HashRow] = []
        add = rows.append
        nodes = self._nodes
        size = self.size
        for leaf in leaves:
            index, level, value = size, 0, leaf
            add((0, index, leaf))
            while index & 1:
                value = node_hash(nodes.pop(level), value)
                index, level = index >> 1, level + 1
                add((level, index, value))
            nodes[level] = value
            size += 1
        self.size = size
        return rows

    def extend_entries(self, entries: Iterable[bytes]) -> list[HashRow]:
        """:meth:`extend` by the leaf hashes (:func:`protocol.merkle.leaf_hash`) of ``entries``."""
        return self.extend([leaf_hash(entry) for entry in entries])

    def root(self) -> bytes:
        """MTH of the whole tree: the frontier's subtrees folded from the smallest up."""
        value: bytes | None = None
        for level in sorted(self._nodes):
            node = self._nodes[level]
            value = node if value is None else node_hash(node, value)
        return EMPTY_ROOT if value is None else value
