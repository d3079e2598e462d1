"""Issuer keys, card registration (credential, uid, plain), blocks, the card list and site card policy."""

from __future__ import annotations

import logging
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_helpers import HOUR, T0, Api, World, assert_error

from protocol import EventKind, PrivateKey, Reason, b64encode, issuer_key_id, uid_pseudonym
from tests.server.ledger_file import ledger_file, stored_bytes, table_names

DAY_S = 86_400
NOW_S = T0 // 1000
UNKNOWN_KEY = "i_" + "0" * 16


def _credential(
    key_id: object, valid_from_s: object = NOW_S - DAY_S, valid_until_s: object = NOW_S + 365 * DAY_S
) -> dict[str, object]:
    """Credential fields for a card request; tests pass wrong types on purpose."""
    return {"issuer_key_id": key_id, "valid_from_s": valid_from_s, "valid_until_s": valid_until_s}


# -- issuer keys -----------------------------------------------------------------------------------
def test_issuer_key_is_registered_once_and_listed_in_order(api: Api) -> None:
    key = PrivateKey.generate()
    response = api.admin("POST", "/v1/admin/issuer-keys", {"public_key": key.public_key.to_b64()})
    assert response.status_code == 201, response.text
    first = response.json()
    assert first == {
        "key_id": issuer_key_id(key.public_key),
        "public_key": key.public_key.to_b64(),
        "status": "active",
        "created_ms": T0,
        "changed_ms": T0,
    }
    api.clock.now += 1000
    again = api.admin("POST", "/v1/admin/issuer-keys", {"public_key": key.public_key.to_b64()}, expect=200)
    assert again.json() == first
    _, second = api.add_issuer_key()
    listed = api.admin("GET", "/v1/admin/issuer-keys", expect=200).json()
    assert listed == {"issuer_keys": [first, second]}
    assert second["created_ms"] == T0 + 1000


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"public_key": 5},
        {"public_key": "AA=="},
        {"public_key": b64encode(bytes(33))},
        {"public_key": "not base64!"},
        {"public_key": b64encode(bytes(32)), "status": "active"},
        [b64encode(bytes(32))],
    ],
)
def test_bad_issuer_key_requests(api: Api, body) -> None:
    assert_error(api.admin("POST", "/v1/admin/issuer-keys", body), 400, Reason.MALFORMED_REQUEST)
    assert api.admin("GET", "/v1/admin/issuer-keys", expect=200).json() == {"issuer_keys": []}


def test_retire_then_revoke_and_revoked_is_final(api: Api) -> None:
    key, registered = api.add_issuer_key()
    key_id = registered["key_id"]
    api.clock.now = T0 + HOUR
    retired = api.admin("POST", f"/v1/admin/issuer-keys/{key_id}/retire", expect=200).json()
    assert (retired["status"], retired["created_ms"], retired["changed_ms"]) == ("retired", T0, T0 + HOUR)
    api.clock.now = T0 + 2 * HOUR
    # Retiring again changes nothing.
    assert api.admin("POST", f"/v1/admin/issuer-keys/{key_id}/retire", expect=200).json() == retired
    revoked = api.admin("POST", f"/v1/admin/issuer-keys/{key_id}/revoke", expect=200).json()
    assert (revoked["status"], revoked["changed_ms"]) == ("revoked", T0 + 2 * HOUR)
    for action in ("retire", "revoke"):
        response = api.admin("POST", f"/v1/admin/issuer-keys/{key_id}/{action}")
        assert_error(response, 409, Reason.ISSUER_KEY_INACTIVE)
    # Posting the key again returns it as it is: a revoked key is never reactivated.
    _, posted = api.add_issuer_key(key)
    assert posted == revoked
    assert api.admin("GET", "/v1/admin/issuer-keys", expect=200).json()["issuer_keys"] == [revoked]


def test_active_key_can_be_revoked_directly(api: Api) -> None:
    _, registered = api.add_issuer_key()
    revoked = api.admin("POST", f"/v1/admin/issuer-keys/{registered['key_id']}/revoke", expect=200).json()
    assert revoked["status"] == "revoked"


