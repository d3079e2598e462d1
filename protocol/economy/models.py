"""The ledger's values: sites, cards, shifts, ledger entries, redemptions, and the standings the log names.

Plain records with no I/O.  The economy rules (:mod:`protocol.economy`) take and
give them, the server stores them and the auditor keeps them in memory, so both
mean the same thing by a shift or a redemption.  ``to_json`` gives the
documented API shape where one exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, NamedTuple

from protocol.trust import ShopLimits

# -- settings of the offline redemption bound (docs/economy.md, "The worst-case loss") ----------------
# Part of the rules, not of a server's configuration: an auditor replaying the log applies the same.
# An offline redemption dated longer than this before the server received it is held for review.
OFFLINE_BACKDATE_WINDOW_MS: Final = 72 * 3_600_000

# -- check-in kiosk limits (issue 16, the kiosk half): what a stolen kiosk key can get paid -----------
DEFAULT_MAX_DAY_HOURS: Final = 12  # hours one card may be paid for shifts starting in one local day
DEFAULT_BACKDATE_DAYS: Final = 14  # how long before its receipt a shift may end and still pay
# -- end of check-in kiosk limits ---------------------------------------------------------------------


class KioskStatus(StrEnum):
    """A kiosk's standing.  Only ``active`` kiosks may sync."""

    ACTIVE = "active"
    SUSPENDED = "suspended"  # after equivocation, until a coordinator clears it
    REVOKED = "revoked"  # for good: a new key means a new kiosk


class ShiftStatus(StrEnum):
    """Where a shift is: waiting for its check-out, paid, waiting for a coordinator, or rejected by one."""

    OPEN = "open"
    PAID = "paid"
    REVIEW = "review"
    REJECTED = "rejected"


class SiteKind(StrEnum):
    """What a site's terminals do; fixed when the site is created (``docs/economy.md``)."""

    CHECKIN = "checkin"  # a community centre: kiosks record shifts
    SHOP = "shop"  # a shop: terminals redeem tokens


@dataclass(frozen=True, slots=True)
class Site:
    """A place with terminals, its earning rules and, for a shop, its limits.

    ``bonuses`` holds the ``site_rules`` decision's bonus objects as signed
    (:mod:`protocol.decisions`); ``shop`` is ``None`` exactly for check-in sites.
    """

    site_id: str
    name: str
    tokens_per_hour: int
    max_shift_hours: int
    allow_uncredentialed: bool = False  # whether kiosks accept cards without a credential (pilots)
    kind: SiteKind = SiteKind.CHECKIN
    daily_cap: int = 0  # tokens per volunteer and local day at this site; 0: no cap
    bonuses: tuple[dict[str, Any], ...] = ()
    shop: ShopLimits | None = None
    # Check-in kiosk limits, set by a ``kiosk_limits`` decision (docs/economy.md, "Earning: rules per site").
    max_day_hours: int = DEFAULT_MAX_DAY_HOURS  # paid hours per card and local day by shift start
    backdate_days: int = DEFAULT_BACKDATE_DAYS  # a shift ending longer before its receipt is held

    def to_json(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "site_id": self.site_id,
            "name": self.name,
            "kind": self.kind.value,
            "tokens_per_hour": self.tokens_per_hour,
            "max_shift_hours": self.max_shift_hours,
            "allow_uncredentialed": self.allow_uncredentialed,
            "daily_cap": self.daily_cap,
            "bonuses": [dict(bonus) for bonus in self.bonuses],
        }
        if self.kind is SiteKind.CHECKIN:
            answer["max_day_hours"] = self.max_day_hours
            answer["backdate_days"] = self.backdate_days
        if self.shop is not None:
            answer["shop"] = self.shop.to_json()
        return answer


class IssuerKeyStatus(StrEnum):
    """An issuer key's standing.  Kiosks trust ``active`` and ``retired`` keys."""

    ACTIVE = "active"  # new cards may be registered under it
    RETIRED = "retired"  # rotation: its cards stay valid, no new ones
    REVOKED = "revoked"  # for good (a stolen key): every card it signed is denied


