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

from collections.abc import Callable, Mapping
from typing import Any, Final

from protocol import EventKind, PublicKey, Reason, ids, parse_event
from protocol.clockref import ClockRef, event_time
from protocol.economy import KioskStatus, Site, Tap, apply_event, apply_taps, clock_in_range
from provisioning.audit._worker import SIG_NO_KEY, SIG_OK, Record
from provisioning.audit.book import CardState, LedgerBook
from provisioning.audit.facts import (
    SHOP_MAX_SHIFT_HOURS,
    SHOP_TOKENS_PER_HOUR,
    BadFact,
    Facts,
    KioskState,
    enrolled_key,
)
from provisioning.audit.report import Problems
from provisioning.audit.signed import SignedEntries

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

    def __init__(self, problems: Problems) -> None:
        self.problem = problems
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
            "decision": signed.decision,
            "clock_ref": signed.clock_ref,
            "server_key": signed.server_key_transition,
            "event": self._event,
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
        self, index: int, kiosk_id: str, seq: int, prev: str, digest: str, sig: int
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
                None,
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
        try:
            self._handlers[entry["kind"]](index, entry)
        except BadFact as exc:
            self.problem(Reason.BAD_FIELD.value, f"a {entry['kind']} entry: {exc}", index=index)

    def _event(self, index: int, entry: Mapping[str, Any]) -> None:
        raise AssertionError("events are replayed with Replay.event")
