"""The console's navigation: one entry per area, shown to those who hold its permission somewhere.

Each area appends its :class:`NavItem` to :data:`NAV`; the layout shows an
entry only to a principal that may use the page at all (holding the
permission for at least one site), so nobody sees links that would answer 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from server.http.access import Permission


@dataclass(frozen=True, slots=True)
class NavItem:
    """A link in the console's main navigation; ``label`` is an English message ID."""

    path: str
    label: str
    permission: Permission | None  # None: every logged-in person
    economy_wide: bool = False  # shown only to those holding the permission for the whole economy
    also: Permission | None = None  # shown to those holding this one instead, too (a shop's two duties)

    def permissions(self) -> tuple[Permission, ...]:
        """The permissions any one of which opens the page."""
        return tuple(p for p in (self.permission, self.also) if p is not None)


def N_(message: str) -> str:
    """Marks ``message`` for the catalogue; it is translated where it is shown."""
    return message


# The public pages' navigation (issue 19), shown to everyone outside the console.
PUBLIC_NAV: Final[tuple[NavItem, ...]] = (
    NavItem("/", N_("The economy"), None),
    NavItem("/laeden", N_("Where to spend"), None),
    NavItem("/so-gehts", N_("How it works"), None),
    NavItem("/pruefen", N_("Check the ledger"), None),
    NavItem("/ich", N_("My hours"), None),
)

NAV: Final[tuple[NavItem, ...]] = (
    NavItem("/console", N_("Overview"), Permission.REVIEW),
    NavItem("/console/kiosks", N_("Kiosks"), Permission.MANAGE_FLEET),
    # Before the settlements: a shop owner (the Laden role, server.web.Web.home) lands on their shop.
    NavItem("/console/laden", N_("My shop"), Permission.SETTLE_SHOPS, also=Permission.RUN_SHOP),
    NavItem("/console/reports", N_("Reports"), Permission.REPORTS),
    NavItem("/console/settlements", N_("Settlements"), Permission.SETTLE_SHOPS),
    NavItem("/console/teams", N_("Teams"), Permission.MANAGE_TEAMS),
    NavItem("/console/activity", N_("Activity"), Permission.READ_ACTIVITY),
    NavItem("/console/review", N_("Review"), Permission.REVIEW),
    NavItem("/console/denied", N_("Denied attempts"), Permission.REVIEW),
    NavItem("/console/hours/new", N_("Hours by hand"), Permission.DECIDE),
    NavItem("/console/rules", N_("Rules"), Permission.DECIDE),
    NavItem("/console/volunteers", N_("Volunteers"), Permission.MANAGE_CARDS),
    NavItem("/console/confirmations", N_("Hours confirmations"), Permission.REVIEW),
    NavItem("/console/eligibility", N_("Ehrenamtskarte"), Permission.REPORTS),
    NavItem("/console/places", N_("Places"), Permission.MANAGE_SITES),
    NavItem("/console/settings", N_("Settings"), Permission.MANAGE_TEAMS, economy_wide=True),
)
