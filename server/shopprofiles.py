"""Shops' public profiles: where tokens can be spent (the directory ``/laeden``, ``GET /v1/public/shops``).

A shop is a business, so what it tells the public about itself is public by
nature: its address, its Stadtbezirk (one of Hannover's 13, :data:`DISTRICTS`),
what it offers, its opening hours and website.  Nothing here is about a person.

Who may edit a shop's profile: a holder of ``manage_sites`` for the shop (the
console's places page) or of ``run_shop`` for it (the shop owner's own page).
Anyone else, a shop owner of another shop included, gets ``404 unknown_site``,
the answer for a shop that does not exist, so the page is no oracle for which
shop IDs exist.  A check-in site answers the same: it has no profile.

Every field is bounded and plain text: trimmed, no control or formatting
characters (no bidi tricks), no ``<`` or ``>`` (no markup, even though the
pages escape anyway), and the website an ``http(s)`` address with a host.  A
refusal is ``400 bad_field`` naming the field (``extra={"field": …}``), so the
page can say which one.  Each save is recorded on the activity page
(``shop.profile``).  A shop shows in the directory once its profile is saved,
and leaves it when the profile is removed (:func:`remove_profile`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from protocol import Reason
from server import accounts
from server.context import ServerContext
from server.errors import InputError, ServiceError
from server.models import SiteKind
from server.principals import Permission, Principal
from server.storage.shopprofiles import ShopProfileRow

# Hannover's 13 Stadtbezirke (official numbering 1–13), as (key, name); the key goes in URLs and JSON.
DISTRICTS: Final[tuple[tuple[str, str], ...]] = (
    ("mitte", "Mitte"),
    ("vahrenwald-list", "Vahrenwald-List"),
    ("bothfeld-vahrenheide", "Bothfeld-Vahrenheide"),
    ("buchholz-kleefeld", "Buchholz-Kleefeld"),
    ("misburg-anderten", "Misburg-Anderten"),
    ("kirchrode-bemerode-wuelferode", "Kirchrode-Bemerode-Wülferode"),
    ("suedstadt-bult", "Südstadt-Bult"),
    ("doehren-wuelfel", "Döhren-Wülfel"),
    ("ricklingen", "Ricklingen"),
    ("linden-limmer", "Linden-Limmer"),
    ("ahlem-badenstedt-davenstedt", "Ahlem-Badenstedt-Davenstedt"),
    ("herrenhausen-stoecken", "Herrenhausen-Stöcken"),
    ("nord", "Nord"),
)
DISTRICT_NAMES: Final[Mapping[str, str]] = dict(DISTRICTS)
# (field, longest, required): the bounds of each field, in characters after trimming.
FIELDS: Final[tuple[tuple[str, int, bool], ...]] = (
    ("street", 80, True),
    ("postcode", 5, True),
    ("city", 40, True),
    ("district", 40, True),
    ("offer", 280, True),
    ("hours", 120, False),
    ("website", 200, False),
)
FIELD_NAMES: Final = tuple(name for name, _, _ in FIELDS)
DEFAULT_CITY: Final = "Hannover"


@dataclass(frozen=True, slots=True)
class ShopProfile:
    """A shop's public profile: what the directory shows and ``/v1/public/shops`` answers."""

    shop_id: str
    name: str
    street: str
    postcode: str
    city: str
    district: str  # a key of DISTRICTS
    district_name: str
    offer: str
    hours: str
    website: str
    updated_ms: int

    @classmethod
    def of(cls, row: ShopProfileRow) -> ShopProfile:
        return cls(
            row.shop_id,
            row.name,
            row.street,
            row.postcode,
            row.city,
            row.district,
            DISTRICT_NAMES.get(row.district, row.district),
            row.offer,
            row.hours,
            row.website,
            row.updated_ms,
        )

    def to_json(self) -> dict[str, Any]:
        """The public JSON of the profile (``GET /v1/public/shops``)."""
        return asdict(self)


def _bad(field: str, message: str) -> InputError:
    return InputError(Reason.BAD_FIELD, f"{field}: {message}", extra={"field": field})


