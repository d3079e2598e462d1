"""Redemptions and voids at shops: ``docs/economy.md``, "Server rules for redeem" and "Voids", in code.

A ``redeem`` or ``void`` event is never refused (that would wedge the kiosk's
chain): :func:`apply_event` returns its flags, and the first refusing row of the
documented table decides, so a refused event carries exactly one flag and moves
nothing.  The flags are stored on the event and logged with it, so the server
applies the rules before the event's log entry is built, and an auditor
replaying the log gets the same flags.  Every debit or credit is one
:class:`~protocol.economy.models.LedgerEntry` of kind ``redeem`` (``-amount``) or
``void`` (``+amount``), its ``ref`` the redemption's row ID.

An offline redemption beyond its till's bound (:func:`offline_hold`) is *held*:
recorded, not debited, on the review list until a coordinator's
``redemption_review`` approves or rejects it.  The bound reads only the
event, the ledger and the server's receive time (``now_ms``, logged as the
entry's ``received_ms``), so an auditor replaying the log holds the same ones.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from protocol.earning import local_day
from protocol.economy.book import CardFacts, RedemptionBook
from protocol.economy.clocks import card_flags, clock_in_range
from protocol.economy.models import (
    OFFLINE_BACKDATE_WINDOW_MS,
    LedgerEntry,
    Redemption,
    RedemptionStatus,
    Site,
    SiteKind,
)
from protocol.events import Event, EventKind
from protocol.reasons import Reason
from protocol.trust import ShopLimits

LEDGER_KIND_REDEEM: Final = "redeem"
LEDGER_KIND_VOID: Final = "void"
SHOP_EVENT_KINDS: Final = frozenset({EventKind.REDEEM, EventKind.VOID})
# Nothing of these was debited, so a void has nothing to return (a held one waits for its review).
_NEVER_DEBITED: Final = frozenset(
    {RedemptionStatus.DECLINED, RedemptionStatus.HELD, RedemptionStatus.REJECTED}
)


def apply_event(
    book: RedemptionBook,
    site: Site,
    event: Event,
    card: CardFacts | None,
    *,
    now_ms: int,
    log_index: int | None,
    time_ms: int | None = None,
) -> list[str]:
    """Decide and apply one admitted ``redeem`` or ``void`` event from a kiosk of ``site``; return its flags.

    ``card`` is the event's card if it is registered, ``now_ms`` the server's time
    when the batch arrived (its ``received_ms``) and ``log_index`` the event's entry
    in the transparency log.  ``time_ms`` is the event's time as the ledger counts
    it (:func:`protocol.clockref.event_time`; default: its ``wall_ms``).
    """
    event.require_opened()
    when = event.clock.wall_ms if time_ms is None else time_ms
    if event.kind is EventKind.REDEEM:
        return redeem(book, site, event, card, now_ms=now_ms, log_index=log_index, time_ms=when)
    if event.kind is EventKind.VOID:
        return void(book, site, event, now_ms=now_ms, log_index=log_index, time_ms=when)
    raise ValueError(f"{event.kind.value} is not a shop event")


def redeem(
    book: RedemptionBook,
    site: Site,
    event: Event,
    card: CardFacts | None,
    *,
    now_ms: int,
    log_index: int | None,
    time_ms: int,
) -> list[str]:
    """The ``redeem`` rules (``docs/economy.md``): debit, decline or refuse; return the flags."""
    event.require_opened()
    amount: int = event.data["amount"]
    redemption_id: str = event.data["id"]
    online: bool = event.data["online"]
    wall_ms = time_ms
    shop = site.shop
    if site.kind is not SiteKind.SHOP or shop is None:
        return [Reason.NOT_A_SHOP.value]
    if card is None:
        return [Reason.UNKNOWN_CARD.value]
    refused = card_flags(
        event.card, card.blocked_ms, allow_uncredentialed=site.allow_uncredentialed, wall_ms=wall_ms
    )
    if refused:
        return [refused[0].value]
    if amount > shop.max_amount:
        return [Reason.AMOUNT_OVER_LIMIT.value]
    known = book.get_redemption(redemption_id)
    if known is not None:
        if (known.card_id, known.amount, known.site_id) != (event.card, amount, site.site_id):
            return [Reason.REDEMPTION_MISMATCH.value]
        if known.status is not RedemptionStatus.DECLINED:
            return [Reason.ALREADY_REDEEMED.value]
    balance = book.balance(card.volunteer_id)
    hold = None
    if not online:
        hold = offline_hold(
            book, shop, event.kiosk, event.card, amount, balance, time_ms=wall_ms, now_ms=now_ms
        )
    debit = hold is None and (not online or balance >= amount)
    declined: Reason | None = None
    if debit:
        # Online the till is still waiting for the answer, so nothing was handed over: declined.
        # Offline it was: held for review, as beyond the offline bound.
        staff = staff_hold(book, site.site_id, event.data.get("staff"), amount, now_ms=now_ms)
        if staff is not None:
            debit = False
            declined, hold = (staff, None) if online else (None, staff)
    overdraft = debit and balance - amount < 0
    status = RedemptionStatus.DEBITED if debit else RedemptionStatus.DECLINED
    record = Redemption(
        redemption_id=redemption_id,
        site_id=site.site_id,
        kiosk_id=event.kiosk,
        seq=event.seq,
        card_id=event.card,
        volunteer_id=card.volunteer_id,
        amount=amount,
        online=online,
        status=RedemptionStatus.HELD if hold is not None else status,
        wall_ms=wall_ms,
        received_ms=now_ms,
        overdraft=overdraft,
        held=None if hold is None else hold.value,
        staff_id=event.data.get("staff"),
    )
    row_id = _record_redemption(book, record, known)
    if hold is not None:
        return [hold.value]
    if not debit:
        return [(declined or Reason.INSUFFICIENT_BALANCE).value]
    book.insert_ledger_entries(
        [LedgerEntry(card.volunteer_id, -amount, LEDGER_KIND_REDEEM, row_id, now_ms, log_index)]
    )
    return _debit_flags(overdraft=overdraft, wall_ms=wall_ms, now_ms=now_ms)


def offline_hold(
    book: RedemptionBook,
    shop: ShopLimits,
    kiosk_id: str,
    card_id: str,
    amount: int,
    balance: int,
    *,
    time_ms: int,
    now_ms: int,
) -> Reason | None:
    """Why an offline redemption of ``amount`` goes to review instead of being debited; ``None``: it is paid.

    The server's side of the till's offline rules (``docs/economy.md``, "The worst-case
    loss"), checked in this order:

    * ``redeem_backdated``: dated more than ``OFFLINE_BACKDATE_WINDOW_MS`` before the
      server received it (``now_ms``), so a stolen key cannot date sales before a block;
    * ``offline_over_allowance``: the card's offline redemptions at this till that no
      receipt covers yet (those of the same batch) plus ``amount`` exceed the till's
      ``offline_allowance``, or the debit would take the balance below ``-offline_allowance``;
    * ``offline_over_daily_cap``: the till's offline redemptions debited on the server's
      local day of ``now_ms`` plus ``amount`` exceed its ``offline_daily_cap``.  The till's
      clock, which a thief sets, never chooses the day.

    ``balance`` is the volunteer's balance before this redemption.
    """
    allowance = shop.offline_allowance
    if now_ms - time_ms > OFFLINE_BACKDATE_WINDOW_MS:
        return Reason.REDEEM_BACKDATED
    pending = book.offline_pending(kiosk_id, card_id, now_ms)
    if pending + amount > allowance or balance - amount < -allowance:
        return Reason.OFFLINE_OVER_ALLOWANCE
    if book.offline_paid(kiosk_id, *local_day(now_ms)) + amount > shop.offline_daily_cap:
        return Reason.OFFLINE_OVER_DAILY_CAP
    return None


def staff_hold(
    book: RedemptionBook, site_id: str, staff_id: str | None, amount: int, *, now_ms: int
) -> Reason | None:
    """Why a redemption the till's staff rules do not cover goes to review; ``None``: it is paid.

    Only a shop that has had till staff (``docs/economy.md``, "Till staff") has these
    rules, checked for a redemption that would be debited: an offline one is held for
    review with the reason, an online one declined with it (the till still waits, so
    nothing was handed over):

    * ``staff_unknown``: the event names no active staff member of the shop
      (none, a removed one, another shop's; with every member removed, nobody is);
    * ``staff_over_daily_cap``: the member's redemptions debited on the server's local
      day of ``now_ms`` plus ``amount`` exceed their ``daily_max``.

    The roster is the logged one (``till_staff`` entries), so an auditor holds the same.
    """
    staff = book.till_staff(site_id)
    if staff is None:
        return None
    member = staff.get(staff_id) if staff_id is not None else None
    if member is None:
        return Reason.STAFF_UNKNOWN
    if book.staff_paid(member.staff_id, *local_day(now_ms)) + amount > member.daily_max:
        return Reason.STAFF_OVER_DAILY_CAP
    return None


def _record_redemption(book: RedemptionBook, record: Redemption, known: Redemption | None) -> int:
    """Store ``record``: a new row, or over ``known``, a declined attempt the kiosk retries; its row ID."""
    if known is None:
        return book.insert_redemption(record)
    book.update_redemption(dataclasses.replace(record, row_id=known.row_id))
    return known.row_id


def _debit_flags(*, overdraft: bool, wall_ms: int, now_ms: int) -> list[str]:
    """The flags of a redemption that was debited: they note, they do not refuse."""
    flags: list[str] = []
    if overdraft:
        flags.append(Reason.OVERDRAFT.value)
    if not clock_in_range(wall_ms, now_ms):
        flags.append(Reason.CLOCK_OUT_OF_RANGE.value)
    return flags


def void(
    book: RedemptionBook, site: Site, event: Event, *, now_ms: int, log_index: int | None, time_ms: int
) -> list[str]:
    """The ``void`` rules (``docs/economy.md``, "Voids"): credit back or refuse; return the flags."""
    event.require_opened()
    redemption_id: str = event.data["id"]
    wall_ms = time_ms
    shop = site.shop
    if site.kind is not SiteKind.SHOP or shop is None:
        return [Reason.NOT_A_SHOP.value]
    held = book.get_redemption(redemption_id)
    if held is None or held.status in _NEVER_DEBITED:
        return [Reason.UNKNOWN_REDEMPTION.value]
    if held.site_id != site.site_id:
        return [Reason.VOID_OTHER_SHOP.value]
    if held.card_id != event.card:
        return [Reason.REDEMPTION_MISMATCH.value]
    if held.status is RedemptionStatus.VOIDED:
        return [Reason.ALREADY_VOIDED.value]
    if wall_ms - held.wall_ms > shop.void_window_s * 1000 or not clock_in_range(wall_ms, now_ms):
        return [Reason.VOID_TOO_LATE.value]
    book.update_redemption(
        dataclasses.replace(
            held,
            status=RedemptionStatus.VOIDED,
            void_kiosk=event.kiosk,
            void_seq=event.seq,
            void_wall_ms=wall_ms,
        )
    )
    book.insert_ledger_entries(
        [LedgerEntry(held.volunteer_id, held.amount, LEDGER_KIND_VOID, held.row_id, now_ms, log_index)]
    )
    return []
