"""Cards prepared in the console, pending until a read-back confirms them (server.cardissuing)."""

from __future__ import annotations

import base64
from typing import Any

from protocol import EventKind, Reason
from server import cardissuing
from server.context import ServerContext
from server.errors import ServiceError
from tests.cardfactory import TestIssuer, uid_for
from tests.server.server_helpers import T0, Api, World, assert_error

HOUR = 3_600_000


def _issuer(api: Api) -> TestIssuer:
    issuer = TestIssuer()
    api.add_issuer_key(issuer.key)
    return issuer


def _prepare(api: Api, volunteer_id: str) -> dict[str, Any]:
    return api.admin("POST", f"/v1/admin/volunteers/{volunteer_id}/cards/prepare", expect=201).json()


def _confirm(api: Api, card_id: str, ndef: bytes, uid: bytes | None = None) -> Any:
    body = {"uid": (uid or uid_for(card_id)).hex(), "ndef": base64.b64encode(ndef).decode()}
    return api.admin("POST", f"/v1/admin/cards/{card_id}/confirm", body)


def test_a_prepared_card_is_pending_and_earns_nothing_until_its_read_back_confirms_it(
    api: Api, world: World
) -> None:
    issuer = _issuer(api)
    prepared = _prepare(api, world.volunteer_id)
    card_id = prepared["card_id"]
    assert prepared["status"] == "pending" and prepared["volunteer_id"] == world.volunteer_id
    listed = api.admin("GET", f"/v1/admin/cards?volunteer_id={world.volunteer_id}", expect=200).json()
    assert card_id not in [c["card_id"] for c in listed["cards"]]
    kiosk = world.kiosk
    taps = [
        kiosk.event(EventKind.CHECK_IN, card_id, T0),
        kiosk.event(EventKind.CHECK_OUT, card_id, T0 + HOUR),
    ]
    assert [r["flags"] for r in api.send(kiosk.kiosk_id, taps).json()["results"]] == [["unknown_card"]] * 2
    assert_error(api.admin("GET", f"/v1/cards/{card_id}/balance"), 404, Reason.UNKNOWN_CARD)

    answer = _confirm(api, card_id, issuer.ndef(card_id))
    assert answer.status_code == 200, answer.text
    assert (
        answer.json()["issuer_key_id"] == issuer.key_id
        and answer.json()["volunteer_id"] == world.volunteer_id
    )
    assert api.admin("GET", f"/v1/admin/cards/{card_id}/prepared", expect=200).json()["status"] == "active"
    later = [
        kiosk.event(EventKind.CHECK_IN, card_id, T0 + 2 * HOUR),
        kiosk.event(EventKind.CHECK_OUT, card_id, T0 + 3 * HOUR),
    ]
    assert [r["flags"] for r in api.send(kiosk.kiosk_id, later).json()["results"]] == [[], []]
    assert api.balance(card_id) == 10  # one hour at 10 tokens; the taps while pending earned nothing
    assert_error(_confirm(api, card_id, issuer.ndef(card_id)), 409, Reason.CARD_NOT_PENDING)


