"""Four eyes: a decision that credits many hours waits for a second person's cosignature.

A decision that credits or corrects more than ``four_eyes_minutes`` (a setting,
default :data:`DEFAULT_FOUR_EYES_MINUTES`: a working day) is not applied when
it arrives.  It waits in ``pending_decisions`` until a second coordinator key
cosigns it: another key, and, where the server knows who holds the keys
(browser device keys belong to a person), another person.  The cosignature is a
signature over :func:`protocol.decisions.cosign_message` of the decision's
bytes; the log entry carries it (``cosig``), so an auditor checks it without the
server (``docs/protocol.md``, "Four eyes").

What a decision credits, in minutes (:func:`credited_minutes`):

* ``manual_shift``: its length;
* ``review`` that approves: how much longer the paid shift is than its taps
  show (a shift without a check-out shows nothing, so its whole length counts);
* every other kind: 0 (rules, redemptions and rejections credit no hours).
"""

from __future__ import annotations

from typing import Final

from protocol.decisions import Decision
from protocol.economy.shifts import MS_PER_HOUR
from server.storage import ReadTx

FOUR_EYES_SETTING: Final = "four_eyes_minutes"
DEFAULT_FOUR_EYES_MINUTES: Final = 480
_MS_PER_MINUTE: Final = MS_PER_HOUR // 60


def threshold_minutes(tx: ReadTx) -> int:
    """The four-eyes threshold in minutes (the setting, else the default; a bad value: the default)."""
    value = tx.get_setting(FOUR_EYES_SETTING)
    try:
        minutes = int(value) if value is not None else DEFAULT_FOUR_EYES_MINUTES
    except ValueError:
        return DEFAULT_FOUR_EYES_MINUTES
    return max(minutes, 0)


def credited_minutes(tx: ReadTx, decision: Decision) -> int:
    """How many minutes ``decision`` credits beyond what taps showed (see the module's list)."""
    data = decision.data
    if decision.kind == "manual_shift":
        length: int = data["end_ms"] - data["start_ms"]
        return max(0, length) // _MS_PER_MINUTE
    if decision.kind != "review" or data["action"] != "approve":
        return 0
    shift = tx.shift_by_tap(data["shift"]["kiosk"], data["shift"]["seq"])
    if shift is None:
        return 0  # the rules refuse it (unknown_shift)
    start = data["start_ms"] or shift.start_ms
    end = data["end_ms"] or shift.end_ms or start
    tapped = shift.end_ms - shift.start_ms if shift.in_kiosk is not None and shift.end_ms is not None else 0
    return max(0, (end - start) - max(tapped, 0)) // _MS_PER_MINUTE


def needs_cosignature(tx: ReadTx, decision: Decision) -> tuple[bool, int]:
    """Whether ``decision`` must wait for a cosignature, and the minutes it credits."""
    minutes = credited_minutes(tx, decision)
    return minutes > threshold_minutes(tx), minutes


def decision_site(tx: ReadTx, decision: Decision) -> str | None:
    """The site a decision is about: a reviewed shift's, a redemption's shop, else ``data["site"]``.

    ``None`` when the shift or redemption it names does not exist (the rules refuse it).
    """
    data = decision.data
    if decision.kind == "review":
        shift = tx.shift_by_tap(data["shift"]["kiosk"], data["shift"]["seq"])
        return None if shift is None else shift.site_id
    if decision.kind in ("acknowledge", "redemption_review"):
        redemption = tx.get_redemption(data["redemption"])
        return None if redemption is None else redemption.site_id
    site = data["site"]
    assert isinstance(site, str)
    return site
