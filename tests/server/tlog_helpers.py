"""Helpers for the transparency-log tests: reading the stored log and reference Merkle computations.

The references come from :mod:`protocol.merkle`'s RFC-definition code
(``reference_root``) over the leaf hashes of the stored entries, never from the
server's stored subtree hashes, so a wrong stored hash cannot hide itself.
"""

from __future__ import annotations

from typing import Any

import httpx

from protocol import SignedEvent, encode_batch
from protocol.checkpoint import Checkpoint, verify_checkpoint
from protocol.logentry import parse_entry
from protocol.merkle import leaf_hash, reference_root
from protocol.note import NoteVerifier
from server.context import ServerContext


def stored_entries(ctx: ServerContext) -> list[bytes]:
    with ctx.storage.read() as tx:
        return tx.tlog_entry_range(0, tx.tlog_size())


def parsed_entries(ctx: ServerContext) -> list[dict[str, Any]]:
    return [parse_entry(entry) for entry in stored_entries(ctx)]


def kinds(ctx: ServerContext) -> list[str]:
    return [entry["kind"] for entry in parsed_entries(ctx)]


def leaves(ctx: ServerContext) -> list[bytes]:
    return [leaf_hash(entry) for entry in stored_entries(ctx)]


def reference_reader(leaf_hashes: list[bytes]) -> Any:
    """A HashReader computed by the RFC's recursive definition from the leaves alone."""

    def read(level: int, index: int) -> bytes:
        start = index << level
        return reference_root(leaf_hashes[start : start + (1 << level)])

    return read


def verified_checkpoint(note: bytes | str, verifier_key: str) -> Checkpoint:
    data = note.encode() if isinstance(note, str) else note
    verifier = NoteVerifier.parse(verifier_key)
    return verify_checkpoint(data, [verifier], origin=verifier.name)


def send_logged(
    http: httpx.Client, kiosk_id: str, events: list[SignedEvent], log_size: int | str
) -> httpx.Response:
    """POST a batch with ``?log_size=``."""
    return http.post(
        f"/v1/kiosks/{kiosk_id}/events",
        params={"log_size": str(log_size)},
        content=encode_batch(events),
        headers={"Content-Type": "application/json"},
    )
