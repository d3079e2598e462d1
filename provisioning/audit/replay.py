"""Replay the log in order into an in-memory ledger, with the economy rules, and say where it disagrees.

The log is self-contained: every fact an event or decision depends on is
logged before it.  So replaying it with :mod:`protocol.economy`, the very rules
the server applies, through :class:`~provisioning.audit.book.LedgerBook`
rebuilds every flag, shift, redemption and balance, and an audit and the server
cannot drift apart silently.  ``docs/protocol.md`` ("Auditing the ledger") lists
what is checked per event, clock reference, key transition and decision, and
why taps are paid in batches.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from protocol import (
    GENESIS_PREV,
    EventKind,
    ProtocolError,
    PublicKey,
    Reason,
    ShopLimits,
    coordinator_id,
    decision_hash,
    ids,
    parse_decision,
    parse_event,
    verify_decision,
)
from protocol.clockref import ClockRef, event_time, wants_ref
from protocol.decisions import MAX_VOID_WINDOW_S
from protocol.economy import (
    MAX_CLOCK_SKEW_MS,
    CoordinatorStatus,
    EconomyError,
    IssuerKeyStatus,
    KioskStatus,
    Site,
    SiteKind,
    Tap,
    apply_decision,
    apply_event,
    apply_taps,
    clock_in_range,
)
from protocol.encoding import MAX_SAFE_INT
from protocol.events import MAX_AMOUNT
from protocol.heartbeat import parse_heartbeat
from protocol.serverkeys import parse_transition, verify_transition
from provisioning.audit._worker import SIG_NO_KEY, SIG_OK, Record
from provisioning.audit.book import CardState, LedgerBook
from provisioning.audit.report import Problems

_KINDS: Final = {kind.value: kind for kind in EventKind}
_ISSUER_ORDER: Final = {IssuerKeyStatus.ACTIVE: 0, IssuerKeyStatus.RETIRED: 1, IssuerKeyStatus.REVOKED: 2}
_FLUSH_AT: Final = 4096
_ACTIVE: Final = KioskStatus.ACTIVE
# What the server gives every shop (it records no shifts, so it earns nothing); not logged.
SHOP_TOKENS_PER_HOUR: Final = 0
SHOP_MAX_SHIFT_HOURS: Final = 12


class _BadFact(ValueError):
    """A non-event entry whose fields have the wrong type."""


@dataclass(slots=True)
class _KioskState:
    site_id: str
    key: bytes
    status: KioskStatus
    last_seq: int = 0
    head: str = GENESIS_PREV


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


def _signed_by(key: bytes, body: bytes, sig: bytes) -> bool:
    try:
        PublicKey(key).verify(body, sig)
    except ProtocolError:
        return False
    return True


def enrolled_key(entry: Mapping[str, Any]) -> tuple[str, bytes] | None:
    """``(kiosk_id, public key)`` of a well-formed ``kiosk_enrolled`` entry, else ``None``."""
    try:
        return _str(entry, "kiosk_id", ids.KIOSK), _key(entry)
    except _BadFact:
        return None


class Replay:
    """The state a replay carries from entry to entry: facts so far, kiosk chains, the book."""

    def __init__(self, problems: Problems) -> None:
        self.problem = problems
        self.sites: dict[str, Site] = {}
        self.kiosks: dict[str, _KioskState] = {}
        self.cards: dict[str, CardState] = {}
        self.issuers: dict[str, tuple[bytes, IssuerKeyStatus]] = {}
        self.coordinators: dict[str, tuple[bytes, CoordinatorStatus]] = {}
        self.volunteers: set[str] = set()
        self.events = 0
        self.signatures = 0
        self.decisions = 0
        self.book = LedgerBook(self.sites, self.cards)
        self._applied: set[str] = set()  # hashes of the decisions applied so far
        self.clock_refs: dict[tuple[str, str], list[ClockRef]] = {}  # (kiosk, boot) -> references
        self.server_key: PublicKey | None = None  # the newest key a logged transition moved to
        self._pending: dict[str, list[Tap]] = {}
        self._pending_count = 0

    # -- events ------------------------------------------------------------------------------------
    def _chain(
        self, index: int, kiosk_id: str, seq: int, prev: str, digest: str, sig: int
    ) -> _KioskState | None:
        """Check an event's kiosk, signature state and chain, and advance the chain; its kiosk, if known."""
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
            return None
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
        return kiosk

    def _compare_flags(
        self, index: int, record: Record, logged: tuple[str, ...], expected: list[str]
    ) -> None:
        if tuple(expected) != logged:
            self.problem(
                "flags_mismatch",
                f"the log says flags {list(logged)}, the rules give {expected}",
                index=index,
                kiosk_id=record[1],
                seq=record[2],
            )

    def event(self, index: int, record: Record) -> None:
        """Check and apply one ``("E", …)`` record (a tap or ``denied``) from ``_worker.check_chunk``."""
        (
            _,
            kiosk_id,
            seq,
            prev,
            digest,
            kind,
            card_id,
            wall_ms,
            received_ms,
            flags,
            sig,
            boot,
            mono,
            synced,
        ) = record
        kiosk = self.kiosks.get(kiosk_id)
        if (
            kiosk is not None
            and sig == SIG_OK
            and seq == kiosk.last_seq + 1
            and prev == kiosk.head
            and kiosk.status is _ACTIVE
        ):  # the usual case, inline: this runs for every tap of the log
            self.events += 1
            self.signatures += 1
            kiosk.last_seq, kiosk.head = seq, digest
        else:
            kiosk = self._chain(index, kiosk_id, seq, prev, digest, sig)
            if kiosk is None:
                return
        site = self.sites[kiosk.site_id]
        if synced:
            trusted = True
        else:
            wall_ms, trusted = event_time(wall_ms, synced, mono, self.clock_refs.get((kiosk_id, boot), ()))
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
            self._compare_flags(index, record, flags, expected)
        if card is not None and kind != "denied":
            tap = Tap(
                kiosk_id,
                seq,
                _KINDS[kind],
                card_id,
                card.volunteer_id,
                wall_ms,
                expected[0] if expected else None,
                None,
                boot,
                mono,
                trusted,
                len(expected) > 1,
            )
            self._pending.setdefault(kiosk.site_id, []).append(tap)
            self._pending_count += 1
            if self._pending_count >= _FLUSH_AT:
                self.flush()

    def shop_event(self, index: int, record: Record) -> None:
        """Check and apply one ``("S", …)`` record (a ``redeem`` or ``void``) with the server's rules."""
        _, kiosk_id, seq, prev, digest, _kind, card_id, _wall_ms, received_ms, flags, sig, body = record
        kiosk = self._chain(index, kiosk_id, seq, prev, digest, sig)
        if kiosk is None:
            return
        self.flush()  # the redemption reads a balance that earlier taps may have paid
        event = parse_event(body)  # the worker parsed it already, so it parses
        clock = event.clock
        time_ms, _ = event_time(
            clock.wall_ms, clock.synced, clock.mono_ms, self.clock_refs.get((kiosk_id, clock.boot_id), ())
        )
        expected = apply_event(
            self.book,
            self.sites[kiosk.site_id],
            event,
            self.cards.get(card_id),
            now_ms=received_ms,
            log_index=index,
            time_ms=time_ms,
        )
        self._compare_flags(index, record, flags, expected)

    def flush(self) -> None:
        """Pair and pay every collected tap in the book."""
        if not self._pending_count:
            return
        for site_id, taps in self._pending.items():
            apply_taps(self.book, self.sites[site_id], taps, taps[-1].wall_ms)
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
        """A site created, or its rate, maximum or card policy changed (its kind, cap and bonuses stay)."""
        site_id = _str(entry, "site_id", ids.SITE)
        allow = entry["allow_uncredentialed"]
        if not isinstance(allow, bool):
            raise _BadFact("allow_uncredentialed is not a boolean")
        tokens_per_hour = _int(entry, "tokens_per_hour", 0, 1_000_000)
        max_shift_hours = _int(entry, "max_shift_hours", 1, 168)
        _int(entry, "at_ms")
        site = self.sites.get(site_id) or Site(site_id, "", tokens_per_hour, max_shift_hours)
        self.sites[site_id] = dataclasses.replace(
            site, tokens_per_hour=tokens_per_hour, max_shift_hours=max_shift_hours, allow_uncredentialed=allow
        )

    def _shop(self, index: int, entry: Mapping[str, Any]) -> None:
        """A site created as a shop, with its first limits (its till presets are not logged: none)."""
        site_id = _str(entry, "site_id", ids.SITE)
        limits = ShopLimits(
            max_amount=_int(entry, "max_amount", 1, MAX_AMOUNT),
            offline_allowance=_int(entry, "offline_allowance", 0, MAX_AMOUNT),
            offline_daily_cap=_int(entry, "offline_daily_cap", 0, MAX_AMOUNT),
            void_window_s=_int(entry, "void_window_s", 0, MAX_VOID_WINDOW_S),
        )
        _int(entry, "at_ms")
        if site_id in self.sites:
            self._out_of_order(index, f"site {site_id} exists already and is created again as a shop")
            return
        self.sites[site_id] = Site(
            site_id,
            "",
            SHOP_TOKENS_PER_HOUR,
            SHOP_MAX_SHIFT_HOURS,
            kind=SiteKind.SHOP,
            shop=limits,
        )

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
        at_ms = _int(entry, "at_ms")
        if card_id in self.cards:
            self.problem(Reason.CARD_EXISTS.value, f"card {card_id} is registered a second time", index=index)
            return
        self.volunteers.add(volunteer_id)
        self.cards[card_id] = CardState(volunteer_id, at_ms)

    def _card_blocked(self, index: int, entry: Mapping[str, Any]) -> None:
        card_id = _str(entry, "card_id", ids.CARD, ids.UID_CARD)
        at_ms = _int(entry, "at_ms")
        card = self.cards.get(card_id)
        if card is None:
            self._out_of_order(index, f"card {card_id} is blocked before it is registered")
            return
        if card.blocked_ms is None:  # blocking again keeps the first time, as the server does
            card.blocked_ms = at_ms

    def _coordinator_key(self, index: int, entry: Mapping[str, Any]) -> None:
        """A coordinator key registered (``active``) or revoked; a key moves one way only."""
        coordinator = _str(entry, "coordinator_id", ids.COORDINATOR)
        key = _key(entry)
        try:
            status = CoordinatorStatus(entry["status"])
        except ValueError:
            raise _BadFact("status is not active or revoked") from None
        _int(entry, "at_ms")
        if coordinator_id(PublicKey(key)) != coordinator:
            raise _BadFact(f"coordinator_id {coordinator} is not the ID of its public key")
        known = self.coordinators.get(coordinator)
        if known is not None and known[1] is CoordinatorStatus.REVOKED and status is not known[1]:
            self.problem(
                Reason.COORDINATOR_REVOKED.value,
                f"coordinator key {coordinator} is active again after it was revoked",
                index=index,
            )
            return
        self.coordinators[coordinator] = (key, status)

    def _decision(self, index: int, entry: Mapping[str, Any]) -> None:
        """Check a coordinator decision as the server did when it took it, then apply it with its rules."""
        body, sig = entry["body"], entry["sig"]
        received_ms = _int(entry, "received_ms")
        try:
            decision = parse_decision(body)
        except ProtocolError as exc:
            self.problem(exc.reason.value, f"the decision does not parse: {exc.message}", index=index)
            return
        self.decisions += 1
        what = f"the {decision.kind} decision"
        known = self.coordinators.get(decision.coordinator)
        if known is None:
            self.problem(
                Reason.UNKNOWN_COORDINATOR.value,
                f"{what} is signed by coordinator key {decision.coordinator}, not logged before it",
                index=index,
            )
        else:
            try:
                verify_decision(body, sig, PublicKey(known[0]))
            except ProtocolError:
                self.problem(
                    Reason.BAD_SIGNATURE.value,
                    f"{what}'s signature does not verify with coordinator key {decision.coordinator}",
                    index=index,
                )
            if known[1] is not CoordinatorStatus.ACTIVE:
                self.problem(
                    Reason.COORDINATOR_REVOKED.value,
                    f"{what} was taken after coordinator key {decision.coordinator} was revoked",
                    index=index,
                )
        if abs(decision.at_ms - received_ms) > MAX_CLOCK_SKEW_MS:
            self.problem(
                Reason.DECISION_STALE.value,
                f"{what} was signed more than 24 h from when the server took it",
                index=index,
            )
        digest = decision_hash(body)
        if digest in self._applied:
            self.problem(
                Reason.DUPLICATE.value,
                f"{what} was applied before: the server takes the same bytes once",
                index=index,
            )
            return
        self._applied.add(digest)
        try:
            apply_decision(self.book, decision, digest, now_ms=received_ms, log_index=index)
        except EconomyError as exc:
            self.problem(exc.reason.value, f"the server's rules refuse {what}: {exc.message}", index=index)

    def _clock_ref(self, index: int, entry: Mapping[str, Any]) -> None:
        """A kiosk's clock sample the server took as a reference for the events of its boot after it."""
        received_ms = _int(entry, "received_ms")
        try:
            beat = parse_heartbeat(entry["body"])
        except ProtocolError as exc:
            self.problem(exc.reason.value, f"the clock reference does not parse: {exc.message}", index=index)
            return
        kiosk = self.kiosks.get(beat.kiosk)
        if kiosk is None:
            self.problem(
                "unknown_kiosk", "the clock reference comes before its kiosk's enrolment", index=index
            )
        elif not _signed_by(kiosk.key, entry["body"], entry["sig"]):
            self.problem(
                Reason.BAD_SIGNATURE.value,
                "the clock reference's signature does not verify with the kiosk's enrolled key",
                index=index,
                kiosk_id=beat.kiosk,
            )
        refs = self.clock_refs.setdefault((beat.kiosk, beat.boot), [])
        if not wants_ref(refs, beat.mono_ms):
            self._out_of_order(
                index,
                "the clock reference is not later than its boot's previous one by the refresh interval",
                kiosk_id=beat.kiosk,
            )
        refs.append(ClockRef(beat.mono_ms, received_ms))

    def _server_key(self, index: int, entry: Mapping[str, Any]) -> None:
        """A server key transition: signed by both keys, and chained to the one before it."""
        body = entry["body"]
        try:
            transition = parse_transition(body)
            if self.server_key is not None and transition.old != self.server_key:
                self.problem(
                    Reason.SERVER_KEY_MISMATCH.value,
                    "the server key transition does not start from the key the previous one ended with",
                    index=index,
                )
            verify_transition(body, entry["sig_old"], entry["sig_new"], transition.old)
        except ProtocolError as exc:
            self.problem(exc.reason.value, f"the server key transition: {exc.message}", index=index)
            return
        self.server_key = transition.new

    def _event(self, index: int, entry: Mapping[str, Any]) -> None:
        raise AssertionError("events are replayed with Replay.event")
