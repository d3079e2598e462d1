"""The ledger's transparency log: appends in the caller's transaction, signed checkpoints, proofs.

Every fact that decides a balance is appended as one entry
(:mod:`protocol.logentry`) in the *same* transaction that records it, so after
a crash the log and the ledger still agree: both are there or neither is.
The transaction also signs a checkpoint for the new size (an Ed25519
signature, ~20 µs), so every committed size has a checkpoint, and the server
keeps them all (partial tiles are served for any of them).

Storage keeps the entries and the hash of every complete aligned subtree
(:mod:`server.tlogtree`), so roots and proofs take O(log n) point reads
through :class:`StoredHashes`, the :data:`protocol.merkle.HashReader` over a
transaction.

Example::

    with ctx.storage.write() as tx:
        tx.insert_site(site, now)
        tlog.append(ctx, tx, [tlog.site_entry(site, now)])   # entry, hashes and checkpoint
"""

from __future__ import annotations

import unicodedata
from binascii import b2a_base64
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from protocol import Event, PrivateKey, PublicKey, b64encode, logentry
from protocol.checkpoint import Checkpoint, sign_checkpoint
from protocol.commitments import Opening, commit_value, new_salt
from protocol.economy.models import TillStaff
from protocol.logentry import ENTRY_TYPE, ENTRY_VERSION, PRIVATE_ENTRY_VERSION, make_entry
from protocol.merkle import HashReader, consistency_proof, inclusion_proof, subtree_hash
from protocol.note import NoteVerifier, sign_note
from server.context import Memo, ServerContext
from server.errors import LogCorrupted
from server.models import Card, CoordinatorKey, IssuerKey, Kiosk, KioskStatus, LogOpening, Site
from server.schema import DEFAULT_LOG_ORIGIN, TOTALS_DAY_SETTING, TOTALS_LAST_SETTING
from server.storage import ReadTx, Storage, Tx
from server.tlogtree import Frontier, HashRow

ORIGIN_SETTING: Final = "log_origin"
DEFAULT_ORIGIN: Final = DEFAULT_LOG_ORIGIN
# A card registration's commitment is to ``card_id|volunteer_id`` (docs/protocol.md, entry v2 ``card``).


def check_origin(origin: str) -> str:
    """``origin`` if it can name the log (non-empty, no spaces or control characters, no ``+``).

    It is both a checkpoint's first line and the note key name, so the rules of both apply.
    Raises :class:`ValueError` otherwise.
    """
    if (
        not origin
        or "+" in origin
        or any(ch.isspace() or unicodedata.category(ch) in ("Zs", "Cc") for ch in origin)
    ):
        raise ValueError(f"a log origin is non-empty, without spaces or '+': {origin!r}")
    return origin


def origin(tx: ReadTx) -> str:
    return tx.get_setting(ORIGIN_SETTING) or DEFAULT_ORIGIN


def verifier_key(log_origin: str, public_key: PublicKey) -> str:
    """The note verifier key auditors check checkpoints with: ``origin+keyid+base64``."""
    return str(NoteVerifier.for_key(log_origin, public_key))


class StoredHashes:
    """A :data:`protocol.merkle.HashReader` over one transaction, caching what it read.

    Make one per request: the cache is only valid while the transaction lasts.
    """

    __slots__ = ("_archived", "_cache", "_tx")

    def __init__(self, tx: ReadTx, *, archived: str | None = None) -> None:
        self._tx = tx
        self._archived = archived  # the origin of an archived log to read instead of the current one
        self._cache: dict[tuple[int, int], bytes] = {}

    def remember(self, rows: Iterable[HashRow]) -> None:
        """Serve hashes this transaction just wrote from memory."""
        self._cache.update(((level, index), value) for level, index, value in rows)

    def __call__(self, level: int, index: int) -> bytes:
        key = (level, index)
        value = self._cache.get(key)
        if value is None:
            if self._archived is None:
                value = self._tx.tlog_hash(level, index)
            else:
                value = self._tx.archived_hash(self._archived, level, index)
            if value is None:
                raise LogCorrupted(f"the log has no hash at level {level}, index {index}")
            self._cache[key] = value
        return value


@dataclass(frozen=True, slots=True)
class Appended:
    """Where :func:`append` put its entries, and the checkpoint it signed for the new size."""

    first_index: int
    size: int
    checkpoint: bytes
    hashes: StoredHashes


