"""Coordinator cards: granted and withdrawn idempotently, listed in every trust list, never blocked."""

from __future__ import annotations

from typing import Any

import pytest
from server_helpers import HOUR, T0, Api, World, assert_error

from protocol import PublicKey, Reason, verify_trust_list
from protocol.trust import TrustList

UID = bytes.fromhex("04112233445566")
UNKNOWN_CARD = "c_" + "0" * 32


def _role(api: Api, card_id: str, coordinator: bool, *, expect: int | None = 200) -> Any:
    response = api.admin("POST", f"/v1/admin/cards/{card_id}/coordinator", {"coordinator": coordinator})
    if expect is not None:
        assert response.status_code == expect, response.text
    return response


def _trust(api: Api, kiosk_id: str, server_key: PublicKey) -> TrustList:
    response = api.trust(kiosk_id)
    assert response.status_code == 200, response.text
    return verify_trust_list(response.json(), server_key, kiosk_id=kiosk_id)


def _coordinators(trust: TrustList, card_id: str) -> bool:
    """Whether ``trust`` lists exactly one coordinator card, ``card_id`` (by its salted hash, v4)."""
    return len(trust.coordinators) == 1 and trust.is_coordinator(card_id)


def _log_size(api: Api) -> int:
    with api.context.storage.read() as tx:
        return tx.tlog_size()


def test_grant_lists_the_card_in_the_trust_list_and_withdraw_removes_it(
    api: Api, world: World, server_key: PublicKey
) -> None:
    assert _trust(api, world.kiosk.kiosk_id, server_key).coordinators == frozenset()
    card = _role(api, world.card_id, True).json()
    assert (card["card_id"], card["coordinator"], card["coordinator_ms"]) == (world.card_id, True, T0)
    assert _coordinators(_trust(api, world.kiosk.kiosk_id, server_key), world.card_id)

    api.clock.now = T0 + HOUR
    withdrawn = _role(api, world.card_id, False).json()
    assert (withdrawn["coordinator"], withdrawn["coordinator_ms"]) == (False, None)
    assert _trust(api, world.kiosk.kiosk_id, server_key).coordinators == frozenset()


def test_grant_and_withdraw_are_idempotent(api: Api, world: World) -> None:
    first = _role(api, world.card_id, True).json()
    api.clock.now = T0 + HOUR
    assert _role(api, world.card_id, True).json() == first  # the first grant's time stays
    assert _role(api, world.card_id, False).json()["coordinator"] is False
    assert _role(api, world.card_id, False).json()["coordinator"] is False
    again = _role(api, world.card_id, True).json()
    assert (again["coordinator"], again["coordinator_ms"]) == (True, T0 + HOUR)


def test_the_card_list_shows_the_role(api: Api, world: World) -> None:
    other = api.create_card("Grace")["card_id"]
    _role(api, world.card_id, True)
    cards = api.admin("GET", "/v1/admin/cards", expect=200).json()["cards"]
    assert {c["card_id"]: (c["coordinator"], c["coordinator_ms"]) for c in cards} == {
        world.card_id: (True, T0),
        other: (False, None),
    }


def test_coordinators_are_server_wide_and_come_with_enrolment(api: Api, world: World, server_key) -> None:
    """Cards have no site, so every kiosk of every site learns every coordinator card."""
    _role(api, world.card_id, True)
    elsewhere = api.enrol_kiosk(api.create_site(tokens_per_hour=5)["site_id"])
    first = verify_trust_list(elsewhere.enrolment["trust"], server_key, kiosk_id=elsewhere.kiosk_id)
    assert _coordinators(first, world.card_id)
    for kiosk_id in (world.kiosk.kiosk_id, elsewhere.kiosk_id):
        assert _coordinators(_trust(api, kiosk_id, server_key), world.card_id)


def test_unknown_cards_are_refused(api: Api) -> None:
    for coordinator in (True, False):
        response = _role(api, UNKNOWN_CARD, coordinator, expect=None)
        assert_error(response, 404, Reason.UNKNOWN_CARD)


def test_a_blocked_card_is_never_a_coordinator(api: Api, world: World, server_key: PublicKey) -> None:
    _role(api, world.card_id, True)
    blocked = api.block(world.card_id, reason="lost")
    assert (blocked["coordinator"], blocked["coordinator_ms"]) == (False, None)  # blocking withdraws it
    assert _trust(api, world.kiosk.kiosk_id, server_key).coordinators == frozenset()
    assert_error(_role(api, world.card_id, True, expect=None), 409, Reason.CARD_BLOCKED)
    assert _role(api, world.card_id, False).json()["coordinator"] is False  # withdrawing still works
    assert _trust(api, world.kiosk.kiosk_id, server_key).coordinators == frozenset()


def test_a_uid_card_cannot_be_a_coordinator(api: Api, world: World, server_key: PublicKey) -> None:
    """A UID pseudonym is no proof (UIDs can be cloned), so the role needs a credential card."""
    pilot = api.create_card(volunteer_id=world.volunteer_id, uid=UID.hex())["card_id"]
    assert_error(_role(api, pilot, True, expect=None), 409, Reason.UNCREDENTIALED_CARD)
    assert _role(api, pilot, False).json()["coordinator"] is False
    assert _trust(api, world.kiosk.kiosk_id, server_key).coordinators == frozenset()


def test_a_role_changed_behind_the_service_still_never_lists_a_blocked_card(
    api: Api, world: World, server_key: PublicKey
) -> None:
    api.block(world.card_id)
    with api.context.storage.write() as tx:
        tx.set_card_coordinator(world.card_id, T0)  # as a bug or a hand edit would
    assert _trust(api, world.kiosk.kiosk_id, server_key).coordinators == frozenset()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"coordinator": 1},
        {"coordinator": "yes"},
        {"coordinator": None},
        {"coordinator": True, "x": 1},
        [],
    ],
)
def test_bad_bodies_are_malformed_and_change_nothing(api: Api, world: World, body: Any) -> None:
    response = api.admin("POST", f"/v1/admin/cards/{world.card_id}/coordinator", body)
    assert_error(response, 400, Reason.MALFORMED_REQUEST)
    card = api.admin("GET", "/v1/admin/cards", expect=200).json()["cards"][0]
    assert card["coordinator"] is False


def test_the_endpoint_needs_the_admin_token(api: Api, world: World) -> None:
    response = api.http.post(f"/v1/admin/cards/{world.card_id}/coordinator", json={"coordinator": True})
    assert_error(response, 401, Reason.UNAUTHORIZED)


def test_the_role_is_not_a_transparency_log_entry(api: Api, world: World) -> None:
    """It decides no balance; the log holds what an auditor needs to replay balances (see server.cards)."""
    before = _log_size(api)
    _role(api, world.card_id, True)
    _role(api, world.card_id, False)
    assert _log_size(api) == before
