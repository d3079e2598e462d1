"""The ledger as the economy rules see it: the few reads and writes they make, as a ``Protocol``.

The rules (:mod:`protocol.economy.shifts`, :mod:`~protocol.economy.redemptions`,
:mod:`~protocol.economy.decisions`) never touch storage themselves; they take a
book.  The server's storage transaction is one (over SQLite, inside the
request's transaction), the auditor's in-memory ``LedgerBook`` is another (over
dictionaries, replaying the log).  The method names are the server's, so its
transaction satisfies the protocol structurally.

``balance`` must include every ledger entry inserted so far, those of the same
batch too (``paid_spans`` need not: the rules keep a batch's own);
``insert_redemption`` returns the redemption's row ID, and ``get_redemption`` returns it with that ``row_id``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from protocol.economy.models import (
    Card,
    LedgerEntry,
    PaidSpan,
    PriorHours,
    Redemption,
    Shift,
    Site,
    TillStaff,
)


class CardFacts(Protocol):
    """What the rules need of a registered card: its owner and when it was blocked (``None``: not)."""

    @property
    def volunteer_id(self) -> str: ...

    @property
    def blocked_ms(self) -> int | None: ...


class RedemptionBook(Protocol):
    """The reads and writes of the ``redeem`` and ``void`` rules."""

    def get_redemption(self, redemption_id: str) -> Redemption | None: ...

    def insert_redemption(self, redemption: Redemption) -> int: ...

    def update_redemption(self, redemption: Redemption) -> None: ...

    def balance(self, volunteer_id: str) -> int: ...

    def insert_ledger_entries(self, entries: Iterable[LedgerEntry]) -> None: ...

    def offline_pending(self, kiosk_id: str, card_id: str, received_ms: int) -> int:
        """The amounts of ``kiosk_id``'s offline redemptions of ``card_id`` received at ``received_ms``
        (its batch: no receipt covers them yet), debited or held."""
        ...

    def offline_paid(self, kiosk_id: str, day_start_ms: int, day_end_ms: int) -> int:
        """The amounts of ``kiosk_id``'s offline redemptions received in ``[day_start_ms, day_end_ms)``
        (one local day) that were debited when they arrived (voided later or not; never held ones)."""
        ...

    def till_staff(self, site_id: str) -> Mapping[str, TillStaff] | None:
        """``staff_id -> member`` of the shop's active till staff; ``None``: the shop never had any.

        Empty once every member was removed: the staff rules still hold there.
        """
        ...

    def staff_paid(self, staff_id: str, day_start_ms: int, day_end_ms: int) -> int:
        """The amounts of ``staff_id``'s redemptions received in ``[day_start_ms, day_end_ms)`` that
        were debited when they arrived (voided later or not; never held ones), as ``offline_paid``."""
        ...


class ShiftBook(Protocol):
    """The reads and writes of pairing taps into shifts and paying them."""

    def open_shifts(self, site_id: str, card_ids: Iterable[str]) -> dict[str, Shift]: ...

    def next_shift_id(self) -> int: ...

    def insert_shifts(self, shifts: Iterable[Shift]) -> None: ...

    def close_shifts(self, shifts: Iterable[Shift]) -> None: ...

    def tokens_paid_on_day(
        self, site_id: str, volunteer_id: str, day_start_ms: int, day_end_ms: int
    ) -> int: ...

    def paid_spans(self, card_ids: Iterable[str], from_ms: int, to_ms: int) -> dict[str, list[PaidSpan]]:
        """``card_id -> its paid shifts`` (at any site) that start in ``[from_ms, to_ms)``, any order."""
        ...

    def insert_ledger_entries(self, entries: Iterable[LedgerEntry]) -> None: ...

    def latest_shift(self, site_id: str, card_id: str) -> Shift | None:
        """The card's newest shift at the site made from taps (not by hand), with its ``in_clock``.

        Only an undone check-out asks (:mod:`protocol.economy.undo`); the caller may change it.
        """
        ...


class EconomyBook(ShiftBook, RedemptionBook, Protocol):
    """Everything the rules read and write, coordinator decisions included."""

    def get_site(self, site_id: str) -> Site | None: ...

    def update_site(self, site: Site) -> None: ...

    def get_card(self, card_id: str) -> Card | None: ...

    def shift_by_tap(self, kiosk_id: str, seq: int) -> Shift | None: ...

    def acknowledge_overdraft(self, redemption_id: str, decision_hash: str) -> None: ...

    def insert_prior_hours(self, prior: PriorHours) -> None:
        """Keep engagement from before the ledger (hours only; no tokens, no shift)."""
        ...
