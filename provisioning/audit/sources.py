"""Where an audit reads a log from: a server's public log over HTTP, or a local mirror of its tiles.

Both give the same things, so the audit does not care which it has:

* the latest signed checkpoint;
* every entry up to a size, streamed in pieces with the log's own leaf hashes
  (its level-0 tiles) where the source has them, to name an entry changed
  after it was logged;
* the economy's public totals (``/v1/log/totals``), to compare with the
  tokens issued and redeemed the entries add up to.

Balances per volunteer are not public: the designated auditor reads them
with its token (:mod:`provisioning.audit.auditor`).

A URL is read with ``requests`` over c2sp.org/tlog-tiles, a few bundles in
flight at a time, never the whole log in memory.  A mirror is a folder that
holds the same paths as files (``checkpoint``, ``tile/…``, ``v1/log/totals``),
made by :func:`provisioning.audit.mirror.mirror_log` or by the server's
``export-log``; served by any static file server it is a URL again.  Neither
reads the server's database: an auditor sees only what the server publishes.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

import requests

from protocol.merkle import HASH_BYTES
from protocol.note import NoteVerifier
from protocol.tiles import (
    TILE_WIDTH,
    BundleError,
    bundles_for,
    entry_bundle_path,
    full_tile_path,
    parse_bundle,
    split_bundle,
    tile_path,
    tile_prefix,
)
from provisioning.audit.errors import SourceError

CHECKPOINT: Final = "checkpoint"
TOTALS: Final = "v1/log/totals"
_IN_FLIGHT: Final = 8


@dataclass(frozen=True, slots=True)
class Piece:
    """Entries ``[start, start + len(entries))``; ``stored_leaves`` are the log's own leaf hashes, if known.

    A missing entry is ``b""`` (a mirror with a hole in its bundles).
    """

    start: int
    entries: list[bytes]
    stored_leaves: list[bytes] | None = None


class LogSource(Protocol):
    """What :func:`provisioning.audit.ledger.audit_ledger` reads.  ``None`` means "this source cannot say"."""

    description: str

    def checkpoint(self) -> bytes: ...  # the latest signed checkpoint, as served
    def size(self) -> int | None: ...  # how many entries are stored, if more is known than the checkpoint
    def pieces(self, size: int) -> Iterator[Piece]: ...  # entries [0, size) in order, streamed
    def totals(self) -> Totals | None: ...  # the public totals, if the source has them
    def close(self) -> None: ...


def _leaves(tile: bytes | None, width: int) -> list[bytes] | None:
    """The ``width`` leaf hashes of a level-0 tile (a full tile may stand for a partial one)."""
    if tile is None or len(tile) < width * HASH_BYTES:
        return None
    return [tile[i * HASH_BYTES : (i + 1) * HASH_BYTES] for i in range(width)]


@dataclass(frozen=True, slots=True)
class Totals:
    """What ``/v1/log/totals`` says the log of ``size`` entries adds up to (the rest is not checked)."""

    size: int
    issued: int
    redeemed: int


def parse_totals(answer: Any, where: str) -> Totals:
    """The checked part of a ``/v1/log/totals`` answer; :class:`SourceError` if malformed."""
    if not isinstance(answer, dict) or not all(
        isinstance(answer.get(name), int) and not isinstance(answer.get(name), bool)
        for name in ("size", "issued", "redeemed")
    ):
        raise SourceError("server_error", f"{where} did not answer {{size, issued, redeemed, …}}")
    return Totals(answer["size"], answer["issued"], answer["redeemed"])


def parse_balances(answer: Any, where: str) -> tuple[int, dict[str, int]]:
    """``(size, {volunteer: tokens})`` of a ``/v1/audit/balances`` answer; :class:`SourceError` if not."""
    if (
        not isinstance(answer, dict)
        or not isinstance(answer.get("size"), int)
        or not isinstance(answer.get("balances"), dict)
        or not all(isinstance(v, int) for v in answer["balances"].values())
    ):
        raise SourceError("server_error", f"{where} did not answer {{size, balances}}")
    return answer["size"], {str(k): int(v) for k, v in answer["balances"].items()}


class MirrorSource:
    """A folder holding a log's tiles as the server serves them (c2sp.org/tlog-tiles), read-only.

    A missing or short entry bundle reads as missing entries (``b""``), which
    the audit reports; a bundle that is cut off mid-entry cannot be read at all.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.description = str(self.folder)
        if not (self.folder / CHECKPOINT).is_file():
            raise SourceError(
                "not_found",
                f"{self.folder / CHECKPOINT} does not exist; is {folder} a mirror of a log's tiles?",
            )

    def _read(self, *paths: str) -> bytes | None:
        """The first of ``paths`` that the mirror holds."""
        for path in paths:
            try:
                return (self.folder / path).read_bytes()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise SourceError("bad_source", f"cannot read {self.folder / path}: {exc}") from exc
        return None

    def checkpoint(self) -> bytes:
        data = self._read(CHECKPOINT)
        if data is None:
            raise SourceError("not_found", f"{self.folder / CHECKPOINT} does not exist")
        return data

    def size(self) -> int | None:
        return None

    def _piece(self, n: int, width: int) -> Piece:
        # A full tile holds a partial one's content, so it stands in once the log has grown past it.
        full = (entry_bundle_path(n), tile_path(0, n))
        bundle = self._read(entry_bundle_path(n, width), full[0])
        try:
            entries = [] if bundle is None else split_bundle(bundle)[:width]
        except BundleError as exc:
            path = self.folder / entry_bundle_path(n, width)
            raise SourceError("bad_source", f"{path} is not an entry bundle: {exc}") from exc
        entries += [b""] * (width - len(entries))
        leaves = _leaves(self._read(tile_path(0, n, width), full[1]), width)
        return Piece(n * TILE_WIDTH, entries, leaves)

    def pieces(self, size: int) -> Iterator[Piece]:
        for n, width in bundles_for(size):
            yield self._piece(n, width)

    def totals(self) -> Totals | None:
        data = self._read(TOTALS)
        if data is None:
            return None
        try:
            answer = json.loads(data)
        except ValueError as exc:
            raise SourceError("bad_source", f"{self.folder / TOTALS} is not JSON") from exc
        return parse_totals(answer, str(self.folder / TOTALS))

    def close(self) -> None:
        pass


