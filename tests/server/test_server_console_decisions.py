"""Decisions from the console, as a service: device keys, prepare → sign → submit, scope, four eyes.

The browser's part (sign exactly the prepared bytes with its own Ed25519 key)
is done here with :class:`protocol.PrivateKey`, as ``sign.js`` does it with
WebCrypto; the browser test (``tests/web/test_web_review.py``) does it in
Chromium.  Real server context and SQLite; principals are people's, built from
grants as the console's sessions build them.
"""

from __future__ import annotations

from typing import Any

import pytest
from server_helpers import HOUR, T0, Api, World

from protocol import PrivateKey, b64decode, b64encode, coordinator_id
from protocol.logentry import parse_entry
from server import accounts, console_decisions
from server.errors import ServiceError
from server.principals import Grant, Permission, Principal

DECIDER = frozenset({Permission.REVIEW, Permission.DECIDE})


class Person:
    """A console user: their principal and the device key of their browser."""

    def __init__(
        self, api: Api, name: str, sites: frozenset[str] | None, *, extra: frozenset[Permission] = frozenset()
    ) -> None:
        self.api = api
        self.person_id = accounts.add_person(
            api.context, email=f"{name}@example.org", display_name=name, password="Ehrenamt-2026-" + name
        )
        self.principal = Principal.of_grants(name, [Grant(DECIDER | extra, sites)], person_id=self.person_id)
        self.key = PrivateKey.generate()

    @property
    def key_id(self) -> str:
        return coordinator_id(self.key.public_key)

    def register(self, key: PrivateKey | None = None) -> dict[str, Any]:
        key = key or self.key
        return console_decisions.register_device_key(
            self.api.context, self.principal, {"public_key": key.public_key.to_b64(), "label": "Laptop"}
        )

    def decide(self, kind: str, fields: dict[str, Any], key: PrivateKey | None = None) -> dict[str, Any]:
        key = key or self.key
        prepared = console_decisions.prepare_decision(
            self.api.context, self.principal, coordinator_id(key.public_key), kind, fields
        )
        body = b64decode(prepared["body_b64"], field="body")
        signed: dict[str, Any] = {"body": prepared["body_b64"], "sig": b64encode(key.sign(body))}
        if "opening" in prepared:
            signed["opening"] = prepared["opening"]
        return console_decisions.submit_prepared(self.api.context, self.principal, signed)

    def cosign(self, digest: str, key: PrivateKey | None = None) -> dict[str, Any]:
        key = key or self.key
        prepared = console_decisions.prepare_cosign(self.api.context, self.principal, digest)
        sig = b64encode(key.sign(b64decode(prepared["body_b64"], field="body")))
        return console_decisions.cosign(
            self.api.context, self.principal, digest, coordinator_id(key.public_key), sig
        )


def refused(reason: str, status: int, call: Any, *args: Any) -> None:
    with pytest.raises(ServiceError) as caught:
        call(*args)
    assert (caught.value.reason.value, caught.value.status) == (reason, status)


def shift_fields(world: World, hours: int, site: str | None = None) -> dict[str, Any]:
    return {
        "card": world.card_id,
        "site": site or world.site["site_id"],
        "start_ms": str(T0 - hours * HOUR),
        "end_ms": str(T0),
        "reason": "no_kiosk",
    }


@pytest.fixture
def kim(api: Api, world: World) -> Person:
    person = Person(api, "kim", frozenset({world.site["site_id"]}))
    person.register()
    return person


@pytest.fixture
def lea(api: Api, world: World) -> Person:
    person = Person(api, "lea", frozenset({world.site["site_id"]}))
    person.register()
    return person


def test_a_device_key_is_registered_once_for_its_person_and_logged(
    api: Api, world: World, kim: Person
) -> None:
    keys = console_decisions.list_device_keys(api.context, kim.principal)
    assert [(k["coordinator_id"], k["person_id"], k["status"]) for k in keys] == [
        (kim.key_id, kim.person_id, "active")
    ]
    assert kim.register()["coordinator_id"] == kim.key_id  # again: the same key, unchanged
    other = Person(api, "max", frozenset({world.site["site_id"]}))
    refused("key_already_enrolled", 409, other.register, kim.key)  # another person cannot claim it
    with api.context.storage.read() as tx:
        entries = [parse_entry(tx.tlog_entry(i) or b"") for i in range(tx.tlog_size())]
    assert [e["coordinator_id"] for e in entries if e["kind"] == "coordinator_key"] == [kim.key_id]


def test_a_browser_signed_manual_shift_is_applied_through_the_normal_path(
    api: Api, world: World, kim: Person
) -> None:
    answer = kim.decide("manual_shift", shift_fields(world, 2))
    assert (answer["result"]["minutes"], answer["result"]["tokens"], answer["duplicate"]) == (120, 20, False)
    with api.context.storage.read() as tx:
        entry = parse_entry(tx.tlog_entry(answer["log_index"]) or b"")
    assert entry["kind"] == "decision" and "cosig" not in entry
    assert api.balance(world.card_id) == 20