@pytest.mark.parametrize("action", ["retire", "revoke"])
@pytest.mark.parametrize("key_id", [UNKNOWN_KEY, "nonsense"])
def test_unknown_issuer_key(api: Api, action: str, key_id: str) -> None:
    assert_error(api.admin("POST", f"/v1/admin/issuer-keys/{key_id}/{action}"), 404, Reason.UNKNOWN_ISSUER)


# -- credential cards ------------------------------------------------------------------------------
def test_credential_card_records_its_issuance(api: Api) -> None:
    _, key = api.add_issuer_key()
    card = api.create_card("Grace", **_credential(key["key_id"]))
    assert card["card_id"].startswith("c_") and card["volunteer_id"].startswith("v_")
    assert card == {
        "card_id": card["card_id"],
        "volunteer_id": card["volunteer_id"],
        "kind": "credential",
        **_credential(key["key_id"]),
        "home_site_id": api.home_site(),
        "access_secret": card["access_secret"],  # a new volunteer's, shown once (issue 17)
    }
    listed = api.admin("GET", "/v1/admin/cards", expect=200).json()["cards"]
    assert listed == [
        {
            "card_id": card["card_id"],
            "volunteer_id": card["volunteer_id"],
            "kind": "credential",
            **_credential(key["key_id"]),
            "registered_ms": T0,
            "blocked_ms": None,
            "block_reason": None,
            "coordinator": False,
            "coordinator_ms": None,
        }
    ]


def test_plain_card_without_issuance_details_still_works(api: Api) -> None:
    card = api.create_card("Grace")
    new_volunteer = {"home_site_id": api.home_site(), "access_secret": card["access_secret"]}
    assert card == {
        "card_id": card["card_id"],
        "volunteer_id": card["volunteer_id"],
        "kind": "credential",
        **new_volunteer,
    }
    (listed,) = api.admin("GET", "/v1/admin/cards", expect=200).json()["cards"]
    assert (listed["issuer_key_id"], listed["valid_from_s"], listed["valid_until_s"]) == (None, None, None)


@pytest.mark.parametrize("action", ["retire", "revoke"])
def test_no_new_cards_under_an_inactive_key(api: Api, action: str) -> None:
    _, key = api.add_issuer_key()
    old = api.create_card("Grace", **_credential(key["key_id"]))
    api.admin("POST", f"/v1/admin/issuer-keys/{key['key_id']}/{action}", expect=200)
    before = api.snapshot()
    response = api.admin(
        "POST", "/v1/admin/cards", {"name": "Eve", "site_id": api.home_site(), **_credential(key["key_id"])}
    )
    assert_error(response, 409, Reason.ISSUER_KEY_INACTIVE)
    response = api.admin(
        "POST", "/v1/admin/cards", {"volunteer_id": old["volunteer_id"], **_credential(key["key_id"])}
    )
    assert_error(response, 409, Reason.ISSUER_KEY_INACTIVE)
    assert api.snapshot() == before


def test_card_under_an_unknown_key(api: Api) -> None:
    before = api.snapshot()
    response = api.admin(
        "POST", "/v1/admin/cards", {"name": "Eve", "site_id": api.home_site(), **_credential(UNKNOWN_KEY)}
    )
    assert_error(response, 404, Reason.UNKNOWN_ISSUER)
    assert api.snapshot() == before


@pytest.mark.parametrize(
    "fields",
    [
        {"issuer_key_id": UNKNOWN_KEY},
        {"issuer_key_id": UNKNOWN_KEY, "valid_from_s": 1},
        {"valid_from_s": 1, "valid_until_s": 2},
        _credential(UNKNOWN_KEY, 10, 10),
        _credential(UNKNOWN_KEY, 10, 9),
        _credential(UNKNOWN_KEY, -1, 10),
        _credential(UNKNOWN_KEY, 0, 2**32),
        _credential(UNKNOWN_KEY, True, 10),
        _credential(UNKNOWN_KEY, 0, "10"),
        _credential(UNKNOWN_KEY, 0, 1.5),
        _credential("i_" + "0" * 15),
        _credential("I_" + "0" * 16),
        _credential("i_" + "A" * 16),
        _credential(5),
        {**_credential(UNKNOWN_KEY), "uid": "04a2b3c4"},
        {"ehrenamtskarte": ""},
        {"ehrenamtskarte": "x" * 41},
        {"ehrenamtskarte": 12345},
        {"colour": "red"},
    ],
)
def test_bad_card_requests(api: Api, fields) -> None:
    before = api.snapshot()
    assert_error(
        api.admin("POST", "/v1/admin/cards", {"name": "Eve", "site_id": api.home_site(), **fields}),
        400,
        Reason.MALFORMED_REQUEST,
    )
    assert api.snapshot() == before


