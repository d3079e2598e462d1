"""POST /v1/kiosks/{kiosk_id}/balance: one card's signed balance for a kiosk holding a fresh tap of it."""

from __future__ import annotations

import json

import pytest
from server_helpers import HOUR, T0, Api, FakeKiosk, World, assert_error

from protocol import EventKind, PrivateKey, PublicKey, issue_credential, uid_pseudonym, verify_balances
from protocol.balancequery import MAX_SKEW_MS, BalanceQuery, sign_balance_query
from server.balancequery import QUERIES_PER_HOUR
from server.models import KioskStatus

UID = bytes.fromhex("04112233445566")


def _credential(key: PrivateKey, card_id: str) -> bytes:
    return issue_credential(
        key, card_id=card_id, uid=UID, valid_from_s=1_700_000_000, valid_until_s=1_900_000_000
    )


def _ask(
    api: Api,
    kiosk: FakeKiosk,
    card: str,
    credential: bytes,
    *,
    at_ms: int = T0,
    key: PrivateKey | None = None,
):
    query = BalanceQuery.fresh(kiosk=kiosk.kiosk_id, card=card, credential=credential, at_ms=at_ms)
    return _post(api, kiosk.kiosk_id, sign_balance_query(query, key or kiosk.key))


def _post(api: Api, kiosk_id: str, wire: dict[str, str]):
    return api.post_raw(f"/v1/kiosks/{kiosk_id}/balance", json.dumps(wire).encode())


@pytest.fixture
def issuer(api: Api) -> PrivateKey:
    return api.add_issuer_key()[0]


def test_the_answer_is_a_signed_sheet_of_that_one_card(api: Api, world: World, issuer, server_key: PublicKey):
    kiosk = world.kiosk
    api.send(kiosk.kiosk_id, [kiosk.event(EventKind.CHECK_IN, world.card_id, T0 - 3 * HOUR)])
    api.send(kiosk.kiosk_id, [kiosk.event(EventKind.CHECK_OUT, world.card_id, T0 - HOUR)])
    response = _ask(api, kiosk, world.card_id, _credential(issuer, world.card_id))
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"balances"}
    sheet = verify_balances(response.json()["balances"], server_key, kiosk_id=kiosk.kiosk_id)
    assert (sheet.balances, sheet.as_of_ms) == ({world.card_id: 20}, T0)


@pytest.mark.parametrize("skew", [-MAX_SKEW_MS - 1, MAX_SKEW_MS + 1])
def test_a_query_outside_the_freshness_window_is_stale(api: Api, world: World, issuer, skew: int):
    response = _ask(api, world.kiosk, world.card_id, _credential(issuer, world.card_id), at_ms=T0 + skew)
    assert_error(response, 400, "stale_request")
    ok = _ask(api, world.kiosk, world.card_id, _credential(issuer, world.card_id), at_ms=T0 + MAX_SKEW_MS)
    assert ok.status_code == 200, ok.text


def test_a_replayed_query_is_refused(api: Api, world: World, issuer):
    query = BalanceQuery.fresh(
        kiosk=world.kiosk.kiosk_id,
        card=world.card_id,
        credential=_credential(issuer, world.card_id),
        at_ms=T0,
    )
    wire = sign_balance_query(query, world.kiosk.key)
    assert _post(api, world.kiosk.kiosk_id, wire).status_code == 200
    assert_error(_post(api, world.kiosk.kiosk_id, wire), 409, "replayed")


def test_only_the_kiosks_own_key_and_an_active_kiosk_may_ask(api: Api, world: World, issuer):
    credential = _credential(issuer, world.card_id)
    assert_error(
        _ask(api, world.kiosk, world.card_id, credential, key=PrivateKey.generate()), 400, "bad_signature"
    )
    other = api.enrol_kiosk(world.site["site_id"])
    query = BalanceQuery.fresh(kiosk=other.kiosk_id, card=world.card_id, credential=credential, at_ms=T0)
    assert_error(
        _post(api, world.kiosk.kiosk_id, sign_balance_query(query, world.kiosk.key)), 400, "kiosk_mismatch"
    )
    with api.context.storage.write() as tx:
        tx.set_kiosk_status(world.kiosk.kiosk_id, KioskStatus.SUSPENDED)
    assert_error(_ask(api, world.kiosk, world.card_id, credential), 423, "kiosk_suspended")


def test_the_credential_must_be_genuine_and_name_the_card(api: Api, world: World, issuer):
    other = api.create_card("Grace")["card_id"]
    assert_error(_ask(api, world.kiosk, world.card_id, _credential(issuer, other)), 400, "bad_credential")
    stranger = PrivateKey.generate()  # an issuer the server does not know
    assert_error(
        _ask(api, world.kiosk, world.card_id, _credential(stranger, world.card_id)), 404, "unknown_issuer"
    )
    forged = bytearray(_credential(issuer, world.card_id))
    forged[-1] ^= 1
    assert_error(_ask(api, world.kiosk, world.card_id, bytes(forged)), 400, "credential_forged")


def test_unknown_and_blocked_cards_get_no_balance(api: Api, world: World, issuer):
    from protocol import ids

    unregistered = ids.new_id(ids.CARD)
    assert_error(_ask(api, world.kiosk, unregistered, _credential(issuer, unregistered)), 404, "unknown_card")
    api.block(world.card_id)
    assert_error(
        _ask(api, world.kiosk, world.card_id, _credential(issuer, world.card_id)), 409, "card_blocked"
    )


def test_a_uid_card_is_answered_only_where_the_site_allows_them(api: Api, world: World):
    strict = world.kiosk
    pilot_site = api.create_site(allow_uncredentialed=True)
    pilot = api.enrol_kiosk(pilot_site["site_id"])
    card = api.create_card("Pilot", uid=UID.hex(), site_id=pilot_site["site_id"])[
        "card_id"
    ]  # home: the pilot
    assert card == uid_pseudonym(UID, api.context.uid_pseudonym_key)
    assert_error(_ask(api, strict, card, b""), 409, "uncredentialed_card")
    assert _ask(api, pilot, card, b"").status_code == 200


def test_a_kiosk_gets_its_hourly_quota_and_then_429(api: Api, world: World, issuer):
    credential = _credential(issuer, world.card_id)
    for _ in range(QUERIES_PER_HOUR):
        assert _ask(api, world.kiosk, world.card_id, credential).status_code == 200
    assert_error(_ask(api, world.kiosk, world.card_id, credential), 429, "quota_exceeded")
    other = api.enrol_kiosk(world.site["site_id"])  # per kiosk
    assert _ask(api, other, world.card_id, credential).status_code == 200
    api.clock.now = T0 + HOUR + MAX_SKEW_MS + 1  # an hour on, the count starts again
    assert _ask(api, world.kiosk, world.card_id, credential, at_ms=api.clock.now).status_code == 200
