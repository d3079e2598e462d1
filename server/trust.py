"""The signed trust list the server hands each kiosk: issuer keys, blocked cards, policy, coordinators.

The server signs v4: blocked and coordinator cards appear only as salted hashes, with a
fresh ``card_salt`` in every list, so the list names no card ID.

Kiosks check card credentials offline, so they need the trusted issuer keys,
the blocked cards, their site's policy, the coordinator cards and (v3) a
shop's limits or a site's earning rules; docs/protocol.md, "Trust list", says
what each field holds.  Lists are built afresh for every request, so nothing
needs bumping when a block or a rule changes.  ``issued_ms`` never goes
backwards, so a server clock that steps back cannot make kiosks refuse fresh
lists: the last one handed out is kept (:data:`TRUST_ISSUED_SETTING`) and
each list is dated ``max(now, last + 1)``.
"""

from __future__ import annotations

from typing import Any, Final

from protocol import PublicKey, Reason, TrustList, sign_trust_list
from protocol.earning import EarningRules
from server.context import ServerContext
from server.errors import ServiceError
from server.models import IssuerKeyStatus, Kiosk, KioskStatus, Site, SiteKind
from server.storage import Tx

TRUST_ISSUED_SETTING: Final = "trust_issued_ms"
_TRUSTED: Final = frozenset({IssuerKeyStatus.ACTIVE, IssuerKeyStatus.RETIRED})


def next_issued_ms(tx: Tx, now_ms: int) -> int:
    """The ``issued_ms`` for the next list: ``max(now_ms, last handed out + 1)``, recorded in ``tx``."""
    last = tx.get_setting(TRUST_ISSUED_SETTING)
    issued = now_ms if last is None else max(now_ms, int(last) + 1)
    tx.set_setting(TRUST_ISSUED_SETTING, str(issued))
    return issued


def build_trust_list(tx: Tx, kiosk: Kiosk, site: Site, now_ms: int) -> TrustList:
    """The (unsigned) list for ``kiosk`` at ``site`` as of this write transaction."""
    issuers = tuple(
        (key.key_id, PublicKey(key.public_key)) for key in tx.list_issuer_keys() if key.status in _TRUSTED
    )
    # v4: cards by salted hash, a fresh salt per list, so the list names no card (docs/protocol.md).
    return TrustList.hiding(
        kiosk=kiosk.kiosk_id,
        site=site.site_id,
        issued_ms=next_issued_ms(tx, now_ms),
        issuers=issuers,
        blocked_cards=frozenset(tx.blocked_card_ids()),
        allow_uncredentialed=site.allow_uncredentialed,
        coordinator_cards=frozenset(tx.coordinator_card_ids()),
        shop=site.shop,
        earning=EarningRules.of_site(site) if site.kind is SiteKind.CHECKIN else None,
    )


def kiosk_trust_list(ctx: ServerContext, kiosk_id: str) -> dict[str, Any]:
    """The signed wire form ``{"body","sig"}`` for ``kiosk_id``.

    ``404 unknown_kiosk`` or ``403 kiosk_revoked``.  A suspended kiosk still gets
    its list: it goes on deciding offline, and should do so with current blocks.
    """
    with ctx.storage.write() as tx:
        kiosk = tx.get_kiosk(kiosk_id)
        if kiosk is None:
            raise ServiceError(Reason.UNKNOWN_KIOSK, "no such kiosk")
        if kiosk.status is KioskStatus.REVOKED:
            raise ServiceError(Reason.KIOSK_REVOKED, "this kiosk has been revoked")
        site = tx.get_site(kiosk.site_id)
        assert site is not None, "foreign key guarantees the site"
        trust = build_trust_list(tx, kiosk, site, ctx.now_ms())
    # Signed after the commit: canonical bytes of a long blocked list need not hold the lock.
    return sign_trust_list(trust, ctx.server_key)
