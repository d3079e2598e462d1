"""The kiosk core: turn one card tap into one signed, stored event, then tell the volunteer.

Incomplete read → nothing; denied card → ``denied`` event; coordinator card →
the menu; same card within the double-tap window → ``already_recorded``; else
``check_out`` of a young open shift or a new ``check_in``.  The rules in full:
docs/architecture.md, "A tap, on a check-in kiosk".  For ``undo_window_s`` after
a check-in or check-out the screen offers to take it back: :meth:`Kiosk.undo`
signs an ``undo`` event (docs/protocol.md, "Undo at the kiosk").

The event is committed *before* the indicator is told, so a green light
always means the tap is on disk.  Nothing here touches the network: the tap
path works offline.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from hardware.indicator import Indicator, Signal
from hardware.reader import Tap
from protocol import (
    GENESIS_PREV,
    ClockEvidence,
    EventKind,
    PrivateKey,
    Reason,
    SignedEvent,
)
from protocol.earning import EarningRules
from protocol.events import sign_committed_event
from protocol.trust import TrustList
from terminal.cardcheck import check_card
from terminal.clock import Clock
from terminal.config import KioskConfig
from terminal.errors import TerminalError, describe
from terminal.outbox import OpenShift, Outbox

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    """What a tap led to."""

    CHECK_IN = "check_in"
    CHECK_OUT = "check_out"
    DENIED = "denied"
    ALREADY_RECORDED = "already_recorded"
    ERROR = "error"
    COORDINATOR = "coordinator"  # a coordinator's card: opens the kiosk's menu, records nothing
    UNDONE = "undone"  # the volunteer took their check-in or check-out back (an ``undo`` event)


@dataclass(frozen=True, slots=True)
class TapOutcome:
    """Everything a screen needs to show about one tap.

    ``seq`` is set when an event was recorded.  For ``check_out``,
    ``shift_start_ms``, ``shift_minutes`` and ``tokens`` estimate the shift the
    way the server will pay it (:meth:`protocol.earning.EarningRules.tokens`:
    minutes rounded down, bonuses weighed, tokens rounded down once), but
    without the site's daily cap: what the volunteer was already paid today
    is the server's to know, so this stays an estimate and the ledger decides.  For a ``check_in``
    that replaced an abandoned shift (open longer than the maximum),
    ``abandoned_start_ms`` is that shift's start.  ``recorded_kind`` says, for
    ``already_recorded``, what the earlier tap did.  ``message`` names the
    exception type for ``error``.  For ``undone``, ``recorded_kind`` is what
    was taken back and ``undone_seq`` its event's ``seq``.  ``balance`` is the volunteer's balance as
    the server last reported it to this kiosk (at ``balance_as_of_ms``, the
    server's clock), shown at check-out; ``None`` until it ever did.
    """

    kind: Outcome
    card_id: str | None
    wall_ms: int | None
    seq: int | None = None
    shift_start_ms: int | None = None
    shift_minutes: int | None = None
    tokens: int | None = None
    reason: Reason | None = None
    recorded_kind: Outcome | None = None
    abandoned_start_ms: int | None = None
    message: str | None = None
    balance: int | None = None
    balance_as_of_ms: int | None = None
    undone_seq: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The outcome as plain JSON values (enums as their codes), ``None`` fields left out."""
        values = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return {name: str(v) if isinstance(v, StrEnum) else v for name, v in values.items() if v is not None}


def signal_of(kind: Outcome) -> Signal:
    """The indicator pattern for an outcome; the screen's colour and icon follow the same table."""
    if kind is Outcome.DENIED:
        return "denied"
    if kind is Outcome.ERROR:
        return "error"
    return "ok"


def sign_next_event(
    outbox: Outbox,
    kiosk_id: str,
    key: PrivateKey,
    kind: EventKind,
    card_id: str,
    clock: ClockEvidence,
    data: Mapping[str, Any],
) -> SignedEvent:
    """Sign the v2 event that extends ``outbox``'s chain (next ``seq``, ``prev`` = its head); stores nothing.

    The event names a fresh commitment to ``card_id``, not the card (``protocol.commitments``);
    the returned :class:`SignedEvent` carries the opening beside the signed bytes, for the
    outbox to keep until a receipt covers the event.  Shared by the check-in kiosk and the
    shop till, which store it each in their own way.
    """
    last_seq, head = outbox.head()
    return sign_committed_event(
        key,
        kiosk=kiosk_id,
        seq=last_seq + 1,
        prev=head if last_seq else GENESIS_PREV,
        kind=kind,
        card=card_id,
        clock=clock,
        data=data,
    )


class TrustSource(Protocol):
    """Where the kiosk gets the current trust list (:class:`terminal.trust.TrustStore` in production)."""

    def current(self) -> TrustList | None: ...


def _within(recent: _Recent, clock: ClockEvidence, window_ms: float) -> bool:
    """Whether ``recent`` is inside the double-tap window at ``clock`` (same boot, monotonic time)."""
    return recent.boot_id == clock.boot_id and 0 <= clock.mono_ms - recent.mono_ms < window_ms


def shift_estimate(start_ms: int, end_ms: int, rules: EarningRules) -> tuple[int, int]:
    """``(minutes, tokens)`` for a shift under ``rules``, as the server pays it before the daily cap.

    Rounded down as the server does; a clock jump back counts 0.
    """
    return max(0, end_ms - start_ms) // 60_000, rules.tokens(start_ms, end_ms)


def earning_rules(trust: TrustList | None, config: KioskConfig) -> EarningRules:
    """The site's rules from the trust list, else the rate and maximum shift from ``kiosk.toml``."""
    if trust is not None and trust.earning is not None:
        return trust.earning
    return EarningRules(config.tokens_per_hour, max_shift_hours=config.max_shift_hours)


@dataclass(frozen=True, slots=True)
class _Recent:
    boot_id: str
    mono_ms: int
    outcome: TapOutcome
    closed: OpenShift | None = None  # the open shift a check-out closed: an undo opens it again


class Kiosk:
    """Turns taps into events; everything it uses is passed in, chosen once at start-up.

    Example::

        trust = TrustStore(outbox, server_key=config.server_public_key, kiosk_id=config.kiosk_id)
        kiosk = Kiosk(
            config=config, key=key, outbox=outbox, clock=SystemClock(), indicator=indicator, trust=trust
        )
        outcome = kiosk.handle_tap(reader.wait_for_tap(timeout=None))
    """

    def __init__(
        self,
        *,
        config: KioskConfig,
        key: PrivateKey,
        outbox: Outbox,
        clock: Clock,
        indicator: Indicator,
        trust: TrustSource,
    ) -> None:
        self._config = config
        self._trust = trust
        self._key = key
        self._outbox = outbox
        self._clock = clock
        self._indicator = indicator
        # Last recorded tap per card; memory only, so the window resets on restart (by design: monotonic
        # time from another boot cannot be compared anyway).  Entries older than the window are pruned.
        self._recent: dict[str, _Recent] = {}
        # Taps come on the reader's thread, an undo on the screen's worker: one at a time.
        self._lock = threading.Lock()

    @property
    def undo_window_s(self) -> float:
        """How long after a check-in or check-out the screen offers to undo it (0: never)."""
        return self._config.undo_window_s

    def undo(self, outcome: TapOutcome) -> TapOutcome:
        """Take back ``outcome``, this kiosk's check-in or check-out, with a signed ``undo``; never raises.

        Only within ``undo_window_s`` (same boot, monotonic time), only the card's latest tap here,
        and only once; otherwise an ``error`` outcome says why (``undo_too_late``,
        ``undo_superseded``, ``already_undone``) and nothing is recorded.  The undo and the open
        shift it restores (or removes) are committed in one transaction before the indicator is told.
        """
        try:
            with self._lock:
                result = self._undo(outcome)
        except Exception as exc:
            log.warning("undo failed: %s", describe(exc))
            log.debug("undo failure", exc_info=True)
            reason = exc.reason if isinstance(exc, TerminalError) else None
            result = TapOutcome(
                kind=Outcome.ERROR, card_id=None, wall_ms=None, reason=reason, message=type(exc).__name__
            )
        self._signal(result.kind)
        return result

    def _undo(self, outcome: TapOutcome) -> TapOutcome:
        clock = self._clock.now()
        card_id = outcome.card_id

        def refused(reason: Reason) -> TapOutcome:
            return TapOutcome(kind=Outcome.ERROR, card_id=card_id, wall_ms=clock.wall_ms, reason=reason)

        if (
            outcome.kind not in (Outcome.CHECK_IN, Outcome.CHECK_OUT)
            or card_id is None
            or outcome.seq is None
        ):
            return refused(Reason.UNDO_UNKNOWN_TAP)
        recent = self._recent.get(card_id)
        if (
            recent is not None
            and recent.outcome.kind is Outcome.UNDONE
            and recent.outcome.undone_seq == outcome.seq
        ):
            return refused(Reason.ALREADY_UNDONE)
        if recent is None or recent.outcome is not outcome:
            return refused(Reason.UNDO_SUPERSEDED)
        if not _within(recent, clock, self._config.undo_window_s * 1000):
            return refused(Reason.UNDO_TOO_LATE)
        if outcome.kind is Outcome.CHECK_IN:
            seq = self._record(EventKind.UNDO, card_id, clock, {"seq": outcome.seq}, close_shift_card=card_id)
        else:
            seq = self._record(EventKind.UNDO, card_id, clock, {"seq": outcome.seq}, reopen=recent.closed)
        done = TapOutcome(
            kind=Outcome.UNDONE,
            card_id=card_id,
            wall_ms=clock.wall_ms,
            seq=seq,
            recorded_kind=outcome.kind,
            undone_seq=outcome.seq,
        )
        self._recent[card_id] = _Recent(clock.boot_id, clock.mono_ms, done)
        return done

    def handle_tap(self, tap: Tap) -> TapOutcome:
        """Record ``tap`` and signal the result; never raises."""
        try:
            with self._lock:
                outcome = self._handle(tap)
        except Exception as exc:
            # One line with the type and code only: messages can hold card data.  Nothing was committed.
            log.warning("tap failed: %s", describe(exc))
            log.debug("tap failure", exc_info=True)
            self._signal(Outcome.ERROR)
            # A terminal error's reason (storage_full, storage_unavailable) tells the screen and the
            # log why; any other exception has none.
            reason = exc.reason if isinstance(exc, TerminalError) else None
            return TapOutcome(
                kind=Outcome.ERROR, card_id=None, wall_ms=None, reason=reason, message=type(exc).__name__
            )
        self._signal(outcome.kind)
        return outcome

    @property
    def remembered_cards(self) -> int:
        """How many cards the double-tap check remembers: at most those tapped within the last window.

        Older taps are forgotten on the next tap, so a kiosk that runs for weeks keeps no more
        than one window's worth (call it from the tap loop's thread).
        """
        return len(self._recent)

    def healthy(self) -> bool:
        """No outbox alarm, and a trust list to check cards against."""
        return self._outbox.alarm is None and self._trust.current() is not None

    def show_status(self, healthy: bool) -> None:
        """Signal a status check (the kiosk button): ``ok`` when healthy, ``error`` otherwise."""
        self._signal(Outcome.CHECK_IN if healthy else Outcome.ERROR)

    def _signal(self, kind: Outcome) -> None:
        self.signal(signal_of(kind))

    def signal(self, signal: Signal) -> None:
        """Play ``signal`` on the indicator; an indicator fault is logged, never raised.

        The event (if any) is committed before this runs; a broken LED must not turn that into an error.
        """
        try:
            {"ok": self._indicator.ok, "denied": self._indicator.denied, "error": self._indicator.error}[
                signal
            ]()
        except Exception as exc:
            log.warning("indicator failed: %s", describe(exc))
            log.debug("indicator failure", exc_info=True)

    def _handle(self, tap: Tap) -> TapOutcome:
        clock = self._clock.now()
        if not tap.complete:
            return TapOutcome(
                kind=Outcome.ERROR, card_id=None, wall_ms=clock.wall_ms, reason=Reason.TAP_INCOMPLETE
            )
        trust = self._trust.current()
        check = check_card(
            tap,
            trust,
            pseudonym_key=self._config.uid_pseudonym_key,
            now_s=clock.wall_ms // 1000,
            clock_synced=clock.synced,
        )
        card_id = check.card_id
        if check.reason is not None:
            seq = self._record(EventKind.DENIED, card_id, clock, {"reason": check.reason.value})
            return TapOutcome(
                kind=Outcome.DENIED, card_id=card_id, wall_ms=clock.wall_ms, seq=seq, reason=check.reason
            )
        if trust is not None and trust.is_coordinator(card_id):
            # A coordinator's card opens the kiosk's menu; coordinators check in with a volunteer card.
            return TapOutcome(kind=Outcome.COORDINATOR, card_id=card_id, wall_ms=clock.wall_ms)

        window_ms = self._config.double_tap_window_s * 1000
        self._prune_recent(clock, max(window_ms, self._config.undo_window_s * 1000))  # an undo reads it too
        recent = self._recent.get(card_id)
        # After an undo the card may tap at once: the undone tap is no double tap.
        if recent and recent.outcome.kind is not Outcome.UNDONE and _within(recent, clock, window_ms):
            return TapOutcome(
                kind=Outcome.ALREADY_RECORDED,
                card_id=card_id,
                wall_ms=clock.wall_ms,
                recorded_kind=recent.outcome.kind,
            )

        open_shift = self._outbox.open_shift(card_id)
        outcome = self._check_in_or_out(card_id, clock, trust, open_shift)
        closed = open_shift if outcome.kind is Outcome.CHECK_OUT else None
        self._recent[card_id] = _Recent(clock.boot_id, clock.mono_ms, outcome, closed)
        return outcome

    def _check_in_or_out(
        self, card_id: str, clock: ClockEvidence, trust: TrustList | None, open_shift: OpenShift | None
    ) -> TapOutcome:
        """Close the card's open shift if it is within the longest shift, else open one.

        An open shift older than that is left behind and a new one opens; the check-in's
        ``abandoned_start_ms`` says when the old one started.
        """
        rules = earning_rules(trust, self._config)
        max_ms = rules.max_shift_hours * 3_600_000
        if open_shift is not None and clock.wall_ms - open_shift.in_wall_ms <= max_ms:
            seq = self._record(EventKind.CHECK_OUT, card_id, clock, {}, close_shift_card=card_id)
            minutes, tokens = shift_estimate(open_shift.in_wall_ms, clock.wall_ms, rules)
            balance = self._outbox.balance(card_id)  # as the server last reported it; None before that
            outcome = TapOutcome(
                kind=Outcome.CHECK_OUT,
                card_id=card_id,
                wall_ms=clock.wall_ms,
                seq=seq,
                shift_start_ms=open_shift.in_wall_ms,
                shift_minutes=minutes,
                tokens=tokens,
                balance=None if balance is None else balance[0],
                balance_as_of_ms=None if balance is None else balance[1],
            )
        else:
            seq = self._record(EventKind.CHECK_IN, card_id, clock, {}, opens_shift=True)
            outcome = TapOutcome(
                kind=Outcome.CHECK_IN,
                card_id=card_id,
                wall_ms=clock.wall_ms,
                seq=seq,
                abandoned_start_ms=open_shift.in_wall_ms if open_shift else None,
            )
        return outcome

    def _prune_recent(self, clock: ClockEvidence, window_ms: float) -> None:
        """Forget taps outside the double-tap window: only the cards of the last window are kept."""
        stale = [card for card, recent in self._recent.items() if not _within(recent, clock, window_ms)]
        for card in stale:
            del self._recent[card]

    def _record(
        self,
        kind: EventKind,
        card_id: str,
        clock: ClockEvidence,
        data: Mapping[str, Any],
        *,
        opens_shift: bool = False,
        close_shift_card: str | None = None,
        reopen: OpenShift | None = None,
    ) -> int:
        """Sign the next event in the chain and commit it; returns its ``seq``.

        The head is read once: with ``opens_shift`` the open shift stored in the
        same transaction names exactly the ``seq`` that is returned.  ``reopen`` is an
        open shift an undone check-out restores, as it was, in the same transaction.
        """
        signed = sign_next_event(self._outbox, self._config.kiosk_id, self._key, kind, card_id, clock, data)
        seq = signed.event.seq
        open_shift = OpenShift(card_id, seq, clock.wall_ms) if opens_shift else reopen
        self._outbox.append(signed, open_shift=open_shift, close_shift_card=close_shift_card)
        return seq
