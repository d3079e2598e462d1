"""The balance sheet in every ingest answer: the batch's cards, their volunteers' balances after the batch."""

from __future__ import annotations

from typing import Any

import pytest
from server_helpers import HOUR, T0, Api, World

from protocol import BalanceSheet, EventKind, PublicKey, Reason, VerificationError, ids, verify_balances

UID = bytes.fromhex("04112233445566")


def _sheet(response: Any, kiosk_id: str, server_key: PublicKey) -> BalanceSheet:
    assert response.status_code == 200, response.text
    return verify_balances(response.json()["balances"], server_key, kiosk_id=kiosk_id)


def test_a_paid_check_out_is_in_the_balance_of_the_same_answer(
    api: Api, world: World, server_key: PublicKey
) -> None:
    k = world.kiosk
    api.clock.now = T0 + 3 * HOUR
    batch = [
        k.event(EventKind.CHECK_IN, world.card_id, T0),
        k.event(EventKind.CHECK_OUT, world.card_id, T0 + 2 * HOUR),
    ]
    sheet = _sheet(api.send(k.kiosk_id, batch), k.kiosk_id, server_key)
    assert sheet == BalanceSheet(kiosk=k.kiosk_id, as_of_ms=T0 + 3 * HOUR, balances={world.card_id: 20})
    assert api.balance(world.card_id) == 20


def test_balances_add_up_over_batches_and_belong_to_the_volunteer(
    api: Api, world: World, server_key: PublicKey
) -> None:
    k = world.kiosk
    spare = api.create_card(volunteer_id=world.volunteer_id)["card_id"]
    api.send(
        k.kiosk_id, [k.event("check_in", world.card_id, T0), k.event("check_out", world.card_id, T0 + HOUR)]
    )
    api.clock.now = T0 + 5 * HOUR
    batch = [k.event("check_in", spare, T0 + 2 * HOUR), k.event("check_out", spare, T0 + 4 * HOUR)]
    sheet = _sheet(api.send(k.kiosk_id, batch), k.kiosk_id, server_key)
    assert sheet.balances == {spare: 30}  # 10 from the first card's shift, 20 from this one
    assert sheet.as_of_ms == T0 + 5 * HOUR


def test_only_registered_cards_of_the_batch_and_uid_cards_too(api: Api, world: World, server_key) -> None:
    k = world.kiosk
    pilot = api.create_card("Pilot", uid=UID.hex())["card_id"]
    bystander = api.create_card("Not here today")["card_id"]
    stranger = ids.new_id(ids.CARD)
    batch = [
        k.event("check_in", world.card_id, T0),
        k.event("check_in", pilot, T0),
        k.event("check_in", stranger, T0),  # unregistered: no volunteer, no balance
        k.event("denied", ids.new_id(ids.UID_CARD), T0),
    ]
    sheet = _sheet(api.send(k.kiosk_id, batch), k.kiosk_id, server_key)
    assert sheet.balances == {world.card_id: 0, pilot: 0}
    assert bystander not in sheet.balances


def test_a_resent_batch_still_brings_the_balances(api: Api, world: World, server_key: PublicKey) -> None:
    k = world.kiosk
    batch = [k.event("check_in", world.card_id, T0), k.event("check_out", world.card_id, T0 + HOUR)]
    first = _sheet(api.send(k.kiosk_id, batch), k.kiosk_id, server_key)
    api.clock.now = T0 + 2 * HOUR
    response = api.send(k.kiosk_id, batch)
    assert [r["status"] for r in response.json()["results"]] == ["duplicate", "duplicate"]
    again = _sheet(response, k.kiosk_id, server_key)
    assert again.balances == first.balances == {world.card_id: 10}
    assert again.as_of_ms == T0 + 2 * HOUR


def test_the_sheet_is_for_the_sending_kiosk_only(api: Api, world: World, server_key: PublicKey) -> None:
    k = world.kiosk
    other = api.enrol_kiosk(world.site["site_id"])
    answer = api.send(k.kiosk_id, [k.event("check_in", world.card_id, T0)]).json()
    assert verify_balances(answer["balances"], server_key, kiosk_id=k.kiosk_id).kiosk == k.kiosk_id
    with pytest.raises(VerificationError) as info:
        verify_balances(answer["balances"], server_key, kiosk_id=other.kiosk_id)
    assert info.value.reason is Reason.KIOSK_MISMATCH
