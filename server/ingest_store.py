"""Store, log and apply a batch's admitted new events: the effects half of :mod:`server.ingest`.

Each new event is timed (:func:`protocol.clockref.event_time`) and flagged,
shop events settled by the redemption rules, then the batch's rows are stored
and its taps paired into shifts; only then are its log entries built and
appended to the transparency log, all in the caller's transaction.  An entry
v2 shows the event's signed bytes (a sealed v2 event) and the UTC day it came:
what the rules made of it (flags, and how it moved the economy's totals,
``issued`` and ``redeemed``, read back from the ledger entries that point at
it), the exact receipt time and the opening go to ``openings``, off the log.  One loop per batch and a
fixed handful of queries: this is the ingest's hot path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, NamedTuple

from protocol import EventKind, Reason
from protocol.clockref import ClockRef, event_time, wants_ref
from protocol.commitments import Opening
from protocol.economy.undo import UNDO_KINDS, TapMark, undo_verdict
from protocol.events import Event
from protocol.heartbeat import SignedHeartbeat
from protocol.logentry import ENTRY_VERSION
from server import tlog
from server.context import ServerContext
from server.eventchecks import card_flags, clock_in_range
from server.models import Card, Kiosk, Site
from server.redemptions import SHOP_EVENT_KINDS, apply_event
from server.shifts import Tap, apply_taps
from server.storage import Tx, encode_flags
from server.storage.events import EVENT_COLUMNS
from server.storage.openings import sealed_json
from server.voidrequests import complete_in as complete_void_request

_TAP_KINDS: Final = frozenset({EventKind.CHECK_IN, EventKind.CHECK_OUT})
# Enum members and reason codes read once: an enum class's attribute costs a lookup through its metaclass.
_UNDO: Final = EventKind.UNDO
_VOID: Final = EventKind.VOID
_DENIED: Final = EventKind.DENIED
_CLOCK_OUT_OF_RANGE: Final = Reason.CLOCK_OUT_OF_RANGE.value
_UNKNOWN_CARD: Final = Reason.UNKNOWN_CARD.value
_FLAGS_JSON: Final[dict[tuple[str, ...], str]] = {}  # flags -> as stored (_flags_json); reason codes are few
_FLAGS_JSON_MAX: Final = 1024
_FLAGS: Final = EVENT_COLUMNS.index("flags")
_PLAIN: Final = re.compile(r"[0-9a-f-]{36}")  # a boot ID as events have it: nothing JSON would escape
_PLAIN_KINDS: Final = frozenset(kind.value for kind in EventKind)


class _Settled(NamedTuple):
    """The admitted new events made ready to store: their rows, the taps to pair, their results."""

    rows: list[tuple[Any, ...]]  # the events' rows, in the order of EVENT_COLUMNS
    taps: list[Tap]
    results: list[dict[str, Any]]
    undos: dict[int, int]  # seq of each undo that reached pairing -> its index in rows and results


class Stored(NamedTuple):
    """What storing a batch's new events did.

    ``results`` are theirs, ``appended`` the log append and ``events_from`` the
    log index of the first event (after the ``clock_ref`` entry, when the batch
    logged one).  ``version`` is the entry version they were logged in;
    ``sealed_refs`` maps the seq of each v1 event logged as ``event_sealed`` to its commitment.
    """

    results: list[dict[str, Any]]
    appended: tlog.Appended
    events_from: int
    version: int
    sealed_refs: dict[int, str]


def store_new(
    ctx: ServerContext,
    tx: Tx,
    kiosk: Kiosk,
    items: Sequence[tuple[bytes, bytes]],
    events: Sequence[Event],
    openings: Sequence[Opening | None],
    hashes: Sequence[str],
    sample: SignedHeartbeat | None,
    now: int,
) -> Stored:
    """Flag, store, apply and log the admitted new events.

    ``events`` are opened already (a v2 event's ``card`` is known) and ``openings``
    are theirs, ``None`` for a v1 event.  ``hashes`` are the events'
    :func:`protocol.event_hash`, already computed for the chain check.
    """
    cards = tx.cards(event.card for event in events)
    site = tx.get_site(kiosk.site_id)
    assert site is not None, "foreign key guarantees the site"
    version = tx.log_format()
    entries: list[bytes] = []
    first_index = tx.tlog_size()
    refs = _clock_refs(tx, kiosk.kiosk_id, events, sample, first_index, now, entries, version)
    events_from = first_index + len(entries)
    new = zip(items, events, hashes, strict=True)
    settled = _settle(tx, site, kiosk, new, cards, refs, events_from, now)
    if settled.taps:
        # Before the rows are stored: an undo whose shift moved on learns its flag here.
        for (_, seq), flag in apply_taps(tx, site, settled.taps, now).items():
            at = settled.undos[seq]
            flags = [*settled.results[at]["flags"], flag]
            row = settled.rows[at]
            settled.rows[at] = (*row[:_FLAGS], _flags_json(flags), *row[_FLAGS + 1 :])
            settled.results[at]["flags"] = flags
    tx.insert_event_rows(settled.rows)
    # Built after the rules ran: the openings keep what the rules made of each event.
    sealed_refs = _log_entries(tx, settled.rows, events, openings, events_from, version, entries)
    appended = tlog.append(ctx, tx, entries, now_ms=now)
    assert appended.first_index == first_index
    return Stored(settled.results, appended, events_from, version, sealed_refs)


def _log_entries(
    tx: Tx,
    rows: Sequence[tuple[Any, ...]],
    events: Sequence[Event],
    openings: Sequence[Opening | None],
    events_from: int,
    version: int,
    entries: list[bytes],
) -> dict[int, str]:
    """Append the entries of ``rows`` (logged from ``events_from``) to ``entries`` and keep their openings.

    Entry v1 (a log from before issue 17) names everything.  Entry v2 shows a v2
    event's bytes and the UTC day; its opening, exact receipt time, flags and
    totals (the ledger's moves, one query: :meth:`Tx.ledger_moves`) go to
    ``openings``.  A v1 event (which names its card) reaches a v2 log from an
    outbox older than its kiosk's update or from a kiosk never updated: it is
    logged as ``event_sealed`` with a commitment to its card made here.  Returns
    the seq of each such event and its commitment.  ``rows`` are the events' rows
    (:data:`~server.storage.events.EVENT_COLUMNS`): every one was received at the
    same time, so one entry template serves the batch (:func:`tlog.event_entry_template`).
    """
    moves = tx.ledger_moves(events_from)
    kept: list[tuple[Any, ...]] = []  # the openings' rows (OPENING_COLUMNS), made here: one per event
    sealed_refs: dict[int, str] = {}
    templates: dict[str, bytes] = {}  # flags as stored -> their entry's template (v1; v2 has one)
    template_v2 = b""
    boots: dict[str, bool] = {}  # boot ID -> whether _sealed_json may format it
    add_entry, keep = entries.append, kept.append
    for row, event, opening in zip(rows, events, openings, strict=True):
        kiosk_id, seq, body, sig, body_hash, _, _, _, flags_json, received_ms, log_index, _ = row
        issued, redeemed = moves.get(log_index, (0, 0))
        if version == ENTRY_VERSION:  # a log still of format 1 (until its hand-over) names everything
            template = templates.get(flags_json)
            if template is None:
                template = tlog.event_entry_template(received_ms=received_ms, flags_json=flags_json)
                templates[flags_json] = template
            add_entry(tlog.fill_event_entry(template, body, sig))
            if opening is None:
                continue
            kind = "event"
        elif opening is None:  # a v1 event: the server commits to its card
            opening = Opening.fresh(event.card)
            sealed_refs[seq] = opening.ref
            add_entry(tlog.sealed_event_entry(event, body_hash, opening.ref, received_ms=received_ms))
            kind = "event_sealed"
        else:
            if not template_v2:
                template_v2 = tlog.event_entry_template(received_ms=received_ms)
            add_entry(tlog.fill_event_entry(template_v2, body, sig))
            kind = "event"
        sealed = _sealed_json(event, boots)
        keep(
            (
                log_index,
                kind,
                opening.card,
                opening.salt,
                None,
                kiosk_id,
                seq,
                sealed,
                received_ms,
                flags_json,
                issued,
                redeemed,
            )
        )
    tx.insert_opening_rows(kept)
    return sealed_refs


# An opened tap's sealed fields as their canonical JSON (what ``sealed_json`` makes of ``sealed_fields()``),
# formatted: the common case, kept equal to the general one by a test.
_TAP_SEALED: Final = '{"clock":{"boot":"%s","mono_ms":%d,"synced":%s,"wall_ms":%d},"data":{},"kind":"%s"}'


def _sealed_json(event: Event, boots: dict[str, bool] | None = None) -> str:
    """:func:`server.storage.openings.sealed_json` of ``event.sealed_fields()``, the common case formatted.

    ``boots`` remembers, across one batch's events, whether each boot ID is one the
    format may hold (``_PLAIN``): a batch's events come from a few boots.
    """
    clock = event.clock
    if not event.data and type(clock.mono_ms) is int and type(clock.wall_ms) is int:
        synced = "true" if clock.synced is True else "false" if clock.synced is False else None
        boot = clock.boot_id
        plain = None if boots is None else boots.get(boot)
        if plain is None:
            plain = type(boot) is str and _PLAIN.fullmatch(boot) is not None
            if boots is not None:
                boots[boot] = plain
        kind = event.kind._value_
        if synced is not None and plain and kind in _PLAIN_KINDS:
            return _TAP_SEALED % (boot, clock.mono_ms, synced, clock.wall_ms, kind)
    return sealed_json(event.sealed_fields())


def _settle(
    tx: Tx,
    site: Site,
    kiosk: Kiosk,
    new: Iterable[tuple[tuple[bytes, bytes], Event, str]],
    cards: Mapping[str, Card],
    refs: Mapping[str, Sequence[ClockRef]],
    events_from: int,
    now: int,
) -> _Settled:
    """Time and flag each new ``(item, event, hash)``, settling shop events now; build its row and tap.

    The ingest's hot path: one loop, no calls per event but the rules'.  ``cards``
    are the batch's registered cards, ``refs`` its clock references by boot;
    the events' entries will be logged from ``events_from`` on, one each.  Each
    row is the event's values of :data:`~server.storage.events.EVENT_COLUMNS`.
    """
    rows: list[tuple[Any, ...]] = []
    taps: list[Tap] = []
    results: list[dict[str, Any]] = []
    undos: dict[int, int] = {}
    marks: dict[str, TapMark] = {}  # card -> its latest check-in, check-out or undo in this batch
    standing: dict[str, list[str]] = {}  # card -> its flags when not blocked (_flag_tap)
    kiosk_id = kiosk.kiosk_id
    add_row, add_result = rows.append, results.append
    for offset, ((body, sig), event, body_hash) in enumerate(new):
        event.require_opened()  # the rules below read kind, card, clock and data
        card = cards.get(event.card)
        log_index = events_from + offset
        clock = event.clock
        kind = event.kind
        time_ms, trusted = event_time(clock.wall_ms, clock.synced, clock.mono_ms, refs.get(clock.boot_id, ()))
        if kind in SHOP_EVENT_KINDS:
            # Settled here, before its log entry is built: the flags are part of it.
            flags = apply_event(tx, site, event, card, now_ms=now, log_index=log_index, time_ms=time_ms)
            if kind is _VOID and not flags:  # the shop page's request for it is done
                complete_void_request(tx, event.data["id"], now)
        elif kind is _UNDO:
            flags = _flag_undo(tx, event, card, marks, time_ms, log_index=log_index, taps=taps)
            if taps and taps[-1].seq == event.seq:
                undos[event.seq] = len(rows)
        else:
            flags = _flag_tap(
                event,
                time_ms,
                card,
                site,
                now,
                log_index=log_index,
                trusted=trusted,
                enrolled_ms=kiosk.enrolled_ms,
                taps=taps,
                standing=standing,
            )
        add_row(
            (
                kiosk_id,
                event.seq,
                body,
                sig,
                body_hash,
                kind._value_,  # its .value, read without the enum's descriptor (hot path)
                event.card,
                clock.wall_ms,
                _flags_json(flags),
                now,
                log_index,
                time_ms if trusted and not clock.synced else None,
            )
        )
        add_result({"seq": event.seq, "status": "accepted", "flags": flags})
        if kind in UNDO_KINDS:
            target = event.data["seq"] if kind is _UNDO else None
            marks[event.card] = TapMark(event.seq, kind, clock.boot_id, clock.mono_ms, target)
    return _Settled(rows, taps, results, undos)


def _flags_json(flags: Sequence[str]) -> str:
    """:func:`~server.storage.encode_flags` of ``flags``, remembered: a batch's events share a few lists."""
    key = tuple(flags)
    text = _FLAGS_JSON.get(key)
    if text is None:
        text = encode_flags(key)
        if len(_FLAGS_JSON) < _FLAGS_JSON_MAX:
            _FLAGS_JSON[key] = text
    return text


def _flag_undo(
    tx: Tx,
    event: Event,
    card: Card | None,
    marks: Mapping[str, TapMark],
    time_ms: int,
    *,
    log_index: int,
    taps: list[Tap],
) -> list[str]:
    """The flags of an admitted ``undo`` (``protocol.economy.undo``); one that may apply joins ``taps``.

    Its verdict reads the card's latest tap at the kiosk: from this batch's ``marks`` if the
    card tapped in it, else from storage, from the tap it names on.
    """
    if card is None:
        return [Reason.UNKNOWN_CARD.value]
    target = event.data["seq"]
    clock = event.clock
    latest = marks.get(event.card)
    if latest is None and target < event.seq:
        latest = tx.latest_tap_mark(event.kiosk, event.card, target, event.seq)
    verdict = undo_verdict(
        seq=event.seq, target=target, boot=clock.boot_id, mono_ms=clock.mono_ms, latest=latest
    )
    if verdict is not None:
        return [verdict]
    assert latest is not None
    taps.append(
        Tap(
            event.kiosk,
            event.seq,
            EventKind.UNDO,
            event.card,
            card.volunteer_id,
            time_ms,
            log_index=log_index,
            boot=clock.boot_id,
            mono_ms=clock.mono_ms,
            target=target,
            undoes=latest.kind,
        )
    )
    return []


def _flag_tap(
    event: Event,
    time_ms: int,
    card: Card | None,
    site: Site,
    now: int,
    *,
    log_index: int,
    trusted: bool,
    enrolled_ms: int,
    taps: list[Tap],
    standing: dict[str, list[str]] | None = None,
) -> list[str]:
    """The flags of an admitted check-in, check-out or ``denied`` event, in the documented order.

    ``time_ms`` is the event's time as the ledger counts it (:func:`protocol.clockref.event_time`),
    ``trusted`` whether that time is, ``enrolled_ms`` when its kiosk was enrolled.  A ``denied``
    event gets no card flags: it already records a refusal.  A registered card's check-in or check-out joins
    ``taps``, to be paired (here, not in the caller: this runs once per event).  ``standing``
    remembers, across a batch, each card's flags when it is not blocked: then
    :func:`~protocol.economy.clocks.card_flags` reads neither the time nor the block, only the card
    and the site's policy, so its answer for one event of the card is its answer for all.
    """
    flags: list[str] = []
    if not clock_in_range(time_ms, now):
        flags.append(_CLOCK_OUT_OF_RANGE)
    if card is None:
        flags.append(_UNKNOWN_CARD)
    kind = event.kind
    if kind is not _DENIED:
        blocked_ms = None if card is None else card.blocked_ms
        found = None if standing is None or blocked_ms is not None else standing.get(event.card)
        if found is None:
            found = [
                flag.value
                for flag in card_flags(
                    event.card,
                    blocked_ms,
                    allow_uncredentialed=site.allow_uncredentialed,
                    wall_ms=time_ms,
                )
            ]
            if standing is not None and blocked_ms is None:
                standing[event.card] = found
        if found:
            flags.extend(found)
    if card is not None and kind in _TAP_KINDS:
        # Any flag on a registered card's tap keeps its shift from paying; the first one names why.
        clock = event.clock
        taps.append(
            Tap(
                event.kiosk,
                event.seq,
                kind,
                event.card,
                card.volunteer_id,
                time_ms,
                flags[0] if flags else None,
                log_index,
                clock.boot_id,
                clock.mono_ms,
                trusted,
                len(flags) > 1,
                now,
                enrolled_ms,
            )
        )
    return flags


def _clock_refs(
    tx: Tx,
    kiosk_id: str,
    events: Sequence[Event],
    sample: SignedHeartbeat | None,
    log_index: int,
    now: int,
    entries: list[bytes],
    version: int,
) -> dict[str, list[ClockRef]]:
    """The references of the boots of ``events`` with an unsynced clock, the batch's sample included.

    The sample becomes a reference (its ``clock_ref`` entry appended to ``entries``
    at ``log_index``) when one of those events is from its boot, it is no older than
    any of them, and :func:`protocol.clockref.wants_ref` says the boot needs it.
    """
    unsynced = [event.clock for event in events if not event.clock.synced]
    if not unsynced:
        return {}
    refs = tx.clock_refs(kiosk_id, {clock.boot_id for clock in unsynced})
    if sample is None:
        return refs
    beat = sample.beat
    same_boot = [clock.mono_ms for clock in unsynced if clock.boot_id == beat.boot]
    if same_boot and max(same_boot) <= beat.mono_ms and wants_ref(refs.get(beat.boot, ()), beat.mono_ms):
        ref = ClockRef(beat.mono_ms, now)
        entries.append(tlog.clock_ref_entry(sample.body, sample.sig, received_ms=now, version=version))
        tx.insert_clock_ref(kiosk_id, beat.boot, ref, log_index)
        refs.setdefault(beat.boot, []).append(ref)
    return refs
