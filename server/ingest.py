"""Batch ingest: admit a kiosk's signed events whole or not at all, then apply their effects.

This is docs/protocol.md, "Batch ingest rules", in code: checks in the
documented order, the first failure refuses the whole batch (equivocation
evidence survives in a transaction of its own).  Problems that do not break
the chain become flags, not refusals, because refusing a validly signed event
would wedge the kiosk.  Admitted events are stored byte for byte and appended
to the transparency log in the batch's transaction.  It is built for speed (a
kiosk may sync days of taps at once): a fixed handful of queries per batch,
signature checks on ``verify_pool``'s threads, and cheap to refuse: size,
shape, then the first event, then the signatures (stopping at the first bad
one), all before the write transaction opens (docs/architecture.md, "The
server's ingest").  A v2 event names a commitment to its card, not the card:
its opening travels beside it and is checked as part of decoding the event
(``opening_mismatch``; a SHA-256, cheaper than the signature that follows), so
every rule after it runs on the opened event.  A new v2 event without its
opening is ``opening_missing``; a duplicate needs none (a kiosk drops its
openings once a receipt covers them, and a duplicate is answered from what is stored).
Here the batch is checked; :mod:`server.ingest_store` flags, stores, logs and
applies its new events.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any, Final, NamedTuple

from protocol import (
    MalformedError,
    ProtocolError,
    PublicKey,
    Reason,
    Receipt,
    decode_batch_request,
    event_hash,
    parse_event,
    sign_balances,
    sign_receipt,
)
from protocol.commitments import Opening, SealedOpening
from protocol.events import Event, decode_wire_item, open_canonical
from protocol.heartbeat import SignedHeartbeat, open_heartbeat
from protocol.logentry import ENTRY_VERSION, parse_entry
from server import tlog
from server.balances import batch_balances
from server.context import ServerContext
from server.errors import InputError, ServiceError, from_protocol
from server.ingest_store import store_new
from server.models import HeldEvent, Kiosk, KioskStatus
from server.signers import signing_kiosk
from server.storage import ReadTx, Tx, decode_flags

_VERIFY_CHUNK: Final = 64
_MAX_LOG_SIZE_DIGITS: Final = 15


class _Admitted(NamedTuple):
    """What admitting a batch did: the kiosk's new state, the results, where each event is in the log,
    the log append (``None`` when every event was a duplicate) and the batch's card IDs."""

    kiosk: Kiosk
    results: list[dict[str, Any]]
    logged: list[tlog.LoggedEvent]
    appended: tlog.Appended | None
    card_ids: frozenset[str]


class _Equivocation(Exception):
    """Raised inside the batch transaction so it rolls back; the evidence is stored afterwards."""

    def __init__(self, index: int, seq: int, stored_body: bytes, offered_body: bytes, offered_sig: bytes):
        super().__init__(f"equivocation at seq {seq}")
        self.index, self.seq = index, seq
        self.stored_body, self.offered_body, self.offered_sig = stored_body, offered_body, offered_sig


def _bad_item_index(data: bytes) -> dict[str, int]:
    """Which wire item ``decode_batch`` refused; only called on that error path."""
    try:
        items = json.loads(data)["events"]
        for index, item in enumerate(items):
            try:
                decode_wire_item(item)
            except ProtocolError:
                return {"index": index}
    except (ValueError, KeyError, TypeError, RecursionError):
        pass
    return {}


Verifier = Callable[[PublicKey, bytes, bytes], bool]


def verify_signature(key: PublicKey, body: bytes, sig: bytes) -> bool:
    """Whether ``sig`` signs ``body`` with ``key``: the ingest's one signature check (a test seam)."""
    try:
        key.verify(body, sig)
    except ProtocolError:
        return False
    return True