class CoordinatorStatus(StrEnum):
    """A coordinator key's standing.  Only ``active`` keys may sign decisions; revoked is final."""

    ACTIVE = "active"
    REVOKED = "revoked"


class CardKind(StrEnum):
    """How a card names itself at a kiosk."""

    CREDENTIAL = "credential"  # a c_ ID from a signed credential (or registered before credentials)
    UID = "uid"  # an uncredentialed pilot card, known by the u_ pseudonym of its UID


@dataclass(frozen=True, slots=True)
class Card:
    """A registered card.  The issuance fields are ``None`` where they were not recorded.

    ``coordinator_ms`` is when the card became a coordinator card (it opens the
    kiosk's coordinator menu), ``None`` while it is not one.
    """

    card_id: str
    volunteer_id: str
    kind: CardKind
    registered_ms: int
    issuer_key_id: str | None = None
    valid_from_s: int | None = None
    valid_until_s: int | None = None
    blocked_ms: int | None = None
    block_reason: str | None = None
    coordinator_ms: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "card_id": self.card_id,
            "volunteer_id": self.volunteer_id,
            "kind": self.kind.value,
            "issuer_key_id": self.issuer_key_id,
            "valid_from_s": self.valid_from_s,
            "valid_until_s": self.valid_until_s,
            "registered_ms": self.registered_ms,
            "blocked_ms": self.blocked_ms,
            "block_reason": self.block_reason,
            "coordinator": self.coordinator_ms is not None,
            "coordinator_ms": self.coordinator_ms,
        }


class TapClock(NamedTuple):
    """A tap's clock evidence as pairing needs it (``docs/protocol.md`` "Shifts and tokens").

    A named tuple, not a frozen dataclass: ingest makes one per check-in, for less.

    ``flag`` is the tap's first flag and ``other_flags`` whether it has more: a
    ``clock_out_of_range`` tap may still be paid by the monotonic clock, but only
    when that is its one flag.  ``enrolled_ms`` is when the tap's kiosk was
    enrolled (its ``kiosk_enrolled`` log entry): a shift may not start before it.
    """

    wall_ms: int
    boot: str
    mono_ms: int
    synced: bool
    flag: str | None = None
    other_flags: bool = False
    enrolled_ms: int = 0


class PaidSpan(NamedTuple):
    """A paid shift as the kiosk limits read it: when it ran and the minutes it was paid for."""

    start_ms: int
    end_ms: int
    minutes: int


@dataclass(slots=True)
class Shift:
    """One worked shift.  Mutable while the ingest transaction pairs events into it.

    ``shift_id`` is 0 until storage assigns one.  ``reason`` is set whenever the
    shift is (or, once closed, will be) on the review list.
    """

    shift_id: int
    card_id: str
    volunteer_id: str
    site_id: str
    kiosk_id: str | None  # None for a shift added by hand
    in_kiosk: str | None
    in_seq: int | None
    out_kiosk: str | None
    out_seq: int | None
    start_ms: int
    end_ms: int | None
    minutes: int
    tokens: int
    status: ShiftStatus
    reason: str | None
    source: str = "taps"  # or "manual": added by a coordinator's decision
    decision: str | None = None  # hash of the decision that approved, rejected or added it
    uncapped_tokens: int | None = None  # what it would have paid without the site's daily cap
    # The check-in's clock, for measuring the shift when it closes (protocol.economy.shifts); not a column:
    # storage reads it from the check-in event.  None when unknown (a shift added by hand).
    in_clock: TapClock | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "shift_id": self.shift_id,
            "card_id": self.card_id,
            "site_id": self.site_id,
            "kiosk_id": self.kiosk_id,
            "in_kiosk": self.in_kiosk,
            "in_seq": self.in_seq,
            "out_kiosk": self.out_kiosk,
            "out_seq": self.out_seq,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "minutes": self.minutes,
            "tokens": self.tokens,
            "status": self.status.value,
            "reason": self.reason,
            "source": self.source,
            "decision": self.decision,
            "uncapped_tokens": self.uncapped_tokens,
        }


