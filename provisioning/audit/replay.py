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

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Final

from protocol import EventKind, PublicKey, Reason, ids, parse_event
from protocol.clockref import ClockRef, event_time
from protocol.commitments import Opening, commit_value
from protocol.economy import KioskStatus, Site, Tap, apply_event, apply_taps, clock_in_range
from protocol.encoding import b64decode
from protocol.errors import ProtocolError
from protocol.events import event_hash
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
        # What the v2 entries say they moved, in all (the public check) and by entry (the auditor's).
        self.logged_issued = 0
        self.logged_redeemed = 0
        self.logged: dict[int, tuple[int, int]] = {}
        self.unopened: set[int] = set()  # entries whose opening is missing or wrong: compared no further
        self.sealed = 0
        self.facts = Facts(problems)
        self.sites: dict[str, Site] = self.facts.sites
        self.kiosks: dict[str, KioskState] = self.facts.kiosks
        self.cards: dict[str, CardState] = self.facts.cards
        self.volunteers: set[str] = self.facts.volunteers
        self.events = 0
        self.signatures = 0
        self.book = LedgerBook(self.sites, self.cards)
        self.signed = SignedEntries(self.facts, self.book)
        self.clock_refs: dict[tuple[str, str], list[ClockRef]] = self.signed.clock_refs
        # Taps to pair, in log order as runs of one site: the kiosk limits count a card's shifts at
        # every site, so a site's taps must not be paid before another site's that the log has first.
        self._pending: list[tuple[str, list[Tap]]] = []
        self._pending_count = 0
        facts, signed = self.facts, self.signed
        self._handlers: dict[str, _Handler] = {
            "site": facts.site,
            "shop": facts.shop,
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

    def shop_event(self, index: int, record: Record) -> None:
        """Check and apply one ``("S", …)`` record (a ``redeem`` or ``void``) with the server's rules."""
        _, kiosk_id, seq, prev, digest, _kind, card_id, _wall_ms, received_ms, flags, sig, body = record
        kiosk = self._chain(index, kiosk_id, seq, prev, digest, sig)
        if kiosk is None:
            return
        self.flush()  # the redemption reads a balance that earlier taps may have paid
        event = parse_event(body)  # the worker parsed it already, so it parses
        if not event.card:  # a v2 event, opened by the caller
            event = dataclasses.replace(event, card=card_id)
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

    # -- v2: commitments, openings, totals ---------------------------------------------------------
    def _log_totals(self, index: int, issued: int, redeemed: int) -> None:
        """Count what a v2 entry says it moved: summed for the public check, kept for the auditor's."""
        self.logged_issued += issued
        self.logged_redeemed += redeemed
        if self.openings is not None and (issued or redeemed):
            self.logged[index] = (issued, redeemed)

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

    def open_card(self, index: int, ref: str, what: str = "the card commitment") -> str | None:
        """The card committed to in ``ref`` (entry ``index``) by the auditor's opening, else ``None``."""
        item = self._item(index, what)
        if item is None:
            return None
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

    def committed_event(self, index: int, record: Record) -> None:
        """Check and apply one ``("V", …)`` record: an event in a v2 entry.

        Public: the kiosk's signature and chain, and the clock flag (the other flags are about the
        card).  The auditor opens the card and replays it as :meth:`event` or :meth:`shop_event`.
        """
        self.versions.add(2)
        (_, kiosk_id, seq, prev, digest, kind, ref, wall_ms, received, flags, sig, boot, mono, synced) = (
            record[:14]
        )
        issued, redeemed, body = record[14:17]
        self._log_totals(index, issued, redeemed)
        card_id = ref if ids.is_id(ref, ids.CARD, ids.UID_CARD) else None  # a v1 event in a v2 entry
        if card_id is None and self.openings is not None:
            card_id = self.open_card(index, ref, "the event's card commitment")
        if card_id is None:
            kiosk = self._chain(index, kiosk_id, seq, prev, digest, sig)
            if kiosk is not None:
                self._check_clock_flag(index, record, kiosk_id, wall_ms, received, boot, mono, synced, flags)
            return
        if kind in ("redeem", "void"):
            self.shop_event(
                index, ("S", kiosk_id, seq, prev, digest, kind, card_id, wall_ms, received, flags, sig, body)
            )
        else:
            self.event(
                index,
                (
                    "E",
                    kiosk_id,
                    seq,
                    prev,
                    digest,
                    kind,
                    card_id,
                    wall_ms,
                    received,
                    flags,
                    sig,
                    boot,
                    mono,
                    synced,
                ),
            )

    def _check_clock_flag(
        self,
        index: int,
        record: Record,
        kiosk_id: str,
        wall_ms: int,
        received: int,
        boot: str,
        mono: int,
        synced: bool,
        flags: tuple[str, ...],
    ) -> None:
        """Public: the one flag that needs no card, ``clock_out_of_range``, is logged exactly when due."""
        if not synced:
            wall_ms, _ = event_time(wall_ms, synced, mono, self.clock_refs.get((kiosk_id, boot), ()))
        due = not clock_in_range(wall_ms, received)
        if due != (Reason.CLOCK_OUT_OF_RANGE.value in flags):
            expected = [Reason.CLOCK_OUT_OF_RANGE.value] if due else []
            self._compare_flags(
                index, record, tuple(f for f in flags if f == Reason.CLOCK_OUT_OF_RANGE.value), expected
            )

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
        if entry["v"] != 1:
            self._log_totals(index, entry["issued"], entry["redeemed"])
        opened = None if self.openings is None else self._open_decision
        self.signed.decision(index, entry, opened)

    def _open_decision(self, index: int, ref: str) -> str | None:
        return self.open_card(index, ref, "the decision's card commitment")

    def _sealed(self, index: int, entry: Mapping[str, Any]) -> None:
        """An ``event_sealed`` entry: a v1 event (it names its card) logged after a hand-over as its hash.

        Public: its place in the kiosk's chain (``hash``, ``prev``); its signature cannot be checked
        without the bytes.  The auditor gets ``body`` and ``sig`` with the opening, checks that they
        hash to ``hash``, verify with the kiosk's key and name the committed card, then replays them.
        """
        self.sealed += 1
        self._log_totals(index, entry["issued"], entry["redeemed"])
        kiosk_id = text_field(entry, "kiosk", ids.KIOSK)
        seq = int_field(entry, "seq", 1)
        flags = tuple(entry["flags"])
        received = int_field(entry, "received_ms")
        event = self._open_sealed(index, entry) if self.openings is not None else None
        if event is None:
            self._chain(index, kiosk_id, seq, entry["prev"], entry["hash"], None)
            return
        body, signed = event
        parsed = parse_event(body)
        clock = parsed.clock
        sig = SIG_OK if signed else SIG_BAD
        if parsed.kind.value in ("redeem", "void"):
            self.shop_event(
                index,
                (
                    "S",
                    kiosk_id,
                    seq,
                    parsed.prev,
                    entry["hash"],
                    parsed.kind.value,
                    parsed.card,
                    clock.wall_ms,
                    received,
                    flags,
                    sig,
                    body,
                ),
            )
        else:
            self.event(
                index,
                (
                    "E",
                    kiosk_id,
                    seq,
                    parsed.prev,
                    entry["hash"],
                    parsed.kind.value,
                    parsed.card,
                    clock.wall_ms,
                    received,
                    flags,
                    sig,
                    clock.boot_id,
                    clock.mono_ms,
                    clock.synced,
                ),
            )

    def _open_sealed(self, index: int, entry: Mapping[str, Any]) -> tuple[bytes, bool] | None:
        """``(body, signature verifies)`` of a sealed event the opening gives and that fits the entry."""
        item = self._item(index, "the sealed event")
        if item is None:
            return None
        try:
            body = b64decode(item["body"], field="body")
            sig = b64decode(item["sig"], field="sig")
            event = parse_event(body)
            opening = Opening(str(item["card"]), str(item["salt"]))
            fits = (
                event_hash(body) == entry["hash"]
                and (event.kiosk, event.seq, event.prev) == (entry["kiosk"], entry["seq"], entry["prev"])
                and event.card == opening.card
                and opening.opens(entry["ref"])
            )
        except (KeyError, ValueError, ProtocolError):
            fits = False
        if not fits:
            self._mismatch(index, "the sealed event (its bytes, chain place or card)")
            return None
        self.opened += 1
        kiosk = self.kiosks.get(entry["kiosk"])
        signed = kiosk is not None and _signed_by(kiosk.key, body, sig)
        return body, signed

    def compare_moves(self) -> None:
        """The auditor's check: each v2 entry's ``issued``/``redeemed`` equals what the replay moved."""
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
                    f"the entry says issued {logged[0]}, redeemed {logged[1]}; "
                    f"the replay moved {moved[0]} and {moved[1]}",
                    index=index,
                )
