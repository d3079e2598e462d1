"""Reading the transparency log: checkpoints, tiles, proofs, and the balances it implies (auditor only).

The tile paths are c2sp.org/tlog-tiles: ``tile/<L>/<N>[.p/<W>]`` holds 256
(or ``W``) hashes of Merkle level ``8·L``, ``tile/entries/<N>[.p/<W>]`` the
entries as big-endian uint16 length ‖ bytes, and ``N`` is written in 3-digit
groups, all but the last prefixed with ``x`` (``x001/x234/067``).  Only the
canonical spelling is served.  A full tile is served once the log holds it; a
partial tile only for a width that some signed checkpoint's size gives it,
as the spec asks, so every tile's content is fixed forever.

Every view reads in one transaction, so a proof and the checkpoint it is
against always match.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from protocol import Reason, b64encode
from protocol.checkpoint import format_tlog_proof
from protocol.encoding import MAX_SAFE_INT
from server import tlog
from server.context import ServerContext
from server.errors import InputError, LogCorrupted, ServiceError
from server.handover import handover_document
from server.storage import ReadTx
from server.tlog import StoredHashes

TILE_HEIGHT: Final = 8
TILE_WIDTH: Final = 1 << TILE_HEIGHT
MAX_TILE_LEVEL: Final = 63
# At most 7 groups of three digits (2**64 has 20): an unbounded index would reach int()'s digit limit.
_TILE_INDEX = re.compile(r"((?:x[0-9]{3}/){0,6})([0-9]{3})(?:\.p/([1-9][0-9]{0,2}))?")
_LEVEL = re.compile(r"0|[1-9][0-9]?")
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,15}")


def _not_found(message: str = "no such tile") -> ServiceError:
    return ServiceError(Reason.NOT_FOUND, message)


def tile_index_path(index: int) -> str:
    """``N`` as a tile path: ``1234067`` → ``x001/x234/067``."""
    digits = str(index)
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*("x" + g for g in groups[:-1]), groups[-1]])


def _parse_index(text: str) -> tuple[int, int | None]:
    """``N[.p/W]`` → ``(N, W or None)``; only the canonical spelling (no extra ``x000/``) parses."""
    match = _TILE_INDEX.fullmatch(text)
    if match is None:
        raise _not_found()
    prefix, last, width = match.groups()
    index = int(prefix.replace("x", "").replace("/", "") + last)
    if tile_index_path(index) != prefix + last or (width is not None and int(width) >= TILE_WIDTH):
        raise _not_found()
    return index, None if width is None else int(width)


@dataclass(frozen=True, slots=True)
class _TileSource:
    """Where a tile's rows come from: the current log, or an archived origin (``origin`` set)."""

    tx: ReadTx
    origin: str | None = None

    def size(self) -> int:
        if self.origin is None:
            return tlog.latest_checkpoint(self.tx)[0]
        size = self.tx.archived_size(self.origin)
        if size is None:
            raise _not_found(f"no archived log of origin {self.origin!r}")
        return size

    def has_checkpoint_between(self, low: int, high: int) -> bool:
        if self.origin is None:
            return self.tx.has_checkpoint_between(low, high)
        return self.tx.archived_checkpoint_between(self.origin, low, high)

    def entries(self, start: int, end: int) -> list[bytes]:
        if self.origin is None:
            return self.tx.tlog_entry_range(start, end)
        return self.tx.archived_entry_range(self.origin, start, end)

    def hashes(self, level: int, start: int, end: int) -> list[bytes]:
        if self.origin is None:
            return self.tx.tlog_hash_range(level, start, end)
        return self.tx.archived_hash_range(self.origin, level, start, end)


def read_tile(ctx: ServerContext, path: str) -> bytes:
    """The bytes of ``tile/<path>``: a Merkle tile or an entry bundle; ``404 not_found`` otherwise."""
    with ctx.storage.read() as tx:
        return _read_tile(_TileSource(tx), path, entries_allowed=True)


def read_archived_tile(ctx: ServerContext, path: str, params: Mapping[str, str], *, entries: bool) -> bytes:
    """A tile of the archived origin ``params["origin"]``; its entry bundles only when ``entries``.

    The archived log's entries name cards, so the public route serves its hash
    tiles only (``404`` for ``entries/``) and ``GET /v1/audit/archive/tile/...``
    (permission ``audit_log``) serves both.
    """
    origin = _archived_origin(params)
    with ctx.storage.read() as tx:
        return _read_tile(_TileSource(tx, origin), path, entries_allowed=entries)


