"""Signed coordinator decisions: check them, apply them once, log them as signed (``docs/economy.md``).

A decision (:mod:`protocol.decisions`) arrives as ``{"body", "sig"}`` behind the
admin token.  The server checks, in this order, and the first failure decides:

==========================  ======  ===================================================
check                       status  reason
==========================  ======  ===================================================
the body parses             400     its own code (``bad_field``, ``unknown_kind``, …)
the coordinator key exists  403     ``unknown_coordinator``
the signature verifies      400     ``bad_signature``
(the same bytes again)      200     the stored answer, ``"duplicate": true``
the key is active           403     ``coordinator_revoked``
``at_ms`` within ±24 h      400     ``decision_stale``
the kind's own checks       4xx     as :data:`server.errors.STATUS` lists
==========================  ======  ===================================================

A duplicate is answered after the signature check, so only the key's holder
can read a stored answer back, and before the status and clock checks, so a
retry of a decision that was applied still gets its answer after the key was
revoked or a day has passed.

An accepted decision is applied in one write transaction together with one
``decision`` log entry and its row in ``decisions`` (by the hash of its bytes);
ledger entries it makes point at that log entry.  A refusal raises inside the
transaction, so it rolls back whole and changes nothing.

The rule functions that decide what a shift pays are the ones ingest uses
(:class:`server.shifts.Payroll`), so an auditor replaying the log pays a
reviewed shift as the server did.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Final

from protocol import (
    Decision,
    ProtocolError,
    PublicKey,
    Reason,
    b64decode,
    decision_hash,
    parse_decision,
    verify_decision,
)
from protocol.decisions import MAX_SHIFT_HOURS
from protocol.keys import SIGNATURE_BYTES
from server import tlog
from server.context import ServerContext
from server.errors import InputError, ServiceError, from_protocol
from server.models import (
    AppliedDecision,
    CoordinatorStatus,
    LedgerEntry,
    RedemptionStatus,
    Shift,
    ShiftStatus,
    Site,
    SiteKind,
)
from server.shifts import LEDGER_KIND_SHIFT, MS_PER_HOUR, Payroll, in_review
from server.storage import Tx

DECISION_FIELDS: Final = frozenset({"body", "sig"})
MAX_CLOCK_SKEW_MS: Final = 24 * MS_PER_HOUR
MAX_SHIFT_MS: Final = MAX_SHIFT_HOURS * MS_PER_HOUR


# HTTP status of the refusals particular to decisions (400 for the others, as in server.errors).
def _refuse(reason: Reason, message: str) -> ServiceError:
    return ServiceError(reason, message)


def _bad_field(message: str) -> InputError:
    return InputError(Reason.BAD_FIELD, message)


def _answer(applied: AppliedDecision, *, duplicate: bool) -> dict[str, Any]:
    return {
        "decision": applied.decision_hash,
        "kind": applied.kind,
        "log_index": applied.log_index,
        "duplicate": duplicate,
        "result": applied.result,
    }


def submit_decision(ctx: ServerContext, request: Mapping[str, Any]) -> dict[str, Any]:
    """Check and apply one signed decision ``{"body", "sig"}``; answer what it did.

    Returns ``{"decision": <hash>, "kind", "log_index", "duplicate", "result"}``;
    ``result`` is the site, shift or redemption as it is after the decision.
    """
    try:
        body = b64decode(request.get("body"), field="body")
        sig = b64decode(request.get("sig"), field="sig", length=SIGNATURE_BYTES)
        decision = parse_decision(body)
    except ProtocolError as exc:
        raise from_protocol(exc) from exc
    digest = decision_hash(body)
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        coordinator = tx.get_coordinator(decision.coordinator)
        if coordinator is None:
            raise _refuse(Reason.UNKNOWN_COORDINATOR, "no coordinator key has this ID")
        try:
            verify_decision(body, sig, PublicKey(coordinator.public_key))
        except ProtocolError as exc:
            raise from_protocol(exc) from exc
        stored = tx.get_decision(digest)
        if stored is not None:
            return _answer(stored, duplicate=True)
        if coordinator.status is not CoordinatorStatus.ACTIVE:
            raise _refuse(Reason.COORDINATOR_REVOKED, "the coordinator key was revoked")
        if abs(decision.at_ms - now) > MAX_CLOCK_SKEW_MS:
            raise _refuse(Reason.DECISION_STALE, "at_ms is more than 24 h from the server's time")
        log_index = tx.tlog_size()  # where the decision's entry goes, appended below in this transaction
        result = apply_decision(tx, decision, digest, now_ms=now, log_index=log_index)
        appended = tlog.append(ctx, tx, [tlog.decision_entry(body, sig, now)], now_ms=now)
        assert appended.first_index == log_index
        applied = AppliedDecision(
            digest, decision.coordinator, decision.kind, body, sig, result, now, log_index
        )
        tx.insert_decision(applied)
    return _answer(applied, duplicate=False)


def apply_decision(tx: Tx, decision: Decision, digest: str, *, now_ms: int, log_index: int) -> dict[str, Any]:
    """Apply an accepted decision's effect in ``tx``; return its ``result`` or raise its refusal.

    Checks nothing about the key, signature or clock and logs nothing: that is
    :func:`submit_decision`'s part.  ``now_ms`` is the decision's ``received_ms``
    and ``log_index`` its log entry, so an auditor replaying the log with the
    same Tx methods gets the same effect: ``get_site``, ``update_site``,
    ``shift_by_tap``, ``close_shifts``, ``get_card``, ``next_shift_id``,
    ``insert_shifts``, ``insert_ledger_entries``, ``tokens_paid_on_day`` (capped
    sites only), ``get_redemption`` and ``acknowledge_overdraft``.
    """
    return _APPLY[decision.kind](tx, _Context(decision, digest, now_ms, log_index))


@dataclasses.dataclass(frozen=True, slots=True)
class _Context:
    decision: Decision
    digest: str
    now_ms: int
    log_index: int

    @property
    def data(self) -> Mapping[str, Any]:
        return self.decision.data


# -- rules ---------------------------------------------------------------------------------------------
def _site(tx: Tx, site_id: str, kind: SiteKind) -> Site:
    site = tx.get_site(site_id)
    if site is None:
        raise ServiceError(Reason.UNKNOWN_SITE, "no such site")
    if site.kind is not kind:
        wanted = "a shop" if kind is SiteKind.SHOP else "a check-in site"
        raise _refuse(Reason.NOT_A_SHOP, f"the site is not {wanted}")
    return site


def _apply_site_rules(tx: Tx, c: _Context) -> dict[str, Any]:
    """A check-in site's earning rules, for every shift paid from now on."""
    site = dataclasses.replace(
        _site(tx, c.data["site"], SiteKind.CHECKIN),
        tokens_per_hour=c.data["tokens_per_hour"],
        max_shift_hours=c.data["max_shift_hours"],
        daily_cap=c.data["daily_cap"],
        bonuses=tuple(dict(bonus) for bonus in c.data["bonuses"]),
    )
    tx.update_site(site)
    return site.to_json()


