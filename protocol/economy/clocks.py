"""What the rules re-check about every admitted event: the kiosk's clock and the card's standing.

Kiosks decide offline with the trust list of their last sync, so the server
re-checks these at reconciliation and flags what it finds; an auditor
replaying the log flags the same with the same code.
"""

from __future__ import annotations

from typing import Final

from protocol import ids
from protocol.reasons import Reason

CLOCK_MIN_MS: Final = 1_577_836_800_000  # 2020-01-01T00:00:00Z
CLOCK_MAX_AHEAD_MS: Final = 24 * 3_600_000


def clock_in_range(wall_ms: int, now_ms: int) -> bool:
    """Whether a kiosk's wall clock is plausible: not before 2020, at most 24 h ahead of ours."""
    return CLOCK_MIN_MS <= wall_ms <= now_ms + CLOCK_MAX_AHEAD_MS


def card_flags(
    card_id: str, blocked_ms: int | None, *, allow_uncredentialed: bool, wall_ms: int
) -> list[Reason]:
    """``card_blocked`` and ``uncredentialed_card``, in that order, where they apply.

    A card is blocked for an event when its block is at or before the event's
    ``wall_ms`` (``blocked_ms`` ``None``: never blocked, or not registered); a ``u_`` card
    is uncredentialed where the site's current policy does not allow such cards.
    """
    flags: list[Reason] = []
    if blocked_ms is not None and blocked_ms <= wall_ms:
        flags.append(Reason.CARD_BLOCKED)
    if not allow_uncredentialed and ids.is_id(card_id, ids.UID_CARD):
        flags.append(Reason.UNCREDENTIALED_CARD)
    return flags
