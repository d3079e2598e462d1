"""The red team's findings against the shop owner's pages (issue 19, item 5 and principle 10).

A shop owner of shop A drives the real pages over loopback with a live
``kk_console`` cookie and a CSRF cookie, and tries shop B's things through A's
own URLs (B's staff, B's redemptions), B's pages, and every field of A's forms
with a hostile value in an otherwise valid form; a coordinator of a check-in
site tries the shops' pages.  The last test failed before its fix; the others
keep what held.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlencode

import httpx
import pytest
from server_helpers import Api
from server_shop_helpers import ShopWorld, create_shop, redeem
from test_server_tillstaff import _heartbeat

from protocol import Reason
from server import accounts, shoppage, tillstaff
from server.accounts import TeamScope
from server.errors import ServiceError
from server.http.access import CONSOLE_COOKIE
from server.models import KioskStatus
from server.principals import Permission, Principal
from server.web.forms import CSRF_COOKIE

CSRF: Final = "red-team-csrf-token"
HOSTILE: Final = ("9" * 5000, "x" * 60_000, "\x00", "\u202e", "\ud800", "١٢٣", "-1", "")
UNKNOWN_SHOP: Final = "s_" + "0" * 32
TEXT_FIELDS: Final = frozenset({"name", "street", "city", "offer", "hours"})
OPTIONAL_FIELDS: Final = frozenset({"hours", "website", "city"})


@dataclass
class Shops:
    world: ShopWorld
    a: str
    b: str
    owner: httpx.Client  # runs shop A


def _person(api: Api, email: str, permissions: list[str], scope: TeamScope) -> str:
    person_id = accounts.add_person(api.context, email=email, display_name="Lou", password="x" * 12)
    accounts.set_totp_secret(api.context, person_id, accounts.new_totp_secret())
    team = accounts.add_team(api.context, name=f"Team {email}", permissions=permissions, scope=scope)
    accounts.add_member(api.context, team, person_id)
    return person_id


def _browser(api: Api, person_id: str) -> httpx.Client:
    cookie = accounts.open_console_session(api.context, person_id, user_agent="test")
    return httpx.Client(base_url=api.base_url, cookies={CONSOLE_COOKIE: cookie, CSRF_COOKIE: CSRF})


@pytest.fixture
def shops(api: Api) -> Iterator[Shops]:
    world = ShopWorld(api, void_window_s=600)
    a, b = world.shop["site_id"], create_shop(api, name="Laden B", void_window_s=600)["site_id"]
    owner = _person(api, "lou@example.org", ["run_shop", "settle_shops"], TeamScope("shops", (a,)))
    with _browser(api, owner) as browser:
        yield Shops(world, a, b, browser)


def _owner_of(shop_id: str) -> Principal:
    return Principal("owner", frozenset({Permission.RUN_SHOP}), frozenset({shop_id}))


def _post(client: httpx.Client, path: str, fields: dict[str, str]) -> httpx.Response:
    body = urlencode({"csrf": CSRF, **fields}, encoding="utf-8", errors="surrogatepass")
    return client.post(path, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})


def test_another_shops_staff_redemptions_and_pages_answer_as_unknown_ones(api: Api, shops: Shops) -> None:
    a, b = shops.a, shops.b
    buyer = shops.world.holder(tokens=30)
    till_b = shops.world.terminal({"site_id": b})
    rid_b, event = redeem(till_b, buyer.card_id, 5, wall_ms=api.clock.now)
    assert shops.world.send(till_b, [event]) == [[]]  # debited: B's owner could ask to void it
    staff_b, _ = tillstaff.add_staff(api.context, _owner_of(b), b, "Bea", "cashier", 10)
    unknown_staff, unknown_rid = "st_" + "0" * 32, "r_" + "0" * 32
    # B's staff member and B's redemption through A's own URLs: as an unknown one.
    for theirs, unknown, fields in (
        (f"/personal/{staff_b.staff_id}/pin", f"/personal/{unknown_staff}/pin", {}),
        (
            f"/personal/{staff_b.staff_id}/tagesmax",
            f"/personal/{unknown_staff}/tagesmax",
            {"daily_max": "50"},
        ),
        (f"/personal/{staff_b.staff_id}/entfernen", f"/personal/{unknown_staff}/entfernen", {}),
        ("/storno", "/storno", {"redemption_id": rid_b}),
        ("/storno/zuruecknehmen", "/storno/zuruecknehmen", {"redemption_id": rid_b}),
    ):
        got = _post(shops.owner, f"/console/laden/{a}{theirs}", fields)
        expected = _post(
            shops.owner, f"/console/laden/{a}{unknown}", {**fields, "redemption_id": unknown_rid}
        )
        assert got.status_code == expected.status_code == 404, (theirs, got.status_code, expected.status_code)
    confirm = shops.owner.get(f"/console/laden/{a}/personal/{staff_b.staff_id}/entfernen")
    assert confirm.status_code == 404 and "Bea" not in confirm.text
    (kept,) = tillstaff.list_staff(api.context, b)
    assert kept == staff_b  # no new PIN, no new maximum, not removed
    with api.context.storage.read() as tx:
        assert tx.get_void_request(rid_b) is None
    # B's pages, read and written: exactly an unknown shop's answer.
    for suffix in ("", "/personal", "/abrechnung?format=csv", "/profil", "?format=csv&table=today"):
        got = shops.owner.get(f"/console/laden/{b}{suffix}")
        expected = shops.owner.get(f"/console/laden/{UNKNOWN_SHOP}{suffix}")
        assert got.status_code == expected.status_code == 404, suffix
        assert got.text.replace(b, "") == expected.text.replace(UNKNOWN_SHOP, ""), suffix
    for suffix, fields in (
        ("/storno", {"redemption_id": rid_b}),
        ("/personal", {"name": "Mallory", "role": "manager", "daily_max": "500"}),
        ("/profil/entfernen", {}),
    ):
        assert _post(shops.owner, f"/console/laden/{b}{suffix}", fields).status_code == 404, suffix


def test_a_coordinator_of_another_site_sees_no_shop(api: Api, shops: Shops) -> None:
    site = shops.world.earn_site["site_id"]
    coordinator = _person(
        api, "kim@example.org", ["review", "manage_sites", "reports"], TeamScope("sites", (site,))
    )
    with _browser(api, coordinator) as browser:
        for path in (f"/console/laden/{shops.a}", f"/console/laden/{shops.a}/personal", "/console/laden"):
            assert browser.get(path).status_code == 403, path
        mine, unknown = (
            browser.get(f"/console/places/{shops.a}/profil"),
            browser.get(f"/console/places/{UNKNOWN_SHOP}/profil"),
        )
        assert mine.status_code == unknown.status_code == 404


def test_each_field_alone_hostile_in_a_valid_form_gets_a_4xx_and_changes_nothing(
    api: Api, shops: Shops
) -> None:
    a = shops.a
    staff, _ = tillstaff.add_staff(api.context, _owner_of(a), a, "Aylin", "cashier", 10)
    forms = {
        "/personal": {"name": "Cem", "role": "cashier", "daily_max": "10"},
        f"/personal/{staff.staff_id}/tagesmax": {"daily_max": "20"},
        "/storno": {"redemption_id": "r_" + "0" * 32},
        "/profil": {"street": "Limmerstr. 1", "postcode": "30451", "city": "Hannover", "district": "linden",
                    "offer": "Brot", "hours": "", "website": ""},
    }  # fmt: skip
    for suffix, valid in forms.items():
        for field in valid:
            for value in HOSTILE:
                if field in TEXT_FIELDS and value in ("١٢٣", "-1"):
                    continue  # a name or a street may be any text
                if field in OPTIONAL_FIELDS and value == "":
                    continue  # no opening hours, no website; the city defaults to Hannover
                answer = _post(shops.owner, f"/console/laden/{a}{suffix}", {**valid, field: value})
                assert 400 <= answer.status_code < 500, (suffix, field, value[:12], answer.status_code)
    assert [(s.name, s.daily_max) for s in tillstaff.list_staff(api.context, a)] == [("Aylin", 10)]


def test_a_refused_staff_change_hashes_no_pin(
    api: Api, shops: Shops, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PIN's argon2id hash takes 16 MiB and tens of ms: a refused request must not pay it.

    ``add_staff`` hashed the new PIN before it checked the shop and the quota,
    ``reset_pin`` before it checked the member: another shop's owner, or one
    past the quota, made the server hash for nothing as often as they posted.
    """
    hashed: list[str] = []
    real = tillstaff.hash_pin
    monkeypatch.setattr(tillstaff, "hash_pin", lambda pin: hashed.append(pin) or real(pin))
    a, b = shops.a, shops.b
    staff, _ = tillstaff.add_staff(api.context, _owner_of(a), a, "Aylin", "cashier", 10)
    assert len(hashed) == 1
    for call in (
        lambda: tillstaff.add_staff(api.context, _owner_of(b), a, "Mallory", "cashier", 10),
        lambda: tillstaff.reset_pin(api.context, _owner_of(b), a, staff.staff_id),
        lambda: tillstaff.reset_pin(api.context, _owner_of(a), a, "st_" + "0" * 32),
    ):
        with pytest.raises(ServiceError) as refused:
            call()
        assert refused.value.reason in (Reason.UNKNOWN_SITE, Reason.UNKNOWN_STAFF)
    assert len(hashed) == 1


