"""The per-entry work of an audit, for one chunk of the log: parse, hash, check signatures.

This runs in worker processes (one per core), so it imports only
:mod:`protocol` and PyNaCl and returns plain tuples that pickle cheaply.  Its
caller replays the results in log order; nothing here depends on other
chunks except the kiosk keys, which the caller collects from the
``kiosk_enrolled`` entries up to the chunk's end before sending it.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final, NamedTuple

import nacl.exceptions
from nacl.bindings import crypto_sign_open

from protocol.errors import ProtocolError
from protocol.events import event_hash
from protocol.keys import SIGNATURE_BYTES
from provisioning.audit._fast import (
    EventEntry,
    EventFacts,
    FastSealed,
    parse_event_entry,
    parse_event_facts,
    parse_fast,
    parse_fast_sealed,
)
from provisioning.audit.tree import Subtree, chunk_ranges

SIG_OK: Final = 1
SIG_BAD: Final = 0
SIG_NO_KEY: Final = -1
_SHOP_KINDS: Final = frozenset({"redeem", "void", "undo"})  # their data matters: the record keeps the body

# Records, one per entry, tagged by their first item:
#   ("E", kiosk, seq, prev, hash, kind, card, wall_ms, received_ms, flags, sig_state, boot, mono_ms, synced)
#                                                a tap (or denied), with its clock evidence
#   ("S", …the same up to sig_state…, body)      a redeem, void or undo: the replay needs its data too
#   ("V", kiosk, seq, prev, hash, ref, received_day, sig_state, body)   body b"" unless the auditor opens it
#                                                an event in an entry v2: sealed, only its chain place
#                                                and commitment are public (``ref`` None: a v1 body)
#   ("B", reason, message, received_ms, flags)   an event entry whose kiosk event does not parse
#   ("X", reason, message)                       an entry that does not parse
#   ("O", entry)                                 any other kind, parsed
#   ("M",)                                       a missing entry (the source had none there)
Record = tuple[Any, ...]


class Chunk(NamedTuple):
    """A run of entries starting at ``start`` (a multiple of the chunk capacity)."""

    start: int
    entries: Sequence[bytes]
    keys: Mapping[str, bytes]
    offsets: Sequence[int]
    stored_leaves: Sequence[bytes] | None = None
    sealed_bodies: bool = True  # keep a sealed event's bytes in its "V" record: only the auditor opens them


class ChunkResult(NamedTuple):
    records: list[Record]
    ranges: dict[int, list[Subtree]]
    leaf_mismatches: list[int]


class _Checker:
    """Per-chunk caches: verify keys by kiosk, and one string object per repeated ID.

    Interning makes the pickled records much smaller (pickle writes a repeated
    object once), which is most of what the main process pays per record.
    """

    def __init__(self, keys: Mapping[str, bytes], sealed_bodies: bool = True) -> None:
        self._keys = keys
        self._strings: dict[str, str] = {}
        self._sealed_bodies = sealed_bodies

    def entry(self, data: bytes) -> Record:
        """The record for one entry's bytes."""
        sealed = parse_fast_sealed(data)
        if sealed is not None:
            return self._sealed(sealed)
        fast = parse_fast(data)
        if fast is not None:
            return self._event(fast.body, fast.sig, fast.received_ms, fast.flags, fast.facts)
        try:
            parsed = parse_event_entry(data)
        except ProtocolError as exc:
            return ("X", exc.reason.value, exc.message)
        if not isinstance(parsed, EventEntry):
            return ("O", parsed)
        received = parsed.received_ms
        if isinstance(received, bool) or not isinstance(received, int) or received < 0:
            return ("X", "bad_field", "received_ms is not a non-negative integer")
        try:
            facts = parse_event_facts(parsed.body)
        except ProtocolError as exc:
            return ("B", exc.reason.value, exc.message, received, parsed.flags)
        if parsed.version != 1:
            return (
                "V",
                facts.kiosk,
                facts.seq,
                facts.prev,
                event_hash(parsed.body),
                facts.ref,
                received,
                self._signature(facts.kiosk, parsed.body, parsed.sig),
                parsed.body if self._sealed_bodies else b"",
            )
        return self._event(parsed.body, parsed.sig, received, parsed.flags, facts)

    def _sealed(self, sealed: FastSealed) -> Record:
        """The "V" record of a canonical entry v2, as the slow path below builds it."""
        strings = self._strings
        kiosk = strings.setdefault(sealed.kiosk, sealed.kiosk)
        body = sealed.body
        digest = event_hash(body)
        strings[digest] = digest  # the next event's prev: pickled once, as a reference
        return (
            "V",
            kiosk,
            sealed.seq,
            strings.get(sealed.prev, sealed.prev),
            digest,
            sealed.ref,
            sealed.received_ms,
            self._signature(kiosk, body, sealed.sig),
            body if self._sealed_bodies else b"",
        )

    def _signature(self, kiosk: str, body: bytes, sig: bytes) -> int:
        """Whether ``sig`` is ``kiosk``'s signature of ``body``: ``SIG_OK``, ``SIG_BAD`` or ``SIG_NO_KEY``."""
        key = self._keys.get(kiosk)
        if key is None:
            return SIG_NO_KEY
        if len(sig) != SIGNATURE_BYTES:
            return SIG_BAD
        try:
            # libsodium's combined-mode check: what VerifyKey.verify calls, without its wrapping.
            crypto_sign_open(sig + body, key)
        except nacl.exceptions.CryptoError:
            return SIG_BAD
        return SIG_OK

    def _event(
        self, body: bytes, sig: bytes, received: int, flags: tuple[str, ...], facts: EventFacts
    ) -> Record:
        strings = self._strings
        kiosk = strings.setdefault(facts.kiosk, facts.kiosk)
        state = self._signature(kiosk, body, sig)
        record = (
            "E",
            kiosk,
            facts.seq,
            facts.prev,
            event_hash(body),
            strings.setdefault(facts.kind, facts.kind),
            strings.setdefault(facts.card, facts.card),
            facts.wall_ms,
            received,
            flags,
            state,
            strings.setdefault(facts.boot, facts.boot),
            facts.mono_ms,
            facts.synced,
        )
        if facts.kind in _SHOP_KINDS:
            return ("S", *record[1:11], body)
        return record


def ready() -> bool:
    """A no-op task: submitting it starts a pool's processes."""
    return True


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection inside: an audit allocates millions of tuples and makes no cycles.

    The collector would otherwise walk the young objects every few hundred
    allocations, about 5 % of an audit's time.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def check_chunk(chunk: Chunk) -> ChunkResult:
    """Parse, hash and verify every entry of ``chunk``; see the record shapes above."""
    with paused_gc():
        return _check(chunk)


def _check(chunk: Chunk) -> ChunkResult:
    checker = _Checker(chunk.keys, chunk.sealed_bodies)
    records: list[Record] = []
    leaves: list[bytes] = []
    for data in chunk.entries:
        leaves.append(hashlib.sha256(b"\x00" + data).digest())
        records.append(checker.entry(data) if data else ("M",))
    mismatches: list[int] = []
    if chunk.stored_leaves is not None:
        stored = chunk.stored_leaves
        mismatches = [
            i for i, leaf in enumerate(leaves) if chunk.entries[i] and (i >= len(stored) or stored[i] != leaf)
        ]
    return ChunkResult(records, chunk_ranges(leaves, chunk.offsets), mismatches)
