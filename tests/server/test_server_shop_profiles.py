"""Shops' public profiles (:mod:`server.shopprofiles`): the fields' rules, who may edit, the public list.

Real server context and SQLite; principals are people's, built from their
teams as the console's sessions build them.  The JSON route and the map layer
are checked here too (a real loopback server, no browser): the browser flows
are in ``tests/web/test_web_shops.py``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from protocol import Reason
from server import accounts, places, shopprofiles
from server.accounts import TeamScope
from server.accounts.teams import principal_of_person
from server.config import loads
from server.context import ServerContext
from server.errors import ConfigError, ServiceError
from server.http.access import Principal
from server.shopmap import MAP_LAYERS, DistrictPin, SchematicDistrictMap, map_layer
from server.shopprofiles import DISTRICTS
from tests.server.server_helpers import Api

GOOD: dict[str, Any] = {
    "street": "Limmerstraße 12",
    "postcode": "30451",
    "city": "",
    "district": "linden-limmer",
    "offer": "Bio-Gemüse, Brot und Kaffee",
    "hours": "Mo–Fr 9–18, Sa 9–14",
    "website": "https://bioladen.example.org/",
}


def member(ctx: ServerContext, email: str, permissions: set[str], scope: TeamScope) -> Principal:
    person_id = accounts.add_person(
        ctx, email=email, display_name=email.split("@")[0], password="pw-pw-pw-pw"
    )
    team_id = accounts.add_team(ctx, name=f"team of {email}", permissions=permissions, scope=scope)
    accounts.add_member(ctx, team_id, person_id)
    with ctx.storage.read() as tx:
        return principal_of_person(tx, person_id, email)


@pytest.fixture
def economy(context: ServerContext) -> dict[str, Any]:
    admin = member(context, "admin@example.org", {"manage_sites"}, TeamScope("economy"))
    shop_a = places.create_place(context, admin, "shop", {"name": "Bioladen Nordstadt"})
    shop_b = places.create_place(context, admin, "shop", {"name": "Café Linden"})
    site = places.create_place(context, admin, "checkin", {"name": "Tafel", "tokens_per_hour": 10})
    owner_a = member(context, "a@example.org", {"run_shop", "settle_shops"}, TeamScope("shops", (shop_a,)))
    return {"admin": admin, "shop_a": shop_a, "shop_b": shop_b, "site": site, "owner_a": owner_a}


def refused(reason: Reason, call: Any, *args: Any) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        call(*args)
    assert caught.value.reason is reason, caught.value
    return caught.value


def test_the_owner_saves_the_profile_which_is_public_and_logged(
    context: ServerContext, economy: dict[str, Any]
) -> None:
    assert shopprofiles.public_shops(context) == []  # a shop shows only once its profile is saved
    saved = shopprofiles.set_profile(context, economy["owner_a"], economy["shop_a"], {**GOOD, "x": "ignored"})
    assert (saved.city, saved.district_name, saved.name) == (
        "Hannover",
        "Linden-Limmer",
        "Bioladen Nordstadt",
    )
    assert shopprofiles.public_shops(context) == [saved]
    shopprofiles.set_profile(context, economy["owner_a"], economy["shop_a"], {**GOOD, "hours": ""})
    with context.storage.read() as tx:
        logged = [row for row in tx.activity() if row.action == "shop.profile"]
    assert [(row.object_id, row.site_id, row.data["changed"]) for row in reversed(logged)] == [
        (economy["shop_a"], economy["shop_a"], list(shopprofiles.FIELD_NAMES)),
        (economy["shop_a"], economy["shop_a"], ["hours"]),
    ]


def test_the_owner_of_one_shop_cannot_edit_another_and_learns_nothing_from_trying(
    context: ServerContext, economy: dict[str, Any]
) -> None:
    owner = economy["owner_a"]
    other = refused(Reason.UNKNOWN_SITE, shopprofiles.set_profile, context, owner, economy["shop_b"], GOOD)
    unknown = refused(Reason.UNKNOWN_SITE, shopprofiles.set_profile, context, owner, "s_nosuchshop", GOOD)
    assert (other.status, other.message) == (unknown.status, unknown.message) == (404, "no such shop")
    # Not even bad fields tell the stranger anything: the shop is checked first.
    refused(Reason.UNKNOWN_SITE, shopprofiles.set_profile, context, owner, economy["shop_b"], {})
    refused(Reason.UNKNOWN_SITE, shopprofiles.profile_for_editing, context, owner, economy["shop_b"])
    coordinator = member(
        context, "k@example.org", {"review", "manage_sites"}, TeamScope("sites", (economy["site"],))
    )
    refused(Reason.UNKNOWN_SITE, shopprofiles.set_profile, context, coordinator, economy["shop_a"], GOOD)
    # A check-in site has no profile, even for the economy's keeper of places.
    refused(Reason.UNKNOWN_SITE, shopprofiles.set_profile, context, economy["admin"], economy["site"], GOOD)
    assert shopprofiles.public_shops(context) == []


def test_the_owner_takes_the_shop_off_the_list_and_another_owner_cannot(
    context: ServerContext, economy: dict[str, Any]
) -> None:
    shopprofiles.set_profile(context, economy["admin"], economy["shop_a"], GOOD)
    shopprofiles.set_profile(context, economy["admin"], economy["shop_b"], GOOD)
    owner = economy["owner_a"]
    refused(Reason.UNKNOWN_SITE, shopprofiles.remove_profile, context, owner, economy["shop_b"])
    assert shopprofiles.remove_profile(context, owner, economy["shop_a"]) is True
    assert shopprofiles.remove_profile(context, owner, economy["shop_a"]) is False  # a second click
    assert [p.shop_id for p in shopprofiles.public_shops(context)] == [economy["shop_b"]]
    with context.storage.read() as tx:
        removals = [row.object_id for row in tx.activity() if row.action == "shop.profile_remove"]
    assert removals == [economy["shop_a"]]


def test_the_keeper_of_places_edits_any_shop(context: ServerContext, economy: dict[str, Any]) -> None:
    shopprofiles.set_profile(context, economy["admin"], economy["shop_b"], {**GOOD, "district": "mitte"})
    name, profile = shopprofiles.profile_for_editing(context, economy["owner_a"], economy["shop_a"])
    assert (name, profile) == ("Bioladen Nordstadt", None)
    assert [p.shop_id for p in shopprofiles.public_shops(context)] == [economy["shop_b"]]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("street", ""),
        ("street", "x" * 81),
        ("street", "<b>Laden</b>"),
        ("street", "Limmerstraße\n12"),
        ("street", "Limmer\u202estraße"),  # a bidi override
        ("postcode", "3045"),
        ("postcode", "30451a"),
        ("postcode", "３０４５１"),  # full-width digits
        ("district", "hannover"),
        ("district", ""),
        ("offer", ""),
        ("offer", "y" * 281),
        ("offer", 12),
        ("hours", "z" * 121),
        ("website", "javascript:alert(1)"),
        ("website", "ftp://example.org"),
        ("website", "https://exa mple.org"),
        ("website", "https://localhost"),
        ("website", "https://user:pw@example.org"),
        ("website", "https://[::1"),
    ],
)
def test_a_bad_field_is_refused_by_name(field: str, value: Any) -> None:
    error = refused(Reason.BAD_FIELD, shopprofiles.validate, {**GOOD, field: value})
    assert (error.status, error.extra) == (400, {"field": field})


def test_a_refused_profile_saves_nothing(context: ServerContext, economy: dict[str, Any]) -> None:
    bad = {**GOOD, "website": "javascript:alert(1)"}
    refused(Reason.BAD_FIELD, shopprofiles.set_profile, context, economy["owner_a"], economy["shop_a"], bad)
    assert shopprofiles.public_shops(context) == []
    assert shopprofiles.validate(GOOD)["city"] == "Hannover"


def test_the_public_route_lists_the_shops_and_counts_per_district(api: Api) -> None:
    ctx = api.context
    admin = member(ctx, "admin@example.org", {"manage_sites"}, TeamScope("economy"))
    shop = places.create_place(ctx, admin, "shop", {"name": "Café Linden"})
    shopprofiles.set_profile(ctx, admin, shop, GOOD)
    response = api.http.get("/v1/public/shops")
    assert response.status_code == 200, response.text
    body = response.json()
    assert [(s["shop_id"], s["name"], s["district"], s["city"]) for s in body["shops"]] == [
        (shop, "Café Linden", "linden-limmer", "Hannover")
    ]
    assert len(body["districts"]) == 13
    assert {d["key"]: d["shops"] for d in body["districts"] if d["shops"]} == {"linden-limmer": 1}


def test_the_schematic_map_draws_13_districts_and_a_marker_with_the_count_where_shops_are() -> None:
    assert len(DISTRICTS) == 13 and isinstance(map_layer("schematic"), SchematicDistrictMap)
    pins = [
        DistrictPin(key, name, n, 2 if key == "mitte" else 0, f"/laeden?bezirk={key}")
        for n, (key, name) in enumerate(DISTRICTS, start=1)
    ]
    svg = str(SchematicDistrictMap().render(pins, title="T <x>", description="D & E"))
    assert sorted(re.findall(r'<g class="[^"]*" data-district="([a-z-]+)"', svg)) == sorted(
        k for k, _ in DISTRICTS
    )
    assert re.findall(r'class="pin" data-district="([a-z-]+)" data-shops="(\d+)"', svg) == [("mitte", "2")]
    assert '<title id="map-title">T &lt;x&gt;</title>' in svg and "D &amp; E" in svg
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")  # nothing fetched from anywhere


def test_the_settings_file_chooses_the_map_layer_by_name() -> None:
    assert loads("").map_layer == "schematic" and set(MAP_LAYERS) == {"schematic"}
    with pytest.raises(ConfigError, match="map_layer"):
        loads('map_layer = "osm"')
