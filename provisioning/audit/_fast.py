"""Strict parsing of ``event`` entries at auditing speed, with the protocol's parser behind.

An audit parses every entry and every event in it, and :func:`protocol.parse_entry`
costs about as much as the signature check.  An ``event`` entry is fixed canonical
JSON, so one anchored regular expression recognises the common case exactly: a
match is always bytes that the protocol parser accepts, with the same fields.
Anything the pattern does not match (including every malformed input) goes to
the protocol parser, which either accepts it or raises with the reason code,
so nothing is refused here that the protocol would take, and the errors are
the protocol's own.  The kiosk's event inside is parsed by
:func:`protocol.parse_event`, which has the same kind of fast path.
``tests/provisioning/test_provisioning_audit_parts.py`` checks the agreement with Hypothesis.
"""

from __future__ import annotations

import binascii
import re
from typing import Any, Final, NamedTuple

from protocol.encoding import MAX_SAFE_INT
from protocol.errors import ProtocolError
from protocol.events import GENESIS_PREV, MAX_EVENT_BYTES, Event, parse_event
from protocol.logentry import MAX_ENTRY_BYTES, parse_entry

_INT = rb"(0|[1-9][0-9]{0,15})"
_B64 = rb"([A-Za-z0-9+/]*={0,2})"
_EVENT_ENTRY: Final = re.compile(
    rb'\{"body":"' + _B64 + rb'","flags":\[((?:"[a-z][a-z0-9_]{0,39}"(?:,"[a-z][a-z0-9_]{0,39}")*)?)\],'
    rb'"kind":"event","received_ms":' + _INT + rb',"sig":"' + _B64 + rb'","type":"kokreativ\.entry","v":1\}'
)
# An entry v2 of an event (a log that names no card): no flags, the received day only.
_EVENT_ENTRY_V2: Final = re.compile(
    rb'\{"body":"'
    + _B64
    + rb'","kind":"event","received_ms":'
    + _INT
    + rb',"sig":"'
    + _B64
    + rb'","type":"kokreativ\.entry","v":2\}'
)
_V2_END: Final = b',"v":2}'  # tells which pattern to try, so no entry is scanned twice
# The v2 event inside: :data:`protocol.events._CANONICAL_EVENT_V2`, the canonical layout, on bytes.
_SEALED_EVENT: Final = re.compile(
    rb'\{"kiosk":"(k_[0-9a-f]{32})","prev":"([0-9a-f]{64})","ref":"([0-9a-f]{64})",'
    rb'"seq":([1-9][0-9]{0,15}),"type":"kokreativ\.event","v":2\}'
)
_GENESIS: Final = GENESIS_PREV.encode("ascii")


class EventEntry(NamedTuple):
    """The fields of an ``event`` entry; ``received_ms`` is whatever JSON value the entry holds.

    An entry v2 shows no flags (``()`` here) and only the UTC day it was received
    (the flags, the exact time and the totals are the auditor's, :mod:`.auditor`).
    """

    body: bytes
    sig: bytes
    received_ms: Any
    flags: tuple[str, ...]
    version: int = 1


class EventFacts(NamedTuple):
    """What an audit needs of one parsed event."""

    kiosk: str
    seq: int
    prev: str
    kind: str
    card: str
    wall_ms: int
    boot: str
    mono_ms: int
    synced: bool
    ref: str | None = None  # a v2 event's commitment to its card (``card`` is then "")


_B64_VALUE: Final = {
    c: i for i, c in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
}


def _b64(text: bytes) -> bytes | None:
    """Strict, canonical base64 (as :func:`protocol.b64decode`), or ``None`` to let the protocol say why.

    Canonical means the bits after the data are zero: the last character before
    ``==`` carries 4 unused bits, before ``=`` 2.  Checking them is cheaper than
    encoding again.
    """
    if len(text) % 4:
        return None  # strict mode lets a surplus "=" through
    try:
        raw = binascii.a2b_base64(text, strict_mode=True)
    except binascii.Error:
        return None
    if text.endswith(b"=="):
        return raw if _B64_VALUE[text[-3]] & 0b1111 == 0 else None
    if text.endswith(b"="):
        return raw if _B64_VALUE[text[-2]] & 0b11 == 0 else None
    return raw


