"""The balance sheet in each ingest answer: what the batch's cards are worth once the batch is paid.

A kiosk shows a volunteer's balance "as of the last sync" at check-out, with
no ledger of its own.  So every answer to ``POST /v1/kiosks/{kiosk_id}/events``
carries a :class:`protocol.BalanceSheet` signed with the server key: for each
card ID in the batch (``c_`` and ``u_`` alike, duplicates included, so a
resent batch still brings it) that is registered, the balance of the volunteer
who owns it.  It is computed in the batch's transaction after its shifts were
paid, so it includes what the batch itself earned.

Only cards of that batch, so a kiosk learns nothing about volunteers who never
tapped there; only card IDs and integers, never a name or a volunteer ID.
Unregistered cards are left out (they have no volunteer, hence no balance).
"""

from __future__ import annotations

from collections.abc import Iterable

from protocol import BalanceSheet
from server.storage import ReadTx


def batch_balances(tx: ReadTx, kiosk_id: str, card_ids: Iterable[str], now_ms: int) -> BalanceSheet:
    """The (unsigned) sheet for ``kiosk_id``: each registered card of ``card_ids`` and its balance."""
    return BalanceSheet(kiosk=kiosk_id, as_of_ms=now_ms, balances=tx.card_balances(card_ids))
