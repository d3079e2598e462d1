"""Replay a log in order into a scratch ledger, with the server's own rules, and say where it disagrees.

The log is self-contained (``docs/protocol.md``, "Transparency log"): sites,
kiosk keys, cards and blocks come before the events that depend on them, so
replaying it rebuilds every flag, shift and balance.  The replay uses the
server's code wherever a rule lives there — :func:`server.shifts.apply_taps`
pairs taps and pays shifts, :func:`server.ingest.clock_in_range` judges
clocks — so an audit and the server cannot drift apart silently.  The card
flags are the four lines of the "Batch ingest rules" table, with the entry's
``received_ms`` as the server's "now".

``apply_taps`` writes through five storage calls; :class:`ShiftBook` keeps
what they write in memory instead of a scratch SQLite ledger, because the
inserts and foreign-key checks of a database cost more than the rules
themselves (an audit replays hundreds of thousands of taps).
``tests/provisioning/test_provisioning_audit_replay.py`` checks that the book
and the server's :class:`server.storage.Storage` give the same shifts and balances.

What it checks per event (the signature was checked by a worker):

* the kiosk was enrolled before the event and was ``active`` at that point;
* its chain: ``seq`` follows the kiosk's previous one, ``prev`` is that event's hash;
* the logged flags equal the flags the rules give.

Taps are collected per site and paired in batches (the rules pair per card
and site in arrival order, so batching changes nothing) before any fact that
could change a site's rate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, cast

from protocol import GENESIS_PREV, EventKind, PublicKey, Reason, ids
from protocol.encoding import MAX_SAFE_INT
from protocol.errors import ProtocolError
from provisioning.audit._worker import SIG_NO_KEY, SIG_OK, Record
from provisioning.audit.report import Problems
from server.ingest import clock_in_range
from server.models import IssuerKeyStatus, KioskStatus, LedgerEntry, Shift, ShiftStatus, Site
from server.shifts import Tap, apply_taps
from server.storage import Tx

_KINDS: Final = {kind.value: kind for kind in EventKind}
_ISSUER_ORDER: Final = {IssuerKeyStatus.ACTIVE: 0, IssuerKeyStatus.RETIRED: 1, IssuerKeyStatus.REVOKED: 2}
_FLUSH_AT: Final = 4096


class _BadFact(ValueError):
    """A non-event entry whose fields have the wrong type."""


@dataclass(slots=True)
class _KioskState:
    site_id: str
    key: bytes
    status: KioskStatus
    last_seq: int = 0
    head: str = GENESIS_PREV


@dataclass(slots=True)
class _CardState:
    volunteer_id: str
    blocked_ms: int | None = None


def _str(entry: Mapping[str, Any], name: str, *kinds: str) -> str:
    value = entry[name]
    if not isinstance(value, str) or (kinds and not ids.is_id(value, *kinds)):
        raise _BadFact(f"{name} is not {'an ID' if kinds else 'a string'}")
    return value


def _int(entry: Mapping[str, Any], name: str, low: int = 0, high: int = MAX_SAFE_INT) -> int:
    value = entry[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _BadFact(f"{name} is not an integer from {low} to {high}")
    return value


def _key(entry: Mapping[str, Any]) -> bytes:
    try:
        return PublicKey.from_b64(entry["public_key"]).raw
    except ProtocolError as exc:
        raise _BadFact("public_key is not a base64 Ed25519 key") from exc


def enrolled_key(entry: Mapping[str, Any]) -> tuple[str, bytes] | None:
    """``(kiosk_id, public key)`` of a well-formed ``kiosk_enrolled`` entry, else ``None``."""
    try:
        return _str(entry, "kiosk_id", ids.KIOSK), _key(entry)
    except _BadFact:
        return None


class ShiftBook:
    """What :func:`server.shifts.apply_taps` reads and writes, in memory: open shifts and balances.

    It has exactly the :class:`server.storage.Tx` methods that ``apply_taps`` calls.
    """

    def __init__(self) -> None:
        self._open: dict[tuple[str, str], Shift] = {}
        self._next_id = 1
        self.balances: dict[str, int] = {}
        self.shifts = 0
        self.paid = 0
        self.review = 0

    def open_shifts(self, site_id: str, card_ids: Iterable[str]) -> dict[str, Shift]:
        found = {}
        for card_id in card_ids:
            shift = self._open.get((site_id, card_id))
            if shift is not None:
                found[card_id] = shift
        return found

    def next_shift_id(self) -> int:
        return self._next_id

    def _record(self, shift: Shift) -> None:
        key = (shift.site_id, shift.card_id)
        if shift.status is ShiftStatus.OPEN:
            self._open[key] = shift
            return
        if (held := self._open.get(key)) is not None and held.shift_id == shift.shift_id:
            del self._open[key]
        if shift.status is ShiftStatus.PAID:
            self.paid += 1
        else:
            self.review += 1

    def insert_shifts(self, shifts: Iterable[Shift]) -> None:
        for shift in shifts:
            self._next_id = max(self._next_id, shift.shift_id + 1)
            self.shifts += 1
            self._record(shift)

    def close_shifts(self, shifts: Iterable[Shift]) -> None:
        for shift in shifts:
            self._record(shift)

    def insert_ledger_entries(self, entries: Iterable[LedgerEntry]) -> None:
        for volunteer_id, delta, *_ in entries:
            self.balances[volunteer_id] = self.balances.get(volunteer_id, 0) + delta


class Replay:
    """The state a replay carries from entry to entry: facts so far, kiosk chains, shifts."""

    def __init__(self, problems: Problems) -> None:
        self.problem = problems
        self.sites: dict[str, Site] = {}
        self.kiosks: dict[str, _KioskState] = {}
        self.cards: dict[str, _CardState] = {}
        self.issuers: dict[str, tuple[bytes, IssuerKeyStatus]] = {}
        self.volunteers: set[str] = set()
        self.events = 0
        self.signatures = 0
        self.book = ShiftBook()
        self._pending: dict[str, list[Tap]] = {}
        self._pending_count = 0

    # -- events ------------------------------------------------------------------------------------
    def event(self, index: int, record: Record) -> None:
        """Check and apply one ``("E", …)`` record from :func:`provisioning.audit._worker.check_chunk`."""
        _, kiosk_id, seq, prev, digest, kind, card_id, wall_ms, received_ms, flags, sig = record
        self.events += 1
        kiosk = self.kiosks.get(kiosk_id)
        if kiosk is None:
            self.problem(
                "unknown_kiosk",
                "the event comes before its kiosk's enrolment (no key to check it with)",
                index=index,
                kiosk_id=kiosk_id,
                seq=seq,
            )
            return
        if sig != SIG_NO_KEY:
            self.signatures += 1
        if sig != SIG_OK:
            self.problem(
                Reason.BAD_SIGNATURE.value,
                "the signature does not verify with the kiosk's enrolled key",
                index=index,
                kiosk_id=kiosk_id,
                seq=seq,
            )
        if seq != kiosk.last_seq + 1:
            what = (
                f"seq {seq} comes again or out of order (the chain is at seq {kiosk.last_seq})"
                if seq <= kiosk.last_seq
                else f"seq jumps from {kiosk.last_seq} to {seq}: events are missing"
            )
            self.problem(Reason.SEQUENCE_GAP.value, what, index=index, kiosk_id=kiosk_id, seq=seq)
        elif prev != kiosk.head:
            self.problem(
                Reason.CHAIN_BROKEN.value,
                f"prev is not the hash of the kiosk's event seq {seq - 1}",
                index=index,
                kiosk_id=kiosk_id,
                seq=seq,
            )
        if seq > kiosk.last_seq:
            kiosk.last_seq, kiosk.head = seq, digest
        if kiosk.status is not KioskStatus.ACTIVE:
            self.problem(
                f"kiosk_{kiosk.status.value}",
                f"the event was admitted while the kiosk was {kiosk.status.value}",
                index=index,
                kiosk_id=kiosk_id,
                seq=seq,
            )
        site = self.sites[kiosk.site_id]
        expected: list[str] = []
        if not clock_in_range(wall_ms, received_ms):
            expected.append(Reason.CLOCK_OUT_OF_RANGE.value)
        card = self.cards.get(card_id)
        if card is None:
            expected.append(Reason.UNKNOWN_CARD.value)
        if kind != "denied":
            if card is not None and card.blocked_ms is not None and card.blocked_ms <= wall_ms:
                expected.append(Reason.CARD_BLOCKED.value)
            if card_id[0] == ids.UID_CARD and not site.allow_uncredentialed:
                expected.append(Reason.UNCREDENTIALED_CARD.value)
        if tuple(expected) != flags:
            self.problem(
                "flags_mismatch",
                f"the log says flags {list(flags)}, the rules give {expected}",
                index=index,
                kiosk_id=kiosk_id,
                seq=seq,
            )
        if card is not None and kind != "denied":
            tap = Tap(
                kiosk_id,
                seq,
                _KINDS[kind],
                card_id,
                card.volunteer_id,
                wall_ms,
                expected[0] if expected else None,
            )
            self._pending.setdefault(kiosk.site_id, []).append(tap)
            self._pending_count += 1
            if self._pending_count >= _FLUSH_AT:
                self.flush()

    def flush(self) -> None:
        """Pair and pay every collected tap in the scratch ledger."""
        for site_id, taps in self._pending.items():
            apply_taps(cast(Tx, self.book), self.sites[site_id], taps, taps[-1].wall_ms)
        self._pending.clear()
        self._pending_count = 0

    def balances(self) -> dict[str, int]:
        """Every volunteer the log knows, with the balance the replay so far gives (0 if none)."""
        self.flush()
        found = dict.fromkeys(self.volunteers, 0)
        found.update(self.book.balances)
        return found

    # -- facts -------------------------------------------------------------------------------------
    def fact(self, index: int, entry: Mapping[str, Any]) -> None:
        """Apply one non-event entry (already parsed by ``protocol.logentry.parse_entry``)."""
        self.flush()
        handler: Callable[[int, Mapping[str, Any]], None] = getattr(self, f"_{entry['kind']}")
        try:
            handler(index, entry)
        except _BadFact as exc:
            self.problem(Reason.BAD_FIELD.value, f"a {entry['kind']} entry: {exc}", index=index)

    def _out_of_order(self, index: int, message: str, **where: Any) -> None:
        self.problem("out_of_order", message, index=index, **where)

    def _site(self, index: int, entry: Mapping[str, Any]) -> None:
        site_id = _str(entry, "site_id", ids.SITE)
        allow = entry["allow_uncredentialed"]
        if not isinstance(allow, bool):
            raise _BadFact("allow_uncredentialed is not a boolean")
        site = Site(
            site_id=site_id,
            name="",
            tokens_per_hour=_int(entry, "tokens_per_hour", 0, 1_000_000),
            max_shift_hours=_int(entry, "max_shift_hours", 1, 168),
            allow_uncredentialed=allow,
        )
        _int(entry, "at_ms")
        self.sites[site_id] = site

    def _kiosk_enrolled(self, index: int, entry: Mapping[str, Any]) -> None:
        kiosk_id = _str(entry, "kiosk_id", ids.KIOSK)
        site_id = _str(entry, "site_id", ids.SITE)
        key = _key(entry)
        _int(entry, "at_ms")
        if kiosk_id in self.kiosks:
            self._out_of_order(index, "the kiosk is enrolled a second time", kiosk_id=kiosk_id)
            return
        if site_id not in self.sites:
            self._out_of_order(
                index, f"the kiosk is enrolled at site {site_id}, unknown so far", kiosk_id=kiosk_id
            )
            return
        if any(other.key == key for other in self.kiosks.values()):
            self.problem(
                Reason.KEY_ALREADY_ENROLLED.value,
                "the kiosk's key already belongs to another kiosk",
                index=index,
                kiosk_id=kiosk_id,
            )
        self.kiosks[kiosk_id] = _KioskState(site_id, key, KioskStatus.ACTIVE)

    def _kiosk_status(self, index: int, entry: Mapping[str, Any]) -> None:
        kiosk_id = _str(entry, "kiosk_id", ids.KIOSK)
        try:
            status = KioskStatus(entry["status"])
        except ValueError:
            raise _BadFact("status is not active, suspended or revoked") from None
        kiosk = self.kiosks.get(kiosk_id)
        if kiosk is None:
            self._out_of_order(index, "a status for a kiosk not enrolled so far", kiosk_id=kiosk_id)
            return
        if kiosk.status is KioskStatus.REVOKED and status is not KioskStatus.REVOKED:
            self.problem(
                Reason.KIOSK_REVOKED.value,
                f"a revoked kiosk is set {status.value}",
                index=index,
                kiosk_id=kiosk_id,
            )
            return
        kiosk.status = status

    def _issuer_key(self, index: int, entry: Mapping[str, Any]) -> None:
        key_id = _str(entry, "key_id")
        key = _key(entry)
        try:
            status = IssuerKeyStatus(entry["status"])
        except ValueError:
            raise _BadFact("status is not active, retired or revoked") from None
        _int(entry, "at_ms")
        known = self.issuers.get(key_id)
        if known is not None and known[0] != key:
            self.problem(Reason.BAD_FIELD.value, f"issuer key {key_id} changes its public key", index=index)
            return
        if known is not None and _ISSUER_ORDER[status] < _ISSUER_ORDER[known[1]]:
            self.problem(
                Reason.ISSUER_KEY_INACTIVE.value,
                f"issuer key {key_id} goes back from {known[1].value} to {status.value}",
                index=index,
            )
            return
        self.issuers[key_id] = (key, status)

    def _card(self, index: int, entry: Mapping[str, Any]) -> None:
        card_id = _str(entry, "card_id", ids.CARD, ids.UID_CARD)
        volunteer_id = _str(entry, "volunteer_id", ids.VOLUNTEER)
        _int(entry, "at_ms")
        if card_id in self.cards:
            self.problem(Reason.CARD_EXISTS.value, f"card {card_id} is registered a second time", index=index)
            return
        self.volunteers.add(volunteer_id)
        self.cards[card_id] = _CardState(volunteer_id)

    def _card_blocked(self, index: int, entry: Mapping[str, Any]) -> None:
        card_id = _str(entry, "card_id", ids.CARD, ids.UID_CARD)
        at_ms = _int(entry, "at_ms")
        card = self.cards.get(card_id)
        if card is None:
            self._out_of_order(index, f"card {card_id} is blocked before it is registered")
            return
        if card.blocked_ms is None:  # blocking again keeps the first time, as the server does
            card.blocked_ms = at_ms

    def _event(self, index: int, entry: Mapping[str, Any]) -> None:
        raise AssertionError("events are replayed with Replay.event")