def _first_bad(
    key: PublicKey, items: Sequence[tuple[bytes, bytes]], start: int, pool: Executor | None, verify: Verifier
) -> int:
    """The index of the first item from ``start`` on whose signature fails; ``len(items)`` if none does.

    Checking stops at the first bad signature, so a batch of junk costs little.
    With a pool, chunks are checked on its threads while the caller waits; a
    chunk stops at its own bad item and skips items after one another chunk
    found.  The caller must not do Python work meanwhile: a thread that holds
    the GIL would make each worker wait a whole switch interval after every
    libsodium call.
    """
    count = len(items)
    if pool is None or count - start <= _VERIFY_CHUNK:
        for index in range(start, count):
            body, sig = items[index]
            if not verify(key, body, sig):
                return index
        return count
    first_bad = [count]
    lock = threading.Lock()

    def check(begin: int) -> None:
        for index in range(begin, min(begin + _VERIFY_CHUNK, count)):
            if index >= first_bad[0]:  # an earlier item failed: this one no longer matters
                return
            body, sig = items[index]
            if not verify(key, body, sig):
                with lock:
                    first_bad[0] = min(first_bad[0], index)
                return

    for _ in pool.map(check, range(start, count, _VERIFY_CHUNK)):
        pass
    return first_bad[0]


class _Signatures(NamedTuple):
    """Which signatures of a batch verified, checked before its write transaction.

    ``public_key`` is the kiosk key they were checked with (``None``: none were
    checked, the kiosk is unknown); the items before ``good`` verified, the one
    at ``good`` (if any) did not, and later ones were not checked.
    """

    public_key: bytes | None
    good: int

    def ok(self, count: int) -> list[bool]:
        """One flag per item, as the chain check reads them."""
        return [index < self.good for index in range(count)]


Parsed = Event | ServiceError  # an item's event, or the refusal its decoding earned (raised in order)


class _Prechecked(NamedTuple):
    """What was checked before the write transaction: signatures, each item parsed, the clock sample.

    A decoding refusal is kept, not raised, so the chain check raises the batch's
    first refusal in the documented order; so is the clock sample's.
    """

    signatures: _Signatures
    parsed: list[Parsed]
    sample: SignedHeartbeat | ServiceError | None


def _parse_all(
    items: Sequence[tuple[bytes, bytes]], openings: Sequence[Opening | None], first: Event
) -> list[Parsed]:
    """Every item parsed (and opened, with an opening beside it); ``first`` is item 0's, parsed already."""
    parsed: list[Parsed] = [first]
    for index in range(1, len(items)):
        try:
            parsed.append(_parse_item(items[index][0], openings[index], index))
        except ServiceError as exc:
            parsed.append(exc)
    return parsed


def _parse_item(body: bytes, opening: Opening | None, index: int) -> Event:
    """The event of the batch's item ``index``, opened with its ``opening`` when one came beside it.

    Refused with the item's ``index``: the event's own reason when it does not
    parse, ``opening_mismatch`` when the opening does not open its ``ref``, and
    ``bad_field`` for a v1 event with an opening (it names its card already).
    A v2 event without an opening stays unopened: :func:`_opened` refuses it
    only when it is new.
    """
    try:
        if opening is not None:  # nearly every item: a canonical v2 event, opened in one pass
            opened = open_canonical(body, opening)
            if opened is not None:
                return opened
        event = parse_event(body)
        if event.version == 1:
            if opening is not None:
                raise InputError(
                    Reason.BAD_FIELD, "a v1 event names its card and takes no opening", extra={"index": index}
                )
            return event
        return event if opening is None else event.opened(opening)
    except ProtocolError as exc:
        raise from_protocol(exc, index=index) from exc


