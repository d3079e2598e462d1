"""The till of a shop terminal: present a card, redeem tokens, list and void recent redemptions.

The rules are ``docs/economy.md``, "Redeeming at a shop"; this is the terminal's
half of them, step by step in ``docs/kiosk.md``, "The shop till".  The till asks
the server first because only the server can keep a shop from being overdrawn,
and falls back to the offline limits (:mod:`terminal.shop.rules`) so a lost
answer never stops the queue; every event is on disk before anything is shown.

Every method may block on disk and network for a few seconds: call them from
a worker thread, never a UI thread.  ``redeem`` and ``void`` run one at a
time.  The indicator plays ``ok``, ``denied`` or ``error`` only once the
result is on disk, as on a check-in kiosk.

Example::

    till = ShopTill(config=config, key=key, outbox=outbox, clock=SystemClock(),
                    indicator=indicator, trust=sync.trust, sync=sync)
    card = till.present(tap)              # in a worker thread: may wait ~1.5 s for the balance
    if isinstance(card, CardAtTill):
        result = till.redeem(card, 3)     # after the volunteer confirmed on the screen
        if result.outcome is TillOutcome.PAID_OFFLINE: ...
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Final

import requests

from hardware.indicator import Indicator, Signal
from hardware.reader import Tap
from protocol import (
    ClockEvidence,
    EventKind,
    PrivateKey,
    Reason,
    ShopLimits,
    SignedEvent,
    TrustList,
    ids,
    refusal,
)
from protocol import clock as wall_clock
from protocol.balancequery import BalanceQuery, sign_balance_query
from protocol.balances import verify_balances
from protocol.credentials import CardCredential
from protocol.errors import ProtocolError
from protocol.events import MAX_AMOUNT
from terminal.cardcheck import check_card
from terminal.clock import Clock
from terminal.config import KioskConfig
from terminal.errors import ModeError, describe
from terminal.outbox import Outbox
from terminal.redemptions import DEBITED_STATES, EventResult, OfflineUsage
from terminal.serverkey import pinned_server_key
from terminal.shop.results import (
    CardAtTill,
    CardRefused,
    RecentRedemption,
    RedeemResult,
    TillOutcome,
    VoidResult,
)
from terminal.shop.rules import local_day, offline_allowed, offline_headroom
from terminal.shop.staff import TillStaff
from terminal.sync import NETWORK_ERROR, SERVER_ERROR, TIMEOUT, SyncClient
from terminal.tap import TrustSource, sign_next_event

log = logging.getLogger(__name__)

# Sync round errors that mean the server cannot be reached (as on the screen's status line).
OFFLINE_ERRORS: Final = frozenset({NETWORK_ERROR, SERVER_ERROR, TIMEOUT})


class ShopTill:
    """A shop terminal's till (docs/kiosk.md, "The shop till").  Everything it uses is passed in.

    ``sync`` is ``None`` for a terminal that must not talk to the server
    (``--no-sync``): it then always decides offline.  ``on_recorded`` is called
    after each event is stored (the service wakes its sync thread).  ``now_ms``
    is the system's clock, the one sync rounds are noted with: it judges how
    recent the last round and the till's last failure to reach the server are.
    The events' times come from ``clock``.
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
        sync: SyncClient | None,
        online_timeout_s: float = 3.0,
        balance_timeout_s: float = 1.5,
        offline_memory_s: float = 60.0,
        on_recorded: Callable[[], None] | None = None,
        now_ms: Callable[[], int] = wall_clock.now_ms,
        staff: TillStaff | None = None,
    ) -> None:
        self._config = config
        self._key = key
        self._outbox = outbox
        self._clock = clock
        self._indicator = indicator
        self._trust = trust
        self._sync = sync
        self.online_timeout_s = online_timeout_s
        self.balance_timeout_s = balance_timeout_s
        self.offline_memory_s = offline_memory_s
        self.on_recorded = on_recorded
        self._now_ms = now_ms
        self.staff = staff
        self._lock = threading.Lock()  # one redemption or void at a time: each reads the chain head once
        self._unreachable_ms: int | None = None  # when (``now_ms``) the till last failed to reach the server

    # -- what the screen reads ----------------------------------------------------------------------

    @property
    def limits(self) -> ShopLimits:
        """The shop's limits and presets from the current trust list; :class:`ModeError` if not a shop."""
        return self._shop(self._trust.current())

    def knows_offline(self) -> bool:
        """Whether an online attempt is pointless now, so the till decides offline at once.

        That is: no sync client (``--no-sync``), an alarm halts sync, or a sync round or a
        balance request failed to reach the server less than ``offline_memory_s`` ago.  A sync
        round that went well after the till's own failure to reach the server (the network is
        back) cancels that failure.
        """
        if self._sync is None:
            return True
        status = self._outbox.status()
        if status.alarm is not None:
            return True
        memory_ms = self.offline_memory_s * 1000
        now = self._now_ms()
        noted = status.sync_round_ms
        if noted is not None and status.sync_round_error in OFFLINE_ERRORS and 0 <= now - noted < memory_ms:
            return True
        failed = self._unreachable_ms
        recovered = (
            noted is not None and status.sync_round_error is None and failed is not None and noted > failed
        )
        return failed is not None and 0 <= now - failed < memory_ms and not recovered

    def healthy(self) -> bool:
        """No outbox alarm, and a trust list that makes this terminal a shop."""
        current = self._trust.current()
        return self._outbox.alarm is None and current is not None and current.is_shop

    def show_status(self, healthy: bool) -> None:
        """Signal a status check (the button): ``ok`` when healthy, ``error`` otherwise."""
        self.signal("ok" if healthy else "error")

    def signal(self, signal: Signal) -> None:
        """Play ``signal`` on the indicator; a fault is logged, never raised (the result is on disk)."""
        try:
            {"ok": self._indicator.ok, "denied": self._indicator.denied, "error": self._indicator.error}[
                signal
            ]()
        except Exception as exc:
            log.warning("indicator failed: %s", describe(exc))
            log.debug("indicator failure", exc_info=True)

    # -- a card at the till -------------------------------------------------------------------------

    def present(self, tap: Tap) -> CardAtTill | CardRefused:
        """Check the tapped card and find its balance; records nothing, never raises.

        The card is checked exactly as at a check-in kiosk (:func:`terminal.cardcheck.check_card`
        against the trust list); the balance is the server's (a kiosk-signed balance query with the
        credential read at this tap, ``POST /v1/kiosks/{kiosk_id}/balance``, ``balance_timeout_s``)
        unless the terminal knows it is offline, else the last one the server
        confirmed to this terminal, less what is still pending here.  A refused card plays
        ``denied`` (``error`` for an incomplete tap or a fault); an accepted one plays nothing,
        the screen answers it (a coordinator's card plays ``ok``, as on a check-in kiosk).
        """
        try:
            seen = self._present(tap)
        except Exception as exc:
            log.warning("presenting a card failed: %s", describe(exc))
            log.debug("present failure", exc_info=True)
            seen = CardRefused(type(exc).__name__)
            self.signal("error")
            return seen
        if isinstance(seen, CardRefused):
            self.signal("error" if seen.reason == Reason.TAP_INCOMPLETE.value else "denied")
        elif seen.coordinator:
            self.signal("ok")
        return seen

    def _present(self, tap: Tap) -> CardAtTill | CardRefused:
        clock = self._clock.now()
        if not tap.complete:
            return CardRefused(Reason.TAP_INCOMPLETE.value)
        trust = self._trust.current()
        if trust is not None and not trust.is_shop:
            return CardRefused(Reason.NOT_A_SHOP.value)
        check = check_card(
            tap,
            trust,
            pseudonym_key=self._config.uid_pseudonym_key,
            now_s=clock.wall_ms // 1000,
            clock_synced=clock.synced,
        )
        if check.reason is not None:
            return CardRefused(check.reason.value)
        assert trust is not None  # a card is only accepted against a list
        card_id = check.card_id
        if trust.is_coordinator(card_id):
            return CardAtTill(card_id, None, None, fresh=False, offline_headroom=0, coordinator=True)
        usage = self._outbox.offline_usage(card_id, local_day(clock.wall_ms))
        headroom = _headroom(self._shop(trust), usage)
        if not self.knows_offline():
            fetched = self._fetch_balance(card_id, check.credential, self._now_ms())
            if isinstance(fetched, CardRefused):
                return fetched
            if fetched is not None:
                return CardAtTill(card_id, fetched, clock.wall_ms, fresh=True, offline_headroom=headroom)
        balance, as_of = _confirmed_less_pending(usage)
        return CardAtTill(card_id, balance, as_of, fresh=False, offline_headroom=headroom)

    def _fetch_balance(
        self, card_id: str, credential: CardCredential | None, at_ms: int
    ) -> int | CardRefused | None:
        """The card's balance from the server; ``unknown_card`` refused; ``None`` without a usable answer.

        The query is signed with the till's key and carries the credential read at this tap
        (none for a ``u_`` card), so the server answers only for a card that is here; the
        answer is a balance sheet signed by the server key this till pins.
        """
        url = f"{self._config.server_url}/v1/kiosks/{self._config.kiosk_id}/balance"
        query = BalanceQuery.fresh(
            kiosk=self._config.kiosk_id,
            card=card_id,
            credential=b"" if credential is None else credential.to_bytes(),
            at_ms=at_ms,
        )
        timeout = (self.balance_timeout_s, self.balance_timeout_s)
        try:
            response = requests.post(url, json=sign_balance_query(query, self._key), timeout=timeout)
        except requests.RequestException as exc:
            log.info("no balance from the server (%s); deciding offline for a while", describe(exc))
            self._unreachable_ms = self._now_ms()
            return None
        body = _json(response)
        error = body.get("error") if isinstance(body, dict) else None
        if response.status_code == 404 and isinstance(error, dict) and error.get("code") == "unknown_card":
            return CardRefused(Reason.UNKNOWN_CARD.value)
        balance = self._sheet_balance(body, card_id) if response.status_code == 200 else None
        if balance is None:
            code = error.get("code") if isinstance(error, dict) else None
            log.warning("the server's balance answer was unusable (HTTP %d, %s)", response.status_code, code)
            if response.status_code >= 500:
                self._unreachable_ms = self._now_ms()
            return None
        return balance

    def _sheet_balance(self, body: object, card_id: str) -> int | None:
        """The card's balance in the answer's signed sheet; ``None`` unless it verifies and names the card."""
        if not isinstance(body, dict):
            return None
        try:
            key = pinned_server_key(self._outbox, self._config.server_public_key)
            sheet = verify_balances(body.get("balances"), key, kiosk_id=self._config.kiosk_id)
        except ProtocolError:
            return None
        return sheet.balances.get(card_id)

    # -- redeeming ----------------------------------------------------------------------------------

    def redeem(self, card: CardAtTill, amount: int) -> RedeemResult:
        """Redeem ``amount`` tokens from ``card``, online first, else within the offline limits; never raises.

        A ``redeem`` with a new ID and ``"online": true`` is stored and sent in one quick sync round;
        without an answer within ``online_timeout_s`` a second ``redeem`` with the same ID and
        ``"online": false`` (within the limits: ``paid_offline``) or a ``void`` for the ID (beyond
        them: ``offline_limit``) follows.  Details: docs/kiosk.md, "The shop till".
        Blocks for up to about ``online_timeout_s`` plus two disk commits.
        """
        redemption_id = ids.new_id(ids.REDEMPTION)
        with self._lock:
            try:
                result = self._redeem(redemption_id, card, amount)
            except Exception as exc:
                # Whatever was stored stays valid: an online redeem without a decision is "pending" in
                # recent() and can be voided from the menu.
                log.warning("redemption failed: %s", describe(exc))
                log.debug("redemption failure", exc_info=True)
                result = RedeemResult(
                    TillOutcome.ERROR, redemption_id, amount, type(exc).__name__, None, None
                )
        log.info("redemption %s: %s %s", redemption_id, result.outcome, result.reason or "")
        self.signal(signal_of(result.outcome))
        return result

    def _redeem(self, redemption_id: str, card: CardAtTill, amount: int) -> RedeemResult:
        def result(
            outcome: TillOutcome, reason: str | None = None, balance: tuple[int, int] | None = None
        ) -> RedeemResult:
            as_of = None if balance is None else balance[1]
            return RedeemResult(
                outcome, redemption_id, amount, reason, None if balance is None else balance[0], as_of
            )

        trust = self._trust.current()
        if trust is None or trust.shop is None:
            return result(TillOutcome.DENIED, Reason.NOT_A_SHOP.value)
        limits = trust.shop
        if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount <= MAX_AMOUNT:
            return result(TillOutcome.DECLINED, Reason.BAD_FIELD.value)
        if amount > limits.max_amount:
            return result(TillOutcome.DECLINED, Reason.AMOUNT_OVER_LIMIT.value)
        if trust.is_blocked(card.card_id):  # blocked since the card was presented (a newer trust list)
            return result(TillOutcome.DENIED, Reason.CARD_BLOCKED.value)
        staff_id: str | None = None
        if self.staff is not None and self.staff.required():
            member = self.staff.current()
            if member is None:
                return result(TillOutcome.DENIED, Reason.STAFF_PIN_REQUIRED.value)
            staff_id = member.staff_id
            self.staff.touch()
        online_seq: int | None = None
        if not self.knows_offline():
            online_seq = self._record_redeem(redemption_id, card.card_id, amount, online=True, staff=staff_id)
            answer = self._await(online_seq)
            if answer is not None:
                balance = self._outbox.balance(card.card_id)  # from the sheet that came with the answer
                if answer.moved:
                    return result(TillOutcome.PAID, None, balance)
                return result(TillOutcome.DECLINED, refusal(answer.flags), balance)
        day = local_day(self._clock.now().wall_ms)
        usage = self._outbox.offline_usage(card.card_id, day, exclude=redemption_id)
        confirmed = None if usage.confirmed is None else usage.confirmed[0]
        if offline_allowed(limits, amount, confirmed=confirmed, pending=usage.pending, today=usage.today):
            self._record_redeem(redemption_id, card.card_id, amount, online=False, staff=staff_id)
            after = self._outbox.offline_usage(card.card_id, day)
            return result(TillOutcome.PAID_OFFLINE, None, _pair(_confirmed_less_pending(after)))
        if online_seq is not None:
            self._record_void(redemption_id, card.card_id, offline_limit=True)
        return result(
            TillOutcome.OFFLINE_LIMIT, Reason.OFFLINE_LIMIT.value, _pair(_confirmed_less_pending(usage))
        )

    def _await(self, seq: int) -> EventResult | None:
        """The server's result for ``seq`` after one quick round, or ``None`` (no answer in time)."""
        assert self._sync is not None
        answer = self._outbox.event_result(seq)
        if answer is None:
            round_result = self._sync.sync_for_till(self.online_timeout_s)
            answer = self._outbox.event_result(seq)  # stored by this round, or one that ran meanwhile
            if answer is None:
                why = "busy" if round_result is None else round_result.error
                log.info("no answer for event %d within %.1f s (%s)", seq, self.online_timeout_s, why)
                # A round of the background loop holding the lock says nothing about the network.
                if round_result is not None and round_result.error in OFFLINE_ERRORS:
                    self._unreachable_ms = self._now_ms()
        return answer

    # -- the coordinator menu ------------------------------------------------------------------------

    def recent(self, limit: int = 10) -> list[RecentRedemption]:
        """This terminal's newest redemptions first, each with whether it may still be voided."""
        trust = self._trust.current()
        window_ms = trust.shop.void_window_s * 1000 if trust is not None and trust.shop is not None else -1
        now = self._clock.now().wall_ms
        return [
            RecentRedemption(
                redemption_id=r.redemption_id,
                card_id=r.card_id,
                amount=r.amount,
                created_ms=r.created_ms,
                state=r.state.value,
                voidable=r.state in DEBITED_STATES and r.void_seq is None and now - r.created_ms <= window_ms,
            )
            for r in self._outbox.recent_redemptions(limit)
        ]

    def may_void(self) -> bool:
        """Whether the void menu may open: no staff here, or a manager's session is open."""
        if self.staff is None or not self.staff.required():
            return True
        member = self.staff.current()
        return member is not None and member.may_void

    def void(self, redemption_id: str) -> VoidResult:
        """Void one of this terminal's redemptions; never raises (a fault is ``reason`` = its type).

        At a shop with till staff only a manager's session may (``forbidden`` else).
        """
        if not self.may_void():
            self.signal("denied")
            return VoidResult(ok=False, queued=False, reason=Reason.FORBIDDEN.value)
        return self._void_locked(redemption_id)

    def carry_out_void_requests(self) -> list[tuple[str, VoidResult]]:
        """Sign a ``void`` for each void the shop's owner asked for that this till can carry out.

        The request came server-signed (:mod:`protocol.tillstate`); the till still makes its
        own checks: only a redemption it made itself, for the card it recorded, not voided
        yet and inside the void window (the rest of :meth:`void`'s checks).  A request for
        another till's redemption is that till's.  Needs no staff session: the owner asked.
        Never raises; returns ``(redemption_id, result)`` for each one tried.
        """
        if self.staff is None:
            return []
        done = []
        for order in self.staff.void_orders():
            try:
                record = self._outbox.redemption(order.redemption_id)
            except Exception as exc:
                log.warning("could not read redemption for a void request: %s", describe(exc))
                continue
            if record is None or record.card_id != order.card or record.void_seq is not None:
                continue
            done.append((order.redemption_id, self._void_locked(order.redemption_id)))
        return done

    def _void_locked(self, redemption_id: str) -> VoidResult:
        with self._lock:
            try:
                result = self._void(redemption_id)
            except Exception as exc:
                log.warning("void failed: %s", describe(exc))
                log.debug("void failure", exc_info=True)
                self.signal("error")
                return VoidResult(ok=False, queued=False, reason=type(exc).__name__)
        log.info(
            "void of %s: ok=%s queued=%s %s", redemption_id, result.ok, result.queued, result.reason or ""
        )
        self.signal("ok" if result.ok or result.queued else "denied")
        return result

    def _void(self, redemption_id: str) -> VoidResult:
        trust = self._trust.current()
        if trust is None or trust.shop is None:
            return VoidResult(False, False, Reason.NOT_A_SHOP.value)
        record = self._outbox.redemption(redemption_id)
        if record is None:
            return VoidResult(False, False, Reason.UNKNOWN_REDEMPTION.value)
        if record.void_seq is not None:
            return VoidResult(False, False, Reason.ALREADY_VOIDED.value)
        if record.state not in DEBITED_STATES:  # declined or refused: nothing to give back
            return VoidResult(False, False, Reason.UNKNOWN_REDEMPTION.value)
        late = self._clock.now().wall_ms - record.created_ms > trust.shop.void_window_s * 1000
        if late or not record.card_id:  # no card: forgotten after the longest void window (by the server)
            return VoidResult(False, False, Reason.VOID_TOO_LATE.value)
        seq = self._record_void(redemption_id, record.card_id, offline_limit=False)
        answer = None if self.knows_offline() else self._await(seq)
        if answer is None:
            return VoidResult(False, True, None)
        if answer.moved or Reason.ALREADY_VOIDED.value in answer.flags:
            return VoidResult(True, False, None)
        return VoidResult(False, False, refusal(answer.flags))

    # -- signing ------------------------------------------------------------------------------------

    def _record_redeem(
        self, redemption_id: str, card_id: str, amount: int, *, online: bool, staff: str | None = None
    ) -> int:
        clock = self._clock.now()
        data: dict[str, Any] = {"amount": amount, "id": redemption_id, "online": online}
        if staff is not None:  # the same member on the offline fallback as on the online attempt
            data["staff"] = staff
        signed = self._sign(EventKind.REDEEM, card_id, clock, data)
        self._outbox.append_redeem(signed, day=local_day(clock.wall_ms))
        self._recorded()
        return signed.event.seq

    def _record_void(self, redemption_id: str, card_id: str, *, offline_limit: bool) -> int:
        signed = self._sign(EventKind.VOID, card_id, self._clock.now(), {"id": redemption_id})
        self._outbox.append_void(signed, offline_limit=offline_limit)
        self._recorded()
        return signed.event.seq

    def _sign(self, kind: EventKind, card_id: str, clock: ClockEvidence, data: dict[str, Any]) -> SignedEvent:
        return sign_next_event(self._outbox, self._config.kiosk_id, self._key, kind, card_id, clock, data)

    def _recorded(self) -> None:
        if self.on_recorded is not None:
            try:
                self.on_recorded()
            except Exception as exc:  # waking the sync thread is a courtesy; the event is on disk
                log.warning("could not wake the sync side: %s", describe(exc))

    @staticmethod
    def _shop(trust: TrustList | None) -> ShopLimits:
        if trust is None or trust.shop is None:
            raise ModeError(Reason.NOT_A_SHOP, "this kiosk is not a shop terminal (see its trust list)")
        return trust.shop