def test_ehrenamtskarte_goes_with_a_new_volunteer_only(api: Api) -> None:
    card = api.create_card("Grace", ehrenamtskarte="EAK-2025-0042")
    body = {"volunteer_id": card["volunteer_id"], "ehrenamtskarte": "EAK-1"}
    assert_error(api.admin("POST", "/v1/admin/cards", body), 400, Reason.MALFORMED_REQUEST)
    (person,) = api.admin("GET", "/v1/admin/report", expect=200).json()["volunteers"]
    assert (person["name"], person["ehrenamtskarte"]) == ("Grace", "EAK-2025-0042")
    assert api.create_card("Ada")["volunteer_id"] != card["volunteer_id"]
    report = api.admin("GET", "/v1/admin/report", expect=200).json()["volunteers"]
    assert [p["ehrenamtskarte"] for p in report] == ["EAK-2025-0042", None]


def test_personal_data_is_in_no_table_in_plaintext(api: Api) -> None:
    """Issue 17: ``personal_data`` holds ciphertext only (server.vault); no table has the plaintext."""
    api.create_card("Zebulon Quxley", ehrenamtskarte="EAK-QX-9931")
    with ledger_file(api.context.storage) as conn:  # a test may look at the raw tables
        tables = table_names(conn)
        holders = {
            secret: [
                t
                for t in tables
                if any(secret in str(v) for row in conn.execute(f"SELECT * FROM {t}") for v in row)
            ]
            for secret in ("Zebulon", "EAK-QX-9931")
        }
    assert holders == {"Zebulon": [], "EAK-QX-9931": []}


def test_a_new_volunteer_needs_an_existing_home_site_and_a_replacement_card_keeps_it(api: Api) -> None:
    before = api.snapshot()
    refusals = (
        ({"name": "Eve"}, 400, Reason.MALFORMED_REQUEST),
        ({"name": "Eve", "site_id": "s_" + "0" * 32}, 404, Reason.UNKNOWN_SITE),
        ({"name": "Eve", "site_id": 7}, 400, Reason.MALFORMED_REQUEST),
    )
    for body, status, code in refusals:
        assert_error(api.admin("POST", "/v1/admin/cards", body), status, code)
    assert api.snapshot() == before
    first = api.create_card("Eve")
    spare = {"volunteer_id": first["volunteer_id"], "site_id": first["home_site_id"]}
    assert_error(api.admin("POST", "/v1/admin/cards", spare), 400, Reason.MALFORMED_REQUEST)
    home = api.home_site()
    with api.context.storage.read() as tx:
        assert tx.home_site(first["volunteer_id"]) == first["home_site_id"] == home


# -- uncredentialed (uid) cards --------------------------------------------------------------------
UID = bytes.fromhex("04a1b2c3d4e5f6")


def test_uid_card_is_named_by_its_pseudonym(api: Api) -> None:
    card = api.create_card("Pilot", uid=UID.hex())
    expected = uid_pseudonym(UID, api.context.uid_pseudonym_key)
    assert card == {
        "card_id": expected,
        "volunteer_id": card["volunteer_id"],
        "kind": "uid",
        "home_site_id": api.home_site(),
        "access_secret": card["access_secret"],
    }
    (listed,) = api.admin("GET", "/v1/admin/cards", expect=200).json()["cards"]
    assert (listed["card_id"], listed["kind"], listed["issuer_key_id"]) == (expected, "uid", None)
    assert api.balance(expected) == 0


