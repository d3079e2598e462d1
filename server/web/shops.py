"""``/laeden``, where tokens can be spent, and the forms that keep a shop's public profile.

Thin over :mod:`server.shopprofiles`, which holds the rules.  The public page
lists the shops by Stadtbezirk and filters them with a plain GET form (no
script needed); beside the list is the map of the app's :class:`MapLayer`
(chosen once at start-up, :func:`map_layer_of`), with a legend as its text
alternative.  The profile form is one template at two addresses:

* ``/console/laden/{shop_id}/profil`` for the shop's owner (``run_shop`` for
  that shop; another shop's owner gets the 404 of an unknown shop);
* ``/console/places/{site_id}/profil`` for those who keep the places
  (``manage_sites`` for that shop), linked from the places page.

A refused field comes back on the form with the values as typed and a message
at the field; anything else is the service's error page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Final, cast

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from protocol import Reason
from server import shopprofiles
from server.errors import ServiceError
from server.http.access import Permission, Principal, public, quota, site_of_path
from server.http.common import call
from server.shopmap import DistrictPin, MapLayer, SchematicDistrictMap
from server.shopprofiles import DISTRICTS, ShopProfile
from server.web import web
from server.web.access import console_page, shop_of_path
from server.web.forms import csrf_protected, read_form
from server.web.nav import N_

pages = APIRouter(tags=["pages"], include_in_schema=False)
router = APIRouter(tags=["console"], include_in_schema=False)

Owner = Annotated[Principal, Depends(console_page(Permission.RUN_SHOP, scope=shop_of_path))]
Keeper = Annotated[Principal, Depends(console_page(Permission.MANAGE_SITES, scope=site_of_path))]
MAX_QUERY: Final = 80
MAP_TITLE: Final = N_("Shops per district (schematic map of Hannover)")
MAP_DESCRIPTION: Final = N_("Shops per district: %(counts)s.")
FIELD_MESSAGES: Final[Mapping[str, str]] = {
    "street": N_("Please give the street and house number (at most 80 characters, no < or >)."),
    "postcode": N_("The postcode has five digits."),
    "city": N_("Please give the city (at most 40 characters)."),
    "district": N_("Please choose one of the 13 districts."),
    "offer": N_("Please say in a sentence what the shop offers (at most 280 characters, no < or >)."),
    "hours": N_("Opening hours: at most 120 characters, no < or >."),
    "website": N_("The website is an address like https://example.org (http or https)."),
}


def map_layer_of(request: Request) -> MapLayer:
    """The app's map layer (:func:`server.app.create_app` sets it); the schematic one if none was set."""
    layer = getattr(request.app.state, "map_layer", None)
    return cast(MapLayer, layer) if layer is not None else SchematicDistrictMap()


def _matches(shop: ShopProfile, words: Sequence[str], district: str) -> bool:
    if district and shop.district != district:
        return False
    text = " ".join((shop.name, shop.offer, shop.street, shop.postcode, shop.city, shop.district_name))
    return all(word in text.casefold() for word in words)


def _link(query: str, district: str) -> str:
    from urllib.parse import urlencode

    params = {k: v for k, v in (("q", query), ("bezirk", district)) if v}
    return "/laeden" + (f"?{urlencode(params)}" if params else "") + "#liste"


@pages.get("/laeden", dependencies=[Depends(public)])
async def directory(request: Request) -> Response:
    query = request.query_params.get("q", "").strip()[:MAX_QUERY]
    district = request.query_params.get("bezirk", "")
    if district not in shopprofiles.DISTRICT_NAMES:
        district = ""
    shops = await call(request, shopprofiles.public_shops)
    words = query.casefold().split()
    found = [shop for shop in shops if _matches(shop, words, district)]
    groups = [
        (key, name, [shop for shop in found if shop.district == key])
        for key, name in DISTRICTS
        if any(shop.district == key for shop in found)
    ]
    counts = {key: sum(1 for shop in shops if shop.district == key) for key, _ in DISTRICTS}
    pins = [
        DistrictPin(key, name, number, counts[key], _link(query, key), selected=key == district)
        for number, (key, name) in enumerate(DISTRICTS, start=1)
    ]
    gettext = web(request).gettext
    described = ", ".join(f"{pin.name}: {pin.shops}" for pin in pins if pin.shops)
    svg = map_layer_of(request).render(
        pins,
        title=gettext(request, MAP_TITLE),
        description=gettext(request, MAP_DESCRIPTION, counts=described or "–"),
    )
    return web(request).page(
        request,
        "public/laeden.html",
        groups=groups,
        found=len(found),
        total=len(shops),
        query=query,
        district=district,
        districts=DISTRICTS,
        pins=pins,
        map_svg=svg,
    )