def parse_event_entry(data: bytes) -> EventEntry | dict[str, Any]:
    """An ``event`` entry's fields, or the parsed entry of any other kind; raises like ``parse_entry``."""
    if len(data) <= MAX_ENTRY_BYTES and data.endswith(_V2_END):
        v2 = _EVENT_ENTRY_V2.fullmatch(data)
        if v2 is not None:
            body_b64, received, sig_b64 = v2.groups()
            body, sig, received_ms = _b64(body_b64), _b64(sig_b64), int(received)
            if body is not None and sig is not None and received_ms <= MAX_SAFE_INT:
                return EventEntry(body, sig, received_ms, (), 2)
        match = None
    else:
        match = _EVENT_ENTRY.fullmatch(data) if len(data) <= MAX_ENTRY_BYTES else None
    if match is not None:
        body_b64, flags, received, sig_b64 = match.groups()
        body, sig, received_ms = _b64(body_b64), _b64(sig_b64), int(received)
        if body is not None and sig is not None and received_ms <= MAX_SAFE_INT:
            return EventEntry(
                body,
                sig,
                received_ms,
                tuple(flag.decode()[1:-1] for flag in flags.split(b",")) if flags else (),
            )
    obj = parse_entry(data)
    if obj["kind"] == "event":
        if obj["v"] == 1:
            return EventEntry(obj["body"], obj["sig"], obj["received_ms"], tuple(obj["flags"]))
        return EventEntry(obj["body"], obj["sig"], obj["received_ms"], (), obj["v"])
    return obj


def parse_event_facts(body: bytes) -> EventFacts:
    """The facts of a strictly valid event; raises :class:`protocol.MalformedError` like ``parse_event``.

    :func:`protocol.parse_event` has its own fast path for the canonical layout.
    """
    return event_facts(parse_event(body))


def event_facts(event: Event) -> EventFacts:
    """What the audit keeps of a parsed event."""
    clock = event.clock
    return EventFacts(
        event.kiosk,
        event.seq,
        event.prev,
        event.kind.value,
        event.card,
        clock.wall_ms,
        clock.boot_id,
        clock.mono_ms,
        clock.synced,
        event.ref,
    )


class FastEvent(NamedTuple):
    """An ``event`` entry and its kiosk event in the common, canonical shape, parsed in one go."""

    body: bytes
    sig: bytes
    received_ms: int
    flags: tuple[str, ...]
    facts: EventFacts


def parse_fast(data: bytes) -> FastEvent | None:
    """Both layers of a well-formed ``event`` entry at once, or ``None`` when any part needs the slow path.

    ``None`` says nothing about validity: the caller then uses :func:`parse_event_entry`
    and :func:`parse_event_facts`, which accept or refuse with the protocol's reasons.
    """
    if len(data) > MAX_ENTRY_BYTES or data.endswith(_V2_END):  # an entry v2: parse_event_entry's
        return None
    entry = _EVENT_ENTRY.fullmatch(data)
    if entry is None:
        return None
    body_b64, flags, received, sig_b64 = entry.groups()
    body, sig, received_ms = _b64(body_b64), _b64(sig_b64), int(received)
    if body is None or sig is None or received_ms > MAX_SAFE_INT or len(body) > MAX_EVENT_BYTES:
        return None
    try:
        facts = parse_event_facts(body)
    except ProtocolError:
        return None
    return FastEvent(
        body,
        sig,
        received_ms,
        tuple(flag.decode()[1:-1] for flag in flags.split(b",")) if flags else (),
        facts,
    )


class FastSealed(NamedTuple):
    """An entry v2 of a v2 event in the canonical shape: its bytes, received day, chain place and ``ref``."""

    body: bytes
    sig: bytes
    received_ms: int
    kiosk: str
    seq: int
    prev: str
    ref: str


def parse_fast_sealed(data: bytes) -> FastSealed | None:
    """Both layers of a well-formed entry v2 of a v2 event at once (what a log that names no card holds).

    ``None`` says nothing about validity, as for :func:`parse_fast`: the caller then
    uses :func:`parse_event_entry` and :func:`parse_event_facts`.  A match is what
    those accept, with the same fields; it builds no :class:`~protocol.events.Event`.
    """
    if len(data) > MAX_ENTRY_BYTES or not data.endswith(_V2_END):
        return None
    entry = _EVENT_ENTRY_V2.fullmatch(data)
    if entry is None:
        return None
    body_b64, received, sig_b64 = entry.groups()
    body, sig, received_ms = _b64(body_b64), _b64(sig_b64), int(received)
    if body is None or sig is None or received_ms > MAX_SAFE_INT:
        return None
    event = _SEALED_EVENT.fullmatch(body)
    if event is None:
        return None
    kiosk, prev, ref, seq_text = event.groups()
    seq = int(seq_text)
    if seq > MAX_SAFE_INT or (seq == 1) != (prev == _GENESIS):
        return None
    return FastSealed(body, sig, received_ms, kiosk.decode(), seq, prev.decode(), ref.decode())
