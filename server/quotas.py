"""How much each caller may keep on the server: a count per kiosk, per site or per economy.

Every write route is bounded per request by its body size (``read_body``); what
it stores is bounded here by count, so no caller (a kiosk's stolen key, an
enrolment code, a leaked admin token) can fill the disk with requests that are
each small.  Over a quota, the write is refused with ``429 quota_exceeded`` and
nothing is stored; the limits sit far above what an honest programme needs.

The route table (docs/architecture.md) names each writing route's quota.
"""

from __future__ import annotations

from typing import Final

from protocol import Reason
from server.errors import ServiceError

EVIDENCE_PER_KIOSK: Final = 16  # one report per log inconsistency, and a kiosk halts after each
UNUSED_CODES_PER_SITE: Final = 100  # enrolment codes not used, expired ones included until forgotten
EXPIRED_CODES_KEPT_MS: Final = 86_400_000  # an unused code is forgotten a day after it expired
KIOSKS_PER_SITE: Final = 500  # enrolled kiosks, revoked ones included (their keys stay on record)
SITES: Final = 1_000  # sites and shops together (a shop is a site)
CARDS: Final = 200_000  # registered cards, across the economy
ISSUER_KEYS: Final = 100
COORDINATORS: Final = 1_000
TEAMS: Final = 1_000  # console teams (issue 18)
OPEN_INVITATIONS: Final = 1_000  # invitations neither used, revoked nor expired
ORGANISATIONS: Final = 1_000  # organisations (Träger) a site can belong to
TILL_STAFF_PER_SHOP: Final = 100  # a shop's till staff, removed ones included (issue 19)


def check(held: int, limit: int, what: str) -> None:
    """Refuse one more of ``what`` (``429 quota_exceeded``) when ``held`` already reaches ``limit``."""
    if held >= limit:
        raise ServiceError(
            Reason.QUOTA_EXCEEDED,
            f"the server already holds {held} {what}, its limit",
            extra={"limit": limit},
        )
