"""tlog-tiles (c2sp.org/tlog-tiles): Merkle tiles and entry bundles, full and partial, over HTTP.

Logs of hundreds or tens of thousands of entries are built quickly by
appending through :func:`server.tlog.append` directly (one checkpoint per
append), then read back over the real server and compared with the RFC's
reference computation over the stored entries.
"""

from __future__ import annotations

import pytest
from server_helpers import Api, assert_error
from tlog_helpers import leaves, reference_reader, stored_entries

from protocol import Reason
from protocol.merkle import leaf_hash
from server import tlog
from server.context import ServerContext
from server.logviews import tile_index_path


def _grow_to(ctx: ServerContext, size: int) -> None:
    """Append small entries until the log has ``size``, in one append (so one checkpoint)."""
    with ctx.storage.write() as tx:
        start = tx.tlog_size()
        tlog.append(ctx, tx, [b"entry %d" % i for i in range(start, size)])


def _bundle(data: bytes) -> list[bytes]:
    entries, at = [], 0
    while at < len(data):
        length = int.from_bytes(data[at : at + 2], "big")
        entries.append(data[at + 2 : at + 2 + length])
        at += 2 + length
    assert at == len(data)
    return entries


def _get(api: Api, path: str) -> bytes:
    response = api.http.get(path)
    assert response.status_code == 200, (path, response.text)
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    return response.content


@pytest.mark.parametrize(
    ("index", "path"),
    [(0, "000"), (5, "005"), (999, "999"), (1000, "x001/000"), (1234067, "x001/x234/067")],
)
def test_tile_index_paths(index: int, path: str) -> None:
    assert tile_index_path(index) == path


def test_tiles_and_bundles_across_tile_boundaries(api: Api) -> None:
    sizes = [1, 255, 256, 257, 300, 511, 512, 600]
    for size in sizes:
        _grow_to(api.context, size)
    entries, leaf_hashes = stored_entries(api.context), leaves(api.context)
    assert len(entries) == 600
    read = reference_reader(leaf_hashes)

    for n in (0, 1):  # full tiles: 256 hashes, 8192 bytes
        tile = _get(api, f"/tile/0/{tile_index_path(n)}")
        assert len(tile) == 8192 and tile == b"".join(leaf_hashes[n * 256 : (n + 1) * 256])
        assert _bundle(_get(api, f"/tile/entries/{tile_index_path(n)}")) == entries[n * 256 : (n + 1) * 256]
    for size in sizes:  # the partial tile of every checkpointed size stays available
        n, width = divmod(size, 256)
        if width:
            part = f"{tile_index_path(n)}.p/{width}"
            assert _get(api, f"/tile/0/{part}") == b"".join(leaf_hashes[n * 256 : size])
            assert _bundle(_get(api, f"/tile/entries/{part}")) == entries[n * 256 : size]
    # Level 1 holds the hashes of whole level-0 tiles: width 1 from size 256, 2 from 512.
    assert _get(api, "/tile/1/000.p/1") == read(8, 0)
    assert _get(api, "/tile/1/000.p/2") == read(8, 0) + read(8, 1)
    assert [leaf_hash(e) for e in entries] == leaf_hashes

    for missing in (
        "/tile/0/002",  # not full yet (600 < 768)
        "/tile/entries/002",
        "/tile/0/002.p/87",  # no checkpoint had size 599
        "/tile/0/000.p/2",  # nor size 2
        "/tile/entries/001.p/2",
        "/tile/1/000",  # a full level-1 tile needs 65,536 entries
        "/tile/1/000.p/3",
        "/tile/2/000.p/1",
    ):
        assert_error(api.http.get(missing), 404, Reason.NOT_FOUND)


def test_the_spec_example_of_a_tree_of_70000(api: Api) -> None:
    """c2sp.org/tlog-tiles: 273 full level-0 tiles, one partial of width 112, one full level-1
    tile, one partial level-1 tile of width 17 and one partial level-2 tile of width 1."""
    _grow_to(api.context, 70_000)
    entries, leaf_hashes = stored_entries(api.context), leaves(api.context)
    read = reference_reader(leaf_hashes)
    assert _get(api, "/tile/0/272") == b"".join(leaf_hashes[272 * 256 : 273 * 256])
    assert_error(api.http.get("/tile/0/273"), 404, Reason.NOT_FOUND)
    assert _get(api, "/tile/0/273.p/112") == b"".join(leaf_hashes[273 * 256 :])
    assert _bundle(_get(api, "/tile/entries/273.p/112")) == entries[273 * 256 :]
    level_one = _get(api, "/tile/1/000")
    assert len(level_one) == 8192
    assert level_one[:32] == read(8, 0) and level_one[-32:] == read(8, 255)
    assert _get(api, "/tile/1/001.p/17") == b"".join(read(8, 256 + i) for i in range(17))
    assert_error(api.http.get("/tile/1/001"), 404, Reason.NOT_FOUND)
    assert _get(api, "/tile/2/000.p/1") == read(16, 0)
    assert_error(api.http.get("/tile/3/000.p/1"), 404, Reason.NOT_FOUND)


def test_entry_bundles_are_gzipped_for_clients_that_ask(api: Api) -> None:
    _grow_to(api.context, 256)
    zipped = api.http.get("/tile/entries/000", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip" and zipped.headers["vary"] == "Accept-Encoding"
    assert _bundle(zipped.content) == stored_entries(api.context)  # httpx un-gzips
    for plain in ("identity", "gzip;q=0"):
        response = api.http.get("/tile/entries/000", headers={"Accept-Encoding": plain})
        assert "content-encoding" not in response.headers
        assert _bundle(response.content) == stored_entries(api.context)
    tile = api.http.get("/tile/0/000", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in tile.headers and len(tile.content) == 8192


@pytest.mark.parametrize(
    "path",
    [
        "0/0",
        "0/00",
        "0/0000",
        "0/x000/000",  # not the canonical spelling of 0
        "0/x001",
        "0/000/",
        "00/000",
        "01/000",
        "64/000",
        "-1/000",
        "0/000.p/0",
        "0/000.p/256",
        "0/000.p/07",
        "0/000.p/",
        "0/000.p",
        "entries",
        "entries/",
        "entries/x000/000",
        "entries/000.p/1/2",
        "leaves/000",
        "0",
    ],
)
def test_malformed_tile_paths_are_not_found(api: Api, path: str) -> None:
    _grow_to(api.context, 300)
    assert_error(api.http.get(f"/tile/{path}"), 404, Reason.NOT_FOUND)