def append(ctx: ServerContext, tx: Tx, entries: Sequence[bytes], *, now_ms: int | None = None) -> Appended:
    """Append ``entries`` in order inside ``tx``, store their hashes, and sign a checkpoint.

    Reads at most log₂ n stored hashes and writes with two ``executemany`` calls.
    """
    now = ctx.now_ms() if now_ms is None else now_ms
    size = tx.tlog_size()
    if entries and tx.log_format() != ENTRY_VERSION:
        entries = [*entries, *_close_day(tx, size, now)]
    hashes = StoredHashes(tx)
    frontier = Frontier.load(size, hashes)
    rows = frontier.extend_entries(entries)
    tx.append_tlog(size, entries, rows)
    hashes.remember(rows)
    note = _sign(tx, ctx.server_key, frontier.size, frontier.root(), now, ctx.cosign_keys)
    return Appended(first_index=size, size=frontier.size, checkpoint=note, hashes=hashes)


# A published figure is about at least this many volunteers, or about none (server.totals, docs/privacy.md).
MIN_PUBLIC_COUNT: Final = 5


def _close_day(tx: Tx, size: int, now_ms: int) -> list[bytes]:
    """The ``totals`` entry to append after the first append of a new UTC day, or nothing.

    It covers every entry since the previous ``totals`` entry (``first`` is its
    ``last`` + 1, or 0) up to the last one before this append, and says how their
    ledger entries moved the economy's totals; ``at_ms`` is the new day's first
    millisecond, so it tells nobody when the append came.  Appended after the
    append's own entries, so their indices, which the caller computed, stay.

    The small-count rule of the public figures (:data:`MIN_PUBLIC_COUNT`): a range
    whose tokens moved for 1 to 4 volunteers stays open into the next day, until
    it covers at least five, so no published sum is one person's pay or purchase.
    """
    day = logentry.public_day(now_ms)
    open_day = tx.get_setting(TOTALS_DAY_SETTING)
    if open_day is not None and int(open_day) >= day:
        return []
    tx.set_setting(TOTALS_DAY_SETTING, str(day))
    first = int(tx.get_setting(TOTALS_LAST_SETTING) or "-1") + 1
    last = size - 1
    if open_day is None or last < first:
        return []
    if 0 < tx.range_movers(first, last) < MIN_PUBLIC_COUNT:
        return []
    tx.set_setting(TOTALS_LAST_SETTING, str(last))
    issued, redeemed = tx.range_moves(first, last)
    return [totals_entry(first, last, issued, redeemed, day)]


def ledger_sums(tx: ReadTx, memo: Memo | None = None) -> tuple[int, int]:
    """:meth:`ReadTx.ledger_sums`, summed from where ``memo`` (this process's last reading) ended.

    The public page reads the totals on every view; summing the whole ledger
    each time grew with its history (19 ms at 10^5 entries on SQLite, ``make bench-scale``).  The
    ledger only appends, numbering each entry above the last, so the sums up to the
    remembered entry stay as they were and only later entries are read.  A ledger
    whose highest entry is below the remembered one is not the ledger summed: it is
    summed whole again.  Readings at once may each store what they summed; every
    stored triple is true of its own entry number, so any of them serves the next.
    """
    if memo is None:
        return tx.ledger_sums()
    seen, issued, redeemed = memo.ledger_sums or (0, 0, 0)
    last, more_issued, more_redeemed = tx.ledger_sums_after(seen)
    if last < seen:
        issued = redeemed = 0
        last, more_issued, more_redeemed = tx.ledger_sums_after(0)
    summed = (last, issued + more_issued, redeemed + more_redeemed)
    memo.ledger_sums = summed
    return summed[1], summed[2]