def _precheck(
    ctx: ServerContext,
    kiosk_id: str,
    items: Sequence[tuple[bytes, bytes]],
    openings: Sequence[Opening | None],
    clock: object,
    pool: Executor | None,
    verify: Verifier,
) -> _Prechecked:
    """The batch's signatures, its events and its clock sample, checked before the write transaction.

    Signature checks are the ingest's dearest work, then parsing and opening
    the events: done here, they hold no write lock (several server workers
    verify and parse at once, and take turns only to store), and a refused
    batch never opens a write transaction.  The first event is checked in the
    documented order (decoding, kiosk, then signature) and its refusal raised
    here, so junk costs one signature check at most.  A bad signature further
    on loses to refusals of earlier events (a gap, a broken chain, an
    equivocation), so the chain check finds the first refusal in a read
    transaction.  What the write transaction must decide (sequence, hash links,
    duplicates, the kiosk's status) it decides itself, on what it reads.
    """
    with ctx.storage.read() as tx:
        stored_kiosk = tx.get_kiosk(kiosk_id)
    first = _parse_item(items[0][0], openings[0], 0)
    if first.kiosk != kiosk_id:
        raise InputError(Reason.KIOSK_MISMATCH, "event names another kiosk", extra={"index": 0})
    key = signing_kiosk(stored_kiosk, kiosk_id, suspended_ok=False).public_key
    public_key = PublicKey(key)
    if not verify(public_key, *items[0]):
        raise InputError(Reason.BAD_SIGNATURE, "signature does not verify", extra={"index": 0})
    signatures = _Signatures(key, _first_bad(public_key, items, 1, pool, verify))
    # After the signatures, not beside them: Python work while the pool verifies would hold the GIL.
    parsed = _parse_all(items, openings, first)
    if signatures.good < len(items):
        # Refused either way; a read transaction finds which refusal comes first in the documented order.
        with ctx.storage.read() as tx:
            ok = signatures.ok(len(items))
            _check_chain(tx, kiosk_id, items, openings, parsed, tx.get_kiosk(kiosk_id), ok)
        raise AssertionError("the chain check refuses a batch with a bad signature")  # pragma: no cover
    sample: SignedHeartbeat | ServiceError | None
    try:
        sample = _clock_sample(clock, public_key, kiosk_id)
    except ServiceError as exc:
        sample = exc
    return _Prechecked(signatures, parsed, sample)


def parse_log_size(text: str | None) -> int | None:
    """The ``log_size`` query parameter: ``None`` when absent, else a decimal ≥ 0 (``bad_field``)."""
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_LOG_SIZE_DIGITS:
        raise InputError(Reason.BAD_FIELD, "log_size must be a tree size in decimal")
    return int(text)


def ingest_batch(
    ctx: ServerContext,
    kiosk_id: str,
    data: bytes,
    *,
    verify_pool: Executor | None = None,
    log_size: str | None = None,
    verify: Verifier = verify_signature,
) -> dict[str, Any]:
    """Admit the batch ``data`` (the raw request body) from ``kiosk_id``; return receipt and results.

    The answer also holds ``balances``, the signed balance sheet of the batch's
    cards as of this transaction (:func:`server.balances.batch_balances`).
    With ``log_size`` (the query parameter, unparsed) the answer adds
    ``checkpoint``, ``entries`` and ``consistency`` (:func:`server.tlog.batch_witness`);
    a ``log_size`` that is not a size the log has had is ``bad_field``.
    Raises :class:`ServiceError` with the documented reason; on any refusal
    nothing is stored, except equivocation evidence and the suspension.
    """
    now = ctx.now_ms()
    known_size = parse_log_size(log_size)
    try:
        items, clock, openings = decode_batch_request(data)
    except MalformedError as exc:
        raise from_protocol(exc, **_bad_item_index(data)) from exc

    openings = _unsealed(ctx, openings)
    witness: dict[str, Any] = {}
    try:
        prechecked = _precheck(ctx, kiosk_id, items, openings, clock, verify_pool, verify)
        with ctx.storage.write() as tx:
            if known_size is not None and known_size > tlog.latest_checkpoint(tx)[0]:
                raise InputError(Reason.BAD_FIELD, "log_size is larger than the log")
            admitted = _admit(ctx, tx, kiosk_id, items, openings, clock, now, prechecked, verify_pool, verify)
            if known_size is not None:
                witness = tlog.batch_witness(tx, admitted.appended, admitted.logged, known_size)
            # In the batch's transaction, after its shifts were paid: what the kiosk shows at check-out.
            sheet = batch_balances(tx, kiosk_id, admitted.card_ids, now)
    except _Equivocation as eq:
        _suspend(ctx, kiosk_id, eq, now)
        raise ServiceError(
            Reason.EQUIVOCATION,
            f"seq {eq.seq} differs from the stored event; the kiosk is suspended",
            extra={"index": eq.index, "seq": eq.seq},
        ) from None
    kiosk = admitted.kiosk
    receipt = Receipt(kiosk=kiosk_id, seq=kiosk.last_seq, head=kiosk.head, issued_ms=now)
    return {
        "receipt": sign_receipt(receipt, ctx.server_key),
        "results": admitted.results,
        "balances": sign_balances(sheet, ctx.server_key),
        **witness,
    }


