"""Voids a shop's owner asks for on the shop page, carried out by the shop's till (issue 19).

A void moves tokens, so it is a signed event in a kiosk's chain like any other
(``docs/economy.md``, "Voids"); the server signs none.  The owner (``run_shop``
for the shop) asks for one here; the request goes to the shop's tills in the
server-signed answer to their heartbeat (:func:`till_requests`); a till checks
it against its own records and signs a ``void`` event, and when that event
arrives the request is done (:func:`complete_in`).  The server's ``void`` rules
judge that event as any other: the till cannot void what the rules refuse.

A request is refused unless the void could still succeed: the redemption is
this shop's and debited (``404 unknown_redemption`` else, as for a stranger's),
not voided (``409 already_voided``) and inside the shop's void window
(``409 void_too_late``).  A request whose window closes before a till carried
it out is no longer pending: nothing can void it any more.
"""

from __future__ import annotations

from protocol import Reason
from protocol.economy.models import Redemption, RedemptionStatus
from protocol.tillstate import VoidOrder
from server.accounts.activity import record_activity_in
from server.context import ServerContext
from server.errors import ServiceError
from server.principals import Principal
from server.storage import ReadTx, Tx
from server.storage.tillstaff import VoidRequestRow
from server.tillstaff import require_shop

_VOIDABLE_OR_VOIDED = (RedemptionStatus.DEBITED, RedemptionStatus.VOIDED)


def _window_ms(tx: ReadTx, shop_id: str) -> int:
    site = tx.get_site(shop_id)
    return 0 if site is None or site.shop is None else site.shop.void_window_s * 1000


def _voidable(tx: ReadTx, shop_id: str, redemption_id: str, now_ms: int) -> Redemption:
    """The shop's debited redemption ``redemption_id`` if a till could still void it now."""
    held = tx.get_redemption(redemption_id) if isinstance(redemption_id, str) else None
    if held is None or held.site_id != shop_id or held.status not in _VOIDABLE_OR_VOIDED:
        raise ServiceError(Reason.UNKNOWN_REDEMPTION, "no such redemption at this shop")
    if held.status is RedemptionStatus.VOIDED:
        raise ServiceError(Reason.ALREADY_VOIDED, "this redemption is voided already", status=409)
    if now_ms - held.wall_ms > _window_ms(tx, shop_id):
        raise ServiceError(Reason.VOID_TOO_LATE, "the shop's void window for it has closed", status=409)
    return held


def request_void(
    ctx: ServerContext, principal: Principal, shop_id: str, redemption_id: str
) -> VoidRequestRow:
    """Ask the shop's till to void ``redemption_id``; the pending request (the same one if asked twice)."""
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        require_shop(tx, principal, shop_id)
        _voidable(tx, shop_id, redemption_id, now)
        known = tx.get_void_request(redemption_id)
        if known is not None and known.status == "pending":
            return known
        tx.put_void_request(shop_id, redemption_id, now, principal.name)
        record_activity_in(tx, now, principal, "till.void_request", redemption_id, site_id=shop_id)
        found = tx.get_void_request(redemption_id)
    assert found is not None
    return found


def cancel_void(ctx: ServerContext, principal: Principal, shop_id: str, redemption_id: str) -> None:
    """Take a pending request back (``404 not_pending`` if none); a till that signed it already wins."""
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        require_shop(tx, principal, shop_id)
        known = tx.get_void_request(redemption_id) if isinstance(redemption_id, str) else None
        if (
            known is None
            or known.site_id != shop_id
            or not tx.mark_void_request(redemption_id, "cancelled", now)
        ):
            raise ServiceError(Reason.NOT_PENDING, "no void request waits for this redemption")
        record_activity_in(tx, now, principal, "till.void_cancel", redemption_id, site_id=shop_id)


def _pending(tx: ReadTx, shop_id: str, now_ms: int) -> list[tuple[VoidRequestRow, Redemption]]:
    """The shop's pending requests whose redemption a till could still void now."""
    window = _window_ms(tx, shop_id)
    found = []
    for request in tx.void_requests(shop_id):
        held = tx.get_redemption(request.redemption_id)
        if held is not None and held.status is RedemptionStatus.DEBITED and now_ms - held.wall_ms <= window:
            found.append((request, held))
    return found


def pending_voids(ctx: ServerContext, shop_id: str) -> dict[str, int]:
    """``redemption_id -> requested_ms`` of the shop's requests a till may still carry out."""
    now = ctx.now_ms()
    with ctx.storage.read() as tx:
        return {request.redemption_id: request.requested_ms for request, _ in _pending(tx, shop_id, now)}


def till_requests(tx: ReadTx, shop_id: str, now_ms: int) -> list[VoidOrder]:
    """What a shop's till gets to sign ``void`` events: each redemption's ID, card, amount and time."""
    return [
        VoidOrder(held.redemption_id, held.card_id, held.amount, held.wall_ms)
        for _, held in _pending(tx, shop_id, now_ms)
    ]


def complete_in(tx: Tx, redemption_id: str, now_ms: int) -> None:
    """A ``void`` event for ``redemption_id`` was applied and voided it: its request (if any) is done."""
    tx.mark_void_request(redemption_id, "done", now_ms)