def signal_of(outcome: TillOutcome) -> Signal:
    """The indicator pattern the till plays for a redemption's ``outcome`` (the screen's tone agrees)."""
    return _SIGNALS[outcome]


_SIGNALS: Final[dict[TillOutcome, Signal]] = {
    TillOutcome.PAID: "ok",
    TillOutcome.PAID_OFFLINE: "ok",
    TillOutcome.DECLINED: "denied",
    TillOutcome.OFFLINE_LIMIT: "denied",
    TillOutcome.DENIED: "denied",
    TillOutcome.ERROR: "error",
}


def _headroom(limits: ShopLimits, usage: OfflineUsage) -> int:
    confirmed = None if usage.confirmed is None else usage.confirmed[0]
    return offline_headroom(limits, confirmed=confirmed, pending=usage.pending, today=usage.today)


def _confirmed_less_pending(usage: OfflineUsage) -> tuple[int | None, int | None]:
    """``(balance, as_of_ms)``: the confirmed balance less what is pending here; ``(None, None)`` if none."""
    if usage.confirmed is None:
        return None, None
    balance, as_of = usage.confirmed
    return balance - usage.pending, as_of


def _pair(value: tuple[int | None, int | None]) -> tuple[int, int] | None:
    balance, as_of = value
    return None if balance is None or as_of is None else (balance, as_of)


def _json(response: requests.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None
