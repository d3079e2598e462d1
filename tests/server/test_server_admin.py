"""Admin endpoints: the token check on every one, and the coordinator operations."""

from __future__ import annotations

import hashlib

import pytest
from server_helpers import Api, assert_error

from protocol import Reason
from tests.server.ledger_file import ledger_file, table_names

ADMIN_ENDPOINTS = [
    ("POST", "/v1/admin/sites", {"name": "X", "tokens_per_hour": 1}),
    ("GET", "/v1/admin/sites", None),
    ("POST", "/v1/admin/sites/s_" + "0" * 32 + "/policy", {"allow_uncredentialed": True}),
    ("POST", "/v1/admin/enrolment-codes", {"site_id": "s_" + "0" * 32}),
    ("POST", "/v1/admin/cards", {"name": "Eve"}),
    ("GET", "/v1/admin/cards", None),
    ("POST", "/v1/admin/cards/c_" + "0" * 32 + "/block", {"reason": "lost"}),
    ("POST", "/v1/admin/issuer-keys", {"public_key": "A" * 43 + "="}),
    ("GET", "/v1/admin/issuer-keys", None),
    ("POST", "/v1/admin/issuer-keys/i_" + "0" * 16 + "/retire", None),
    ("POST", "/v1/admin/issuer-keys/i_" + "0" * 16 + "/revoke", None),
    ("GET", "/v1/admin/kiosks", None),
    ("POST", "/v1/admin/kiosks/k_" + "0" * 32 + "/clear", None),
    ("POST", "/v1/admin/kiosks/k_" + "0" * 32 + "/revoke", None),
    ("GET", "/v1/admin/review", None),
    ("GET", "/v1/admin/report", None),
    ("GET", "/v1/admin/verify", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ENDPOINTS)
def test_missing_or_wrong_admin_token_is_unauthorized(api: Api, method, path, body) -> None:
    before = api.snapshot()
    for authorization in (None, "Bearer wrong", "Bearer", "Basic abc", "wrong"):
        headers = {} if authorization is None else {"Authorization": authorization}
        response = api.http.request(method, path, json=body, headers=headers)
        assert_error(response, 401, Reason.UNAUTHORIZED)
    assert api.snapshot() == before
    api.assert_serving()


def test_token_hash_is_not_a_token(api: Api) -> None:
    """Knowing the stored hash (say, from a copied database) does not open the admin API."""
    stored = hashlib.sha256(api.admin_token.encode()).hexdigest()
    response = api.http.get("/v1/admin/sites", headers={"Authorization": f"Bearer {stored}"})
    assert_error(response, 401, Reason.UNAUTHORIZED)


def test_sites_are_created_and_listed(api: Api) -> None:
    site = api.create_site(tokens_per_hour=5)
    assert site["site_id"].startswith("s_")
    assert (site["name"], site["tokens_per_hour"], site["max_shift_hours"]) == ("Repair café", 5, 12)
    listed = api.admin("GET", "/v1/admin/sites", expect=200).json()["sites"]
    assert listed == [site]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "X"},
        {"name": "", "tokens_per_hour": 1},
        {"name": "X", "tokens_per_hour": 1.5},
        {"name": "X", "tokens_per_hour": True},
        {"name": "X", "tokens_per_hour": -1},
        {"name": "X", "tokens_per_hour": "10"},
        {"name": "X", "tokens_per_hour": 1, "max_shift_hours": 0},
        {"name": "X", "tokens_per_hour": 1, "colour": "red"},
        [1, 2],
    ],
)
def test_bad_site_requests(api: Api, body) -> None:
    before = api.snapshot()
    assert_error(api.admin("POST", "/v1/admin/sites", body), 400, Reason.MALFORMED_REQUEST)
    assert api.snapshot() == before
    assert api.admin("GET", "/v1/admin/sites", expect=200).json()["sites"] == []


def test_enrolment_code_for_unknown_site(api: Api) -> None:
    response = api.admin("POST", "/v1/admin/enrolment-codes", {"site_id": "s_" + "0" * 32})
    assert_error(response, 404, Reason.UNKNOWN_SITE)
    response = api.admin("POST", "/v1/admin/enrolment-codes", {"site_id": "s_1", "expires_in_s": 0})
    assert_error(response, 400, Reason.MALFORMED_REQUEST)


def test_cards_for_new_and_existing_volunteers(api: Api) -> None:
    first = api.create_card("Grace Hopper")
    assert first["card_id"].startswith("c_") and first["volunteer_id"].startswith("v_")
    second = api.create_card(volunteer_id=first["volunteer_id"])
    assert second["volunteer_id"] == first["volunteer_id"] and second["card_id"] != first["card_id"]
    report = api.admin("GET", "/v1/admin/report", expect=200).json()["volunteers"]
    assert [(v["name"], v["cards"], v["balance"], v["minutes"], v["shifts"]) for v in report] == [
        ("Grace Hopper", [first["card_id"], second["card_id"]], 0, 0, [])
    ]
    assert api.balance(second["card_id"]) == 0


def test_card_for_unknown_volunteer(api: Api) -> None:
    before = api.snapshot()
    response = api.admin("POST", "/v1/admin/cards", {"volunteer_id": "v_" + "0" * 32})
    assert_error(response, 404, Reason.UNKNOWN_VOLUNTEER)
    for body in ({}, {"name": "A", "volunteer_id": "v_1"}, {"name": 5}, {"name": ""}):
        assert_error(api.admin("POST", "/v1/admin/cards", body), 400, Reason.MALFORMED_REQUEST)
    assert api.snapshot() == before


def test_names_live_in_no_table_in_plaintext(api: Api) -> None:
    """Issue 17: ``personal_data`` holds the name sealed under the person's key (server.vault)."""
    api.create_card("Zebulon Quxley")
    with ledger_file(api.context.storage) as conn:  # a test may look at the raw tables
        tables = table_names(conn)
        holders = [
            t
            for t in tables
            if any("Zebulon" in str(v) for row in conn.execute(f"SELECT * FROM {t}") for v in row)
        ]
    assert holders == []


def test_kiosk_list_clear_and_revoke_unknown(api: Api) -> None:
    site = api.create_site()
    kiosk = api.enrol_kiosk(site["site_id"])
    kiosks = api.admin("GET", "/v1/admin/kiosks", expect=200).json()["kiosks"]
    assert [(k["kiosk_id"], k["status"], k["last_seq"]) for k in kiosks] == [(kiosk.kiosk_id, "active", 0)]
    unknown = "k_" + "0" * 32
    assert_error(api.admin("POST", f"/v1/admin/kiosks/{unknown}/clear"), 404, Reason.UNKNOWN_KIOSK)
    assert_error(api.admin("POST", f"/v1/admin/kiosks/{unknown}/revoke"), 404, Reason.UNKNOWN_KIOSK)