def published_sums(tx: ReadTx, memo: Memo | None = None) -> tuple[int, int, int]:
    """``(size, issued, redeemed)``: the economy's totals as the public log states them, and its size then.

    What ``/v1/log/totals`` and the public pages call live.  In entry v2 the log
    shows no amount: the totals move only by its ``totals`` entries, each about at
    least :data:`MIN_PUBLIC_COUNT` volunteers (:func:`_close_day`), so the sums are
    those of the ledger entries of log entries ``0..size-1`` the last ``totals``
    entry covers (plus an archived v1 log's, public with their amounts).  The
    ledger's own sums, a refresh apart, would tell one synced shift's or
    purchase's tokens.  A v1 log's entries show every amount: its sums are the
    ledger's, at the latest checkpoint.  With ``memo`` the ledger's sums are read
    from where this process's last reading ended (:func:`ledger_sums`).
    """
    size, _ = latest_checkpoint(tx)
    issued, redeemed = ledger_sums(tx, memo)
    if tx.log_format() == ENTRY_VERSION:
        return size, issued, redeemed
    last = int(tx.get_setting(TOTALS_LAST_SETTING) or "-1")
    later_issued, later_redeemed = tx.range_moves(last + 1, max(size, last + 1))
    return last + 1, issued - later_issued, redeemed - later_redeemed


def totals_entry(first: int, last: int, issued: int, redeemed: int, at_ms: int) -> bytes:
    """How the entries ``first..last`` moved the economy's totals (entry v2 ``totals``)."""
    return make_entry(
        "totals",
        version=PRIVATE_ENTRY_VERSION,
        first=first,
        last=last,
        issued=issued,
        redeemed=redeemed,
        at_ms=at_ms,
    )


def _sign(
    tx: Tx, key: PrivateKey, size: int, root: bytes, now_ms: int, cosign: Sequence[PrivateKey] = ()
) -> bytes:
    """Sign and store the checkpoint for ``size`` with ``key`` and each of ``cosign`` (same key name)."""
    log_origin = origin(tx)
    checkpoint = Checkpoint(log_origin, size, root)
    if cosign:
        note = sign_note(checkpoint.text(), log_origin, key, also=[(log_origin, k) for k in cosign])
    else:
        note = sign_checkpoint(checkpoint, key)
    tx.insert_checkpoint(size, note, now_ms)
    return note


def ensure_checkpoint(
    storage: Storage, key: PrivateKey, now_ms: int, cosign: Sequence[PrivateKey] = ()
) -> None:
    """Sign a checkpoint for the log's current size unless one exists (a new or just-migrated log).

    Migrations cannot sign (they do not hold the key), so opening a data folder calls this.
    """
    with storage.write() as tx:
        size = tx.tlog_size()
        latest = tx.latest_checkpoint()
        if latest is None or latest[0] != size:
            hashes = StoredHashes(tx)
            _sign(tx, key, size, Frontier.load(size, hashes).root(), now_ms, cosign)


def latest_checkpoint(tx: ReadTx) -> tuple[int, bytes]:
    """``(size, signed note)`` of the newest checkpoint."""
    latest = tx.latest_checkpoint()
    if latest is None:
        raise LogCorrupted("the log has no checkpoint; open the data folder with open_data_dir")
    return latest


def inclusion(hashes: StoredHashes, index: int, size: int) -> list[bytes]:
    """RFC 6962 inclusion proof of entry ``index`` in the tree of ``size`` entries."""
    return inclusion_proof(index, size, hashes)


def consistency(hashes: StoredHashes, old_size: int, new_size: int) -> list[bytes]:
    """RFC 6962 consistency proof from ``old_size`` to ``new_size``."""
    return consistency_proof(old_size, new_size, hashes)


# -- what is logged --------------------------------------------------------------------------------
# Which entry version a transaction writes: ``tx.log_format()`` (``2`` on a data folder started since
# issue 17, ``1`` on one whose log holds v1 entries).  Every builder takes it as ``version``; the kinds
# whose fields name a card (``card``, ``card_blocked``) have their own v2 builders, with the opening
# stored in ``openings`` at the entry's index (:func:`log_card`, :func:`log_card_blocked`).
CARD_REGISTRATION_DOMAIN: Final = b"kokreativ.card-registration.v1\x00"
_EVENT_TAIL: Final = f',"type":"{ENTRY_TYPE}","v":{ENTRY_VERSION}}}'.encode()
_EVENT_TAIL_V2: Final = f',"type":"{ENTRY_TYPE}","v":{PRIVATE_ENTRY_VERSION}}}'.encode()


def log_format(tx: ReadTx) -> int:
    """The entry version ``tx`` writes (:data:`protocol.logentry.PRIVATE_ENTRY_VERSION` names no card)."""
    return tx.log_format()