def _archived_origin(params: Mapping[str, str]) -> str:
    origin = params.get("origin")
    if not origin:
        raise InputError(Reason.BAD_FIELD, "origin names the archived log")
    return origin


def _read_tile(source: _TileSource, path: str, *, entries_allowed: bool) -> bytes:
    head, sep, rest = path.partition("/")
    if not sep:
        raise _not_found()
    entries = head == "entries"
    if entries and not entries_allowed:
        raise _not_found("the archived log's entries are for the auditor (GET /v1/audit/archive/tile/...)")
    if not entries and not _LEVEL.fullmatch(head):
        raise _not_found()
    level = 0 if entries else int(head)
    if level > MAX_TILE_LEVEL:
        raise _not_found()
    index, width = _parse_index(rest)
    shift = TILE_HEIGHT * level  # a level-L tile holds hashes of Merkle level 8·L
    first = index * TILE_WIDTH
    count = TILE_WIDTH if width is None else width
    size = source.size()
    have = size >> shift  # how many level-8L hashes the latest tree has
    if first + count > have:
        raise _not_found()
    if width is not None and not source.has_checkpoint_between(
        (first + width) << shift, ((first + width + 1) << shift) - 1
    ):
        raise _not_found("no checkpoint has this partial tile")
    if entries:
        rows = source.entries(first, first + count)
        data = b"".join(len(row).to_bytes(2, "big") + row for row in rows)
    else:
        rows = source.hashes(shift, first, first + count)
        data = b"".join(rows)
    if len(rows) != count:
        raise LogCorrupted(f"tile {path} should hold {count} items, found {len(rows)}")
    return data


def archived_checkpoint(ctx: ServerContext, params: Mapping[str, str]) -> bytes:
    """The final signed checkpoint of the archived origin ``params["origin"]``."""
    origin = _archived_origin(params)
    with ctx.storage.read() as tx:
        size = _TileSource(tx, origin).size()
        note = tx.archived_checkpoint(origin, size)
    if note is None:
        raise LogCorrupted(f"the archived log {origin!r} has no checkpoint for its final size {size}")
    return note


def handover(ctx: ServerContext) -> dict[str, Any]:
    """``{"handover": {body, sig}, "checkpoint"}``: the signed hand-over and the new log's checkpoint at it.

    ``404 not_found`` when the log never moved to a new origin.  The checkpoint is the
    one signed for the hand-over's ``new_size``: where a kiosk that follows starts verifying.
    """
    with ctx.storage.read() as tx:
        document = handover_document(tx)
        row = tx.handover()
        if document is None or row is None:
            raise _not_found("this log was never handed over")
        note = tx.checkpoint(row[4]) if tlog.origin(tx) == row[3] else None
    answer: dict[str, Any] = {"handover": document}
    if note is not None:
        answer["checkpoint"] = note.decode("utf-8")
    return answer


def checkpoint(ctx: ServerContext) -> bytes:
    """The latest signed checkpoint (a note)."""
    with ctx.storage.read() as tx:
        return tlog.latest_checkpoint(tx)[1]


def log_key(ctx: ServerContext) -> dict[str, Any]:
    """``{"origin","verifier_key"}``.  Auditors should get the key from the programme, not from here."""
    with ctx.storage.read() as tx:
        log_origin = tlog.origin(tx)
    return {"origin": log_origin, "verifier_key": tlog.verifier_key(log_origin, ctx.server_key.public_key)}


def server_keys(ctx: ServerContext) -> dict[str, Any]:
    """``{"transitions": [...]}``: every server key transition, oldest first (``GET /v1/server-keys``).

    Public: a kiosk that cannot verify the server's signature any more follows
    these from the key it pinned (:func:`protocol.serverkeys.follow_transitions`).
    """
    with ctx.storage.read() as tx:
        return {"transitions": [signed.to_wire() for signed in tx.server_key_transitions()]}


def _require_decimal(params: Mapping[str, str], name: str) -> int:
    value = params.get(name)
    if value is None or not _DECIMAL.fullmatch(value) or int(value) > MAX_SAFE_INT:
        raise InputError(Reason.BAD_FIELD, f"{name} must be a non-negative decimal integer")
    return int(value)


