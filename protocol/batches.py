"""The sync request: a batch of signed events from one kiosk.

Wire form (``POST /v1/kiosks/{kiosk_id}/events``)::

    {"events": [{"body": "<b64 event bytes>", "sig": "<b64 signature>",
                 "opening": {"card": "c_…", "salt": "<32 hex>"}}, ...],
     "clock": {"body": "<b64 heartbeat bytes>", "sig": "<b64 signature>"}}

The envelope is ordinary JSON; only the event bodies and the clock sample are
canonical and signed.  A v2 event's ``opening`` (:mod:`protocol.commitments`)
travels beside it, unsigned: the server checks it opens the event's ``ref``,
keeps it off the log and answers ``opening_missing`` without it.  A kiosk
re-feeding a server restored from an older backup sends ``"sealed_opening"``
instead (the opening in a sealed box to the server's key, which it kept after
the first receipt).  ``clock`` is
optional: a signed heartbeat the kiosk makes as it sends, which lets the server
tie the kiosk's monotonic clock to its own (:mod:`protocol.clockref`).  Only
its shape is checked here; the server checks the signature.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Final, NamedTuple

from protocol.commitments import Opening, SealedOpening
from protocol.errors import MalformedError
from protocol.events import SignedEvent, decode_wire_item
from protocol.reasons import Reason

MAX_BATCH_EVENTS: Final = 500
MAX_BATCH_BYTES: Final = 1024 * 1024


class BatchRequest(NamedTuple):
    """A decoded sync request: its ``(body, signature)`` pairs and the clock sample's wire form, if any."""

    items: list[tuple[bytes, bytes]]
    clock: dict[str, object] | None
    # Per item: a v2 event's opening (or, on a re-feed, its opening sealed to the server), ``None`` for v1.
    openings: tuple[Opening | SealedOpening | None, ...] = ()


def encode_batch(events: Sequence[SignedEvent], clock: dict[str, str] | None = None) -> bytes:
    """The request body for ``events`` (at most :data:`MAX_BATCH_EVENTS`), with a signed ``clock`` sample."""
    if len(events) > MAX_BATCH_EVENTS:
        raise ValueError(f"a batch holds at most {MAX_BATCH_EVENTS} events")
    envelope: dict[str, object] = {"events": [event.to_wire() for event in events]}
    if clock is not None:
        envelope["clock"] = clock
    return json.dumps(envelope, separators=(",", ":")).encode()


def decode_batch(data: bytes) -> list[tuple[bytes, bytes]]:
    """Split a request body into ``(body, signature)`` pairs, enforcing every limit."""
    return decode_batch_request(data).items


def decode_batch_request(data: bytes) -> BatchRequest:
    """Split a request body into its event pairs and clock sample, enforcing every limit."""
    if len(data) > MAX_BATCH_BYTES:
        raise MalformedError(Reason.BODY_TOO_LARGE, f"{len(data)} bytes, limit {MAX_BATCH_BYTES}")
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError) as exc:  # also integers past Python's digit limit
        raise MalformedError(Reason.MALFORMED_REQUEST, "request body is not JSON") from exc
    if (
        not isinstance(obj, dict)
        or "events" not in obj
        or not set(obj) <= {"events", "clock"}
        or not isinstance(obj["events"], list)
    ):
        raise MalformedError(
            Reason.MALFORMED_REQUEST, 'request body must be {"events": [...], "clock": {...}}'
        )
    clock = obj.get("clock")
    if clock is not None and not isinstance(clock, dict):
        raise MalformedError(Reason.MALFORMED_REQUEST, 'clock must be {"body": ..., "sig": ...}')
    items = obj["events"]
    if len(items) > MAX_BATCH_EVENTS:
        raise MalformedError(Reason.BATCH_TOO_LARGE, f"{len(items)} events, limit {MAX_BATCH_EVENTS}")
    if not items:
        raise MalformedError(Reason.MALFORMED_REQUEST, "a batch holds at least one event")
    # Transposed by zip, in C: the items' (body, signature) pairs and their openings, in order.
    bodies, signatures, openings = zip(*[decode_wire_item(item) for item in items], strict=True)
    return BatchRequest(list(zip(bodies, signatures, strict=True)), clock, openings)
