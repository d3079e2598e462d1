"""The sealed log: what the public checks of ``totals`` entries, and what the auditor's openings must say.

A log of entries v2 (``docs/protocol.md``, "Public and auditor audits") shows
of each event only its chain place, a commitment ``ref`` and the UTC day it was
received; its card, kind, clock, data, flags, exact receipt time and how it
moved the economy are in the auditor's opening item (:mod:`.auditor`).  The
economy's totals are public only per range of entries, in ``totals`` entries.

* :func:`open_event` and :func:`open_sealed_v1` turn an opening item into the
  full event and what the server decided about it, or raise :class:`BadOpening`
  saying why the item does not open its entry;
* :func:`item_totals` reads an item's ``issued``/``redeemed``;
* :class:`TotalsRanges` checks the ``totals`` entries: publicly that their
  ranges run on from entry 0 without gap or overlap, and for the auditor that
  each range's figures are what the replay moved in it.

The replay (:mod:`.replay`) decides what each failure is called.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, Final, NamedTuple

from protocol.commitments import SEALED_FIELDS, Opening, parse_opening
from protocol.encoding import MAX_SAFE_INT, b64decode
from protocol.errors import ProtocolError
from protocol.events import Event, event_hash, parse_event
from protocol.logentry import public_day

_FLAG_MAX: Final = 64


class BadOpening(ValueError):
    """An opening item that does not open its entry, or says something the entry contradicts."""


class OpenedEvent(NamedTuple):
    """A sealed event opened: the full event, and what the server decided about it (the item's word)."""

    event: Event
    received_ms: int
    flags: tuple[str, ...]
    issued: int
    redeemed: int


def _int(item: Mapping[str, Any], name: str, low: int = 0) -> int:
    value = item.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_SAFE_INT:
        raise BadOpening(f"its {name} is not an integer")
    return value


def item_totals(item: Mapping[str, Any]) -> tuple[int, int]:
    """``(issued, redeemed)`` of an opening item: signed integers (a void or a rejection takes back)."""
    return _int(item, "issued", -MAX_SAFE_INT), _int(item, "redeemed", -MAX_SAFE_INT)


def _decided(item: Mapping[str, Any], received_day: int) -> tuple[int, tuple[str, ...], int, int]:
    """The exact receipt time (on the entry's day), the flags and the totals an item says."""
    received_ms = _int(item, "received_ms")
    if public_day(received_ms) != received_day:
        raise BadOpening(
            f"its received_ms {received_ms} is not on the UTC day the entry shows ({received_day})"
        )
    flags = item.get("flags")
    if not isinstance(flags, list) or not all(isinstance(f, str) and len(f) <= _FLAG_MAX for f in flags):
        raise BadOpening("its flags are not a list of reason codes")
    return (received_ms, tuple(flags), *item_totals(item))


def _place(item: Mapping[str, Any], kiosk: str, seq: int) -> None:
    """An item that names a kiosk and seq names those of its entry's event."""
    if item.get("kiosk", kiosk) != kiosk or item.get("seq", seq) != seq:
        raise BadOpening(f"it names kiosk {item.get('kiosk')!r} seq {item.get('seq')!r}, not the event's")


def _opening(item: Mapping[str, Any]) -> Opening:
    """The :class:`Opening` of an item: ``card``, ``salt`` and, for an event, ``sealed``."""
    sealed = item.get("sealed")
    wire: dict[str, Any] = {"card": item.get("card"), "salt": item.get("salt")}
    if sealed is not None:
        if not isinstance(sealed, dict) or set(sealed) != SEALED_FIELDS:
            raise BadOpening("its sealed is not {clock, data, kind}")
        wire.update(sealed)
    try:
        return parse_opening(wire)
    except ProtocolError as exc:
        raise BadOpening(exc.message) from exc


def open_event(item: Mapping[str, Any], body: bytes, *, received_day: int) -> OpenedEvent:
    """The event of an entry v2 (``body``, a v2 event) opened by ``item``, checked by the event rules.

    ``protocol``'s :meth:`~protocol.events.Event.opened` checks that the opening
    opens the event's ``ref`` and that the sealed fields obey the rules.
    """
    sealed = parse_event(body)
    opening = _opening(item)
    if opening.sealed is None:
        raise BadOpening("it has no sealed {clock, data, kind}")
    try:
        event = sealed.opened(opening)
    except ProtocolError as exc:
        raise BadOpening(exc.message) from exc
    _place(item, event.kiosk, event.seq)
    return OpenedEvent(event, *_decided(item, received_day))


def open_sealed_v1(item: Mapping[str, Any], entry: Mapping[str, Any]) -> tuple[OpenedEvent, bytes, bytes]:
    """An ``event_sealed`` entry's v1 event from ``item`` (its ``body``/``sig``), and the bytes.

    The bytes must hash to the entry's ``hash`` and sit at its chain place; the
    item's card (alone, or with its sealed fields) must open the entry's ``ref``,
    and card and sealed fields must be the event's own.  The caller checks the signature with the kiosk's key.
    """
    try:
        body = b64decode(item.get("body"), field="body")
        sig = b64decode(item.get("sig"), field="sig")
        event = parse_event(body)
    except ProtocolError as exc:
        raise BadOpening(f"its body: {exc.message}") from exc
    if event.version != 1 or event_hash(body) != entry["hash"]:
        raise BadOpening("its body is not the v1 event whose hash the entry holds")
    if (event.kiosk, event.seq, event.prev) != (entry["kiosk"], entry["seq"], entry["prev"]):
        raise BadOpening("its body is not at the entry's chain place")
    opening = _opening(item)
    # The server commits to the card alone (the signed v1 body fixes the rest); a commitment to the
    # sealed fields as well opens too.
    card_only = Opening(opening.card, opening.salt)
    if not (card_only.opens(entry["ref"]) or opening.opens(entry["ref"])):
        raise BadOpening("it does not open the entry's ref")
    if opening.card != event.card or opening.sealed not in (None, event.sealed_fields()):
        raise BadOpening("it opens the ref to another card, kind, clock or data than the event's")
    _place(item, event.kiosk, event.seq)
    return OpenedEvent(event, *_decided(item, entry["received_ms"])), body, sig


@dataclass(slots=True)
class TotalsRanges:
    """The ``totals`` entries so far: the public sums and ranges, and the auditor's check of each range."""

    issued: int = 0  # the public sums of every totals entry
    redeemed: int = 0
    covered: int = 0  # entries 0..covered-1 are covered by totals entries
    ranges: list[tuple[int, int, int, int, int]] = field(default_factory=list)  # index, first, last, i, r

    def add(self, index: int, first: int, last: int, issued: int, redeemed: int) -> str | None:
        """Count one ``totals`` entry; a message if its range does not run on from the previous one."""
        self.issued += issued
        self.redeemed += redeemed
        problem = None
        if first != self.covered:
            problem = f"its range starts at entry {first}; the ranges so far end before entry {self.covered}"
        elif not first <= last <= index:
            problem = f"its range {first}..{last} is empty or reaches past the totals entry itself"
        else:
            self.ranges.append((index, first, last, issued, redeemed))
        self.covered = max(self.covered, last + 1)
        return problem

    def differing(
        self, moves: Mapping[int, Sequence[int]], unopened: Sequence[int]
    ) -> list[tuple[int, int, int, tuple[int, int], tuple[int, int]]]:
        """The ranges whose figures are not what the replay moved: ``(index, first, last, logged, moved)``.

        A range holding an entry without a good opening is left out: that entry is a finding already.
        """
        keys = sorted(moves)
        issued = [0, *accumulate(moves[k][0] for k in keys)]
        redeemed = [0, *accumulate(moves[k][1] for k in keys)]
        holes = sorted(unopened)
        found = []
        for index, first, last, logged_issued, logged_redeemed in self.ranges:
            if bisect_right(holes, last) > bisect_left(holes, first):
                continue
            lo, hi = bisect_left(keys, first), bisect_right(keys, last)
            moved = (issued[hi] - issued[lo], redeemed[hi] - redeemed[lo])
            if moved != (logged_issued, logged_redeemed):
                found.append((index, first, last, (logged_issued, logged_redeemed), moved))
        return found
