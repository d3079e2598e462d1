"""Shops: creating one logs its limits, presets are display only, and shop terminals learn their mode."""

from __future__ import annotations

from typing import Any

import pytest
from server_helpers import Api, assert_error
from server_shop_helpers import create_shop

from protocol import Preset, PrivateKey, ShopLimits, verify_trust_list
from protocol.logentry import parse_entry


def _log(api: Api) -> list[dict[str, Any]]:
    with api.context.storage.read() as tx:
        return [parse_entry(entry) for entry in tx.tlog_entry_range(0, tx.tlog_size())]


def _sites(api: Api) -> list[dict[str, Any]]:
    return list(api.admin("GET", "/v1/admin/sites", expect=200).json()["sites"])


def test_a_shop_is_created_with_the_default_limits_and_one_log_entry(api: Api) -> None:
    before = len(_log(api))
    api.clock.now += 5
    shop = create_shop(api, "Weltladen")
    assert shop["site_id"].startswith("s_")
    assert {k: v for k, v in shop.items() if k != "site_id"} == {
        "name": "Weltladen",
        "kind": "shop",
        "tokens_per_hour": 0,
        "max_shift_hours": 12,
        "allow_uncredentialed": False,
        "daily_cap": 0,
        "bonuses": [],
        "shop": {
            "max_amount": 50,
            "offline_allowance": 10,
            "offline_daily_cap": 200,
            "void_window_s": 900,
            "presets": [],
        },
    }
    log = _log(api)
    assert len(log) == before + 1
    assert log[-1] == {
        "kind": "shop",
        "type": "kokreativ.entry",
        "v": 2,  # a fresh data folder writes entry v2
        "site_id": shop["site_id"],
        "max_amount": 50,
        "offline_allowance": 10,
        "offline_daily_cap": 200,
        "void_window_s": 900,
        "at_ms": api.clock.now,
    }
    with api.context.storage.read() as tx:
        stored = tx.get_site(shop["site_id"])
    assert stored is not None and stored.shop == ShopLimits(50, 10, 200, 900)


def test_a_shop_with_its_own_limits_presets_and_card_policy(api: Api) -> None:
    before = len(_log(api))
    presets = [{"label": "Kaffee", "amount": 2}, {"label": "Kuchen", "amount": 3}]
    shop = create_shop(
        api,
        max_amount=20,
        offline_allowance=5,
        offline_daily_cap=80,
        void_window_s=60,
        presets=presets,
        allow_uncredentialed=True,
    )
    assert shop["shop"] == {
        "max_amount": 20,
        "offline_allowance": 5,
        "offline_daily_cap": 80,
        "void_window_s": 60,
        "presets": [{"amount": 2, "label": "Kaffee"}, {"amount": 3, "label": "Kuchen"}],
    }
    assert shop["allow_uncredentialed"] is True
    log = _log(api)
    # The shop entry carries no card policy, so a policy other than the default is logged next to it.
    assert [entry["kind"] for entry in log[before:]] == ["shop", "site"]
    assert (log[-2]["max_amount"], log[-2]["void_window_s"]) == (20, 60)
    assert (log[-1]["site_id"], log[-1]["allow_uncredentialed"]) == (shop["site_id"], True)
    assert "Kaffee" not in repr(log)  # presets are display settings, never logged


@pytest.mark.parametrize(
    "fields",
    [
        {},  # no name
        {"name": ""},
        {"name": "L", "max_amount": 0},
        {"name": "L", "max_amount": 1_000_001},
        {"name": "L", "max_amount": True},
        {"name": "L", "max_amount": 5.0},
        {"name": "L", "offline_allowance": -1},
        {"name": "L", "offline_daily_cap": 1_000_001},
        {"name": "L", "void_window_s": 7 * 24 * 3600 + 1},
        {"name": "L", "allow_uncredentialed": "yes"},
        {"name": "L", "presets": {"label": "Kaffee", "amount": 2}},
        {"name": "L", "presets": [{"label": "Kaffee", "amount": 0}]},
        {"name": "L", "presets": [{"label": "", "amount": 2}]},
        {"name": "L", "presets": [{"label": "x" * 25, "amount": 2}]},
        {"name": "L", "presets": [{"label": "Kaffee", "amount": 2, "note": "x"}]},
        {"name": "L", "presets": [{"label": f"P{i}", "amount": 1} for i in range(13)]},
        {"name": "L", "max_amount": 5, "presets": [{"label": "Kuchen", "amount": 6}]},
        {"name": "L", "tokens_per_hour": 10},  # a shop earns nothing
    ],
)
def test_bad_shop_requests_are_refused_and_store_nothing(api: Api, fields: dict[str, Any]) -> None:
    sites, log = _sites(api), _log(api)
    assert_error(api.admin("POST", "/v1/admin/shops", fields), 400, "malformed_request")
    assert (_sites(api), _log(api)) == (sites, log)


