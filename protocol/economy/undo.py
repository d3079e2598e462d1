"""Undo at the kiosk: a volunteer takes back a mistaken check-in or check-out within seconds.

An ``undo`` event names its own kiosk's tap by ``seq`` (``data.seq``) and that
tap's card.  It is signed and chained like every event, so nothing is deleted:
the tap stays in the log, and the undo beside it says it did not count.  The
server never refuses a validly signed, well-chained event (that would wedge the
kiosk's chain), so an undo it will not honour is admitted with a flag that
says why (:data:`REFUSING_FLAGS`); nothing is undone then.

Two steps decide it, both here, so the server and an auditor replaying the log
decide alike (``docs/protocol.md``, "Undo at the kiosk"):

1. :func:`undo_verdict`, from the kiosk's own history: the tap must be the
   card's latest check-in or check-out at that kiosk (nothing of the card since,
   not even an undo), from the same boot, and at most :data:`UNDO_MAX_MS` before
   the undo by the kiosk's monotonic clock.  Wall clocks play no part: a kiosk
   without network time measures seconds as well as one with it.
2. :func:`protocol.economy.shifts.apply_taps` applies an undo that passed, in
   arrival order with the taps (an undo of a registered card is a
   :class:`~protocol.economy.shifts.Tap` of kind ``undo``): an undone check-in's
   open shift is set aside (a check-in that never happened); an undone
   check-out's shift is set aside and a copy of it opens again, as it was
   before the check-out, and if it was paid its tokens go back out of the
   ledger (an ``undo`` ledger entry).  If the shift moved on meanwhile (a tap at
   another kiosk of the site, a coordinator's decision) the undo is
   ``undo_superseded`` and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from protocol.events import EventKind
from protocol.reasons import Reason

UNDO_MAX_MS: Final = 30_000  # the protocol's hard cap; a kiosk offers less (kiosk.toml ``undo_window_s``)
LEDGER_KIND_UNDO: Final = "undo"  # the ledger entry that takes an undone check-out's tokens back
UNDO_KINDS: Final = frozenset({EventKind.CHECK_IN, EventKind.CHECK_OUT, EventKind.UNDO})

# Any of these on an undo event: nothing was undone.
REFUSING_FLAGS: Final = frozenset(
    {
        Reason.UNKNOWN_CARD.value,
        Reason.UNDO_UNKNOWN_TAP.value,
        Reason.UNDO_TOO_LATE.value,
        Reason.ALREADY_UNDONE.value,
        Reason.UNDO_SUPERSEDED.value,
    }
)


@dataclass(frozen=True, slots=True)
class TapMark:
    """A check-in, check-out or undo of one card at one kiosk, as the undo rules read it.

    ``target`` is the ``seq`` an undo names (``None`` for a tap); ``boot`` and
    ``mono_ms`` are the event's clock evidence.
    """

    seq: int
    kind: EventKind
    boot: str
    mono_ms: int
    target: int | None = None


def undo_verdict(*, seq: int, target: int, boot: str, mono_ms: int, latest: TapMark | None) -> str | None:
    """Why the undo ``seq`` of tap ``target`` is refused, or ``None`` if it may be applied.

    ``latest`` is its card's latest check-in, check-out or undo at the same kiosk
    before it (``None``: none at or after ``target``); ``boot`` and ``mono_ms``
    are the undo's clock evidence.
    """
    if latest is None or latest.seq < target or target >= seq:
        return Reason.UNDO_UNKNOWN_TAP.value
    if latest.seq > target:
        if latest.kind is EventKind.UNDO and latest.target == target:
            return Reason.ALREADY_UNDONE.value
        return Reason.UNDO_SUPERSEDED.value
    if latest.kind is EventKind.UNDO:  # an undo is not undone
        return Reason.UNDO_UNKNOWN_TAP.value
    if latest.boot != boot or not 0 <= mono_ms - latest.mono_ms <= UNDO_MAX_MS:
        return Reason.UNDO_TOO_LATE.value
    return None


def undone(flags: tuple[str, ...] | list[str]) -> bool:
    """Whether an undo event with ``flags`` took its tap back."""
    return REFUSING_FLAGS.isdisjoint(flags)
