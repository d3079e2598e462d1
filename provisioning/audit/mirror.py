"""Keep a local mirror of a log's tiles: the files an audit can then read without the network.

:func:`mirror_log` copies what a server publishes under the very paths it
serves them at (c2sp.org/tlog-tiles: ``checkpoint``, ``tile/<L>/<N>``,
``tile/entries/<N>``; and ``v1/log/totals``), so the folder is a
:class:`~provisioning.audit.sources.MirrorSource`, and served by any static
file server it is a URL again.  A full tile never changes, so a refresh
fetches only the tiles the folder lacks and the partial ones at the new size,
and deletes a partial tile once its full tile is there (a reader that read the
older checkpoint then reads the full tile's prefix, as the spec asks).

The mirror trusts nothing it copies: the audit verifies the checkpoint with
the published key and recomputes the root from the entries, so a server that
rewrote its history since the last refresh is caught there (``root_mismatch``,
``log_inconsistent``).  The checkpoint is written last, so a mirror whose
refresh broke off still holds every tile of its checkpoint.

Example::

    result = mirror_log("https://ledger.example.org", Path("ledger-mirror"))
    print(result.size, result.fetched)
"""

from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from protocol.errors import ProtocolError
from protocol.merkle import HASH_BYTES
from protocol.tiles import BundleError, claimed_size, full_tile_path, parse_bundle, tile_paths
from provisioning.audit.errors import SourceError
from provisioning.audit.sources import CHECKPOINT, TOTALS, HttpSource

_FETCHERS: Final = 4


@dataclass(frozen=True, slots=True)
class MirrorResult:
    """What a refresh did: the mirrored checkpoint's size, and the files fetched and already held."""

    folder: str
    size: int
    fetched: int
    kept: int

    def to_json(self) -> dict[str, Any]:
        return {"folder": self.folder, "size": self.size, "fetched": self.fetched, "kept": self.kept}


def write_file(folder: Path, path: str, data: bytes) -> None:
    """Write ``folder/path`` whole or not at all (a temporary file renamed into place)."""
    target = folder / path
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check(path: str, data: bytes, width: int) -> None:
    """Refuse what cannot be the tile at ``path``: its content is checked by the audit, not here."""
    if path.startswith("tile/entries/"):
        try:
            parse_bundle(data, width)
        except BundleError as exc:
            raise SourceError("server_error", f"{path} is not an entry bundle: {exc}") from exc
    elif len(data) != width * HASH_BYTES:
        raise SourceError("server_error", f"{path} holds {len(data)} bytes, not {width} hashes")


def drop_stale_partials(folder: Path, wanted: dict[str, int]) -> None:
    """Delete partial tiles of earlier sizes whose full tile the folder now holds.

    Only then: c2sp.org/tlog-tiles lets a log delete a partial tile once the
    full tile exists, and a reader that read an older checkpoint falls back to
    that full tile.  A partial tile of a tile still incomplete (``tile/1/000.p/1``
    when the tree has grown to ``.p/2``) stays: a reader of the older
    checkpoint has nothing else to read it from.
    """
    tiles = folder / "tile"
    if not tiles.is_dir():
        return
    for path in tiles.rglob("*"):
        name = path.relative_to(folder).as_posix()
        full = full_tile_path(name)
        if path.is_file() and full is not None and name not in wanted and (folder / full).is_file():
            path.unlink()


def mirror_log(url: str, folder: Path, *, source: HttpSource | None = None) -> MirrorResult:
    """Bring the mirror in ``folder`` up to the latest checkpoint served at ``url``.

    Raises :class:`~provisioning.audit.errors.SourceError` when the server cannot
    be read or serves something that is not a tile of its checkpoint's tree.
    """
    folder = Path(folder)
    http = source or HttpSource(url)
    try:
        # Totals first, so their size is at most the checkpoint's (as the audit reads them).
        totals = http.get(TOTALS, allow_404=True)
        note = http.get(CHECKPOINT)
        assert note is not None
        try:
            size = claimed_size(note)
        except ProtocolError as exc:
            raise SourceError(
                "server_error", f"{url}/{CHECKPOINT} is not a checkpoint: {exc.message}"
            ) from exc
        wanted = tile_paths(size)
        missing = [path for path in wanted if not (folder / path).is_file()]

        def fetch(path: str) -> None:
            data = http.get_tile(path, wanted[path])  # a partial tile that is gone: the full tile's prefix
            assert data is not None
            _check(path, data, wanted[path])
            write_file(folder, path, data)

        with ThreadPoolExecutor(max_workers=_FETCHERS, thread_name_prefix="mirror") as pool:
            for _ in pool.map(fetch, missing):
                pass
        write_file(folder, CHECKPOINT, note)
        if totals is not None:
            write_file(folder, TOTALS, totals)
        # Balances per volunteer were public before issue 17: a mirror must not serve them on.
        (folder / "v1/log/balances").unlink(missing_ok=True)
        drop_stale_partials(folder, wanted)
    finally:
        if source is None:
            http.close()
    return MirrorResult(str(folder), size, len(missing), len(wanted) - len(missing))
