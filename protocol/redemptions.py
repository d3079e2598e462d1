"""Which flags on a ``redeem`` or ``void`` event mean that no tokens moved.

The server never refuses a validly signed, well-chained event (that would
wedge the kiosk's chain), so a redemption it will not honour is admitted with
a flag instead.  A terminal reads the flags of its event's result to learn
whether the money moved; an auditor reads them to check the server's
decisions.  ``overdraft`` and ``clock_out_of_range`` are flags that do *not*
stop a redemption: the tokens moved, and the entry goes to review.
``docs/economy.md`` has the rules that set each flag.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from protocol.reasons import Reason

# Any of these on a redeem or void event: nothing was debited or credited.
REFUSING_FLAGS: Final = frozenset(
    {
        Reason.NOT_A_SHOP.value,
        Reason.UNKNOWN_CARD.value,
        Reason.CARD_BLOCKED.value,
        Reason.UNCREDENTIALED_CARD.value,
        Reason.AMOUNT_OVER_LIMIT.value,
        Reason.INSUFFICIENT_BALANCE.value,
        Reason.ALREADY_REDEEMED.value,
        Reason.REDEMPTION_MISMATCH.value,
        Reason.UNKNOWN_REDEMPTION.value,
        Reason.ALREADY_VOIDED.value,
        Reason.VOID_TOO_LATE.value,
        Reason.VOID_OTHER_SHOP.value,
        # Held for review: nothing debited unless a coordinator approves it later.
        Reason.REDEEM_BACKDATED.value,
        Reason.OFFLINE_OVER_ALLOWANCE.value,
        Reason.OFFLINE_OVER_DAILY_CAP.value,
        # Not covered by the shop's till staff rules: declined online, held offline (issue 19).
        Reason.STAFF_UNKNOWN.value,
        Reason.STAFF_OVER_DAILY_CAP.value,
    }
)


def moved_tokens(flags: Iterable[str]) -> bool:
    """Whether a redeem or void event with ``flags`` moved tokens (debited, or credited back)."""
    return REFUSING_FLAGS.isdisjoint(flags)


def refusal(flags: Iterable[str]) -> str | None:
    """The first refusing flag, the reason to show when nothing moved; ``None`` when tokens moved."""
    return next((flag for flag in flags if flag in REFUSING_FLAGS), None)
