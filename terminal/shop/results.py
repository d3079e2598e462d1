"""What the till answers: the cards it sees and the results of redemptions and voids.

Plain frozen values, safe to hand from the worker thread that called
:class:`terminal.shop.ShopTill` to the screen's thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class TillOutcome(StrEnum):
    """How a redemption ended at the till."""

    PAID = "paid"  # the server debited it
    PAID_OFFLINE = "paid_offline"  # accepted within the offline limits; the server debits it when it syncs
    DECLINED = "declined"  # refused (``reason``): by the server, or over ``max_amount``; nothing moved
    OFFLINE_LIMIT = "offline_limit"  # no answer, and the offline limits refuse it; nothing moves
    DENIED = "denied"  # the card or the terminal may not redeem (``reason``: card_blocked, not_a_shop)
    ERROR = "error"  # something broke (``reason``: the exception's type); see the log


@dataclass(frozen=True, slots=True)
class CardAtTill:
    """A card that may redeem, as :meth:`ShopTill.present` found it.

    ``balance`` is fresh from the server (``fresh``; ``balance_as_of_ms`` is then
    the terminal's clock when it asked), or else the last balance the server
    confirmed to this terminal less its redemptions here that are still pending
    (``balance_as_of_ms``: the server's time of that confirmation), or ``None``
    when the server never confirmed one here.  ``offline_headroom`` is the most
    the card could redeem now if the server did not answer
    (:func:`terminal.shop.rules.offline_headroom`).  ``coordinator`` marks a
    coordinator's card: the screen opens its menu; no balance is fetched.
    """

    card_id: str = field(repr=False)  # kept out of logs: a journal of cards is a timeline (issue 17)
    balance: int | None
    balance_as_of_ms: int | None
    fresh: bool
    offline_headroom: int
    coordinator: bool = False


@dataclass(frozen=True, slots=True)
class CardRefused:
    """A tap that cannot redeem: ``reason`` is a reason code (``card_blocked``, ``tap_incomplete``, …)."""

    reason: str


@dataclass(frozen=True, slots=True)
class RedeemResult:
    """The result of :meth:`ShopTill.redeem`; ``balance`` as for :class:`CardAtTill` (``None``: unknown).

    ``redemption_id`` is the ID the till chose; when nothing was signed (declined
    before signing, ``denied``, ``offline_limit`` without an online attempt) no
    event names it.
    """

    outcome: TillOutcome
    redemption_id: str
    amount: int
    reason: str | None
    balance: int | None
    balance_as_of_ms: int | None


@dataclass(frozen=True, slots=True)
class RecentRedemption:
    """One of this terminal's redemptions for the coordinator menu.

    ``state`` is a :class:`terminal.redemptions.RedemptionState` value;
    ``voidable``: the goods went out, nothing was voided yet, and it is within
    the shop's ``void_window_s`` by this terminal's clock.
    """

    redemption_id: str
    card_id: str = field(repr=False)  # "" once the till forgot it (after the longest void window)
    amount: int
    created_ms: int
    state: str
    voidable: bool


@dataclass(frozen=True, slots=True)
class VoidResult:
    """``ok``: the server credited the amount back; ``queued``: stored, the server answers when it syncs.

    Neither: refused, ``reason`` says why (from the server, or the till's own
    check: ``unknown_redemption``, ``already_voided``, ``void_too_late``, ``not_a_shop``).
    """

    ok: bool
    queued: bool
    reason: str | None
