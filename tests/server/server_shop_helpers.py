"""Helpers for the shop, redemption and statement tests: a shop world over the real API, and event makers.

Nothing is mocked: :class:`ShopWorld` creates sites and shops through the admin
API, enrols terminals through ``/v1/enrol`` and funds cards with real shifts
at a check-in site (60 tokens an hour, so one minute earns one token).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server_helpers import MINUTE, T0, Api, FakeKiosk

from protocol import EventKind, SignedEvent, ids
from server.models import LedgerEntry, Redemption


def create_shop(api: Api, name: str = "Laden", **fields: Any) -> dict[str, Any]:
    return api.admin("POST", "/v1/admin/shops", {"name": name, **fields}, expect=201).json()


def redeem(
    kiosk: FakeKiosk,
    card: str,
    amount: int,
    *,
    rid: str | None = None,
    online: bool = True,
    wall_ms: int = T0,
) -> tuple[str, SignedEvent]:
    """A signed ``redeem`` event (a fresh redemption ID unless given) and that ID."""
    rid = rid or ids.new_id(ids.REDEMPTION)
    data = {"amount": amount, "id": rid, "online": online}
    return rid, kiosk.event(EventKind.REDEEM, card, wall_ms, data=data)


def void(kiosk: FakeKiosk, card: str, rid: str, *, wall_ms: int = T0) -> SignedEvent:
    return kiosk.event(EventKind.VOID, card, wall_ms, data={"id": rid})


@dataclass
class Holder:
    card_id: str
    volunteer_id: str


class ShopWorld:
    """A check-in site with a kiosk to earn at, one shop with a terminal, and ways to look at the ledger."""

    def __init__(self, api: Api, **limits: Any) -> None:
        self.api = api
        self.earn_site = api.create_site(tokens_per_hour=60)
        self.earner = api.enrol_kiosk(self.earn_site["site_id"])
        self.shop = create_shop(api, **limits)
        self.till = self.terminal()
        self._funded_from: dict[str, int] = {}  # card -> start of its earliest funding shift

    def terminal(self, shop: dict[str, Any] | None = None) -> FakeKiosk:
        return self.api.enrol_kiosk((shop or self.shop)["site_id"])

    def holder(self, tokens: int = 0, **card_fields: Any) -> Holder:
        card = self.api.create_card("Grace Hopper", **card_fields)
        holder = Holder(card["card_id"], card["volunteer_id"])
        if tokens:
            self.fund(holder, tokens)
        return holder

    def fund(self, holder: Holder, tokens: int) -> None:
        """Pay ``holder`` a shift of ``tokens`` minutes, ending at the server's now.

        A card funded again gets its next shift just before the last one: the
        server holds overlapping shifts of one card for review (``shift_overlap``).
        """
        end = min(self.api.clock.now, self._funded_from.get(holder.card_id, self.api.clock.now))
        self._funded_from[holder.card_id] = end - tokens * MINUTE
        batch = [
            self.earner.event(EventKind.CHECK_IN, holder.card_id, end - tokens * MINUTE),
            self.earner.event(EventKind.CHECK_OUT, holder.card_id, end),
        ]
        assert self.send(self.earner, batch) == [[], []]

    def send(self, kiosk: FakeKiosk, events: list[SignedEvent]) -> list[list[str]]:
        """Send a batch that must be admitted; the flags of each event."""
        response = self.api.send(kiosk.kiosk_id, events)
        assert response.status_code == 200, response.text
        return [result["flags"] for result in response.json()["results"]]

    def balance(self, holder: Holder) -> int:
        return self.api.balance(holder.card_id)

    def ledger(self, holder: Holder) -> list[LedgerEntry]:
        with self.api.context.storage.read() as tx:
            return [entry for entry, _, _ in tx.ledger_lines(holder.volunteer_id, 0, None)]

    def redemption(self, rid: str) -> Redemption | None:
        with self.api.context.storage.read() as tx:
            return tx.get_redemption(rid)

    def record(self, rid: str) -> Redemption:
        """The stored redemption ``rid``, which must exist."""
        found = self.redemption(rid)
        assert found is not None, f"no redemption {rid}"
        return found

    def overdrafts(self) -> list[str]:
        with self.api.context.storage.read() as tx:
            return [r.redemption_id for r in tx.unacknowledged_overdrafts()]

    def assert_books_agree(self) -> None:
        """The stored balances equal the sums of the ledger entries (``balances`` kept in step)."""
        with self.api.context.storage.read() as tx:
            assert tx.balances() == tx.summed_balances()