# -- the profile form -------------------------------------------------------------------------------


def _form(
    request: Request,
    action: str,
    back: str,
    name: str,
    values: Mapping[str, str],
    *,
    listed: bool = False,
    error: str = "",
    status: int = 200,
) -> Response:
    return web(request).page(
        request,
        "console/shops/profile.html",
        status=status,
        action=action,
        back=back,
        shop_name=name,
        values=values,
        listed=listed,
        error=error,
        error_message=FIELD_MESSAGES.get(error, ""),
        districts=[("", "–"), *DISTRICTS],
    )


async def _remove(request: Request, principal: Principal, shop_id: str, back: str) -> Response:
    await call(request, shopprofiles.remove_profile, principal, shop_id)
    return web(request).redirect(request, back, flash=N_("Profile removed: the shop is no longer listed."))


def _values(profile: ShopProfile | None) -> dict[str, str]:
    if profile is None:
        return {name: "" for name in shopprofiles.FIELD_NAMES} | {"city": shopprofiles.DEFAULT_CITY}
    return {name: str(getattr(profile, name)) for name in shopprofiles.FIELD_NAMES}


async def _show(request: Request, principal: Principal, shop_id: str, action: str, back: str) -> Response:
    name, profile = await call(request, shopprofiles.profile_for_editing, principal, shop_id)
    return _form(request, action, back, name, _values(profile), listed=profile is not None)


async def _save(request: Request, principal: Principal, shop_id: str, action: str, back: str) -> Response:
    form = await read_form(request)
    fields: dict[str, Any] = {name: form.get(name, "") for name in shopprofiles.FIELD_NAMES}
    try:
        await call(request, shopprofiles.set_profile, principal, shop_id, fields)
    except ServiceError as error:
        field = str(error.extra.get("field", ""))
        if error.reason is not Reason.BAD_FIELD or field not in FIELD_MESSAGES:
            raise
        name, profile = await call(request, shopprofiles.profile_for_editing, principal, shop_id)
        typed = {k: str(v)[:400] for k, v in fields.items()}
        return _form(request, action, back, name, typed, listed=profile is not None, error=field, status=400)
    return web(request).redirect(
        request, back, flash=N_("Profile saved: it shows on the public list of shops.")
    )


@router.get("/console/laden/{shop_id}/profil")
async def owner_form(shop_id: str, request: Request, principal: Owner) -> Response:
    path = f"/console/laden/{shop_id}/profil"
    return await _show(request, principal, shop_id, path, path)


@router.post(
    "/console/laden/{shop_id}/profil",
    dependencies=[Depends(csrf_protected), Depends(quota("one profile per shop, replaced"))],
)
async def owner_save(shop_id: str, request: Request, principal: Owner) -> Response:
    path = f"/console/laden/{shop_id}/profil"
    return await _save(request, principal, shop_id, path, path)


@router.get("/console/places/{site_id}/profil")
async def keeper_form(site_id: str, request: Request, principal: Keeper) -> Response:
    return await _show(request, principal, site_id, f"/console/places/{site_id}/profil", "/console/places")


@router.post(
    "/console/places/{site_id}/profil",
    dependencies=[Depends(csrf_protected), Depends(quota("one profile per shop, replaced"))],
)
async def keeper_save(site_id: str, request: Request, principal: Keeper) -> Response:
    return await _save(request, principal, site_id, f"/console/places/{site_id}/profil", "/console/places")


@router.post(
    "/console/laden/{shop_id}/profil/entfernen",
    dependencies=[Depends(csrf_protected), Depends(quota("deletes one profile"))],
)
async def owner_remove(shop_id: str, request: Request, principal: Owner) -> Response:
    return await _remove(request, principal, shop_id, f"/console/laden/{shop_id}/profil")


@router.post(
    "/console/places/{site_id}/profil/entfernen",
    dependencies=[Depends(csrf_protected), Depends(quota("deletes one profile"))],
)
async def keeper_remove(site_id: str, request: Request, principal: Keeper) -> Response:
    return await _remove(request, principal, site_id, "/console/places")