@pytest.mark.parametrize("spelling", [UID.hex(), UID.hex().upper()])
def test_a_tag_registers_once(api: Api, spelling: str) -> None:
    first = api.create_card("Pilot", uid=UID.hex())
    before = api.snapshot()
    for body in (
        {"name": "Other", "site_id": api.home_site(), "uid": spelling},
        {"volunteer_id": first["volunteer_id"], "uid": spelling},
    ):
        assert_error(api.admin("POST", "/v1/admin/cards", body), 409, Reason.CARD_EXISTS)
    assert api.snapshot() == before


_UID_PATTERN = re.compile(r"(?:[0-9a-fA-F]{2}){4,10}")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    value=st.one_of(
        st.binary(min_size=0, max_size=12).map(bytes.hex),
        st.binary(min_size=4, max_size=10).map(lambda b: b.hex().upper()),
        st.text(alphabet="0123456789abcdefABCDEF:- xg\u0663", max_size=24),
        st.integers(),
        st.none(),
        st.lists(st.integers(0, 255), max_size=8),
    )
)
def test_uid_field_validation(api: Api, value) -> None:
    """Valid exactly for 4 to 10 bytes of plain hex; never echoed back in an error."""
    response = api.admin("POST", "/v1/admin/cards", {"name": "P", "site_id": api.home_site(), "uid": value})
    if isinstance(value, str) and _UID_PATTERN.fullmatch(value):
        expected = uid_pseudonym(bytes.fromhex(value), api.context.uid_pseudonym_key)
        with api.context.storage.read() as tx:
            registered = tx.get_card(expected) is not None
        if registered and response.status_code == 409:  # Hypothesis may repeat a value
            assert_error(response, 409, Reason.CARD_EXISTS)
        else:
            assert response.status_code == 201, response.text
            assert (response.json()["card_id"], response.json()["kind"]) == (expected, "uid")
    else:
        error = assert_error(response, 400, Reason.MALFORMED_REQUEST)
        if isinstance(value, str) and len(value) >= 8:
            assert value not in error["message"]


