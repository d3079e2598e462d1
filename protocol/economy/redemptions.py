"""Redemptions and voids at shops: ``docs/economy.md``, "Server rules for redeem" and "Voids", in code.

A ``redeem`` or ``void`` event is never refused (that would wedge the kiosk's
chain): :func:`apply_event` returns its flags, and the first refusing row of the
documented table decides, so a refused event carries exactly one flag and moves
nothing.  The flags are stored on the event and logged with it, so the server
applies the rules before the event's log entry is built, and an auditor
replaying the log gets the same flags.  Every debit or credit is one
:class:`~protocol.economy.models.LedgerEntry` of kind ``redeem`` (``-amount``) or
``void`` (``+amount``), its ``ref`` the redemption's row ID.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from protocol.economy.book import CardFacts, RedemptionBook
from protocol.economy.clocks import card_flags, clock_in_range
from protocol.economy.models import LedgerEntry, Redemption, RedemptionStatus, Site, SiteKind
from protocol.events import Event, EventKind
from protocol.reasons import Reason

LEDGER_KIND_REDEEM: Final = "redeem"
LEDGER_KIND_VOID: Final = "void"
SHOP_EVENT_KINDS: Final = frozenset({EventKind.REDEEM, EventKind.VOID})


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
    held = book.get_redemption(redemption_id)
    if held is not None:
        if (held.card_id, held.amount, held.site_id) != (event.card, amount, site.site_id):
            return [Reason.REDEMPTION_MISMATCH.value]
        if held.status is not RedemptionStatus.DECLINED:
            return [Reason.ALREADY_REDEEMED.value]
    balance = book.balance(card.volunteer_id)
    debit = not online or balance >= amount
    overdraft = debit and balance - amount < 0
    record = Redemption(
        redemption_id=redemption_id,
        site_id=site.site_id,
        kiosk_id=event.kiosk,
        seq=event.seq,
        card_id=event.card,
        volunteer_id=card.volunteer_id,
        amount=amount,
        online=online,
        status=RedemptionStatus.DEBITED if debit else RedemptionStatus.DECLINED,
        wall_ms=wall_ms,
        received_ms=now_ms,
        overdraft=overdraft,
    )
    row_id = _record_redemption(book, record, held)
    if not debit:
        return [Reason.INSUFFICIENT_BALANCE.value]
    book.insert_ledger_entries(
        [LedgerEntry(card.volunteer_id, -amount, LEDGER_KIND_REDEEM, row_id, now_ms, log_index)]
    )
    return _debit_flags(overdraft=overdraft, wall_ms=wall_ms, now_ms=now_ms)


def _record_redemption(book: RedemptionBook, record: Redemption, held: Redemption | None) -> int:
    """Store ``record``: a new row, or over ``held``, a declined attempt the kiosk retries; its row ID."""
    if held is None:
        return book.insert_redemption(record)
    book.update_redemption(dataclasses.replace(record, row_id=held.row_id))
    return held.row_id


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
    redemption_id: str = event.data["id"]
    wall_ms = time_ms
    shop = site.shop
    if site.kind is not SiteKind.SHOP or shop is None:
        return [Reason.NOT_A_SHOP.value]
    held = book.get_redemption(redemption_id)
    if held is None or held.status is RedemptionStatus.DECLINED:
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