def _unsealed(
    ctx: ServerContext, openings: Sequence[Opening | SealedOpening | None]
) -> tuple[Opening | None, ...]:
    """The batch's openings, each sealed one opened with the server's key (or a co-signing earlier key).

    A kiosk sends sealed openings only when it re-feeds a server restored from an
    older backup.  One that no key of this server opens counts as missing: a
    duplicate needs none, a new v2 event is refused ``opening_missing``.  The cost
    is one X25519 operation per item, bounded like the batch's signature checks.
    """
    keys = (ctx.server_key, *ctx.cosign_keys)
    return tuple(
        opening.open(keys) if isinstance(opening, SealedOpening) else opening for opening in openings
    )


def _suspend(ctx: ServerContext, kiosk_id: str, eq: _Equivocation, now: int) -> None:
    """Keep the evidence and suspend the kiosk (logged), after the batch's transaction rolled back."""
    with ctx.storage.write() as tx:
        tx.insert_equivocation(kiosk_id, eq.seq, eq.stored_body, eq.offered_body, eq.offered_sig, now)
        kiosk = tx.get_kiosk(kiosk_id)
        if kiosk is not None and kiosk.status is KioskStatus.ACTIVE:
            tx.set_kiosk_status(kiosk_id, KioskStatus.SUSPENDED)
            entry = tlog.kiosk_status_entry(kiosk_id, KioskStatus.SUSPENDED, now, version=tx.log_format())
            tlog.append(ctx, tx, [entry], now_ms=now)


def _admit(
    ctx: ServerContext,
    tx: Tx,
    kiosk_id: str,
    items: Sequence[tuple[bytes, bytes]],
    openings: Sequence[Opening | None],
    clock: object,
    now: int,
    prechecked: _Prechecked,
    verify_pool: Executor | None,
    verify: Verifier,
) -> _Admitted:
    """Check every event in the documented order, then the clock sample, and store the batch.

    The kiosk is read again here, in the write transaction: another worker may have
    stored some of these events, or suspended the kiosk, since the checks before it.
    """
    stored_kiosk = tx.get_kiosk(kiosk_id)
    signatures, sample = prechecked.signatures, prechecked.sample
    if stored_kiosk is not None and stored_kiosk.public_key != signatures.public_key:
        # The kiosk changed between the checks and this transaction (it is re-read here): check again.
        # A key never changes once enrolled, so this only runs when the kiosk appeared meanwhile.
        key = PublicKey(stored_kiosk.public_key)
        signatures = _Signatures(stored_kiosk.public_key, _first_bad(key, items, 0, verify_pool, verify))
        try:
            sample = _clock_sample(clock, key, kiosk_id)
        except ServiceError as exc:
            sample = exc
    sig_ok = signatures.ok(len(items))
    return _check_and_store(
        ctx, tx, kiosk_id, items, openings, prechecked.parsed, sample, now, stored_kiosk, sig_ok
    )


def _clock_sample(clock: object, key: PublicKey, kiosk_id: str) -> SignedHeartbeat | None:
    """The batch's verified clock sample, ``None`` without one; refused with ``"field": "clock"``."""
    if clock is None:
        return None
    try:
        return open_heartbeat(clock, key, kiosk_id=kiosk_id, field="clock")
    except ProtocolError as exc:
        raise from_protocol(exc, field="clock") from exc


