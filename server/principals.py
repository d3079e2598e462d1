"""Who a request proves to be, as the services see it: permissions, each held over some sites.

A :class:`Principal` is a bearer token's (the shared admin token, a named token)
or a person's, logged in to the console (:mod:`server.accounts`).  A person's
rights come from their teams: each team gives one :class:`Grant` (its
permissions over its scope's sites, or the whole economy), and a principal may
do what any one of its grants allows.  Services (accounts' escalation checks)
and the HTTP layer (:mod:`server.http.access`, which re-exports these names)
share this module, so neither imports the other.

Example::

    coordinator = Principal.of_grants(
        "Ada", (Grant(frozenset({Permission.REVIEW}), frozenset({"s_a"})),), person_id="p_1"
    )
    coordinator.may(Permission.REVIEW, "s_a")   # True
    coordinator.sites_for(Permission.REVIEW)    # frozenset({"s_a"})
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final


class Permission(StrEnum):
    """What an admin principal may do; each admin route requires the narrowest one that fits."""

    MANAGE_SITES = "manage_sites"  # create sites and shops, set a site's card policy, a shop's presets
    MANAGE_FLEET = "manage_fleet"  # enrolment codes; list, clear and revoke kiosks
    MANAGE_CARDS = "manage_cards"  # register, list and block cards
    MANAGE_ISSUERS = "manage_issuers"  # register, retire and revoke issuer keys (who can mint cards)
    MANAGE_COORDINATORS = "manage_coordinators"  # coordinator keys and coordinator cards
    REVIEW = "review"  # read what waits for a decision
    DECIDE = "decide"  # hand in coordinators' signed decisions
    REPORTS = "reports"  # names, Ehrenamtskarte numbers, volunteers' statements and exports
    ERASE = "erase"  # erase a volunteer's personal data for good (Art. 17, server.erasure)
    SETTLE_SHOPS = "settle_shops"  # a shop's statement
    AUDIT = "audit"  # run the server's own check of the whole ledger
    AUDIT_LOG = "audit_log"  # the auditor's: openings, balances, the archived log's entries
    READ_PERSONAL = "read_personal"  # a volunteer's balance, shifts and statement (their home site)
    MANAGE_TEAMS = "manage_teams"  # teams, invitations, persons' device keys: the most powerful
    READ_ACTIVITY = "read_activity"  # the console's activity log
    RUN_SHOP = "run_shop"  # a shop's own page: void its redemptions, manage its till staff (issue 19)
    READ_METRICS = "read_metrics"  # scrape /metrics (Prometheus): per-kiosk health, no person's data


# What a shop owner does; nobody who records hours (decide) may hold one of these (server.accounts.teams).
SHOP_DUTIES: Final = frozenset({Permission.SETTLE_SHOPS, Permission.RUN_SHOP})


def known_permissions(values: Iterable[str]) -> frozenset[Permission]:
    """The permissions this server knows among ``values``; one stored by a newer version is ignored."""
    known = {permission.value for permission in Permission}
    return frozenset(Permission(value) for value in values if value in known)


@dataclass(frozen=True, slots=True)
class Grant:
    """``permissions`` held over ``sites`` (``None``: the whole economy)."""

    permissions: frozenset[Permission]
    sites: frozenset[str] | None = None

    def may(self, permission: Permission, site_id: str | None) -> bool:
        """Whether this grant allows ``permission`` at ``site_id`` (``None``: economy-wide)."""
        if permission not in self.permissions:
            return False
        if self.sites is None:
            return True
        return site_id is not None and site_id in self.sites


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request proves to be: what it may do, where.

    ``Principal(name, permissions, sites)`` is one grant (a bearer token's);
    :meth:`of_grants` builds a person's from their teams.  Either way
    ``permissions`` is the union of what any grant holds somewhere and ``sites``
    the union of the grants' sites (``None`` if one is economy-wide): a summary
    for messages and the route table; :meth:`may` and :meth:`sites_for` decide.
    """

    name: str
    permissions: frozenset[Permission] = frozenset()
    sites: frozenset[str] | None = None  # None: the whole economy
    person_id: str | None = None
    grants: tuple[Grant, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.grants and self.permissions:
            object.__setattr__(self, "grants", (Grant(frozenset(self.permissions), self.sites),))

    @classmethod
    def of_grants(cls, name: str, grants: Iterable[Grant], *, person_id: str | None = None) -> Principal:
        """A principal holding each of ``grants`` (a person's teams)."""
        held = tuple(grant for grant in grants if grant.permissions)
        permissions = frozenset().union(*(grant.permissions for grant in held))
        sites: frozenset[str] | None = frozenset()
        for grant in held:
            sites = None if sites is None or grant.sites is None else sites | grant.sites
        return cls(name, permissions, sites, person_id, held)

    def may(self, permission: Permission, site_id: str | None) -> bool:
        """Whether ``permission`` holds for ``site_id``; ``None`` asks for the whole economy."""
        return any(grant.may(permission, site_id) for grant in self.grants)

    def sites_for(self, permission: Permission) -> frozenset[str] | None:
        """Where ``permission`` holds: ``None`` for everywhere, else the sites (empty: nowhere).

        List pages filter with it: a coordinator of site A lists site A's rows only.
        """
        sites: frozenset[str] = frozenset()
        for grant in self.grants:
            if permission in grant.permissions:
                if grant.sites is None:
                    return None
                sites |= grant.sites
        return sites


ADMIN_TOKEN: Final = Principal("admin token", frozenset(Permission))