def test_the_shops_statement_names_no_card(api: Api, shops: Shops) -> None:
    """The settlement a shop downloads listed each redemption's card ID (CSV and PDF).

    A month of them links every purchase of one volunteer, and across shops;
    the till itself keeps a card ID only until its receipt and the void window
    (``docs/privacy.md``), and settlements "hold no card IDs".  The shop's
    statement now has the redemption, time, till, amount and status only.
    """
    buyer = shops.world.holder(tokens=30)
    rid, event = redeem(shops.world.till, buyer.card_id, 5, wall_ms=api.clock.now)
    assert shops.world.send(shops.world.till, [event]) == [[]]
    csv_answer = shops.owner.get(f"/console/laden/{shops.a}/abrechnung", params={"format": "csv"})
    assert csv_answer.status_code == 200 and rid in csv_answer.text
    assert buyer.card_id not in csv_answer.text and "card" not in csv_answer.text.splitlines()[0]
    # The same settlement through the API, with the same console cookie (the shop preset holds settle_shops).
    for fmt in ("json", "csv"):
        api_answer = shops.owner.get(f"/v1/admin/statements/shops/{shops.a}", params={"format": fmt})
        assert api_answer.status_code == 200 and rid in api_answer.text
        assert buyer.card_id not in api_answer.text and "card_id" not in api_answer.text
    found = shoppage.statement(api.context, frozenset({shops.a}), shops.a, None)
    assert [column.key for column in found.table.columns] == [
        "redemption_id", "wall_ms", "kiosk_id", "amount", "status",
    ]  # fmt: skip
    assert all("card_id" not in line for line in found.document["redemptions"])


