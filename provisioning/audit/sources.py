"""Where an audit reads a log from: a server's data folder (read-only) or its public tiles.

Both give the same things, so the audit does not care which it has:

* the latest signed checkpoint, and the log's origin if the source knows it;
* every entry up to a size, streamed in pieces with the log's own leaf hashes
  where the source has them (to name an entry changed after it was logged);
* the server's balances (and for a folder, the checkpoints it kept, its kiosk
  heads and its event count), to compare with the replay.

A data folder is opened with SQLite's ``mode=ro`` inside one read
transaction, so a running server is never disturbed and everything read is
one consistent snapshot.  A URL is read with ``requests`` over c2sp.org/tlog-tiles,
a few bundles in flight at a time, never the whole log in memory.
"""

from __future__ import annotations

import json
import sqlite3
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

import requests

from protocol.keys import PrivateKey
from protocol.merkle import HASH_BYTES
from protocol.note import NoteVerifier
from provisioning.audit.errors import SourceError
from provisioning.audit.tiles import (
    TILE_WIDTH,
    BundleError,
    bundles_for,
    entry_bundle_path,
    parse_bundle,
    tile_path,
)

LEDGER: Final = "ledger.db"
SERVER_KEY: Final = "server.key"
PIECE: Final = 1024
_IN_FLIGHT: Final = 8


@dataclass(frozen=True, slots=True)
class Piece:
    """Entries ``[start, start + len(entries))``; ``stored_leaves`` are the log's own leaf hashes, if known.

    A missing entry is ``b""`` (a data folder with a hole in its numbering).
    """

    start: int
    entries: list[bytes]
    stored_leaves: list[bytes] | None = None


class LogSource(Protocol):
    """What :func:`provisioning.audit.ledger.audit_ledger` reads.  ``None`` means "this source cannot say"."""

    description: str

    def own_verifier(self) -> NoteVerifier | None: ...  # the key the source itself holds (a data folder)
    def checkpoint(self) -> bytes: ...  # the latest signed checkpoint, as stored or served
    def size(self) -> int | None: ...  # how many entries are stored (a URL knows only the checkpoint's size)
    def pieces(self, size: int) -> Iterator[Piece]: ...  # entries [0, size) in order, streamed
    def balances(self) -> tuple[int, dict[str, int]] | None: ...  # (log size, {volunteer: tokens})
    def server_checkpoints(self) -> list[tuple[int, bytes]]: ...  # every checkpoint the server kept
    def kiosk_heads(self) -> dict[str, tuple[int, str]] | None: ...  # kiosk -> (last seq, head hash)
    def event_count(self) -> int | None: ...  # events the server stores besides the log
    def close(self) -> None: ...


class DataFolderSource:
    """A server's data folder, read-only and as one snapshot.  Close it when done."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.description = str(self.folder)
        ledger = self.folder / LEDGER
        if not ledger.is_file():
            raise SourceError("not_found", f"{ledger} does not exist; is {folder} a server data folder?")
        try:
            self._conn = sqlite3.connect(
                f"{ledger.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None
            )
            self._conn.execute("BEGIN")  # one snapshot for every read below
            self._conn.execute("SELECT 1 FROM tlog_entries LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            raise SourceError("bad_source", f"cannot read the log in {ledger}: {exc}") from exc

    def _one(self, sql: str, *args: Any) -> Any:
        row = self._conn.execute(sql, args).fetchone()
        return None if row is None else row[0]

    def origin(self) -> str | None:
        value = self._one("SELECT value FROM settings WHERE key = 'log_origin'")
        return None if value is None else str(value)

    def own_verifier(self) -> NoteVerifier | None:
        """The folder's own server key: proves only that the folder is self-consistent."""
        origin = self.origin()
        try:
            seed = (self.folder / SERVER_KEY).read_bytes()
        except OSError:
            return None
        if origin is None or len(seed) != 32:
            return None
        return NoteVerifier.for_key(origin, PrivateKey(seed).public_key)

    def checkpoint(self) -> bytes:
        note = self._one("SELECT note FROM tlog_checkpoints ORDER BY size DESC LIMIT 1")
        if note is None:
            raise SourceError(
                "not_found", "the data folder has no signed checkpoint yet; start the server once"
            )
        return bytes(note)

    def size(self) -> int | None:
        return int(self._one("SELECT COALESCE(MAX(idx) + 1, 0) FROM tlog_entries"))

    def pieces(self, size: int) -> Iterator[Piece]:
        entries = self._conn.execute(
            "SELECT idx, entry FROM tlog_entries WHERE idx < ? ORDER BY idx", (size,)
        )
        leaves = self._conn.cursor().execute(
            "SELECT idx, hash FROM tlog_hashes WHERE level = 0 AND idx < ? ORDER BY idx", (size,)
        )
        pending_leaf: tuple[int, bytes] | None = next(leaves, None)
        start, batch, stored = 0, [], []
        expected = 0
        for idx, entry in entries:
            while expected < idx:  # a gap: the entry was deleted
                batch.append(b"")
                stored.append(b"")
                expected += 1
                if len(batch) == PIECE:
                    yield Piece(start, batch, stored)
                    start, batch, stored = start + PIECE, [], []
            while pending_leaf is not None and pending_leaf[0] < idx:
                pending_leaf = next(leaves, None)
            if pending_leaf is not None and pending_leaf[0] == idx:
                stored.append(bytes(pending_leaf[1]))
            else:
                stored.append(b"")
            batch.append(bytes(entry))
            expected += 1
            if len(batch) == PIECE:
                yield Piece(start, batch, stored)
                start, batch, stored = start + PIECE, [], []
        if batch:
            yield Piece(start, batch, stored)

    def balances(self) -> tuple[int, dict[str, int]]:
        rows = self._conn.execute(
            "SELECT v.volunteer_id, COALESCE(SUM(l.delta), 0) FROM volunteers v "
            "LEFT JOIN ledger_entries l ON l.volunteer_id = v.volunteer_id GROUP BY v.volunteer_id"
        )
        found = {str(row[0]): int(row[1]) for row in rows}
        for volunteer_id, total in self._conn.execute(
            "SELECT volunteer_id, SUM(delta) FROM ledger_entries GROUP BY volunteer_id"
        ):
            found[str(volunteer_id)] = int(total)  # entries for a volunteer who is not in the table
        return int(self.size() or 0), found

    def server_checkpoints(self) -> list[tuple[int, bytes]]:
        rows = self._conn.execute("SELECT size, note FROM tlog_checkpoints ORDER BY size")
        return [(int(size), bytes(note)) for size, note in rows]

    def kiosk_heads(self) -> dict[str, tuple[int, str]]:
        rows = self._conn.execute("SELECT kiosk_id, last_seq, head FROM kiosks")
        return {str(k): (int(seq), str(head)) for k, seq, head in rows}

    def event_count(self) -> int:
        return int(self._one("SELECT COUNT(*) FROM events"))

    def close(self) -> None:
        self._conn.close()