class LedgerEntry(NamedTuple):
    """One line of a volunteer's account: ``delta`` tokens, why (``kind`` and ``ref``) and when.

    ``kind`` is ``shift`` (``ref``: the shift ID), ``redeem`` or ``void`` (``ref``: the
    redemption's row ID).  ``log_index`` is the transparency-log entry that caused it:
    the check-out event, the review or manual-shift decision, the redeem or void event.
    """

    volunteer_id: str
    delta: int
    kind: str
    ref: int
    created_ms: int
    log_index: int | None


class PriorHours(NamedTuple):
    """Engagement before the ledger began, recorded by a signed ``prior_hours`` decision.

    Hours only, for the Ehrenamtskarte's "years kept up" (``docs/economy.md``): it pays
    no tokens and is no shift.  ``minutes`` fell in ``[from_ms, to_ms)``; ``decision``
    is the decision's hash and ``log_index`` its log entry.
    """

    volunteer_id: str
    card_id: str
    site_id: str
    from_ms: int
    to_ms: int
    minutes: int
    reason: str
    decision: str
    log_index: int

    def to_json(self) -> dict[str, object]:
        return self._asdict()


class StaffRole(StrEnum):
    """What a till staff member may do at the till: redeem only, or redeem and void."""

    CASHIER = "cashier"
    MANAGER = "manager"


@dataclass(frozen=True, slots=True)
class TillStaff:
    """A shop's till staff member as the rules see them: no name, no PIN (``docs/economy.md``, "Till staff").

    The server logs each change as a ``till_staff`` entry, so an auditor holds the
    same roster at every point of the log; ``daily_max`` caps the tokens the member's
    redemptions may debit on one server day.
    """

    staff_id: str
    site_id: str
    role: StaffRole
    daily_max: int


class RedemptionStatus(StrEnum):
    """Where a redemption stands: the tokens moved, the server declined it, or the shop took it back."""

    DEBITED = "debited"
    DECLINED = "declined"  # online and not covered; an offline fallback with its ID may still debit
    VOIDED = "voided"
    HELD = "held"  # offline beyond the till's bound: nothing debited, on the review list
    REJECTED = "rejected"  # held, then rejected by a coordinator: never debited, not owed to the shop


@dataclass(frozen=True, slots=True)
class Redemption:
    """One redemption ID at a shop, with the event that settled it (``docs/economy.md``).

    ``kiosk_id``, ``seq``, ``online`` and ``wall_ms`` are those of the ``redeem`` event that
    debited it (or, while declined, of the last one that tried); ``void_*`` those of the
    ``void`` that returned it.  ``overdraft`` is set when the debit took the balance below
    zero, ``acknowledged`` is the hash of the decision that accepted that.  ``held`` is the
    reason code an offline redemption beyond its till's bound was held for (kept once a
    coordinator decided it), ``reviewed`` the hash of the ``redemption_review`` decision that
    approved or rejected it.  ``row_id`` is storage's key for it, the ``ref`` of its ledger
    entries (0 until stored).
    """

    redemption_id: str
    site_id: str
    kiosk_id: str
    seq: int
    card_id: str
    volunteer_id: str
    amount: int
    online: bool
    status: RedemptionStatus
    wall_ms: int
    received_ms: int
    overdraft: bool = False
    acknowledged: str | None = None
    void_kiosk: str | None = None
    void_seq: int | None = None
    void_wall_ms: int | None = None
    held: str | None = None
    reviewed: str | None = None
    row_id: int = 0
    staff_id: str | None = None  # the redeem event's ``staff`` (issue 19): the till staff member who sold

    def to_json(self) -> dict[str, Any]:
        return {
            "redemption_id": self.redemption_id,
            "site_id": self.site_id,
            "kiosk_id": self.kiosk_id,
            "seq": self.seq,
            "card_id": self.card_id,
            "volunteer_id": self.volunteer_id,
            "amount": self.amount,
            "online": self.online,
            "status": self.status.value,
            "wall_ms": self.wall_ms,
            "received_ms": self.received_ms,
            "overdraft": self.overdraft,
            "acknowledged": self.acknowledged,
            "void_kiosk": self.void_kiosk,
            "void_seq": self.void_seq,
            "void_wall_ms": self.void_wall_ms,
            "held": self.held,
            "reviewed": self.reviewed,
        }