def test_raw_uid_is_never_stored_or_logged(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    uid = bytes.fromhex("04c0ffee5ec12e7a11")
    card = api.create_card("Pilot", uid=uid.hex())
    assert_error(
        api.admin("POST", "/v1/admin/cards", {"name": "P", "site_id": api.home_site(), "uid": uid.hex()}),
        409,
        Reason.CARD_EXISTS,
    )
    api.block(card["card_id"], reason="lost")
    site = api.create_site(allow_uncredentialed=True)
    kiosk = api.enrol_kiosk(site["site_id"])
    api.send(kiosk.kiosk_id, [kiosk.event(EventKind.CHECK_IN, card["card_id"], T0)])
    assert api.trust(kiosk.kiosk_id).status_code == 200
    stored = stored_bytes(api.context.storage)
    for needle in (uid, uid.hex().encode(), uid.hex().upper().encode()):
        assert needle not in stored
    assert uid.hex() not in caplog.text.lower()


# -- blocks ----------------------------------------------------------------------------------------
def test_block_is_idempotent_and_keeps_the_first_reason(api: Api) -> None:
    card = api.create_card("Grace")
    api.clock.now = T0 + HOUR
    blocked = api.block(card["card_id"], reason="lost on the bus")
    assert (blocked["card_id"], blocked["blocked_ms"], blocked["block_reason"]) == (
        card["card_id"],
        T0 + HOUR,
        "lost on the bus",
    )
    api.clock.now = T0 + 2 * HOUR
    assert api.block(card["card_id"], reason="found, then lost again") == blocked
    assert api.block(card["card_id"]) == blocked
    assert api.admin("GET", "/v1/admin/cards", expect=200).json()["cards"] == [blocked]


def test_block_without_reason(api: Api) -> None:
    card = api.create_card("Grace")
    response = api.admin("POST", f"/v1/admin/cards/{card['card_id']}/block", expect=200)
    assert (response.json()["blocked_ms"], response.json()["block_reason"]) == (T0, None)


def test_block_unknown_card_and_bad_bodies(api: Api) -> None:
    assert_error(api.admin("POST", f"/v1/admin/cards/c_{'0' * 32}/block"), 404, Reason.UNKNOWN_CARD)
    card = api.create_card("Grace")
    for body in ({"reason": "x" * 201}, {"reason": 5}, {"reason": ""}, {"why": "lost"}, ["lost"]):
        response = api.admin("POST", f"/v1/admin/cards/{card['card_id']}/block", body)
        assert_error(response, 400, Reason.MALFORMED_REQUEST)
    (listed,) = api.admin("GET", "/v1/admin/cards", expect=200).json()["cards"]
    assert listed["blocked_ms"] is None


def test_card_list_by_volunteer(api: Api) -> None:
    grace = api.create_card("Grace")
    spare = api.create_card(volunteer_id=grace["volunteer_id"], uid=UID.hex())
    ada = api.create_card("Ada")
    everyone = api.admin("GET", "/v1/admin/cards", expect=200).json()["cards"]
    assert [c["card_id"] for c in everyone] == [grace["card_id"], spare["card_id"], ada["card_id"]]
    mine = api.admin("GET", f"/v1/admin/cards?volunteer_id={grace['volunteer_id']}", expect=200).json()
    assert [(c["card_id"], c["kind"]) for c in mine["cards"]] == [
        (grace["card_id"], "credential"),
        (spare["card_id"], "uid"),
    ]
    response = api.admin("GET", f"/v1/admin/cards?volunteer_id=v_{'0' * 32}")
    assert_error(response, 404, Reason.UNKNOWN_VOLUNTEER)


def test_replacement_card_keeps_the_balance_after_a_block(api: Api, world: World) -> None:
    """Tokens belong to the volunteer: blocking card A and registering card B loses nothing."""
    k = world.kiosk
    card_a = world.card_id
    batch = [k.event("check_in", card_a, T0 - 3 * HOUR), k.event("check_out", card_a, T0 - HOUR)]
    assert api.send(k.kiosk_id, batch).status_code == 200
    assert api.balance(card_a) == 20
    api.block(card_a, reason="lost")
    _, key = api.add_issuer_key()
    card_b = api.create_card(volunteer_id=world.volunteer_id, **_credential(key["key_id"]))["card_id"]
    assert api.balance(card_b) == 20
    assert api.balance(card_a) == 20  # blocking never touches the ledger
    batch = [k.event("check_in", card_b, T0), k.event("check_out", card_b, T0 + HOUR)]
    assert api.send(k.kiosk_id, batch).status_code == 200
    assert api.balance(card_b) == 30


# -- site card policy ------------------------------------------------------------------------------
def test_site_policy_defaults_off_and_can_be_changed(api: Api) -> None:
    plain = api.create_site()
    pilot = api.create_site(allow_uncredentialed=True)
    assert (plain["allow_uncredentialed"], pilot["allow_uncredentialed"]) == (False, True)
    changed = api.admin(
        "POST", f"/v1/admin/sites/{plain['site_id']}/policy", {"allow_uncredentialed": True}, expect=200
    ).json()
    assert changed == {**plain, "allow_uncredentialed": True}
    sites = api.admin("GET", "/v1/admin/sites", expect=200).json()["sites"]
    assert sites == [changed, pilot]


def test_site_policy_errors(api: Api) -> None:
    unknown = f"/v1/admin/sites/s_{'0' * 32}/policy"
    assert_error(api.admin("POST", unknown, {"allow_uncredentialed": True}), 404, Reason.UNKNOWN_SITE)
    site = api.create_site()
    path = f"/v1/admin/sites/{site['site_id']}/policy"
    for body in ({}, {"allow_uncredentialed": 1}, {"allow_uncredentialed": "true"}, {"x": True}, None):
        assert_error(api.admin("POST", path, body), 400, Reason.MALFORMED_REQUEST)
    body = {"name": "X", "tokens_per_hour": 1, "allow_uncredentialed": 0}
    assert_error(api.admin("POST", "/v1/admin/sites", body), 400, Reason.MALFORMED_REQUEST)
    assert api.admin("GET", "/v1/admin/sites", expect=200).json()["sites"] == [site]
