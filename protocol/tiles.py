"""C2SP tlog-tiles paths and entry bundles (c2sp.org/tlog-tiles): which files a log of a size has.

A tile or bundle index ``N`` is written as 3-digit groups, all but the last
prefixed with ``x``: 1234067 → ``x001/x234/067``.  Tiles are 256 wide; the
rightmost tile of a tree whose size is not a multiple of 256 is partial and
named ``<N>.p/<W>``.  An entry bundle is each entry as a big-endian uint16
length followed by its bytes.  The server serves these paths and an auditor's
mirror holds them as files under the same names.

Example::

    >>> entry_bundle_path(1234067, 7)
    'tile/entries/x001/x234/067.p/7'
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from protocol.checkpoint import parse_checkpoint_text
from protocol.merkle import HASH_BYTES
from protocol.note import parse_note

TILE_WIDTH: Final = 256
TILE_HEIGHT: Final = 8


class BundleError(ValueError):
    """An entry bundle that is not a whole number of length-prefixed entries, or has the wrong count."""


def encode_tile_index(n: int) -> str:
    """``N`` as C2SP path elements: ``5`` → ``005``, ``1000`` → ``x001/000``."""
    if n < 0:
        raise ValueError("a tile index is not negative")
    groups = []
    while True:
        groups.append(f"{n % 1000:03d}")
        n //= 1000
        if n == 0:
            break
    groups.reverse()
    return "/".join([*(f"x{g}" for g in groups[:-1]), groups[-1]])


def _suffix(width: int) -> str:
    if not 0 < width <= TILE_WIDTH:
        raise ValueError(f"a tile holds 1 to {TILE_WIDTH} items")
    return "" if width == TILE_WIDTH else f".p/{width}"


def entry_bundle_path(n: int, width: int = TILE_WIDTH) -> str:
    """The path of entry bundle ``n`` holding ``width`` entries (partial when below 256)."""
    return f"tile/entries/{encode_tile_index(n)}{_suffix(width)}"


def tile_path(level: int, n: int, width: int = TILE_WIDTH) -> str:
    """The path of Merkle tile ``n`` at tile level ``level`` holding ``width`` hashes."""
    if level < 0:
        raise ValueError("a tile level is not negative")
    return f"tile/{level}/{encode_tile_index(n)}{_suffix(width)}"


def full_tile_path(path: str) -> str | None:
    """The full tile of a partial tile's path: ``tile/0/001.p/44`` → ``tile/0/001``; ``None`` if full.

    c2sp.org/tlog-tiles lets a log delete a partial tile once the full tile
    exists, and asks clients to fetch the full tile then and use its prefix
    (:func:`tile_prefix`): a log may have grown between reading its checkpoint
    and fetching the tiles.
    """
    head, sep, _ = path.partition(".p/")
    return head if sep else None


def tile_prefix(path: str, data: bytes, width: int) -> bytes:
    """The first ``width`` items of the tile or entry bundle at ``path``: the bytes of its partial tile.

    Raises ``ValueError`` (:class:`BundleError` for a bundle) when ``data`` holds fewer items.
    """
    if path.startswith("tile/entries/"):
        return format_bundle(parse_bundle(data, width))
    if len(data) < width * HASH_BYTES:
        raise ValueError(f"the tile holds {len(data) // HASH_BYTES} hashes, expected at least {width}")
    return data[: width * HASH_BYTES]


def tiles_for(size: int) -> Iterator[tuple[int, int, int]]:
    """``(level, n, width)`` of every Merkle tile of a tree of ``size`` entries, level by level.

    A level-``L`` tile holds hashes of Merkle level ``8·L``, of which the tree has ``size >> 8L``.
    """
    level = 0
    while count := size >> (TILE_HEIGHT * level):
        full, rest = divmod(count, TILE_WIDTH)
        for n in range(full):
            yield level, n, TILE_WIDTH
        if rest:
            yield level, full, rest
        level += 1


def bundles_for(size: int) -> Iterator[tuple[int, int]]:
    """``(n, width)`` of every entry bundle of a tree of ``size`` entries, in order."""
    full, rest = divmod(size, TILE_WIDTH)
    for n in range(full):
        yield n, TILE_WIDTH
    if rest:
        yield full, rest


def tile_paths(size: int) -> dict[str, int]:
    """Every file of a tile mirror of ``size`` entries (bundles, then hash tiles), with its width."""
    wanted = {entry_bundle_path(n, width): width for n, width in bundles_for(size)}
    wanted.update({tile_path(level, n, width): width for level, n, width in tiles_for(size)})
    return wanted


def parse_bundle(data: bytes, expected: int) -> list[bytes]:
    """The entries of a bundle, which must hold exactly ``expected`` of them.

    A full bundle may be served for a partial request (the spec allows it), so
    more entries than ``expected`` are cut off; fewer, or trailing bytes, raise.
    """
    entries = split_bundle(data)
    if len(entries) < expected:
        raise BundleError(f"the bundle holds {len(entries)} entries, expected {expected}")
    return entries[:expected]


def split_bundle(data: bytes) -> list[bytes]:
    """Every entry of a bundle, however many; a cut-off length or entry raises :class:`BundleError`."""
    entries: list[bytes] = []
    pos, end = 0, len(data)
    while pos < end:
        if pos + 2 > end:
            raise BundleError("a length prefix is cut off")
        length = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        if pos + length > end:
            raise BundleError("an entry is cut off")
        entries.append(data[pos : pos + length])
        pos += length
    return entries


def format_bundle(entries: list[bytes]) -> bytes:
    """The bundle bytes for ``entries`` (for tests and mirrors)."""
    out = bytearray()
    for entry in entries:
        if len(entry) > 0xFFFF:
            raise BundleError("an entry is over 65535 bytes")
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def claimed_size(note: bytes) -> int:
    """The tree size a checkpoint note claims, unverified: which tiles to copy, never what to trust.

    Raises :class:`~protocol.errors.MalformedError` if ``note`` is not a checkpoint note.
    """
    return parse_checkpoint_text(parse_note(note).text).size
