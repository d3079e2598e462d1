"""Replay the log in order into an in-memory ledger, with the economy rules, and say where it disagrees.

The log is self-contained: every fact an event or decision depends on is
logged before it.  So replaying it with :mod:`protocol.economy`, the very rules
the server applies, through :class:`~provisioning.audit.book.LedgerBook`
rebuilds every flag, shift, redemption and balance, and an audit and the server
cannot drift apart silently.  ``docs/protocol.md`` ("Auditing the ledger") lists
what is checked per event, clock reference, key transition and decision, and
why taps are paid in batches.  Events are checked here (chain, flags, taps);
facts in :mod:`.facts`, decisions, clock references and server keys in :mod:`.signed`.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any, Final

from protocol import EventKind, PublicKey, Reason, ids, parse_event
from protocol.clockref import ClockRef, event_time
from protocol.commitments import Opening, commit_value
from protocol.economy import KioskStatus, Site, Tap, TapMark, apply_event, apply_taps, clock_in_range
from protocol.economy.undo import undo_verdict
from protocol.errors import ProtocolError
from protocol.events import Event
from protocol.logentry import PUBLIC_DAY_MS
from provisioning.audit._worker import SIG_BAD, SIG_NO_KEY, SIG_OK, Record
from provisioning.audit.auditor import REGISTRATION_DOMAIN
from provisioning.audit.book import CardState, LedgerBook
from provisioning.audit.facts import (
    SHOP_MAX_SHIFT_HOURS,
    SHOP_TOKENS_PER_HOUR,
    BadFact,
    Facts,
    KioskState,
    enrolled_key,
    int_field,
    text_field,
)
from provisioning.audit.report import Problems
from provisioning.audit.sealed import (
    BadOpening,
    OpenedEvent,
    TotalsRanges,
    item_totals,
    open_event,
    open_sealed_v1,
)
from provisioning.audit.signed import SignedEntries, _signed_by

__all__ = ["SHOP_MAX_SHIFT_HOURS", "SHOP_TOKENS_PER_HOUR", "Replay", "enrolled_key"]

_KINDS: Final = {kind.value: kind for kind in EventKind}
_FLUSH_AT: Final = 4096
_ACTIVE: Final = KioskStatus.ACTIVE
_Handler = Callable[[int, Mapping[str, Any]], None]


class Replay:
    """The state a replay carries from entry to entry: facts so far, kiosk chains, the book.

    The facts' tables are shared, not copied: ``sites``, ``kiosks``, ``cards``
    and ``volunteers`` are :class:`~.facts.Facts`' own, read here on every event.
    """

    def __init__(self, problems: Problems, openings: Mapping[int, Mapping[str, Any]] | None = None) -> None:
        self.problem = problems
        # The auditor's openings by log index (:mod:`.auditor`); ``None`` for a public audit, which
        # replays no card of a v2 entry.
        self.openings = openings
        self.opened = 0  # commitments opened
        self.versions: set[int] = set()  # entry versions seen (1, 2)
        # The totals entries (public sums and ranges), and what each opening item says its entry
        # moved (the auditor's check).
        self.totals = TotalsRanges()
        self.logged: dict[int, tuple[int, int]] = {}
        self.last_mover = -1  # the index of the last entry that may move the totals (event, decision)
        self.unopened: set[int] = set()  # entries whose opening is missing or wrong: compared no further
        self.sealed = 0
        self.facts = Facts(problems)
        self.sites: dict[str, Site] = self.facts.sites
        self.kiosks: dict[str, KioskState] = self.facts.kiosks
        self.cards: dict[str, CardState] = self.facts.cards
        self.volunteers: set[str] = self.facts.volunteers
        self.events = 0
        self.signatures = 0
        self.book = LedgerBook(self.sites, self.cards, self.facts.staff)
        self.signed = SignedEntries(self.facts, self.book)
        self.clock_refs: dict[tuple[str, str], list[ClockRef]] = self.signed.clock_refs
        # Taps to pair, in log order as runs of one site: the kiosk limits count a card's shifts at
        # every site, so a site's taps must not be paid before another site's that the log has first.
        self._pending: list[tuple[str, list[Tap]]] = []
        self._pending_count = 0
        # (kiosk, card) -> the card's latest check-in, check-out or undo there: what an undo's verdict reads.
        self.marks: dict[tuple[str, str], TapMark] = {}
        facts, signed = self.facts, self.signed
        self._handlers: dict[str, _Handler] = {
            "site": facts.site,
            "shop": facts.shop,
            "till_staff": facts.till_staff,
            "kiosk_enrolled": facts.kiosk_enrolled,
            "kiosk_status": facts.kiosk_status,
            "issuer_key": facts.issuer_key,
            "card": facts.card,
            "card_blocked": facts.card_blocked,
            "coordinator_key": facts.coordinator_key,
            "decision": self._decision,
            "clock_ref": signed.clock_ref,
            "server_key": signed.server_key_transition,
            "event": self._event,
            "handover": facts.handover,
            "event_sealed": self._sealed,
            "totals": self._totals,
            "certificate": self._certificate,
        }

    @property
    def decisions(self) -> int:
        """How many logged decisions parsed (duplicates too)."""
        return self.signed.decisions

    @property
    def server_key(self) -> PublicKey | None:
        """The newest server key a logged transition moved to, if any."""
        return self.signed.server_key

    # -- events ------------------------------------------------------------------------------------
    def _chain(
        self, index: int, kiosk_id: str, seq: int, prev: str, digest: str, sig: int | None
    ) -> KioskState | None:
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
        if sig is not None and sig != SIG_NO_KEY:
            self.signatures += 1
        if sig is not None and sig != SIG_OK:
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
        """Check and apply one ``("E", …)`` record (a tap or ``denied``) from ``_worker.check_chunk``.

        The audit's hot path: it runs for every tap of the log, so the usual case is inline.
        """
        _, kiosk_id, seq, prev, digest, kind, card_id, wall_ms, received, flags, sig, boot, mono, synced = (
            record
        )
        kiosk = self.kiosks.get(kiosk_id)
        if (
            kiosk is not None
            and sig == SIG_OK
            and seq == kiosk.last_seq + 1
            and prev == kiosk.head
            and kiosk.status is _ACTIVE
        ):
            self.events += 1
            self.signatures += 1
            kiosk.last_seq, kiosk.head = seq, digest
        else:
            kiosk = self._chain(index, kiosk_id, seq, prev, digest, sig)
            if kiosk is None:
                return
        site = self.sites[kiosk.site_id]
        if kind != "denied":
            self.marks[(kiosk_id, card_id)] = TapMark(seq, _KINDS[kind], boot, mono)
        if synced:
            trusted = True
        else:
            wall_ms, trusted = event_time(wall_ms, synced, mono, self.clock_refs.get((kiosk_id, boot), ()))
        expected: list[str] = []
        if not clock_in_range(wall_ms, received):
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
                index,
                boot,
                mono,
                trusted,
                len(expected) > 1,
                received,
                kiosk.enrolled_ms,
            )
            pending = self._pending
            if pending and pending[-1][0] == kiosk.site_id:
                pending[-1][1].append(tap)
            else:
                pending.append((kiosk.site_id, [tap]))
            self._pending_count += 1
            if self._pending_count >= _FLUSH_AT:
                self.flush()

    def shop_event(self, index: int, record: Record, event: Event | None = None) -> None:
        """Check and apply one ``("S", …)`` record (a ``redeem`` or ``void``) with the server's rules.

        ``event`` is the opened event of an entry v2 (its record's body is then unused).
        """
        _, kiosk_id, seq, prev, digest, _kind, card_id, _wall_ms, received_ms, flags, sig, body = record
        kiosk = self._chain(index, kiosk_id, seq, prev, digest, sig)
        if kiosk is None:
            return
        self.flush()  # the redemption reads a balance that earlier taps may have paid
        if event is None:
            event = parse_event(body)  # the worker parsed it already, so it parses
        if event.kind is EventKind.UNDO:
            self._undo(index, record, event, kiosk)
            return
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

    def _undo(self, index: int, record: Record, event: Event, kiosk: KioskState) -> None:
        """Check and apply an ``undo`` by the rules of ``protocol.economy.undo``, after pending taps."""
        kiosk_id, seq, card_id, received_ms, flags = record[1], record[2], record[6], record[8], record[9]
        clock, target = event.clock, event.data["seq"]
        key = (kiosk_id, card_id)
        latest = self.marks.get(key)
        self.marks[key] = TapMark(seq, EventKind.UNDO, clock.boot_id, clock.mono_ms, target)
        card = self.cards.get(card_id)
        if card is None:
            self._compare_flags(index, record, flags, [Reason.UNKNOWN_CARD.value])
            return
        verdict = undo_verdict(
            seq=seq, target=target, boot=clock.boot_id, mono_ms=clock.mono_ms, latest=latest
        )
        if verdict is not None or latest is None:
            self._compare_flags(index, record, flags, [] if verdict is None else [verdict])
            return
        time_ms, _ = event_time(
            clock.wall_ms, clock.synced, clock.mono_ms, self.clock_refs.get((kiosk_id, clock.boot_id), ())
        )
        tap = Tap(
            kiosk_id,
            seq,
            EventKind.UNDO,
            card_id,
            card.volunteer_id,
            time_ms,
            log_index=index,
            boot=clock.boot_id,
            mono_ms=clock.mono_ms,
            target=target,
            undoes=latest.kind,
        )
        refused = apply_taps(self.book, self.sites[kiosk.site_id], [tap], received_ms)
        self._compare_flags(index, record, flags, list(refused.values()))

    def flush(self) -> None:
        """Pair and pay every collected tap in the book."""
        if not self._pending_count:
            return
        for site_id, taps in self._pending:
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
        self.versions.add(entry["v"])
        try:
            if entry["v"] != 1 and entry["kind"] in ("card", "card_blocked"):
                self._committed_card(index, entry)
            else:
                self._handlers[entry["kind"]](index, entry)
        except (BadFact, KeyError) as exc:
            self.problem(Reason.BAD_FIELD.value, f"a {entry['kind']} entry: {exc}", index=index)

    def _event(self, index: int, entry: Mapping[str, Any]) -> None:
        raise AssertionError("events are replayed with Replay.event")

    def _certificate(self, index: int, entry: Mapping[str, Any]) -> None:
        """An hours certificate (issue 18): it decides no balance; its period must be one."""
        int_field(entry, "at_ms")
        try:
            first = datetime.date.fromisoformat(entry["from_day"])
            last = datetime.date.fromisoformat(entry["to_day"])
        except ValueError as exc:
            raise BadFact(f"its period is not two dates: {exc}") from exc
        if last < first:
            raise BadFact("its period ends before it starts")

    # -- v2: commitments, openings, totals ---------------------------------------------------------
    def _totals(self, index: int, entry: Mapping[str, Any]) -> None:
        """A ``totals`` entry: its range runs on from the previous one; its figures add to the public sums."""
        first, last = int_field(entry, "first"), int_field(entry, "last")
        issued, redeemed = entry["issued"], entry["redeemed"]  # signed integers (parse_entry checked)
        int_field(entry, "at_ms")
        problem = self.totals.add(index, first, last, issued, redeemed)
        if problem is not None:
            self.problem("totals_range_gap", f"the totals entry: {problem}", index=index)

    def _item(self, index: int, what: str) -> Mapping[str, Any] | None:
        """The opening of entry ``index``, or ``None`` and an ``opening_missing`` finding."""
        assert self.openings is not None
        item = self.openings.get(index)
        if item is None:
            self.unopened.add(index)
            self.problem(Reason.OPENING_MISSING.value, f"the auditor has no opening for {what}", index=index)
        return item

    def _mismatch(self, index: int, what: str) -> None:
        self.unopened.add(index)
        self.problem(Reason.OPENING_MISMATCH.value, f"the opening does not open {what}", index=index)

    def _log_item_totals(self, index: int, item: Mapping[str, Any], what: str) -> bool:
        """Keep what an item says its entry moved (the auditor compares it with the replay)."""
        try:
            moved = item_totals(item)
        except BadOpening as exc:
            self._mismatch(index, f"{what}: {exc}")
            return False
        if moved != (0, 0):
            self.logged[index] = moved
        return True

    def open_card(self, index: int, ref: str, what: str = "the card commitment") -> str | None:
        """The card committed to in ``ref`` (entry ``index``) by the auditor's opening, else ``None``."""
        item = self._item(index, what)
        return None if item is None else self._open_card_item(index, item, ref, what)

    def _open_card_item(self, index: int, item: Mapping[str, Any], ref: str, what: str) -> str | None:
        try:
            opening = Opening(str(item["card"]), str(item["salt"]))
            opens = ids.is_id(opening.card, ids.CARD, ids.UID_CARD) and opening.opens(ref)
        except (KeyError, ValueError):
            opens = False
        if not opens:
            self._mismatch(index, what)
            return None
        self.opened += 1
        return opening.card

    def _check_day(self, index: int, received: int, kiosk_id: str, seq: int) -> None:
        """Public: an entry v2 of an event shows the UTC day it was received, never the time of day."""
        if received % PUBLIC_DAY_MS:
            self.problem(
                "received_not_day",
                "the entry shows the time the event was received, not only its UTC day",
                index=index,
                kiosk_id=kiosk_id,
                seq=seq,
            )

    def committed_event(self, index: int, record: Record) -> None:
        """Check and apply one ``("V", …)`` record: an event in an entry v2, sealed.

        Public: the kiosk's signature and chain only; the event's card, kind,
        clock and data are sealed.  The auditor opens it with its item
        (:func:`.sealed.open_event`) and replays it with the item's exact receipt
        time and flags, as :meth:`event` or :meth:`shop_event`.
        """
        self.versions.add(2)
        self.last_mover = index
        _, kiosk_id, seq, prev, digest, ref, received_day, sig, body = record
        self._check_day(index, received_day, kiosk_id, seq)
        if ref is None:  # a v1 event in an entry v2: it names its card, kind and time for all to read
            self.problem(
                "unsealed_event",
                "the entry v2 holds a v1 event, which names its card: it must be logged sealed",
                index=index,
                kiosk_id=kiosk_id,
                seq=seq,
            )
        opened = None
        if self.openings is not None:
            item = self._item(index, "the sealed event")
            if item is not None:
                try:
                    opened = open_event(item, body, received_day=received_day)
                except BadOpening as exc:
                    self._mismatch(index, f"the sealed event: {exc}")
                except ProtocolError as exc:
                    self._mismatch(index, f"the sealed event: {exc.message}")
        if opened is None:
            self._chain(index, kiosk_id, seq, prev, digest, sig)
            return
        self.opened += 1
        self._replay_opened(index, opened, digest, sig)

    def _replay_opened(self, index: int, opened: OpenedEvent, digest: str, sig: int) -> None:
        """Replay an event the auditor opened, with the exact receipt time and flags of its item."""
        event, received, flags = opened.event, opened.received_ms, opened.flags
        if opened.issued or opened.redeemed:
            self.logged[index] = (opened.issued, opened.redeemed)
        kind, clock = event.kind.value, event.clock
        card = event.card
        head = (event.kiosk, event.seq, event.prev, digest, kind, card, clock.wall_ms, received, flags, sig)
        if kind in ("redeem", "void", "undo"):
            self.shop_event(index, ("S", *head, b""), event)
        else:
            self.event(index, ("E", *head, clock.boot_id, clock.mono_ms, clock.synced))

    def _committed_card(self, index: int, entry: Mapping[str, Any]) -> None:
        """A v2 ``card`` or ``card_blocked`` entry: a commitment; the auditor opens and applies it."""
        ref = entry["ref"]
        if entry["kind"] == "card":
            self.facts.card_commitments += 1
        if self.openings is None:
            return
        if entry["kind"] == "card_blocked":
            card = self.open_card(index, ref, "the block's card commitment")
            if card is not None:
                self.facts.card_blocked(index, {"card_id": card, "at_ms": entry["at_ms"]})
            return
        item = self._item(index, "the card registration")
        if item is None:
            return
        card, volunteer, salt = item.get("card"), item.get("volunteer"), item.get("salt")
        try:
            opens = (
                isinstance(card, str)
                and isinstance(volunteer, str)
                and isinstance(salt, str)
                and commit_value(REGISTRATION_DOMAIN, salt, f"{card}|{volunteer}") == ref
            )
        except ValueError:
            opens = False
        if not opens:
            self._mismatch(index, "the card registration (card and volunteer)")
            return
        self.opened += 1
        self.facts.card(index, {"card_id": card, "volunteer_id": volunteer, "at_ms": entry["at_ms"]})

    def _decision(self, index: int, entry: Mapping[str, Any]) -> None:
        """A decision: public, its signature and signer; the auditor also applies it, with its item's totals.

        Every decision v2 has an item (its ``issued``/``redeemed``); a ``manual_shift``'s also opens its card.
        """
        self.last_mover = index
        if entry["v"] == 1 or self.openings is None:
            self.signed.decision(index, entry, None)
            return
        item = self._item(index, "the decision")
        if item is not None and not self._log_item_totals(index, item, "the decision's totals"):
            item = None

        def opened(at: int, ref: str) -> str | None:
            if item is None:  # reported already
                return None
            return self._open_card_item(at, item, ref, "the decision's card commitment")

        self.signed.decision(index, entry, opened)

    def _sealed(self, index: int, entry: Mapping[str, Any]) -> None:
        """An ``event_sealed`` entry: a v1 event (it names its card) logged in a v2 log by hash and place.

        Public: its place in the kiosk's chain (``hash``, ``prev``) and its UTC day; its signature
        cannot be checked without the bytes.  The auditor gets ``body`` and ``sig`` with the opening
        (:func:`.sealed.open_sealed_v1`), checks the signature with the kiosk's key, then replays it.
        """
        self.sealed += 1
        self.last_mover = index
        kiosk_id = text_field(entry, "kiosk", ids.KIOSK)
        seq = int_field(entry, "seq", 1)
        received_day = int_field(entry, "received_ms")
        self._check_day(index, received_day, kiosk_id, seq)
        opened = None
        if self.openings is not None:
            item = self._item(index, "the sealed v1 event")
            if item is not None:
                try:
                    opened, body, sig = open_sealed_v1(item, entry)
                except BadOpening as exc:
                    self._mismatch(index, f"the sealed v1 event: {exc}")
        if opened is None:
            self._chain(index, kiosk_id, seq, entry["prev"], entry["hash"], None)
            return
        self.opened += 1
        kiosk = self.kiosks.get(kiosk_id)
        signed = kiosk is not None and _signed_by(kiosk.key, body, sig)
        self._replay_opened(index, opened, entry["hash"], SIG_OK if signed else SIG_BAD)

    def compare_moves(self) -> None:
        """The auditor's check: each entry's and each ``totals`` range's figures are what the replay moved."""
        self.flush()
        moves = self.book.moves
        for index in sorted(self.logged.keys() | moves.keys()):
            if index in self.unopened:
                continue
            logged = self.logged.get(index, (0, 0))
            moved = tuple(moves.get(index, (0, 0)))
            if logged != moved:
                self.problem(
                    "entry_totals_mismatch",
                    f"the opening says the entry issued {logged[0]}, redeemed {logged[1]}; "
                    f"the replay moved {moved[0]} and {moved[1]}",
                    index=index,
                )
        for index, first, last, logged, moved in self.totals.differing(moves, sorted(self.unopened)):
            self.problem(
                "totals_range_mismatch",
                f"the totals entry says entries {first}..{last} issued {logged[0]}, redeemed {logged[1]}; "
                f"the replay moved {moved[0]} and {moved[1]}",
                index=index,
            )