def test_a_suspended_till_gets_no_pin_hashes_and_no_void_orders(api: Api, shops: Shops) -> None:
    """A till is suspended when two different events came under one number: a cloned SD card.

    Its heartbeat is still heard, and its answer carried the shop's staff with
    their PIN hashes (fresh after each reset the owner made because of it) and
    the card, amount and time of every pending void: a clone learnt them all.
    """
    a, till = shops.a, shops.world.till
    tillstaff.add_staff(api.context, _owner_of(a), a, "Aylin", "manager", 10)
    assert "till" in _heartbeat(api, till)[1]
    with api.context.storage.write() as tx:
        tx.set_kiosk_status(till.kiosk_id, KioskStatus.SUSPENDED)
    api.clock.now += 60_000
    assert "till" not in _heartbeat(api, till)[1]


def test_the_same_daily_maximum_again_appends_nothing_to_the_public_log(api: Api, shops: Shops) -> None:
    """Each ``tagesmax`` post appended a ``till_staff`` entry, the same value too: the log keeps all."""
    a = shops.a
    staff, _ = tillstaff.add_staff(api.context, _owner_of(a), a, "Aylin", "cashier", 10)
    with api.context.storage.read() as tx:
        size = tx.tlog_size()
    for _ in range(3):
        answer = _post(
            shops.owner, f"/console/laden/{a}/personal/{staff.staff_id}/tagesmax", {"daily_max": "10"}
        )
        assert answer.status_code == 303
    with api.context.storage.read() as tx:
        assert tx.tlog_size() == size
