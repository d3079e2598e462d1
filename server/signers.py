"""The kiosk behind a signed request: enrolled, not revoked, and (for the ledger) not suspended.

Batches, heartbeats and evidence reports are each signed by a kiosk's enrolled
key, and each service first looks that kiosk up (before checking the
signature, and again inside its write transaction, since the kiosk may have been
revoked meanwhile).  They refuse the same way, from here.
"""

from __future__ import annotations

from protocol import Reason
from server.errors import ServiceError
from server.models import Kiosk, KioskStatus


def signing_kiosk(kiosk: Kiosk | None, kiosk_id: str, *, suspended_ok: bool) -> Kiosk:
    """``kiosk`` if it may sign: else ``unknown_kiosk``, ``kiosk_revoked`` or ``kiosk_suspended``.

    ``suspended_ok`` admits a suspended kiosk: it still reports its health and
    its evidence, but its events wait until a coordinator clears it.
    """
    if kiosk is None:
        raise ServiceError(Reason.UNKNOWN_KIOSK, f"kiosk {kiosk_id} is not enrolled")
    if kiosk.status is KioskStatus.REVOKED:
        raise ServiceError(Reason.KIOSK_REVOKED, "this kiosk has been revoked")
    if kiosk.status is KioskStatus.SUSPENDED and not suspended_ok:
        raise ServiceError(Reason.KIOSK_SUSPENDED, "this kiosk is suspended until a coordinator clears it")
    return kiosk