def test_only_own_keys_and_only_sites_in_scope(api: Api, world: World, kim: Person, lea: Person) -> None:
    ctx = api.context
    refused(
        "not_your_key",
        403,
        console_decisions.prepare_decision,
        ctx,
        kim.principal,
        lea.key_id,
        "manual_shift",
        shift_fields(world, 1),
    )
    other_site = api.create_site()["site_id"]
    refused(
        "unknown_site",
        404,
        console_decisions.prepare_decision,
        ctx,
        kim.principal,
        kim.key_id,
        "manual_shift",
        shift_fields(world, 1, other_site),
    )
    # Bytes signed with Lea's key handed in by Kim: refused, nothing applied.
    prepared = console_decisions.prepare_decision(
        ctx, lea.principal, lea.key_id, "manual_shift", shift_fields(world, 1)
    )
    body = b64decode(prepared["body_b64"], field="body")
    signed = {
        "body": prepared["body_b64"],
        "sig": b64encode(lea.key.sign(body)),
        "opening": prepared["opening"],
    }
    refused("not_your_key", 403, console_decisions.submit_prepared, ctx, kim.principal, signed)
    assert api.balance(world.card_id) == 0


def test_a_long_shift_waits_for_another_person_and_then_carries_both_signatures(
    api: Api, world: World, kim: Person, lea: Person
) -> None:
    answer = kim.decide("manual_shift", shift_fields(world, 9))
    assert (answer["pending"], answer["reason"], answer["minutes"]) == (True, "four_eyes_required", 540)
    assert api.balance(world.card_id) == 0
    digest = answer["decision"]
    [waiting] = console_decisions.pending_for(api.context, lea.principal)
    assert (waiting["decision"], waiting["mine"]) == (digest, False)
    assert console_decisions.pending_for(api.context, kim.principal)[0]["mine"] is True
    second = PrivateKey.generate()
    kim.register(second)  # Kim's other browser is still Kim
    refused("cosigner_same_person", 403, kim.cosign, digest, second)
    applied = lea.cosign(digest)
    assert applied["result"]["tokens"] == 90
    with api.context.storage.read() as tx:
        entry = parse_entry(tx.tlog_entry(applied["log_index"]) or b"")
    assert entry["cosig"]["coordinator"] == lea.key_id
    assert console_decisions.pending_for(api.context, lea.principal) == []
    refused("not_pending", 404, lea.cosign, digest)


def test_a_person_of_another_site_neither_sees_nor_cosigns(api: Api, world: World, kim: Person) -> None:
    elsewhere = Person(api, "ole", frozenset({api.create_site()["site_id"]}))
    elsewhere.register()
    digest = kim.decide("manual_shift", shift_fields(world, 9))["decision"]
    assert console_decisions.pending_for(api.context, elsewhere.principal) == []
    refused("not_pending", 404, elsewhere.cosign, digest)


def test_a_revoked_device_key_signs_nothing_and_drops_what_waited(
    api: Api, world: World, kim: Person, lea: Person
) -> None:
    digest = kim.decide("manual_shift", shift_fields(world, 9))["decision"]
    refused(
        "unknown_coordinator",
        404,
        console_decisions.revoke_device_key,
        api.context,
        lea.principal,
        kim.key_id,
    )
    revoked = console_decisions.revoke_device_key(api.context, kim.principal, kim.key_id)
    assert revoked["status"] == "revoked"
    refused("coordinator_revoked", 403, kim.decide, "manual_shift", shift_fields(world, 1))
    refused("not_pending", 404, lea.cosign, digest)
    admin = Person(api, "ada", None, extra=frozenset({Permission.MANAGE_TEAMS}))
    assert (
        console_decisions.revoke_device_key(api.context, admin.principal, lea.key_id)["status"] == "revoked"
    )


def test_a_decision_waiting_more_than_a_day_is_shown_stale_and_can_only_be_discarded(
    api: Api, world: World, kim: Person, lea: Person
) -> None:
    digest = kim.decide("manual_shift", shift_fields(world, 9))["decision"]
    assert [p["stale"] for p in console_decisions.pending_for(api.context, lea.principal)] == [False]
    api.clock.now += 25 * HOUR
    assert [p["stale"] for p in console_decisions.pending_for(api.context, lea.principal)] == [True]
    refused("decision_stale", 400, lea.cosign, digest)
    assert console_decisions.discard_pending(api.context, lea.principal, digest)["decision"] == digest
    assert console_decisions.pending_for(api.context, lea.principal) == []
    assert api.balance(world.card_id) == 0


def test_prior_engagement_from_the_console_form_is_signed_and_kept_as_hours_without_tokens(
    api: Api, world: World, kim: Person
) -> None:
    fields = {
        "card": world.card_id,
        "site": world.site["site_id"],
        "from_ms": str(T0 - 400 * 24 * HOUR),
        "to_ms": str(T0 - 40 * 24 * HOUR),
        "minutes": "6000",
        "reason": "before_the_pilot",
    }
    answer = kim.decide("prior_hours", fields)
    assert answer["duplicate"] is False
    with api.context.storage.read() as tx:
        kept = tx.prior_hours_of(world.volunteer_id)
    assert [prior.minutes for prior in kept] == [6000]
    assert api.balance(world.card_id) == 0
