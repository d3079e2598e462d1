"""Erasing a volunteer (DSGVO Art. 17) by crypto-shredding: what links their pseudonyms to them goes.

:func:`erase_volunteer`, in this order:

1. in one transaction: block each of their cards (logged as any block), delete
   the rows of :data:`ERASURE_STEPS` that name the volunteer or one of their
   cards (the sealed personal data, and where those tables exist the access
   secret, the sessions and the card-registration openings), and record
   ``erased_ms`` for the volunteer ID (nothing else: no name, no reason);
2. destroy the person's key file (:meth:`server.vault.PersonVault.destroy`):
   every copy of the ciphertext, in backups too, becomes noise;
3. checkpoint and truncate the WAL, so it keeps no image of the deleted rows
   (``secure_delete`` zeroes them in the file).

If the server dies between 1 and 2, opening the data folder finishes step 2
(:func:`server.people.finish_erasures`).  Erasing again changes nothing and
answers the same ``erased_ms``.

What stays, and why (docs/privacy.md): the pseudonymous volunteer and
card IDs in the ledger tables (``volunteers``, ``cards``, ``shifts``,
``ledger_entries``, ``balances``, ``redemptions``, ``events``), in the
transparency log and in the auditor's openings of tap events, because the
economy's totals and every receipt must stay verifiable.  Without the name,
the number and the registration openings nothing ties them to the person.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from protocol import Reason
from server import cards as card_service
from server.context import ServerContext
from server.errors import ServiceError

ERASED_BLOCK_REASON: Final = "erased"


@dataclass(frozen=True, slots=True)
class ErasureStep:
    """Delete the rows of ``table`` whose ``column`` holds the volunteer's ID or one of their card IDs.

    A table this ledger does not have (another part not deployed yet) is skipped.
    """

    table: str
    column: str
    of: Literal["volunteer", "cards"]
    why: str


# One line per table that links a person to their pseudonyms; order does not matter (one transaction).
ERASURE_STEPS: Final[tuple[ErasureStep, ...]] = (
    ErasureStep("personal_data", "volunteer_id", "volunteer", "name and Ehrenamtskarte number (sealed)"),
    ErasureStep("volunteer_access", "volunteer_id", "volunteer", "the hash of their access secret"),
    ErasureStep("sessions", "volunteer_id", "volunteer", "their web sessions"),
    # Only a card registration's opening names the volunteer (card_id|volunteer_id); tap openings stay.
    ErasureStep("openings", "volunteer_id", "volunteer", "the openings linking their cards to them"),
    # Cards the console prepared and no reader confirmed: never registered, so nothing else names them.
    ErasureStep("prepared_cards", "volunteer_id", "volunteer", "cards prepared in the console"),
)


def erase_volunteer(ctx: ServerContext, volunteer_id: str) -> dict[str, Any]:
    """Erase ``volunteer_id``; ``404 unknown_volunteer`` if there is no such volunteer.

    Answers ``{"volunteer_id", "erased_ms", "cards_blocked": [card IDs blocked now],
    "deleted": {table: rows}, "key_destroyed": bool}``; a repeated erasure blocks
    and deletes nothing and keeps the first ``erased_ms``.
    """
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        if not tx.volunteer_exists(volunteer_id):
            raise ServiceError(Reason.UNKNOWN_VOLUNTEER, "no such volunteer")
        cards = tx.list_cards(volunteer_id)
        blocked = [
            card.card_id
            for card in cards
            if card.blocked_ms is None
            and card_service.block_in(ctx, tx, card, ERASED_BLOCK_REASON, now).blocked_ms == now
        ]
        card_ids = [card.card_id for card in cards]
        deleted: dict[str, int] = {}
        for step in ERASURE_STEPS:
            values = [volunteer_id] if step.of == "volunteer" else card_ids
            count = tx.delete_linked(step.table, step.column, values)
            if count is not None:
                deleted[step.table] = count
        erased_ms = tx.record_erasure(volunteer_id, now)
    key_destroyed = ctx.vault.destroy(volunteer_id)
    ctx.storage.scrub(vacuum=False)
    return {
        "volunteer_id": volunteer_id,
        "erased_ms": erased_ms,
        "cards_blocked": blocked,
        "deleted": deleted,
        "key_destroyed": key_destroyed,
    }
