"""Coordinator decisions' effects: site rules, shop limits, reviews, acknowledgements, shifts by hand.

:func:`apply_decision` applies a decision that was accepted (its key, signature
and clock checked by the caller) through an :class:`~protocol.economy.book.EconomyBook`,
or raises :class:`~protocol.errors.EconomyError` with the reason it refuses.  A
refusal may come after the book's objects were changed, so the caller rolls
back (the server's transaction does; the auditor's book hands out copies).
``docs/economy.md`` lists the rules; the server answers each refusal with the
HTTP status of its reason code, an auditor reports it as a problem.

A reviewed or hand-made shift is paid by the same :class:`~protocol.economy.shifts.Payroll`
as a shift of taps, so the server and an auditor replaying the log pay it alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Final

from protocol.decisions import MAX_SHIFT_HOURS, Decision
from protocol.economy.book import EconomyBook
from protocol.economy.models import (
    LedgerEntry,
    PriorHours,
    Redemption,
    RedemptionStatus,
    Shift,
    ShiftStatus,
    Site,
    SiteKind,
)
from protocol.economy.redemptions import LEDGER_KIND_REDEEM
from protocol.economy.shifts import LEDGER_KIND_SHIFT, MS_PER_HOUR, Payroll, in_review
from protocol.errors import EconomyError
from protocol.reasons import Reason

MAX_CLOCK_SKEW_MS: Final = 24 * MS_PER_HOUR  # how far a decision's at_ms may be from when it is taken
MAX_SHIFT_MS: Final = MAX_SHIFT_HOURS * MS_PER_HOUR


def _refuse(reason: Reason, message: str) -> EconomyError:
    return EconomyError(reason, message)


def _bad_field(message: str) -> EconomyError:
    return EconomyError(Reason.BAD_FIELD, message)


def apply_decision(
    tx: EconomyBook, decision: Decision, digest: str, *, now_ms: int, log_index: int
) -> dict[str, Any]:
    """Apply an accepted decision's effect in ``tx``; return its ``result`` or raise its refusal.

    Checks nothing about the key, signature or clock and logs nothing: that is
    the caller's part.  ``now_ms`` is the decision's ``received_ms`` and
    ``log_index`` its log entry, so an auditor replaying the log gets the same effect.
    Raises :class:`~protocol.errors.EconomyError` when the rules refuse it.
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
def _site(tx: EconomyBook, site_id: str, kind: SiteKind) -> Site:
    site = tx.get_site(site_id)
    if site is None:
        raise _refuse(Reason.UNKNOWN_SITE, "no such site")
    if site.kind is not kind:
        wanted = "a shop" if kind is SiteKind.SHOP else "a check-in site"
        raise _refuse(Reason.NOT_A_SHOP, f"the site is not {wanted}")
    return site


def _apply_site_rules(tx: EconomyBook, c: _Context) -> dict[str, Any]:
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


def _apply_shop_limits(tx: EconomyBook, c: _Context) -> dict[str, Any]:
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


def _apply_kiosk_limits(tx: EconomyBook, c: _Context) -> dict[str, Any]:
    """A check-in site's kiosk limits (:mod:`protocol.economy.kiosklimits`), for shifts closed from now on."""
    site = dataclasses.replace(
        _site(tx, c.data["site"], SiteKind.CHECKIN),
        max_day_hours=c.data["max_day_hours"],
        backdate_days=c.data["backdate_days"],
    )
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


def _pay(tx: EconomyBook, site: Site, shift: Shift, end_ms: int, c: _Context) -> None:
    tokens = Payroll(tx, site).pay(shift, end_ms)
    shift.decision = c.digest
    tx.insert_ledger_entries(
        [LedgerEntry(shift.volunteer_id, tokens, LEDGER_KIND_SHIFT, shift.shift_id, c.now_ms, c.log_index)]
    )


def _apply_review(tx: EconomyBook, c: _Context) -> dict[str, Any]:
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


def _apply_manual_shift(tx: EconomyBook, c: _Context) -> dict[str, Any]:
    """A shift added by hand for a registered card at a check-in site, paid under the site's rules.

    The card is the decision's :attr:`~protocol.decisions.Decision.card`: named in v1, opened in v2.
    """
    card = tx.get_card(c.decision.card) if c.decision.card else None
    if card is None:
        raise _refuse(Reason.UNKNOWN_CARD, "no such card")
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


