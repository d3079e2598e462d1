"""The signed trust list the server hands each kiosk: issuer keys, blocked cards, policy, coordinators.

Kiosks check card credentials offline (:mod:`protocol.credentials`), so they
need to know which issuer keys to trust, which cards are blocked and whether
their site accepts uncredentialed cards.  The list is public data (issuer
*public* keys, random card IDs, one flag) and is signed with the server key
the kiosk pinned at enrolment (:func:`protocol.sign_trust_list`).  It holds:

* ``issuers``: every ``active`` and ``retired`` key (a retired key still vouches
  for the cards it signed; a revoked one vouches for nothing);
* ``blocked``: every blocked card, ``c_`` and ``u_`` alike, server-wide;
* ``allow_uncredentialed``: the kiosk's site's policy;
* ``coordinators``: every coordinator card, server-wide (cards have no site),
  never a blocked or uncredentialed one (:func:`server.cards.set_coordinator`);
* ``shop``: for a kiosk at a shop, the shop's limits and till presets (it runs
  in shop mode); nothing for a check-in kiosk;
* ``earning``: for a check-in kiosk, its site's earning rules as they are now
  (rate, maximum shift, daily cap, bonuses), so its check-out estimate pays
  what the server pays; nothing for a shop terminal.

Lists are built afresh for every request, so nothing needs bumping when a card
is blocked, a coordinator role changes or a ``site_rules`` decision changes the
rules (the decision updates the site row this reads): a kiosk refetches its list after a
successful sync once its copy is older than a minute, and sees the change then.

``issued_ms`` never goes backwards.  A kiosk refuses a list older than the one
it holds, so a list dated by a server clock that stepped back would be refused
and the kiosk would keep deciding with stale blocks.  The server therefore
keeps the last ``issued_ms`` it handed out (setting :data:`TRUST_ISSUED_SETTING`,
one counter for all kiosks) and dates each list ``max(now, last + 1)``: strictly
increasing, and equal to the wall clock whenever that moves forward.  The cost
is one small write per list.
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
    return TrustList(
        kiosk=kiosk.kiosk_id,
        site=site.site_id,
        issued_ms=next_issued_ms(tx, now_ms),
        issuers=issuers,
        blocked=frozenset(tx.blocked_card_ids()),
        allow_uncredentialed=site.allow_uncredentialed,
        coordinators=frozenset(tx.coordinator_card_ids()),
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