def _apply_shop_limits(tx: Tx, c: _Context) -> dict[str, Any]:
    """A shop's limits (its presets stay); terminals learn them from their next trust list."""
    site = _site(tx, c.data["site"], SiteKind.SHOP)
    assert site.shop is not None
    limits = dataclasses.replace(
        site.shop,
        max_amount=c.data["max_amount"],
        offline_allowance=c.data["offline_allowance"],
        offline_daily_cap=c.data["offline_daily_cap"],
        void_window_s=c.data["void_window_s"],
    )
    site = dataclasses.replace(site, shop=limits)
    tx.update_site(site)
    return site.to_json()


# -- shifts --------------------------------------------------------------------------------------------
def _check_times(start_ms: int, end_ms: int, now_ms: int) -> None:
    if end_ms < start_ms:
        raise _bad_field("the shift would end before it starts")
    if end_ms - start_ms > MAX_SHIFT_MS:
        raise _bad_field(f"a shift is at most {MAX_SHIFT_HOURS} hours; give its real start and end")
    if end_ms > now_ms + MAX_CLOCK_SKEW_MS:
        raise _bad_field("the shift would end in the future")


def _pay(tx: Tx, site: Site, shift: Shift, end_ms: int, c: _Context) -> None:
    tokens = Payroll(tx, site).pay(shift, end_ms)
    shift.decision = c.digest
    tx.insert_ledger_entries(
        [LedgerEntry(shift.volunteer_id, tokens, LEDGER_KIND_SHIFT, shift.shift_id, c.now_ms, c.log_index)]
    )


