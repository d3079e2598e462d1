"""Places for the console: organisations (Träger), check-in sites and shops (``manage_sites``).

The console's places page calls these; they reuse the admin API's services
(:func:`server.admin.create_site`, :func:`server.shops.create_shop`: the same
validation and log entries) and add who may do what:

* Creating an organisation, a site or a shop needs ``manage_sites`` over the
  whole economy: a new place is outside every site-scoped grant, so a scoped
  holder could not even see what they made.
* Attaching a site to an organisation (or detaching it) needs ``manage_sites``
  for that site: a site-scoped holder moves only their own sites, and only out
  of an organisation or into one that holds one of their sites already (else
  the site would show to another organisation's teams).  An unknown site and
  one outside their scope both answer ``404 unknown_site``; an organisation
  they cannot choose ``404 unknown_organisation``.
* The list shows only the sites the principal holds ``manage_sites`` for, and
  only the organisations those sites belong to (all for an economy-wide holder).

Every change is recorded on the activity page (``place.*`` actions).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from protocol import Reason
from protocol.economy.models import SiteKind
from server import accounts, admin, shops
from server.context import ServerContext
from server.errors import InputError, ServiceError
from server.http.access import Permission, Principal

KINDS = ("checkin", "shop")


@dataclass(frozen=True, slots=True)
class Place:
    """A row of the places table: a site or shop, its organisation and its rate."""

    site_id: str
    name: str
    kind: str  # "checkin" or "shop"
    tokens_per_hour: int
    org_id: str
    organisation: str  # its name, "" for none


def _economy_wide(principal: Principal) -> None:
    if not principal.may(Permission.MANAGE_SITES, None):
        raise ServiceError(
            Reason.FORBIDDEN, "creating places needs manage_sites over the whole economy", status=403
        )


def list_places(ctx: ServerContext, principal: Principal) -> tuple[list[Place], list[tuple[str, str]]]:
    """The sites and shops ``principal`` manages, and the organisations they may choose from."""
    mine = principal.sites_for(Permission.MANAGE_SITES)
    with ctx.storage.read() as tx:
        organisations = tx.organisations()
        of_site = tx.site_organisations()
        sites = tx.list_sites()
    names = dict(organisations)
    places = [
        Place(
            site.site_id,
            site.name,
            site.kind.value,
            site.tokens_per_hour,
            of_site.get(site.site_id, ""),
            names.get(of_site.get(site.site_id, ""), ""),
        )
        for site in sites
        if mine is None or site.site_id in mine
    ]
    if mine is not None:
        organisations = [(o, n) for o, n in organisations if any(p.org_id == o for p in places)]
    return places, organisations


def add_organisation(ctx: ServerContext, principal: Principal, name: str) -> str:
    """A new organisation (economy-wide ``manage_sites``); its ``o_…`` ID, activity-logged."""
    _economy_wide(principal)
    org_id = accounts.add_organisation(ctx, name)
    accounts.record_activity(ctx, principal, "place.organisation_add", org_id, data={"name": name.strip()})
    return org_id


def create_place(
    ctx: ServerContext, principal: Principal, kind: str, fields: Mapping[str, Any], org_id: str = ""
) -> str:
    """A new check-in site or shop from ``fields`` (the admin API's fields), optionally in ``org_id``.

    Validation and the log entries are :func:`server.admin.create_site`'s and
    :func:`server.shops.create_shop`'s.  An unknown organisation is refused
    before anything is created.
    """
    _economy_wide(principal)
    if kind not in KINDS:
        raise InputError(Reason.BAD_FIELD, "kind is checkin or shop")
    if org_id:
        with ctx.storage.read() as tx:
            if not tx.organisation_exists(org_id):
                raise ServiceError(Reason.UNKNOWN_ORGANISATION, "no such organisation")
    made = admin.create_site(ctx, fields) if kind == "checkin" else shops.create_shop(ctx, fields)
    site_id = str(made["site_id"])
    if org_id:
        accounts.set_site_organisation(ctx, site_id, org_id)
    accounts.record_activity(
        ctx, principal, f"place.{'site' if kind == 'checkin' else 'shop'}_add", site_id,
        site_id=site_id, data={"name": made["name"], "organisation": org_id},
    )  # fmt: skip
    return site_id


def attach(ctx: ServerContext, principal: Principal, site_id: str, org_id: str) -> None:
    """Put ``site_id`` into ``org_id`` (``""``: out of any); ``manage_sites`` for that site."""
    site_id = site_id[:40]
    if not principal.may(Permission.MANAGE_SITES, site_id):
        raise ServiceError(Reason.UNKNOWN_SITE, "no such site")
    # A scoped holder moves a site only into an organisation one of their sites is in already:
    # moving it elsewhere would show it to another organisation's teams.
    scoped = not principal.may(Permission.MANAGE_SITES, None)
    if org_id and scoped and org_id not in {o for o, _ in list_places(ctx, principal)[1]}:
        raise ServiceError(Reason.UNKNOWN_ORGANISATION, "no such organisation")
    accounts.set_site_organisation(ctx, site_id, org_id or None)
    accounts.record_activity(
        ctx, principal, "place.attach", site_id, site_id=site_id, data={"organisation": org_id}
    )


def kind_label(kind: str) -> str:
    """``checkin`` → ``Site``, ``shop`` → ``Shop`` (English message IDs for the page)."""
    return "Shop" if kind == SiteKind.SHOP.value else "Site"