def event_entry_template(*, received_ms: int, flags_json: str | None = None) -> bytes:
    """The bytes of an ``event`` entry with ``%b`` for its base64 body and signature: one ``%`` per event.

    Entry v2 (``flags_json`` ``None``) shows the UTC day of ``received_ms``
    (:func:`protocol.logentry.private_event_entry`); entry v1 shows ``received_ms`` and
    ``flags_json``, the flags as stored (:func:`server.storage.encode_flags`, their
    canonical JSON; :func:`protocol.logentry.event_entry`).  Every event of a batch
    shares ``received_ms``, so ingest makes one template per batch (per flags for v1).
    Base64, decimals and reason codes need no escaping and the keys are written in
    canonical (sorted) order, so the generic encoder's checks can be skipped; tests
    hold the two equal byte for byte.
    """
    if flags_json is None:
        day = logentry.public_day(received_ms)
        return b'{"body":"%%b","kind":"event","received_ms":%d,"sig":"%%b"%s' % (day, _EVENT_TAIL_V2)
    flags = flags_json.encode("ascii").replace(b"%", b"%%")
    return b'{"body":"%%b","flags":%s,"kind":"event","received_ms":%d,"sig":"%%b"%s' % (
        flags,
        received_ms,
        _EVENT_TAIL,
    )


def fill_event_entry(template: bytes, body: bytes, sig: bytes) -> bytes:
    """The entry of ``template`` (:func:`event_entry_template`) for one event's ``body`` and ``sig``."""
    return template % (b2a_base64(body, newline=False), b2a_base64(sig, newline=False))


def site_entry(site: Site, at_ms: int, *, version: int = ENTRY_VERSION) -> bytes:
    """A site created or changed: its current rate, maximum and card policy (never its name)."""
    return make_entry(
        "site",
        version=version,
        site_id=site.site_id,
        tokens_per_hour=site.tokens_per_hour,
        max_shift_hours=site.max_shift_hours,
        allow_uncredentialed=site.allow_uncredentialed,
        at_ms=at_ms,
    )


def shop_entry(site: Site, at_ms: int, *, version: int = ENTRY_VERSION) -> bytes:
    """A site created as a shop, with its first limits (never its name or its till presets).

    Raises :class:`ValueError` for a check-in site, which has no limits to log.
    """
    shop = site.shop
    if shop is None:
        raise ValueError(f"site {site.site_id} is not a shop")
    return make_entry(
        "shop",
        version=version,
        site_id=site.site_id,
        max_amount=shop.max_amount,
        offline_allowance=shop.offline_allowance,
        offline_daily_cap=shop.offline_daily_cap,
        void_window_s=shop.void_window_s,
        at_ms=at_ms,
    )


def till_staff_entry(
    staff: TillStaff, at_ms: int, *, active: bool = True, version: int = ENTRY_VERSION
) -> bytes:
    """A shop's till staff member added, changed (``active``) or removed: ID, role, daily maximum.

    Never their name or PIN hash: only what the ``redeem`` rules read, so an auditor
    holds the same roster the server judged each redemption by.
    """
    return make_entry(
        "till_staff",
        version=version,
        site_id=staff.site_id,
        staff_id=staff.staff_id,
        role=staff.role.value,
        daily_max=staff.daily_max,
        active=active,
        at_ms=at_ms,
    )


def kiosk_enrolled_entry(kiosk: Kiosk, *, version: int = ENTRY_VERSION) -> bytes:
    return make_entry(
        "kiosk_enrolled",
        version=version,
        kiosk_id=kiosk.kiosk_id,
        site_id=kiosk.site_id,
        public_key=b64encode(kiosk.public_key),
        at_ms=kiosk.enrolled_ms,
    )


def kiosk_status_entry(
    kiosk_id: str, status: KioskStatus, at_ms: int, *, version: int = ENTRY_VERSION
) -> bytes:
    return make_entry("kiosk_status", version=version, kiosk_id=kiosk_id, status=status.value, at_ms=at_ms)


def issuer_key_entry(key: IssuerKey, at_ms: int, *, version: int = ENTRY_VERSION) -> bytes:
    return make_entry(
        "issuer_key",
        version=version,
        key_id=key.key_id,
        public_key=b64encode(key.public_key),
        status=key.status.value,
        at_ms=at_ms,
    )


def card_entry(card: Card) -> bytes:
    """A card registered (entry v1): its ID and owner only (no name, Ehrenamtskarte number or UID)."""
    return make_entry("card", card_id=card.card_id, volunteer_id=card.volunteer_id, at_ms=card.registered_ms)