def test_a_read_back_that_does_not_prove_the_write_is_refused_and_the_card_stays_pending(
    api: Api, world: World
) -> None:
    issuer = _issuer(api)
    card_id = _prepare(api, world.volunteer_id)["card_id"]
    other = "c_" + "a" * 32
    stranger = TestIssuer()  # a key the server does not trust
    for ndef, uid in (
        (issuer.ndef(other, uid=uid_for(card_id)), None),  # another card's credential
        (issuer.ndef(card_id), bytes.fromhex("04ffffffffffff")),  # written to another tag
        (stranger.ndef(card_id), None),  # signed by an unknown key
        (b"", None),  # nothing on the tag
        (issuer.ndef(card_id, valid_until_s=T0 // 1000 - 10), None),  # expired
    ):
        assert_error(_confirm(api, card_id, ndef, uid), 409, Reason.READ_BACK_MISMATCH)
    bad = api.admin("POST", f"/v1/admin/cards/{card_id}/confirm", {"uid": "04a1b2c3", "ndef": "%%%"})
    assert_error(bad, 400, Reason.MALFORMED_REQUEST)
    assert api.admin("GET", f"/v1/admin/cards/{card_id}/prepared", expect=200).json()["status"] == "pending"
    api.admin("POST", f"/v1/admin/issuer-keys/{issuer.key_id}/retire", expect=200)
    assert_error(_confirm(api, card_id, issuer.ndef(card_id)), 409, Reason.READ_BACK_MISMATCH)


def test_a_volunteer_has_at_most_two_pending_cards(api: Api, world: World) -> None:
    _prepare(api, world.volunteer_id)
    _prepare(api, world.volunteer_id)
    response = api.admin("POST", f"/v1/admin/volunteers/{world.volunteer_id}/cards/prepare")
    assert_error(response, 409, Reason.TOO_MANY_PENDING_CARDS)
    unknown = api.admin("POST", f"/v1/admin/volunteers/v_{'0' * 32}/cards/prepare")
    assert unknown.status_code == 404


def test_replacing_a_lost_card_blocks_it_and_the_balance_follows_the_volunteer(
    api: Api, world: World, context: ServerContext
) -> None:
    issuer = _issuer(api)
    kiosk = world.kiosk
    shift = [
        kiosk.event(EventKind.CHECK_IN, world.card_id, T0),
        kiosk.event(EventKind.CHECK_OUT, world.card_id, T0 + HOUR),
    ]
    api.send(kiosk.kiosk_id, shift)
    new = cardissuing.replace_card(context, world.card_id, by="test", reason="lost")
    assert new["replaces"] == world.card_id and new["status"] == "pending"
    old = api.admin("GET", f"/v1/admin/cards?volunteer_id={world.volunteer_id}", expect=200).json()["cards"]
    assert [c["block_reason"] for c in old] == ["lost"]
    _confirm(api, new["card_id"], issuer.ndef(new["card_id"])).raise_for_status()
    assert api.balance(new["card_id"]) == 10  # the old card's hour, on the volunteer's balance
    with context.storage.read() as tx:
        statuses = [c["status"] for c in cardissuing.volunteer_cards(context, tx, world.volunteer_id)]
    assert statuses == ["blocked", "active"]


def test_a_pending_card_can_be_cancelled_once(api: Api, world: World, context: ServerContext) -> None:
    card_id = _prepare(api, world.volunteer_id)["card_id"]
    assert cardissuing.cancel_prepared(context, card_id)["status"] == "cancelled"
    issuer = _issuer(api)
    assert_error(_confirm(api, card_id, issuer.ndef(card_id)), 409, Reason.CARD_NOT_PENDING)
    with context.storage.read() as tx:
        assert [c["status"] for c in cardissuing.volunteer_cards(context, tx, world.volunteer_id)] == [
            "active",
            "cancelled",
        ]


def test_registering_a_volunteer_without_a_card_seals_the_name_and_answers_the_secret_once(
    api: Api, world: World, context: ServerContext
) -> None:
    site_id = world.site["site_id"]
    answer = cardissuing.register_volunteer(context, name="Berta Beispiel", site_id=site_id)
    assert answer["home_site_id"] == site_id and len(answer["access_secret"]) == 43
    with context.storage.read() as tx:
        assert tx.home_site(answer["volunteer_id"]) == site_id
        assert b"Berta" not in (tx.sealed_person(answer["volunteer_id"]) or b"Berta")
    assert _prepare(api, answer["volunteer_id"])["status"] == "pending"


def test_a_coordinator_finds_and_opens_only_volunteers_of_their_sites(
    api: Api, world: World, context: ServerContext
) -> None:
    from server import volunteerviews

    site_a = world.site["site_id"]
    site_b = api.create_site()["site_id"]
    berta = cardissuing.register_volunteer(context, name="Berta Beispiel", site_id=site_b)["volunteer_id"]
    kiosk = world.kiosk
    api.send(
        kiosk.kiosk_id,
        [
            kiosk.event(EventKind.CHECK_IN, world.card_id, T0),
            kiosk.event(EventKind.CHECK_OUT, world.card_id, T0 + HOUR),
        ],
    )
    only_a = frozenset({site_a})
    assert [v["name"] for v in volunteerviews.search(context, "ada", only_a)] == ["Ada Lovelace"]
    assert volunteerviews.search(context, "berta", only_a) == []
    assert [v["volunteer_id"] for v in volunteerviews.search(context, berta[:6], None)] == [berta]
    assert [v["volunteer_id"] for v in volunteerviews.search(context, world.card_id, only_a)] == [
        world.volunteer_id
    ]
    page = volunteerviews.detail(context, world.volunteer_id, only_a)
    assert (page["minutes_worked"], page["tokens_credited"], page["balance"]) == (60, 10, 10)
    assert [c["status"] for c in page["cards"]] == ["active"]
    try:
        volunteerviews.detail(context, berta, only_a)
    except ServiceError as exc:
        assert exc.reason is Reason.UNKNOWN_VOLUNTEER
    else:
        raise AssertionError("a volunteer of site B was shown to a coordinator of site A")


def test_erasing_a_volunteer_forgets_their_pending_cards(
    api: Api, world: World, context: ServerContext
) -> None:
    from server import erasure

    issuer = _issuer(api)
    card_id = _prepare(api, world.volunteer_id)["card_id"]
    assert erasure.erase_volunteer(context, world.volunteer_id)["deleted"]["prepared_cards"] == 1
    assert_error(_confirm(api, card_id, issuer.ndef(card_id)), 404, Reason.UNKNOWN_CARD)
    response = api.admin("POST", f"/v1/admin/volunteers/{world.volunteer_id}/cards/prepare")
    assert_error(response, 409, Reason.VOLUNTEER_ERASED)