def _apply_review(tx: Tx, c: _Context) -> dict[str, Any]:
    """Approve (pay under the site's current rules) or reject a shift on the review list."""
    ref = c.data["shift"]
    shift = tx.shift_by_tap(ref["kiosk"], ref["seq"])
    if shift is None:
        raise _refuse(Reason.UNKNOWN_SHIFT, "no shift starts with that tap")
    site = tx.get_site(shift.site_id)
    assert site is not None
    if not in_review(shift, site, c.now_ms):
        raise _refuse(Reason.NOT_IN_REVIEW, f"the shift is {shift.status.value}, not on the review list")
    if shift.status is ShiftStatus.OPEN and shift.reason is None:
        shift.reason = Reason.MISSING_CHECK_OUT.value  # as the review list showed it
    if c.data["action"] == "reject":
        shift.status, shift.tokens, shift.uncapped_tokens = ShiftStatus.REJECTED, 0, None
        shift.decision = c.digest
        tx.close_shifts([shift])
        return shift.to_json()
    start_ms, end_ms = c.data["start_ms"], c.data["end_ms"]
    if start_ms == 0:
        if shift.in_kiosk is None:
            raise _bad_field("the shift has no check-in: give start_ms")
        start_ms = shift.start_ms
    if end_ms == 0:
        if shift.end_ms is None:
            raise _bad_field("the shift has no check-out: give end_ms")
        end_ms = shift.end_ms
    _check_times(start_ms, end_ms, c.now_ms)
    shift.start_ms = start_ms
    _pay(tx, site, shift, end_ms, c)
    tx.close_shifts([shift])
    return shift.to_json()


def _apply_manual_shift(tx: Tx, c: _Context) -> dict[str, Any]:
    """A shift added by hand for a registered card at a check-in site, paid under the site's rules."""
    card = tx.get_card(c.data["card"])
    if card is None:
        raise ServiceError(Reason.UNKNOWN_CARD, "no such card")
    site = _site(tx, c.data["site"], SiteKind.CHECKIN)
    start_ms, end_ms = c.data["start_ms"], c.data["end_ms"]
    if end_ms <= start_ms:
        raise _bad_field("end_ms must be after start_ms")
    _check_times(start_ms, end_ms, c.now_ms)
    shift = Shift(
        shift_id=tx.next_shift_id(),
        card_id=card.card_id,
        volunteer_id=card.volunteer_id,
        site_id=site.site_id,
        kiosk_id=None,
        in_kiosk=None,
        in_seq=None,
        out_kiosk=None,
        out_seq=None,
        start_ms=start_ms,
        end_ms=None,
        minutes=0,
        tokens=0,
        status=ShiftStatus.OPEN,  # paid just below, before it is stored
        reason=c.data["reason"],
        source="manual",
    )
    _pay(tx, site, shift, end_ms, c)
    tx.insert_shifts([shift])
    return shift.to_json()


# -- redemptions ---------------------------------------------------------------------------------------
def _apply_acknowledge(tx: Tx, c: _Context) -> dict[str, Any]:
    """An overdraft seen and accepted: it leaves the review list; the balance stays as it is."""
    redemption = tx.get_redemption(c.data["redemption"])
    if redemption is None:
        raise _refuse(Reason.UNKNOWN_REDEMPTION, "no such redemption")
    if (
        redemption.status is not RedemptionStatus.DEBITED
        or not redemption.overdraft
        or redemption.acknowledged is not None
    ):
        raise _refuse(Reason.NOT_IN_REVIEW, "the redemption is not an open overdraft")
    tx.acknowledge_overdraft(redemption.redemption_id, c.digest)
    return dataclasses.replace(redemption, acknowledged=c.digest).to_json()


_APPLY: Final[Mapping[str, Callable[[Tx, _Context], dict[str, Any]]]] = {
    "site_rules": _apply_site_rules,
    "shop_limits": _apply_shop_limits,
    "review": _apply_review,
    "acknowledge": _apply_acknowledge,
    "manual_shift": _apply_manual_shift,
}
