"""A partial tile that is gone when fetched: the reader falls back to the full tile's prefix.

c2sp.org/tlog-tiles lets a log delete a partial tile (``….p/W``) once the full
tile exists.  Our ledger server never does, but a mirror refreshed by
``mirror_log`` does, and the docs tell operators to serve such a folder with
any static file server.  A client that read the checkpoint before a refresh
then asks for a partial tile that answers 404.  Here: a real ledger server on
loopback, a mirror of it served by a real static HTTP server, and the log
grown past the tile boundary (and the mirror refreshed) between the
checkpoint read and the tile fetch.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from protocol.merkle import leaf_hash
from protocol.tiles import (
    BundleError,
    claimed_size,
    entry_bundle_path,
    format_bundle,
    full_tile_path,
    tile_path,
    tile_prefix,
)
from provisioning.audit.mirror import mirror_log
from provisioning.audit.sources import CHECKPOINT, HttpSource, MirrorSource
from server import tlog
from server.app import create_app
from server.context import ServerContext
from server.datadir import init_data_dir, open_data_dir
from server.runner import serve_in_thread

OLD, NEW = 300, 600  # 300 = one full tile and a partial one of 44; 600 completes the second tile


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def static_files(folder: Path) -> Iterator[str]:
    """``folder`` served as files on loopback, as any static file server would (404 for a missing one)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietFiles, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _grow_to(ctx: ServerContext, size: int) -> None:
    with ctx.storage.write() as tx:
        start = tx.tlog_size()
        tlog.append(ctx, tx, [b"entry %d" % i for i in range(start, size)])


def _entries(ctx: ServerContext) -> list[bytes]:
    with ctx.storage.read() as tx:
        return tx.tlog_entry_range(0, tx.tlog_size())


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A ledger of ``OLD`` entries served on loopback, and ``upstream``: a mirror of it served as files."""
    init_data_dir(tmp_path / "data")
    with open_data_dir(tmp_path / "data") as ctx, serve_in_thread(create_app(ctx, verify_workers=0)) as url:
        _grow_to(ctx, OLD)
        upstream = tmp_path / "upstream"
        mirror_log(url, upstream)
        with static_files(upstream) as files:

            def grow_and_refresh() -> None:
                """The log grows past the tile boundary and the served mirror follows it."""
                _grow_to(ctx, NEW)
                mirror_log(url, upstream)

            yield {"ctx": ctx, "url": url, "upstream": upstream, "files": files, "grow": grow_and_refresh}


def test_after_a_refresh_the_partial_tile_is_gone_and_the_full_one_is_there(world):
    upstream = world["upstream"]
    partial = entry_bundle_path(1, OLD - 256)
    assert (upstream / partial).is_file()
    world["grow"]()
    assert not (upstream / partial).is_file()  # mirror_log dropped it: this is what a reader meets
    assert (upstream / entry_bundle_path(1)).is_file() and (upstream / tile_path(0, 1)).is_file()
    # Level 1 went from .p/1 to .p/2 and has no full tile yet: the older partial stays.
    assert (upstream / tile_path(1, 0, 1)).is_file() and (upstream / tile_path(1, 0, 2)).is_file()


def test_the_http_reader_takes_the_full_tiles_prefix_when_the_partial_one_is_gone(world):
    source = HttpSource(world["files"])
    try:
        size = claimed_size(source.checkpoint())
        assert size == OLD
        world["grow"]()  # between the checkpoint read and the tile fetch
        pieces = list(source.pieces(size))
    finally:
        source.close()
    entries = _entries(world["ctx"])[:OLD]
    assert [entry for piece in pieces for entry in piece.entries] == entries
    stored = [leaf for piece in pieces for leaf in piece.stored_leaves or []]
    assert stored == [leaf_hash(entry) for entry in entries]  # the level-0 tiles fell back too


class _RefreshAfterCheckpoint(HttpSource):
    """An HttpSource that lets the upstream grow right after it read the checkpoint (once)."""

    def __init__(self, url: str, grow: Any) -> None:
        super().__init__(url)
        self._grow = grow

    def get(self, path: str, *, allow_404: bool = False) -> bytes | None:
        data = super().get(path, allow_404=allow_404)
        if path == CHECKPOINT and self._grow is not None:
            self._grow, grow = None, self._grow
            grow()
        return data


def test_a_mirror_of_a_mirror_refreshed_meanwhile_gets_the_partial_tiles_from_the_full_ones(world, tmp_path):
    source = _RefreshAfterCheckpoint(world["files"], world["grow"])
    try:
        result = mirror_log(world["files"], tmp_path / "copy", source=source)
    finally:
        source.close()
    assert result.size == OLD
    copy = tmp_path / "copy"
    assert claimed_size((copy / CHECKPOINT).read_bytes()) == OLD
    # Byte for byte what the ledger server itself (which keeps partial tiles) serves for size 300.
    ledger = HttpSource(world["url"])
    try:
        for path in (entry_bundle_path(1, OLD - 256), tile_path(0, 1, OLD - 256)):
            assert (copy / path).read_bytes() == ledger.get(path)
    finally:
        ledger.close()
    read_back = MirrorSource(copy)
    pieces = list(read_back.pieces(OLD))
    assert [entry for piece in pieces for entry in piece.entries] == _entries(world["ctx"])[:OLD]


# --------------------------------------------------------------------------- the prefix itself


def test_the_prefix_of_a_full_tile_is_the_partial_tile():
    entries = [b"e%d" % i for i in range(256)]
    assert tile_prefix("tile/entries/001.p/3", format_bundle(entries), 3) == format_bundle(entries[:3])
    hashes = bytes(range(256)) * 32  # 256 hashes of 32 bytes
    assert tile_prefix("tile/0/001.p/2", hashes, 2) == hashes[:64]
    assert full_tile_path("tile/0/x001/002.p/7") == "tile/0/x001/002"
    assert full_tile_path("tile/entries/002") is None


def test_a_full_tile_shorter_than_the_partial_one_is_refused():
    with pytest.raises(ValueError, match="expected at least 3"):
        tile_prefix("tile/0/001.p/3", bytes(64), 3)
    with pytest.raises(BundleError):
        tile_prefix("tile/entries/001.p/3", format_bundle([b"a", b"b"]), 3)