def card_blocked_entry(card_id: str, at_ms: int) -> bytes:
    """A card blocked (entry v1): its ID."""
    return make_entry("card_blocked", card_id=card_id, at_ms=at_ms)


def registration_ref(card_id: str, volunteer_id: str, salt: str) -> str:
    """The commitment a v2 ``card`` entry names: to ``card|volunteer`` under its own domain tag."""
    return commit_value(CARD_REGISTRATION_DOMAIN, salt, f"{card_id}|{volunteer_id}")


def log_card(ctx: ServerContext, tx: Tx, card: Card, now_ms: int) -> Appended:
    """Log a card's registration in the log's format; v2 keeps the opening in ``openings``."""
    if log_format(tx) == ENTRY_VERSION:
        return append(ctx, tx, [card_entry(card)], now_ms=now_ms)
    salt = new_salt()
    ref = registration_ref(card.card_id, card.volunteer_id, salt)
    index = tx.tlog_size()
    tx.insert_openings([LogOpening(index, "card", card.card_id, salt, volunteer_id=card.volunteer_id)])
    entry = make_entry("card", version=PRIVATE_ENTRY_VERSION, ref=ref, at_ms=card.registered_ms)
    return append(ctx, tx, [entry], now_ms=now_ms)


def log_card_blocked(ctx: ServerContext, tx: Tx, card_id: str, now_ms: int) -> Appended:
    """Log a card's block in the log's format; v2 names :attr:`Opening.ref` and keeps the opening."""
    if log_format(tx) == ENTRY_VERSION:
        return append(ctx, tx, [card_blocked_entry(card_id, now_ms)], now_ms=now_ms)
    opening = Opening.fresh(card_id)
    tx.insert_openings([LogOpening(tx.tlog_size(), "card_blocked", card_id, opening.salt)])
    entry = make_entry("card_blocked", version=PRIVATE_ENTRY_VERSION, ref=opening.ref, at_ms=now_ms)
    return append(ctx, tx, [entry], now_ms=now_ms)


def coordinator_key_entry(key: CoordinatorKey, at_ms: int, *, version: int = ENTRY_VERSION) -> bytes:
    """A coordinator key registered or revoked: its ID, public key and status (never the name)."""
    return make_entry(
        "coordinator_key",
        version=version,
        coordinator_id=key.coordinator_id,
        public_key=b64encode(key.public_key),
        status=key.status.value,
        at_ms=at_ms,
    )


def decision_entry(
    body: bytes,
    sig: bytes,
    received_ms: int,
    *,
    version: int = ENTRY_VERSION,
    cosig: tuple[str, bytes] | None = None,
) -> bytes:
    """An applied coordinator decision, exactly as signed (:func:`protocol.logentry.decision_entry`).

    Entry v2 has the same fields; how it moved the totals is in its opening and the day's ``totals``.
    ``cosig`` (a second key's ID and signature) makes a four-eyes decision's entry carry ``cosig``.
    """
    if version == ENTRY_VERSION:
        return logentry.decision_entry(body, sig, received_ms=received_ms, cosig=cosig)
    extra: dict[str, Any] = {} if cosig is None else {"cosig": logentry.cosig_field(*cosig)}
    return make_entry(
        "decision",
        version=version,
        body=b64encode(body),
        sig=b64encode(sig),
        received_ms=received_ms,
        **extra,
    )


def server_key_entry(body: bytes, sig_old: bytes, sig_new: bytes, *, version: int = ENTRY_VERSION) -> bytes:
    """A server key transition, exactly as both keys signed it (:mod:`protocol.serverkeys`)."""
    return make_entry(
        "server_key",
        version=version,
        body=b64encode(body),
        sig_old=b64encode(sig_old),
        sig_new=b64encode(sig_new),
    )


def clock_ref_entry(body: bytes, sig: bytes, received_ms: int, *, version: int = ENTRY_VERSION) -> bytes:
    """A kiosk's clock sample taken as a reference, exactly as signed (:mod:`protocol.clockref`)."""
    return make_entry(
        "clock_ref", version=version, body=b64encode(body), sig=b64encode(sig), received_ms=received_ms
    )


