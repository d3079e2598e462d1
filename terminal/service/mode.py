"""What a kiosk is for: check-in or shop, from the trust list its enrolment stored."""

from __future__ import annotations

from enum import StrEnum

from protocol import Reason
from protocol.trust import TrustList
from terminal.config import KioskConfig
from terminal.errors import OutboxError
from terminal.outbox import Outbox
from terminal.trust import TrustView


class Mode(StrEnum):
    """What a kiosk is for, from its trust list (``docs/economy.md``, "Sites and shops")."""

    CHECK_IN = "check_in"
    SHOP = "shop"


def mode_of(trust: TrustList | None) -> Mode:
    """The mode a trust list gives; no list yet (every card is denied anyway) counts as check-in."""
    return Mode.SHOP if trust is not None and trust.is_shop else Mode.CHECK_IN


def kiosk_mode(config: KioskConfig) -> Mode:
    """The mode of the kiosk ``config`` describes, from the trust list in its outbox (which enrolment stores).

    Reads the outbox only; without one (not enrolled here yet) the kiosk counts as a check-in kiosk.
    """
    try:
        outbox = Outbox(config.outbox_path, create=False)
    except OutboxError as exc:
        if exc.reason in (Reason.STORAGE_FULL, Reason.STORAGE_UNAVAILABLE):
            raise  # a disk that cannot be read or written is not "not enrolled here": say so
        return Mode.CHECK_IN
    with outbox:
        return mode_of(
            TrustView(outbox, server_key=config.server_public_key, kiosk_id=config.kiosk_id).current()
        )