def _apply_prior_hours(tx: EconomyBook, c: _Context) -> dict[str, Any]:
    """Engagement from before the ledger began: hours for eligibility only, no tokens, no shift.

    The card (opened from ``ref``) names the volunteer; the site must be a check-in site,
    the period lie in the past and hold the minutes.
    """
    card = tx.get_card(c.decision.card) if c.decision.card else None
    if card is None:
        raise _refuse(Reason.UNKNOWN_CARD, "no such card")
    site = _site(tx, c.data["site"], SiteKind.CHECKIN)
    from_ms, to_ms, minutes = c.data["from_ms"], c.data["to_ms"], c.data["minutes"]
    if to_ms <= from_ms:
        raise _bad_field("to_ms must be after from_ms")
    if to_ms > c.now_ms + MAX_CLOCK_SKEW_MS:
        raise _bad_field("prior engagement ends in the past")
    if minutes * 60_000 > to_ms - from_ms:
        raise _bad_field("the period is shorter than the minutes it is to hold")
    prior = PriorHours(
        card.volunteer_id,
        card.card_id,
        site.site_id,
        from_ms,
        to_ms,
        minutes,
        c.data["reason"],
        c.digest,
        c.log_index,
    )
    tx.insert_prior_hours(prior)
    return prior.to_json()


# -- redemptions ---------------------------------------------------------------------------------------
def _redemption(tx: EconomyBook, redemption_id: str) -> Redemption:
    redemption = tx.get_redemption(redemption_id)
    if redemption is None:
        raise _refuse(Reason.UNKNOWN_REDEMPTION, "no such redemption")
    return redemption


def _apply_acknowledge(tx: EconomyBook, c: _Context) -> dict[str, Any]:
    """An overdraft seen and accepted: it leaves the review list; the balance stays as it is."""
    redemption = _redemption(tx, c.data["redemption"])
    if (
        redemption.status is not RedemptionStatus.DEBITED
        or not redemption.overdraft
        or redemption.acknowledged is not None
    ):
        raise _refuse(Reason.NOT_IN_REVIEW, "the redemption is not an open overdraft")
    tx.acknowledge_overdraft(redemption.redemption_id, c.digest)
    return dataclasses.replace(redemption, acknowledged=c.digest).to_json()


def _apply_redemption_review(tx: EconomyBook, c: _Context) -> dict[str, Any]:
    """A held offline redemption decided: approve (debited now, owed to the shop) or reject (never).

    An approved one that takes the balance below zero is an overdraft the
    coordinator has just seen, so the same decision acknowledges it.
    """
    redemption = _redemption(tx, c.data["redemption"])
    if redemption.status is not RedemptionStatus.HELD:
        raise _refuse(Reason.NOT_IN_REVIEW, f"the redemption is {redemption.status.value}, not held")
    if c.data["action"] == "reject":
        decided = dataclasses.replace(redemption, status=RedemptionStatus.REJECTED, reviewed=c.digest)
        tx.update_redemption(decided)
        return decided.to_json()
    overdraft = tx.balance(redemption.volunteer_id) - redemption.amount < 0
    decided = dataclasses.replace(
        redemption,
        status=RedemptionStatus.DEBITED,
        reviewed=c.digest,
        overdraft=overdraft,
        acknowledged=c.digest if overdraft else None,
    )
    tx.update_redemption(decided)
    entry = LedgerEntry(
        redemption.volunteer_id,
        -redemption.amount,
        LEDGER_KIND_REDEEM,
        redemption.row_id,
        c.now_ms,
        c.log_index,
    )
    tx.insert_ledger_entries([entry])
    return decided.to_json()


_APPLY: Final[Mapping[str, Callable[[EconomyBook, _Context], dict[str, Any]]]] = {
    "site_rules": _apply_site_rules,
    "shop_limits": _apply_shop_limits,
    "kiosk_limits": _apply_kiosk_limits,
    "review": _apply_review,
    "acknowledge": _apply_acknowledge,
    "manual_shift": _apply_manual_shift,
    "redemption_review": _apply_redemption_review,
    "prior_hours": _apply_prior_hours,
}
