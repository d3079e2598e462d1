"""The kiosk trust list: signed; the trusted keys, blocked cards and earning rules; never dated backwards."""

from __future__ import annotations

import pytest
from server_helpers import ENROLLED_BEFORE, HOUR, T0, Api, World, assert_error
from server_shop_helpers import create_shop

from protocol import (
    Decision,
    EarningRules,
    PrivateKey,
    PublicKey,
    Reason,
    VerificationError,
    coordinator_id,
    issue_credential,
    sign_decision,
    uid_pseudonym,
    verify_credential,
    verify_trust_list,
)
from protocol.earning import parse_bonuses
from protocol.trust import TrustList
from server.models import KioskStatus

NOW_S = T0 // 1000
UID = bytes.fromhex("04112233445566")


def _fetch(api: Api, kiosk_id: str, server_key: PublicKey) -> TrustList:
    response = api.trust(kiosk_id)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"body", "sig"}
    return verify_trust_list(response.json(), server_key, kiosk_id=kiosk_id)


def test_trust_list_holds_active_and_retired_keys_and_every_blocked_card(
    api: Api, world: World, server_key: PublicKey
) -> None:
    (_, active), (_, retired), (_, revoked) = (api.add_issuer_key() for _ in range(3))
    api.admin("POST", f"/v1/admin/issuer-keys/{retired['key_id']}/retire", expect=200)
    api.admin("POST", f"/v1/admin/issuer-keys/{revoked['key_id']}/revoke", expect=200)
    pilot = api.create_card("Pilot", uid=UID.hex())["card_id"]
    lost = api.create_card(volunteer_id=world.volunteer_id)["card_id"]
    api.block(lost, reason="lost")
    api.block(pilot)

    trust = _fetch(api, world.kiosk.kiosk_id, server_key)
    assert (trust.kiosk, trust.site) == (world.kiosk.kiosk_id, world.site["site_id"])
    assert dict(trust.issuers) == {
        active["key_id"]: PublicKey.from_b64(active["public_key"]),
        retired["key_id"]: PublicKey.from_b64(retired["public_key"]),
    }
    # v4: the list names cards by salted hash only; a kiosk hashes a tapped card to look it up.
    assert trust.card_salt is not None and len(trust.blocked) == 2
    assert trust.is_blocked(lost) and trust.is_blocked(pilot)
    assert not trust.is_blocked(world.card_id)
    assert trust.allow_uncredentialed is False


def test_trust_list_carries_the_site_policy(api: Api, world: World, server_key: PublicKey) -> None:
    path = f"/v1/admin/sites/{world.site['site_id']}/policy"
    api.admin("POST", path, {"allow_uncredentialed": True}, expect=200)
    assert _fetch(api, world.kiosk.kiosk_id, server_key).allow_uncredentialed is True
    other_site = api.create_site()
    other = api.enrol_kiosk(other_site["site_id"])
    assert _fetch(api, other.kiosk_id, server_key).allow_uncredentialed is False
    api.admin("POST", path, {"allow_uncredentialed": False}, expect=200)
    assert _fetch(api, world.kiosk.kiosk_id, server_key).allow_uncredentialed is False


def test_list_is_for_one_kiosk_only(api: Api, world: World, server_key: PublicKey) -> None:
    other = api.enrol_kiosk(world.site["site_id"])
    with pytest.raises(VerificationError) as caught:
        verify_trust_list(api.trust(world.kiosk.kiosk_id).json(), server_key, kiosk_id=other.kiosk_id)
    assert caught.value.reason is Reason.BAD_TRUST_LIST


def test_issued_ms_never_goes_back(api: Api, world: World, server_key: PublicKey) -> None:
    kiosk_id = world.kiosk.kiosk_id
    first = verify_trust_list(world.kiosk.enrolment["trust"], server_key, kiosk_id=kiosk_id).issued_ms
    issued = [first, _fetch(api, kiosk_id, server_key).issued_ms]  # at enrolment, then at T0
    api.clock.now = T0 - HOUR  # the server's clock steps back
    issued.append(_fetch(api, kiosk_id, server_key).issued_ms)
    other = api.enrol_kiosk(world.site["site_id"], enrolled_ms=T0 - HOUR)  # the enrolment answer too
    issued.append(verify_trust_list(other.enrolment["trust"], server_key, kiosk_id=other.kiosk_id).issued_ms)
    issued.append(_fetch(api, kiosk_id, server_key).issued_ms)
    assert issued == [T0 - ENROLLED_BEFORE, T0, T0 + 1, T0 + 2, T0 + 3]  # strictly increasing
    api.clock.now = T0 + HOUR  # once the clock is ahead again, it is the clock
    assert _fetch(api, kiosk_id, server_key).issued_ms == T0 + HOUR


def test_enrolment_answer_holds_a_current_trust_list(api: Api, server_key: PublicKey) -> None:
    site = api.create_site(allow_uncredentialed=True)
    _, key = api.add_issuer_key()
    lost = api.create_card("Grace")["card_id"]
    api.block(lost)
    kiosk = api.enrol_kiosk(site["site_id"])
    assert kiosk.enrolment["server_public_key"] == server_key.to_b64()
    trust = verify_trust_list(kiosk.enrolment["trust"], server_key, kiosk_id=kiosk.kiosk_id)
    assert (trust.site, trust.allow_uncredentialed, len(trust.blocked)) == (site["site_id"], True, 1)
    assert trust.is_blocked(lost)
    assert [key_id for key_id, _ in trust.issuers] == [key["key_id"]]
    assert _fetch(api, kiosk.kiosk_id, server_key).issued_ms > trust.issued_ms


