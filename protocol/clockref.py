"""Clock references: the server's time for one reading of a kiosk's monotonic clock.

A kiosk has no battery-backed clock.  After a power cut it boots with the time
fake-hwclock saved (hours or weeks stale) or 1970, and NTP may take a while or
never come.  Its monotonic clock (``clock.mono_ms``) is right all the same, but
only within one boot.  What ties it to real time is the server's clock.

Every sync request carries a *clock sample*: a heartbeat (:mod:`protocol.heartbeat`)
the kiosk signs as it sends the batch, with its boot ID and monotonic time.
The server's receive time for that sample gives a reference: an event of the
same kiosk and boot with monotonic time ``m`` happened at
``at_ms − (sample.mono_ms − m)``, give or take the request's time in transit
(a few seconds at most, bounded by the kiosk's timeouts).

The server logs a sample as a ``clock_ref`` entry (the kiosk's signed bytes and
the receive time) only when it is needed: when the batch holds a new event of
the sample's boot whose clock was not synced, and that boot has no reference
yet or only ones older than :data:`REFRESH_MS` by the monotonic clock.  A
kiosk whose clock is synced adds nothing to the log; one that runs unsynced for
weeks adds at most four entries a day.  A tap synced soon after it was made is
corrected from a reference at most six hours away; a tap from a long offline
stretch may be days from the nearest one.  A crystal drifts up to 100 ppm,
about 9 seconds a day: small against shift lengths in minutes.

Server and auditor apply the same rule, :func:`event_time`, to the references
logged before the event: that is what makes a correction replayable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

REFRESH_MS: Final = 6 * 3_600_000  # a boot's newest reference this old (monotonic) gets a fresh one


@dataclass(frozen=True, slots=True)
class ClockRef:
    """The server's time ``at_ms`` for the monotonic reading ``mono_ms`` of one kiosk's boot."""

    mono_ms: int
    at_ms: int


def corrected_ms(refs: Sequence[ClockRef], mono_ms: int) -> int | None:
    """The server's time for ``mono_ms`` by the boot's nearest reference; ``None`` without one.

    The nearest by monotonic distance, so drift has the least time to add up;
    on a tie the earlier logged one, so the choice never depends on anything
    but the references' order in the log.
    """
    best: ClockRef | None = None
    for ref in refs:
        if best is None or abs(ref.mono_ms - mono_ms) < abs(best.mono_ms - mono_ms):
            best = ref
    return None if best is None else best.at_ms - (best.mono_ms - mono_ms)


def event_time(wall_ms: int, synced: bool, mono_ms: int, refs: Sequence[ClockRef]) -> tuple[int, bool]:
    """An event's time as the ledger counts it, and whether that time can be trusted.

    A synced clock is taken at its word.  An unsynced one is replaced by the
    reference's reading when its boot has one (trusted), and otherwise kept as
    it is (not trusted: pairing sends what depends on it to review).
    """
    if synced:
        return wall_ms, True
    corrected = corrected_ms(refs, mono_ms)
    if corrected is None:
        return wall_ms, False
    return corrected, True


def wants_ref(refs: Sequence[ClockRef], sample_mono_ms: int) -> bool:
    """Whether a sample at ``sample_mono_ms`` adds a reference to a boot that has ``refs``.

    Only one later than every reference by :data:`REFRESH_MS`; in particular a
    sample from before an existing reference (replayed, or out of order) never
    adds one.
    """
    return not refs or sample_mono_ms - max(ref.mono_ms for ref in refs) >= REFRESH_MS