class HttpSource:
    """A ledger server's public log endpoints (c2sp.org/tlog-tiles and ``/v1/log/…``)."""

    def __init__(self, url: str, *, timeout_s: float = 30.0, session: requests.Session | None = None) -> None:
        self.url = url.rstrip("/")
        self.description = self.url
        self._timeout = timeout_s
        self._session = session or requests.Session()

    def _get(self, path: str, *, allow_404: bool = False) -> bytes | None:
        try:
            response = self._session.get(f"{self.url}/{path}", timeout=self._timeout)
        except requests.RequestException as exc:
            raise SourceError("network_error", f"GET {self.url}/{path}: {exc}") from exc
        if response.status_code == 404 and allow_404:
            return None
        if response.status_code != 200:
            raise SourceError("server_error", f"GET {self.url}/{path} answered {response.status_code}")
        return response.content

    def _json(self, path: str) -> Any:
        data = self._get(path)
        try:
            return json.loads(data or b"")
        except ValueError as exc:
            raise SourceError("server_error", f"GET {self.url}/{path} did not answer JSON") from exc

    def own_verifier(self) -> NoteVerifier | None:
        return None

    def server_key(self) -> NoteVerifier:
        """The verifier key the server *says* it has (``/v1/log/key``): unsafe, see ``--trust-server-key``."""
        answer = self._json("v1/log/key")
        if not isinstance(answer, dict) or not isinstance(answer.get("verifier_key"), str):
            raise SourceError("server_error", "/v1/log/key did not answer {origin, verifier_key}")
        return NoteVerifier.parse(answer["verifier_key"])

    def checkpoint(self) -> bytes:
        data = self._get("checkpoint")
        assert data is not None
        return data

    def size(self) -> int | None:
        return None

    def _fetch(self, n: int, width: int) -> Piece:
        path = entry_bundle_path(n, width)
        data = self._get(path)
        assert data is not None
        try:
            entries = parse_bundle(data, width)
        except BundleError as exc:
            raise SourceError("server_error", f"{self.url}/{path} is not an entry bundle: {exc}") from exc
        tile = self._get(tile_path(0, n, width), allow_404=True)
        leaves = None
        if tile is not None and len(tile) >= width * HASH_BYTES:
            leaves = [tile[i * HASH_BYTES : (i + 1) * HASH_BYTES] for i in range(width)]
        return Piece(n * TILE_WIDTH, entries, leaves)

    def pieces(self, size: int) -> Iterator[Piece]:
        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="tiles") as pool:
            waiting: deque[Future[Piece]] = deque()
            for n, width in bundles_for(size):
                waiting.append(pool.submit(self._fetch, n, width))
                if len(waiting) >= _IN_FLIGHT:
                    yield waiting.popleft().result()
            while waiting:
                yield waiting.popleft().result()

    def balances(self) -> tuple[int, dict[str, int]]:
        answer = self._json("v1/log/balances")
        if (
            not isinstance(answer, dict)
            or not isinstance(answer.get("size"), int)
            or not isinstance(answer.get("balances"), dict)
            or not all(isinstance(v, int) for v in answer["balances"].values())
        ):
            raise SourceError("server_error", "/v1/log/balances did not answer {size, balances}")
        return answer["size"], {str(k): int(v) for k, v in answer["balances"].items()}

    def server_checkpoints(self) -> list[tuple[int, bytes]]:
        return []

    def kiosk_heads(self) -> dict[str, tuple[int, str]] | None:
        return None

    def event_count(self) -> int | None:
        return None

    def close(self) -> None:
        self._session.close()


def open_source(source: str) -> DataFolderSource | HttpSource:
    """A URL (``http://``/``https://``) or a data folder path."""
    if source.startswith(("http://", "https://")):
        return HttpSource(source)
    return DataFolderSource(Path(source))