def test_a_credential_through_its_life(api: Api, world: World, server_key: PublicKey) -> None:
    """Issued under a key, accepted; blocked, denied; its key revoked, unknown issuer."""
    issuer, key = api.add_issuer_key()
    card = api.create_card(
        volunteer_id=world.volunteer_id,
        issuer_key_id=key["key_id"],
        valid_from_s=NOW_S - 60,
        valid_until_s=NOW_S + 3600,
    )
    payload = issue_credential(
        issuer, card_id=card["card_id"], uid=UID, valid_from_s=NOW_S - 60, valid_until_s=NOW_S + 3600
    )

    def check() -> Reason | None:
        trust = _fetch(api, world.kiosk.kiosk_id, server_key).card_trust
        try:
            verify_credential(payload, uid=UID, trust=trust, now_s=NOW_S)
        except VerificationError as exc:
            return exc.reason
        return None

    assert check() is None
    api.admin("POST", f"/v1/admin/issuer-keys/{key['key_id']}/retire", expect=200)
    assert check() is None  # rotation keeps issued cards working
    api.block(card["card_id"])
    assert check() is Reason.CARD_BLOCKED
    api.admin("POST", f"/v1/admin/issuer-keys/{key['key_id']}/revoke", expect=200)
    assert check() is Reason.UNKNOWN_ISSUER
    # A credential from a key the server never heard of is refused the same way.
    stranger = issue_credential(
        PrivateKey.generate(), card_id=card["card_id"], uid=UID, valid_from_s=0, valid_until_s=2**32 - 1
    )
    with pytest.raises(VerificationError) as caught:
        trust = _fetch(api, world.kiosk.kiosk_id, server_key).card_trust
        verify_credential(stranger, uid=UID, trust=trust, now_s=NOW_S)
    assert caught.value.reason is Reason.UNKNOWN_ISSUER


def test_blocked_uid_card_is_listed_by_pseudonym(api: Api, world: World, server_key: PublicKey) -> None:
    card = api.create_card("Pilot", uid=UID.hex())["card_id"]
    api.block(card)
    listed = _fetch(api, world.kiosk.kiosk_id, server_key)
    assert len(listed.blocked) == 1 and listed.is_blocked(uid_pseudonym(UID, api.context.uid_pseudonym_key))


def test_unknown_and_revoked_kiosks_get_no_list(api: Api, world: World, server_key: PublicKey) -> None:
    for kiosk_id in ("k_" + "0" * 32, "nonsense"):
        assert_error(api.trust(kiosk_id), 404, Reason.UNKNOWN_KIOSK)
    api.admin("POST", f"/v1/admin/kiosks/{world.kiosk.kiosk_id}/revoke", expect=200)
    assert_error(api.trust(world.kiosk.kiosk_id), 403, Reason.KIOSK_REVOKED)
    api.assert_serving()


def test_suspended_kiosk_still_gets_current_blocks(api: Api, world: World, server_key: PublicKey) -> None:
    with api.context.storage.write() as tx:
        tx.set_kiosk_status(world.kiosk.kiosk_id, KioskStatus.SUSPENDED)
    api.block(world.card_id)
    listed = _fetch(api, world.kiosk.kiosk_id, server_key)
    assert len(listed.blocked) == 1 and listed.is_blocked(world.card_id)


def test_trust_list_needs_no_admin_token(api: Api, world: World) -> None:
    response = api.http.get(f"/v1/kiosks/{world.kiosk.kiosk_id}/trust", headers={"Authorization": "Bearer x"})
    assert response.status_code == 200


NIGHT = {"percent": 125, "days": [0, 1, 2, 3, 4, 5, 6], "dates": [], "from": "22:00", "to": "06:00"}


def test_a_site_rules_decision_reaches_the_kiosk_with_its_next_list(
    api: Api, world: World, server_key: PublicKey
) -> None:
    kiosk_id = world.kiosk.kiosk_id
    before = _fetch(api, kiosk_id, server_key)
    assert before.earning == EarningRules(10, max_shift_hours=12) and before.shop is None
    boss = PrivateKey.generate()
    body = {"name": "Grace Hopper", "public_key": boss.public_key.to_b64()}
    api.admin("POST", "/v1/admin/coordinators", body, expect=201)
    data = {"site": world.site["site_id"], "tokens_per_hour": 12, "max_shift_hours": 8}
    data |= {"daily_cap": 50, "bonuses": [NIGHT]}
    wire = sign_decision(Decision("site_rules", coordinator_id(boss.public_key), T0, data), boss)
    api.admin("POST", "/v1/admin/decisions", wire, expect=200)
    # Lists are built per request, so the very next one (no clock movement needed) has the new rules.
    after = _fetch(api, kiosk_id, server_key)
    assert after.issued_ms > before.issued_ms  # newer, so the kiosk keeps it
    assert after.earning == EarningRules(12, 50, parse_bonuses([NIGHT]), max_shift_hours=8)
    assert after.earning.to_json()["bonuses"] == [NIGHT]  # exactly as the decision carried them


def test_a_shop_terminal_list_has_shop_limits_and_no_earning_rules(api: Api, server_key: PublicKey) -> None:
    shop = api.enrol_kiosk(create_shop(api)["site_id"])
    trust = _fetch(api, shop.kiosk_id, server_key)
    assert trust.is_shop and trust.earning is None