class _Checked(NamedTuple):
    """A batch whose chain checks passed, before anything is stored.

    ``events`` are all the batch's events; those from ``new_from`` on are new
    (``new_hashes`` their :func:`protocol.event_hash`), the ones before are
    duplicates, already answered in ``results`` and ``logged``.  ``last_seq``
    and ``head`` are the kiosk's chain after the batch.
    """

    kiosk: Kiosk
    events: list[Event]
    results: list[dict[str, Any]]
    logged: list[tlog.LoggedEvent]
    new_from: int
    new_hashes: list[str]
    last_seq: int
    head: str


def _check_and_store(
    ctx: ServerContext,
    tx: Tx,
    kiosk_id: str,
    items: Sequence[tuple[bytes, bytes]],
    openings: Sequence[Opening | None],
    parsed: Sequence[Parsed],
    clock_sample: SignedHeartbeat | ServiceError | None,
    now: int,
    stored_kiosk: Kiosk | None,
    sig_ok: Sequence[bool],
) -> _Admitted:
    """Check the chain, then the clock sample, then store, log and apply the new events."""
    checked = _check_chain(tx, kiosk_id, items, openings, parsed, stored_kiosk, sig_ok)
    kiosk, events, results, logged = checked.kiosk, checked.events, checked.results, checked.logged
    new_from = checked.new_from
    if isinstance(clock_sample, ServiceError):
        raise clock_sample
    sample = clock_sample
    appended = None
    if new_from < len(items):
        stored = store_new(
            ctx,
            tx,
            kiosk,
            items[new_from:],
            events[new_from:],
            openings[new_from:],
            checked.new_hashes,
            sample,
            now,
        )
        appended = stored.appended
        results.extend(stored.results)
        logged.extend(
            tlog.LoggedEvent(
                result["seq"],
                stored.events_from + offset,
                now,
                result["flags"],
                stored.version,
                stored.sealed_refs.get(result["seq"]),
            )
            for offset, result in enumerate(stored.results)
        )
        tx.advance_kiosk(kiosk_id, checked.last_seq, checked.head)
    new_state = dataclasses.replace(kiosk, last_seq=checked.last_seq, head=checked.head)
    return _Admitted(
        new_state, results, logged, appended, frozenset(event.card for event in events if event.card)
    )


def _check_chain(
    tx: ReadTx,
    kiosk_id: str,
    items: Sequence[tuple[bytes, bytes]],
    openings: Sequence[Opening | None],
    parsed: Sequence[Parsed],
    stored_kiosk: Kiosk | None,
    sig_ok: Sequence[bool],
) -> _Checked:
    """Check every (parsed) event in the documented order; answer the duplicates.

    The first failure raises and refuses the batch: a decoding refusal kept in
    ``parsed`` is raised at its item, as if the item were parsed here.  The kiosk is checked at the
    first event that names it, so a batch of another kiosk's events is
    ``kiosk_mismatch`` even from an unknown kiosk.
    """
    kiosk: Kiosk | None = None
    last_seq, head = 0, ""
    stored: dict[int, HeldEvent] = {}
    events: list[Event] = []
    results: list[dict[str, Any]] = []
    logged: list[tlog.LoggedEvent] = []
    new_from = len(items)  # index of the first new (not duplicate) event
    new_hashes: list[str] = []  # event_hash of each new event, kept for storing
    for index, (body, sig) in enumerate(items):
        event = parsed[index]
        if isinstance(event, ServiceError):
            raise event
        if event.kiosk != kiosk_id:
            raise InputError(Reason.KIOSK_MISMATCH, "event names another kiosk", extra={"index": index})
        if kiosk is None:
            kiosk, stored = _open_chain(tx, stored_kiosk, kiosk_id, event.seq, len(items))
            last_seq, head = kiosk.last_seq, kiosk.head
        if not sig_ok[index]:
            raise InputError(Reason.BAD_SIGNATURE, "signature does not verify", extra={"index": index})
        if index > 0 and event.seq != events[-1].seq + 1:
            raise _sequence_gap(events[-1].seq + 1, index, within_batch=True)
        if event.seq <= kiosk.last_seq:
            _answer_duplicate(tx, index, event.seq, body, sig, stored[event.seq], results, logged)
        else:
            if event.seq != last_seq + 1:
                raise _sequence_gap(last_seq + 1, index, within_batch=False)
            if event.prev != head:
                raise ServiceError(
                    Reason.CHAIN_BROKEN, "prev is not the hash of the previous event", extra={"index": index}
                )
            if not event.card:  # a sealed v2 event (``_opened`` would return any other as it is)
                event = _opened(event, openings[index], index)
            new_from = min(new_from, index)
            last_seq, head = event.seq, event_hash(body)
            new_hashes.append(head)
        events.append(event)
    assert kiosk is not None, "a batch holds at least one event"
    return _Checked(kiosk, events, results, logged, new_from, new_hashes, last_seq, head)


