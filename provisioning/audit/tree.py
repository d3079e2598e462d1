"""The Merkle root of a log read in order, in O(log n) memory, and roots of earlier sizes.

An auditor streams every entry once.  :class:`TreeBuilder` keeps only the
complete subtrees the entries so far decompose into (one per set bit of the
count), so the RFC 6962 root of any prefix is ready the moment the stream
reaches that size.  Workers hash whole aligned chunks (:func:`chunk_ranges`)
and the builder takes each chunk as a few subtree hashes, so the main
process does almost no hashing.

Example::

    builder = TreeBuilder()
    for leaf in leaves:
        builder.push(0, leaf)
    assert builder.root() == protocol.merkle.reference_root(leaves)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from protocol.merkle import EMPTY_ROOT, node_hash

Subtree = tuple[int, bytes]
"""``(level, hash)``: a complete subtree over ``2**level`` leaves."""


def fold(subtrees: Sequence[Subtree]) -> bytes:
    """The root of a tree given as its complete subtrees, left to right, levels strictly decreasing."""
    if not subtrees:
        return EMPTY_ROOT
    root = subtrees[-1][1]
    for _, left in reversed(subtrees[:-1]):
        root = node_hash(left, root)
    return root


class TreeBuilder:
    """The compact range ``[0, size)`` of a log being read left to right."""

    def __init__(self) -> None:
        self._stack: list[Subtree] = []
        self.size = 0

    def push(self, level: int, digest: bytes) -> None:
        """Append a complete subtree of ``2**level`` leaves; ``size`` must be a multiple of that."""
        width = 1 << level
        if self.size % width:
            raise ValueError(f"a subtree of {width} leaves cannot start at {self.size}")
        self.size += width
        stack = self._stack
        while stack and stack[-1][0] == level:
            digest = node_hash(stack.pop()[1], digest)
            level += 1
        stack.append((level, digest))

    def extend(self, subtrees: Iterable[Subtree]) -> None:
        for level, digest in subtrees:
            self.push(level, digest)

    def root(self, then: Sequence[Subtree] = ()) -> bytes:
        """The root now, or of the tree with ``then`` appended (without appending it)."""
        return fold([*self._stack, *then])


def chunk_ranges(leaves: Sequence[bytes], offsets: Iterable[int]) -> dict[int, list[Subtree]]:
    """For a chunk starting at a multiple of its power-of-two capacity: the subtrees of each prefix.

    ``result[o]`` decomposes the chunk's first ``o`` leaves into complete
    subtrees, left to right; pushing it onto the builder of everything before
    the chunk gives the tree of that size.
    """
    levels: list[list[bytes]] = [list(leaves)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])
    result: dict[int, list[Subtree]] = {}
    for offset in offsets:
        if not 0 <= offset <= len(leaves):
            raise ValueError(f"offset {offset} is outside the chunk")
        parts: list[Subtree] = []
        done = 0
        for level in range(len(levels) - 1, -1, -1):
            if offset - done >= 1 << level:
                parts.append((level, levels[level][done >> level]))
                done += 1 << level
        result[offset] = parts
    return result