# -- entry v2: what a log that names no card holds (server.handover restates the state in these) ------
def card_entry_v2(ref: str, at_ms: int) -> bytes:
    """A card registered, as a commitment (its opening is kept in ``openings``, off the log)."""
    return make_entry("card", version=PRIVATE_ENTRY_VERSION, ref=ref, at_ms=at_ms)


def card_blocked_entry_v2(opening: Opening, at_ms: int) -> bytes:
    """A card blocked, as a commitment to the card (:attr:`protocol.commitments.Opening.ref`)."""
    return make_entry("card_blocked", version=PRIVATE_ENTRY_VERSION, ref=opening.ref, at_ms=at_ms)


def sealed_event_entry(event: Event, body_hash: str, ref: str, *, received_ms: int) -> bytes:
    """A v1 event (which names its card) in a log that names none: its place in the chain, no card.

    ``ref`` is a commitment the server made to the event's card (its opening kept in
    ``openings``); the body and signature stay in ``events`` for the auditor.  Like an
    ``event`` entry it shows only the UTC day it was received.
    """
    return logentry.sealed_event_entry(
        kiosk=event.kiosk,
        seq=event.seq,
        body_hash=body_hash,
        prev=event.prev,
        ref=ref,
        received_ms=received_ms,
    )


# -- receipts with proofs --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One event of a batch as the log holds it: what a kiosk needs to rebuild its entry.

    ``version`` is its entry's (2: only body, signature and the UTC day; 1: with the
    flags); ``sealed_ref`` is set for a v1 event logged as ``event_sealed``, whose
    commitment the server made.  ``flags`` go to the kiosk beside the entry: they are its own.
    """

    seq: int
    index: int
    received_ms: int
    flags: list[str]
    version: int = ENTRY_VERSION
    sealed_ref: str | None = None


def _witness_item(event: LoggedEvent, hashes: list[str]) -> dict[str, Any]:
    """One event's item of a batch witness: what rebuilds its entry, and its proof (base64 ``hashes``).

    An entry v2 adds ``"v": 2`` and its ``received_ms`` is the UTC day, as the entry
    has it (:func:`protocol.logentry.private_event_entry`); an ``event_sealed`` entry
    adds ``"entry": "event_sealed"`` and ``ref``.  ``flags`` stay: the kiosk's own, not logged in v2.
    """
    received_ms = event.received_ms
    item: dict[str, Any] = {"seq": event.seq, "index": event.index, "flags": event.flags}
    if event.version != ENTRY_VERSION:
        received_ms = logentry.public_day(received_ms)
        item["v"] = PRIVATE_ENTRY_VERSION
    if event.sealed_ref is not None:
        item.update(entry="event_sealed", ref=event.sealed_ref)
    item["received_ms"] = received_ms
    item["hashes"] = hashes
    return item


class BatchProofs:
    """Inclusion proofs (base64) of entries of one tree, as :func:`protocol.merkle.inclusion_proof` has them.

    A batch's entries are neighbours: their proofs share most hashes above the
    lowest levels, and the hashes of the tree's incomplete right edge are composed
    anew for every proof.  This computes each subtree hash and each base64 text once
    per batch; the path is the RFC 6962 walk of ``inclusion_proof`` itself (a test
    holds the two equal for every index of many sizes).
    """

    __slots__ = ("_read", "_size", "_texts")

    def __init__(self, size: int, read: HashReader) -> None:
        self._size = size
        self._read = read
        self._texts: dict[tuple[int, int], str] = {}  # (start, end) -> its subtree hash in base64

    def _text(self, start: int, end: int) -> str:
        """The base64 of :func:`protocol.merkle.subtree_hash` over ``[start, end)``, made once per batch."""
        text = self._texts[(start, end)] = b64encode(subtree_hash(start, end, self._read))
        return text

    def __call__(self, index: int) -> list[str]:
        """The proof of entry ``index``: sibling hashes from the leaf's up to the root's child, in base64."""
        size = self._size
        if not 0 <= index < size:  # inclusion_proof's own refusal
            return [b64encode(h) for h in inclusion_proof(index, size, self._read)]
        texts = self._texts
        path: list[str] = []
        start, end, m = 0, size, index
        while end - start > 1:
            k = 1 << ((end - start - 1).bit_length() - 1)  # protocol.merkle._split
            if m < k:
                text = texts.get((start + k, end)) or self._text(start + k, end)
                end = start + k
            else:
                text = texts.get((start, start + k)) or self._text(start, start + k)
                start, m = start + k, m - k
            path.append(text)
        path.reverse()
        return path

    def many(self, indices: Sequence[int]) -> list[list[str]]:
        """The proofs of ``indices``, in their order: one descent of the tree for all of them.

        The walk of :meth:`__call__` for every index at once: a node's sibling text is
        taken once for every wanted leaf below it, so a batch of n neighbours costs about
        n + log₂ size steps instead of n · log₂ size.  An index outside the tree, or a
        hash missing from the log, is left to :meth:`__call__` index by index (with
        nothing remembered), which raises as ``inclusion_proof`` does, at the same index and hash.
        """
        size = self._size
        if not indices or not all(0 <= index < size for index in indices):
            return [self(index) for index in indices]
        wanted = sorted(set(indices))
        found: dict[int, list[str]] = {}
        try:
            self._descend(0, size, wanted, 0, len(wanted), [], found)
        except LogCorrupted:
            again = BatchProofs(size, self._read)
            return [again(index) for index in indices]
        return [found[index] for index in indices]

    def _descend(
        self,
        start: int,
        end: int,
        wanted: list[int],
        lo: int,
        hi: int,
        above: list[str],
        found: dict[int, list[str]],
    ) -> None:
        """Put the proof of each of ``wanted[lo:hi]`` (leaves in ``[start, end)``) in ``found``.

        ``above`` holds the sibling texts on the way from the root down to ``[start, end)``.
        """
        if end - start == 1:
            found[start] = above[::-1]
            return
        mid = start + (1 << ((end - start - 1).bit_length() - 1))  # protocol.merkle._split
        cut = bisect_left(wanted, mid, lo, hi)
        texts = self._texts
        if cut > lo:  # wanted leaves on the left: the right part is their sibling
            sibling = texts.get((mid, end)) or self._text(mid, end)
            self._descend(start, mid, wanted, lo, cut, [*above, sibling], found)
        if hi > cut:
            sibling = texts.get((start, mid)) or self._text(start, mid)
            self._descend(mid, end, wanted, cut, hi, [*above, sibling], found)


def batch_witness(
    tx: ReadTx, appended: Appended | None, events: Sequence[LoggedEvent], known_size: int
) -> dict[str, Any]:
    """``checkpoint``, ``entries`` (with inclusion proofs) and ``consistency`` for a batch's answer.

    The checkpoint is the one this batch's transaction signed, or the latest one
    when the batch held only duplicates.  ``consistency`` runs from ``known_size``
    (the kiosk's last verified size) and is left out when that is 0.
    """
    if appended is None:
        size, note = latest_checkpoint(tx)
        hashes = StoredHashes(tx)
    else:
        size, note, hashes = appended.size, appended.checkpoint, appended.hashes
    moved = tx.handover()  # after a hand-over, entries may be sealed or in the archived origin
    proof = BatchProofs(size, hashes)
    if moved is None:
        proofs = proof.many([event.index for event in events])
        items = [_witness_item(event, path) for event, path in zip(events, proofs, strict=True)]
    else:
        items = [
            _witness_item(event, proof(event.index)) if event.index >= 0 else _archived_item(tx, event, moved)
            for event in events
        ]
    answer: dict[str, Any] = {"checkpoint": note.decode("utf-8"), "entries": items}
    if known_size > 0:
        answer["consistency"] = [b64encode(h) for h in consistency_proof(known_size, size, hashes)]
    return answer


def _archived_item(tx: ReadTx, event: LoggedEvent, moved: tuple[Any, ...]) -> dict[str, Any]:
    """The entries item of an event stored before a log hand-over (``docs/protocol.md``, "Log hand-over").

    A resend whose answer was lost: its entry is in the archived origin (an entry
    v1), so the item names that ``origin`` and proves the entry under the old final
    tree head, which the kiosk knows from the hand-over.  Its index may be past the
    new log's size.
    """
    old_origin, old_size = moved[0], moved[1]
    archived = LoggedEvent(event.seq, event.index + old_size, event.received_ms, event.flags)
    old_hashes = StoredHashes(tx, archived=old_origin)
    proof = inclusion_proof(archived.index, old_size, old_hashes)
    item = _witness_item(archived, [b64encode(h) for h in proof])
    item["origin"] = old_origin
    return item