def _opened(event: Event, opening: Opening | None, index: int) -> Event:
    """A new v2 event opened with the opening sent beside it (``opening_missing``, ``opening_mismatch``).

    Only new events must be opened: a duplicate is answered from what is stored, and a kiosk
    drops its openings once a receipt covers them.  :func:`_parse_item` opened the event
    already when its opening came.
    """
    if event.version == 1 or event.card_known:
        return event
    if opening is None:
        raise InputError(Reason.OPENING_MISSING, "a v2 event needs its opening", extra={"index": index})
    try:
        return event.opened(opening)
    except ProtocolError as exc:
        raise from_protocol(exc, index=index) from exc


def _open_chain(
    tx: ReadTx, stored_kiosk: Kiosk | None, kiosk_id: str, first_seq: int, count: int
) -> tuple[Kiosk, dict[int, HeldEvent]]:
    """The batch's kiosk, checked, and the stored events a batch from ``first_seq`` may repeat.

    One query for all the duplicates a batch of ``count`` events can hold.
    """
    kiosk = signing_kiosk(stored_kiosk, kiosk_id, suspended_ok=False)
    if first_seq > kiosk.last_seq:
        return kiosk, {}
    return kiosk, tx.stored_events(kiosk_id, first_seq, min(kiosk.last_seq, first_seq + count - 1))


def _sequence_gap(expected: int, index: int, *, within_batch: bool) -> ServiceError:
    """The ``sequence_gap`` refusal of the event at ``index`` (only built on that error path)."""
    message = (
        f"events in a batch must be consecutive; expected seq {expected}"
        if within_batch
        else f"expected seq {expected}"
    )
    return ServiceError(Reason.SEQUENCE_GAP, message, extra={"expected_seq": expected, "index": index})


def _answer_duplicate(
    tx: ReadTx,
    index: int,
    seq: int,
    body: bytes,
    sig: bytes,
    held: HeldEvent,
    results: list[dict[str, Any]],
    logged: list[tlog.LoggedEvent],
) -> None:
    """Answer a resent event with its stored flags and log place, or raise equivocation if it differs."""
    if held.body != body:
        raise _Equivocation(index, seq, held.body, body, sig)
    flags = decode_flags(held.flags)
    results.append({"seq": seq, "status": "duplicate", "flags": flags})
    assert held.log_index is not None, "every stored event is in the log (m003 backfills)"
    version, sealed_ref = _logged_as(tx, held.log_index)
    logged.append(tlog.LoggedEvent(seq, held.log_index, held.received_ms, flags, version, sealed_ref))


def _logged_as(tx: ReadTx, log_index: int) -> tuple[int, str | None]:
    """A stored event's entry version, and its commitment if it is an ``event_sealed`` entry.

    Read from the entry itself (a resent event is rare), so the kiosk rebuilds what was
    logged; an event stored before a hand-over (negative index) has an entry v1 in the archive.
    """
    data = tx.tlog_entry(log_index) if log_index >= 0 else None
    if data is None:
        return ENTRY_VERSION, None
    entry = parse_entry(data)
    return int(entry["v"]), entry["ref"] if entry["kind"] == "event_sealed" else None