def test_shop_endpoints_need_the_admin_token(api: Api) -> None:
    shop = create_shop(api)
    assert_error(api.http.post("/v1/admin/shops", json={"name": "L"}), 401, "unauthorized")
    path = f"/v1/admin/shops/{shop['site_id']}/presets"
    assert_error(api.http.post(path, json={"presets": []}), 401, "unauthorized")


def test_presets_change_without_a_log_entry_and_reach_the_terminal(api: Api, server_key) -> None:
    shop = create_shop(api, max_amount=10)
    terminal = api.enrol_kiosk(shop["site_id"])
    log = _log(api)
    presets = [{"label": "Brot", "amount": 4}]
    response = api.admin(
        "POST", f"/v1/admin/shops/{shop['site_id']}/presets", {"presets": presets}, expect=200
    )
    assert response.json()["shop"]["presets"] == [{"amount": 4, "label": "Brot"}]
    assert response.json()["shop"]["max_amount"] == 10
    assert _log(api) == log
    trust = verify_trust_list(api.trust(terminal.kiosk_id).json(), server_key, kiosk_id=terminal.kiosk_id)
    assert trust.shop == ShopLimits(10, 10, 200, 900, (Preset("Brot", 4),))
    # Clearing them is a change too.
    api.admin("POST", f"/v1/admin/shops/{shop['site_id']}/presets", {"presets": []}, expect=200)
    trust = verify_trust_list(api.trust(terminal.kiosk_id).json(), server_key, kiosk_id=terminal.kiosk_id)
    assert trust.shop == ShopLimits(10, 10, 200, 900)


def test_presets_of_unknown_or_check_in_sites_are_refused(api: Api) -> None:
    shop = create_shop(api, max_amount=5)
    site = api.create_site()
    body = {"presets": [{"label": "Brot", "amount": 4}]}
    assert_error(api.admin("POST", "/v1/admin/shops/s_" + "0" * 32 + "/presets", body), 404, "unknown_site")
    assert_error(api.admin("POST", f"/v1/admin/shops/{site['site_id']}/presets", body), 409, "not_a_shop")
    path = f"/v1/admin/shops/{shop['site_id']}/presets"
    assert_error(api.admin("POST", path, {}), 400, "malformed_request")
    assert_error(
        api.admin("POST", path, {"presets": [{"label": "Torte", "amount": 6}]}), 400, "malformed_request"
    )
    kinds = {s["site_id"]: (s["kind"], s.get("shop", {}).get("presets")) for s in _sites(api)}
    assert kinds == {site["site_id"]: ("checkin", None), shop["site_id"]: ("shop", [])}


def test_sites_list_shows_every_site_with_its_kind(api: Api) -> None:
    site = api.create_site()
    shop = create_shop(api)
    listed = _sites(api)
    assert [(s["site_id"], s["kind"]) for s in listed] == [
        (site["site_id"], "checkin"),
        (shop["site_id"], "shop"),
    ]
    assert "shop" not in listed[0] and listed[1]["shop"]["max_amount"] == 50


def test_a_shop_code_enrols_a_shop_terminal(api: Api, server_key) -> None:
    shop = create_shop(api, presets=[{"label": "Kaffee", "amount": 2}])
    site = api.create_site()
    answers = {}
    for where in (shop, site):
        key = PrivateKey.generate()
        response = api.enrol_request(api.create_code(where["site_id"]), key)
        assert response.status_code == 200, response.text
        answers[where["kind"]] = response.json()
    assert answers["shop"]["mode"] == "shop"
    assert answers["checkin"]["mode"] == "checkin"
    trust = verify_trust_list(answers["shop"]["trust"], server_key, kiosk_id=answers["shop"]["kiosk_id"])
    assert trust.is_shop and trust.shop == ShopLimits(50, 10, 200, 900, (Preset("Kaffee", 2),))
    trust = verify_trust_list(
        answers["checkin"]["trust"], server_key, kiosk_id=answers["checkin"]["kiosk_id"]
    )
    assert not trust.is_shop and trust.shop is None