def consistency(ctx: ServerContext, params: Mapping[str, str]) -> dict[str, Any]:
    """``{"from","to","hashes"}``: the RFC 6962 proof from ``from`` to ``to`` (≤ the latest size).

    With ``origin`` naming an archived log, the proof is in that log (≤ its final size):
    what a kiosk that pinned it checks before it follows the hand-over.
    """
    old, new = _require_decimal(params, "from"), _require_decimal(params, "to")
    origin = params.get("origin")
    with ctx.storage.read() as tx:
        archived = origin if origin is not None and origin != tlog.origin(tx) else None
        size = _TileSource(tx, archived).size()
        if not old <= new <= size:
            raise InputError(Reason.BAD_FIELD, f"need from ≤ to ≤ {size}, the latest checkpoint's size")
        hashes = tlog.consistency(StoredHashes(tx, archived=archived), old, new)
    return {"from": old, "to": new, "hashes": [b64encode(h) for h in hashes]}


def inclusion(ctx: ServerContext, params: Mapping[str, str]) -> dict[str, Any]:
    """``{"index","size","hashes"}``: the RFC 6962 proof of entry ``index`` in the tree of ``size``."""
    index, size = _require_decimal(params, "index"), _require_decimal(params, "size")
    with ctx.storage.read() as tx:
        latest, _ = tlog.latest_checkpoint(tx)
        if not index < size <= latest:
            raise InputError(Reason.BAD_FIELD, f"need index < size ≤ {latest}, the latest checkpoint's size")
        hashes = tlog.inclusion(StoredHashes(tx), index, size)
    return {"index": index, "size": size, "hashes": [b64encode(h) for h in hashes]}


def _proof_at(tx: ReadTx, index: int) -> tuple[bytes, bytes]:
    """``(entry, tlog-proof)`` of entry ``index`` against the latest checkpoint."""
    size, note = tlog.latest_checkpoint(tx)
    entry = tx.tlog_entry(index) if index < size else None
    if entry is None:
        raise _not_found("no such entry in the latest checkpoint")
    return entry, format_tlog_proof(index, tlog.inclusion(StoredHashes(tx), index, size), note)


def entry_proof(ctx: ServerContext, index: str) -> bytes:
    """The C2SP tlog-proof of entry ``index`` (a decimal path segment) against the latest checkpoint."""
    if not _DECIMAL.fullmatch(index):
        raise _not_found("no such entry")
    with ctx.storage.read() as tx:
        return _proof_at(tx, int(index))[1]


def entry_with_proof(ctx: ServerContext, index: str) -> dict[str, Any]:
    """``{"index","entry","proof"}``: entry ``index`` (b64) with its tlog-proof against the latest checkpoint.

    What a browser checks a receipt with (``static/verify.js``): one answer, read in one
    transaction, so the entry, the proof and the checkpoint inside it always agree.  The
    entry is public anyway (in the entry bundles); this saves a page from reading a bundle.
    """
    if not _DECIMAL.fullmatch(index):
        raise _not_found("no such entry")
    with ctx.storage.read() as tx:
        entry, proof = _proof_at(tx, int(index))
    return {"index": int(index), "entry": b64encode(entry), "proof": proof.decode("utf-8")}


def event_proof(ctx: ServerContext, kiosk_id: str, seq: str) -> dict[str, Any]:
    """``{"index","entry","proof"}`` for a kiosk's event: what a volunteer keeps as a receipt."""
    if not _DECIMAL.fullmatch(seq) or int(seq) > MAX_SAFE_INT:
        raise _not_found("no such event")
    with ctx.storage.read() as tx:
        index = tx.event_log_index(kiosk_id, int(seq))
        if index is None:
            raise _not_found("no such event")
        entry, proof = _proof_at(tx, index)
    return {"index": index, "entry": b64encode(entry), "proof": proof.decode("utf-8")}


def balances(ctx: ServerContext) -> dict[str, Any]:
    """``{"size","balances"}``: every volunteer's balance (0 if none) as of checkpoint ``size``.

    One read transaction, so the balances are exactly those the log up to ``size`` implies.
    The auditor's (``GET /v1/audit/balances``, permission ``audit_log``), never public:
    a balance per pseudonym is personal data.
    """
    with ctx.storage.read() as tx:
        size, _ = tlog.latest_checkpoint(tx)
        return {"size": size, "balances": tx.all_balances()}