class HttpSource:
    """A ledger server's public log endpoints (c2sp.org/tlog-tiles and ``/v1/log/…``)."""

    def __init__(self, url: str, *, timeout_s: float = 30.0, session: requests.Session | None = None) -> None:
        self.url = url.rstrip("/")
        self.description = self.url
        self._timeout = timeout_s
        self._session = session or requests.Session()

    def get(self, path: str, *, allow_404: bool = False) -> bytes | None:
        """The bytes at ``path`` (relative to the URL); ``None`` for a 404 when ``allow_404``."""
        try:
            response = self._session.get(f"{self.url}/{path}", timeout=self._timeout)
        except requests.RequestException as exc:
            raise SourceError("network_error", f"GET {self.url}/{path}: {exc}") from exc
        if response.status_code == 404 and allow_404:
            return None
        if response.status_code != 200:
            raise SourceError("server_error", f"GET {self.url}/{path} answered {response.status_code}")
        return response.content

    def get_tile(self, path: str, width: int, *, allow_404: bool = False) -> bytes | None:
        """The tile or entry bundle at ``path``, which holds ``width`` items; a partial one may be gone.

        c2sp.org/tlog-tiles lets a log delete a partial tile once its full
        tile exists (a mirror refreshed by :func:`~provisioning.audit.mirror.mirror_log`
        and served as files does), so a 404 for ``….p/W`` is answered from the
        full tile's first ``W`` items, byte for byte what the partial tile held.
        ``None`` for a 404 of both when ``allow_404``.
        """
        data = self.get(path, allow_404=True)
        full = full_tile_path(path)
        if data is None and full is not None:
            whole = self.get(full, allow_404=True)
            if whole is not None:
                try:
                    return tile_prefix(path, whole, width)
                except ValueError as exc:
                    raise SourceError(
                        "server_error", f"{self.url}/{full} cannot stand for {path}: {exc}"
                    ) from exc
        if data is None and not allow_404:
            raise SourceError("server_error", f"GET {self.url}/{path} answered 404")
        return data

    def _json(self, path: str) -> Any:
        data = self.get(path)
        try:
            return json.loads(data or b"")
        except ValueError as exc:
            raise SourceError("server_error", f"GET {self.url}/{path} did not answer JSON") from exc

    def server_key(self) -> NoteVerifier:
        """The verifier key the server *says* it has (``/v1/log/key``): unsafe, see ``--trust-server-key``."""
        answer = self._json("v1/log/key")
        if not isinstance(answer, dict) or not isinstance(answer.get("verifier_key"), str):
            raise SourceError("server_error", "/v1/log/key did not answer {origin, verifier_key}")
        return NoteVerifier.parse(answer["verifier_key"])

    def checkpoint(self) -> bytes:
        data = self.get("checkpoint")
        assert data is not None
        return data

    def size(self) -> int | None:
        return None

    def _fetch(self, n: int, width: int) -> Piece:
        path = entry_bundle_path(n, width)
        data = self.get_tile(path, width)
        assert data is not None
        try:
            entries = parse_bundle(data, width)
        except BundleError as exc:
            raise SourceError("server_error", f"{self.url}/{path} is not an entry bundle: {exc}") from exc
        leaves = _leaves(self.get_tile(tile_path(0, n, width), width, allow_404=True), width)
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

    def totals(self) -> Totals | None:
        data = self.get(TOTALS, allow_404=True)  # a server from before issue 17 has none
        if data is None:
            return None
        try:
            answer = json.loads(data)
        except ValueError as exc:
            raise SourceError("server_error", f"GET {self.url}/{TOTALS} did not answer JSON") from exc
        return parse_totals(answer, f"/{TOTALS}")

    def close(self) -> None:
        self._session.close()


def open_source(source: str) -> MirrorSource | HttpSource:
    """A URL (``http://``/``https://``) or a mirror folder's path."""
    if source.startswith(("http://", "https://")):
        return HttpSource(source)
    return MirrorSource(Path(source))
