"""The sync request: a batch of signed events from one kiosk.

Wire form (``POST /v1/kiosks/{kiosk_id}/events``)::

    {"events": [{"body": "<b64 event bytes>", "sig": "<b64 signature>"}, ...]}

The envelope is ordinary JSON; only the event bodies are canonical and signed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Final

from protocol.errors import MalformedError
from protocol.events import SignedEvent, decode_wire_event
from protocol.reasons import Reason

MAX_BATCH_EVENTS: Final = 500
MAX_BATCH_BYTES: Final = 1024 * 1024


def encode_batch(events: Sequence[SignedEvent]) -> bytes:
    """The request body for ``events`` (at most :data:`MAX_BATCH_EVENTS`)."""
    if len(events) > MAX_BATCH_EVENTS:
        raise ValueError(f"a batch holds at most {MAX_BATCH_EVENTS} events")
    return json.dumps({"events": [event.to_wire() for event in events]}, separators=(",", ":")).encode()


def decode_batch(data: bytes) -> list[tuple[bytes, bytes]]:
    """Split a request body into ``(body, signature)`` pairs, enforcing every limit."""
    if len(data) > MAX_BATCH_BYTES:
        raise MalformedError(Reason.BODY_TOO_LARGE, f"{len(data)} bytes, limit {MAX_BATCH_BYTES}")
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError) as exc:  # also integers past Python's digit limit
        raise MalformedError(Reason.MALFORMED_REQUEST, "request body is not JSON") from exc
    if not isinstance(obj, dict) or set(obj) != {"events"} or not isinstance(obj["events"], list):
        raise MalformedError(Reason.MALFORMED_REQUEST, 'request body must be {"events": [...]}')
    items = obj["events"]
    if len(items) > MAX_BATCH_EVENTS:
        raise MalformedError(Reason.BATCH_TOO_LARGE, f"{len(items)} events, limit {MAX_BATCH_EVENTS}")
    if not items:
        raise MalformedError(Reason.MALFORMED_REQUEST, "a batch holds at least one event")
    return [decode_wire_event(item) for item in items]