def _plain(field: str, value: object, longest: int, required: bool) -> str:
    """``value`` trimmed, if plain text of at most ``longest`` characters (and not empty if ``required``)."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _bad(field, "must be text")
    text = value.strip()
    if required and not text:
        raise _bad(field, "is required")
    if len(text) > longest:
        raise _bad(field, f"at most {longest} characters")
    if any(unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn") for char in text):
        raise _bad(field, "control or formatting characters are not allowed")
    if "<" in text or ">" in text:
        raise _bad(field, "plain text only, no markup")
    return text


def _website(text: str) -> str:
    if not text:
        return ""
    if any(char.isspace() for char in text) or not text.isascii():
        raise _bad("website", "an address without spaces, e.g. https://example.org")
    try:
        parts = urlsplit(text)
    except ValueError:
        raise _bad("website", "not a web address") from None
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or "." not in host or parts.username or parts.password:
        raise _bad("website", "an http or https address with a host, e.g. https://example.org")
    return text


def validate(fields: Mapping[str, Any]) -> dict[str, str]:
    """The profile fields of ``fields``, checked and trimmed; ``400 bad_field`` naming the first bad one.

    ``city`` defaults to Hannover; ``district`` is a key of :data:`DISTRICTS`.
    Unknown keys are ignored (a form carries its CSRF token too).
    """
    values = dict(fields)
    if not str(values.get("city") or "").strip():
        values["city"] = DEFAULT_CITY
    clean = {name: _plain(name, values.get(name), longest, required) for name, longest, required in FIELDS}
    if not (clean["postcode"].isascii() and clean["postcode"].isdigit() and len(clean["postcode"]) == 5):
        raise _bad("postcode", "five digits")
    if clean["district"] not in DISTRICT_NAMES:
        raise _bad("district", "one of Hannover's 13 Stadtbezirke")
    clean["website"] = _website(clean["website"])
    return clean


def _check_shop(ctx: ServerContext, principal: Principal, shop_id: str) -> str:
    """``shop_id`` if it is a shop ``principal`` may edit the profile of, else ``404 unknown_site``."""
    shop_id = shop_id[:40]
    allowed = principal.may(Permission.MANAGE_SITES, shop_id) or principal.may(Permission.RUN_SHOP, shop_id)
    if allowed:
        with ctx.storage.read() as tx:
            site = tx.get_site(shop_id)
        if site is not None and site.kind is SiteKind.SHOP:
            return shop_id
    raise ServiceError(Reason.UNKNOWN_SITE, "no such shop")


def profile_for_editing(
    ctx: ServerContext, principal: Principal, shop_id: str
) -> tuple[str, ShopProfile | None]:
    """The shop's name and profile (``None``: none yet) for the edit form; ``404`` as :func:`set_profile`."""
    shop_id = _check_shop(ctx, principal, shop_id)
    with ctx.storage.read() as tx:
        site = tx.get_site(shop_id)
        row = tx.shop_profile(shop_id)
    assert site is not None, "checked above"
    return site.name, None if row is None else ShopProfile.of(row)


def set_profile(
    ctx: ServerContext, principal: Principal, shop_id: str, fields: Mapping[str, Any]
) -> ShopProfile:
    """Save ``shop_id``'s profile from ``fields`` (:func:`validate`), activity-logged as ``shop.profile``.

    ``404 unknown_site`` unless ``principal`` holds ``manage_sites`` or
    ``run_shop`` for this shop (and it is a shop); checked before the fields,
    so a stranger learns nothing from the validation either.
    """
    shop_id = _check_shop(ctx, principal, shop_id)
    clean = validate(fields)
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        before = tx.shop_profile(shop_id)
        site = tx.get_site(shop_id)
        assert site is not None, "checked above"
        row = ShopProfileRow(shop_id=shop_id, name=site.name, updated_ms=now, **clean)
        tx.put_shop_profile(row, principal.person_id or principal.name)
        changed = [name for name in FIELD_NAMES if before is None or getattr(before, name) != clean[name]]
        accounts.record_activity_in(
            tx, now, principal, "shop.profile", shop_id, site_id=shop_id, data={"changed": changed}
        )
    return ShopProfile.of(row)


def remove_profile(ctx: ServerContext, principal: Principal, shop_id: str) -> bool:
    """Take ``shop_id`` off the directory (its profile is deleted); ``404`` as :func:`set_profile`.

    Whether there was a profile; removing none is no error (a second click).
    Activity-logged as ``shop.profile_remove`` when one was removed.
    """
    shop_id = _check_shop(ctx, principal, shop_id)
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        removed = tx.delete_shop_profile(shop_id)
        if removed:
            accounts.record_activity_in(tx, now, principal, "shop.profile_remove", shop_id, site_id=shop_id)
    return removed


def public_shops(ctx: ServerContext) -> list[ShopProfile]:
    """Every shop with a profile, by district (in :data:`DISTRICTS` order) and name."""
    order = {key: number for number, (key, _) in enumerate(DISTRICTS)}
    with ctx.storage.read() as tx:
        rows = tx.shop_profiles()
    profiles = [ShopProfile.of(row) for row in rows]
    return sorted(profiles, key=lambda p: (order.get(p.district, len(order)), p.name.casefold(), p.shop_id))


def public_shops_json(ctx: ServerContext) -> dict[str, Any]:
    """``GET /v1/public/shops``: the shops, and the 13 districts with how many shops each has."""
    shops = public_shops(ctx)
    counts = {key: 0 for key, _ in DISTRICTS}
    for shop in shops:
        counts[shop.district] = counts.get(shop.district, 0) + 1
    return {
        "shops": [shop.to_json() for shop in shops],
        "districts": [{"key": key, "name": name, "shops": counts[key]} for key, name in DISTRICTS],
    }
