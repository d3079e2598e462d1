"""Coordinator keys: registered and revoked over the admin API, logged without names.

Not coordinator *cards* (``test_server_coordinators.py``): these are the keys
coordinators sign their decisions with.
"""

from __future__ import annotations

from typing import Any

import pytest
from server_helpers import HOUR, T0, Api, assert_error

from protocol import PrivateKey, b64encode, coordinator_id
from protocol.logentry import parse_entry


def register(api: Api, key: PrivateKey, name: str = "Grace Hopper", *, expect: int = 201) -> dict[str, Any]:
    body = {"name": name, "public_key": key.public_key.to_b64()}
    return api.admin("POST", "/v1/admin/coordinators", body, expect=expect).json()


def log(api: Api) -> list[bytes]:
    with api.context.storage.read() as tx:
        return tx.tlog_entry_range(0, tx.tlog_size())


def test_registering_a_key_answers_its_derived_id_and_logs_it_without_the_name(api: Api) -> None:
    key = PrivateKey.generate()
    before = log(api)
    record = register(api, key)
    assert record == {
        "coordinator_id": coordinator_id(key.public_key),
        "name": "Grace Hopper",
        "public_key": key.public_key.to_b64(),
        "status": "active",
        "created_ms": T0,
        "changed_ms": T0,
    }
    after = log(api)
    assert after[: len(before)] == before and len(after) == len(before) + 1
    assert parse_entry(after[-1]) == {
        "kind": "coordinator_key",
        "type": "kokreativ.entry",
        "v": 2,  # a fresh data folder writes entry v2
        "coordinator_id": record["coordinator_id"],
        "public_key": record["public_key"],
        "status": "active",
        "at_ms": T0,
    }
    assert not any(b"Grace" in entry for entry in after)


def test_the_same_key_again_is_the_existing_record_and_logs_nothing(api: Api) -> None:
    key = PrivateKey.generate()
    first = register(api, key, "Grace Hopper")
    size = len(log(api))
    api.clock.now += HOUR
    assert register(api, key, "Someone Else", expect=200) == first
    assert len(log(api)) == size


def test_list_shows_every_key_with_its_name_oldest_first(api: Api) -> None:
    assert api.admin("GET", "/v1/admin/coordinators", expect=200).json() == {"coordinators": []}
    grace, ada = PrivateKey.generate(), PrivateKey.generate()
    register(api, grace, "Grace Hopper")
    api.clock.now += 1
    register(api, ada, "Ada Lovelace")
    listed = api.admin("GET", "/v1/admin/coordinators", expect=200).json()["coordinators"]
    assert [(c["name"], c["coordinator_id"]) for c in listed] == [
        ("Grace Hopper", coordinator_id(grace.public_key)),
        ("Ada Lovelace", coordinator_id(ada.public_key)),
    ]


def test_revoking_is_logged_once_and_final(api: Api) -> None:
    key = PrivateKey.generate()
    record = register(api, key)
    api.clock.now += HOUR
    path = f"/v1/admin/coordinators/{record['coordinator_id']}/revoke"
    revoked = api.admin("POST", path, expect=200).json()
    assert revoked == {**record, "status": "revoked", "changed_ms": T0 + HOUR}
    entries = log(api)
    assert parse_entry(entries[-1])["status"] == "revoked"
    assert parse_entry(entries[-1])["at_ms"] == T0 + HOUR
    api.clock.now += HOUR
    assert api.admin("POST", path, expect=200).json() == revoked  # again: unchanged, not logged
    assert register(api, key, expect=200) == revoked  # registering again never reactivates it
    assert log(api) == entries


@pytest.mark.parametrize("coordinator", ["o_" + "0" * 32, "nonsense", "c_" + "0" * 32])
def test_revoking_an_unknown_key_is_404(api: Api, coordinator: str) -> None:
    size = len(log(api))
    assert_error(
        api.admin("POST", f"/v1/admin/coordinators/{coordinator}/revoke"), 404, "unknown_coordinator"
    )
    assert len(log(api)) == size


@pytest.mark.parametrize(
    "body",
    [
        {"public_key": PrivateKey.generate().public_key.to_b64()},  # no name
        {"name": "", "public_key": PrivateKey.generate().public_key.to_b64()},
        {"name": "x" * 201, "public_key": PrivateKey.generate().public_key.to_b64()},
        {"name": "Grace"},
        {"name": "Grace", "public_key": b64encode(b"\x01" * 31)},
        {"name": "Grace", "public_key": "not base64!"},
        {"name": "Grace", "public_key": PrivateKey.generate().public_key.to_b64(), "status": "active"},
    ],
)
def test_a_malformed_registration_is_refused_and_changes_nothing(api: Api, body: dict[str, Any]) -> None:
    size = len(log(api))
    assert_error(api.admin("POST", "/v1/admin/coordinators", body), 400, "malformed_request")
    assert len(log(api)) == size
    assert api.admin("GET", "/v1/admin/coordinators", expect=200).json() == {"coordinators": []}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/admin/coordinators"),
        ("GET", "/v1/admin/coordinators"),
        ("POST", "/v1/admin/coordinators/o_" + "0" * 32 + "/revoke"),
    ],
)
def test_every_coordinator_key_endpoint_needs_the_admin_token(api: Api, method: str, path: str) -> None:
    body = {"name": "Grace", "public_key": PrivateKey.generate().public_key.to_b64()}
    response = api.http.request(method, path, json=body if method == "POST" else None)
    assert_error(response, 401, "unauthorized")
    wrong = api.http.request(method, path, json=body, headers={"Authorization": "Bearer wrong"})
    assert_error(wrong, 401, "unauthorized")
