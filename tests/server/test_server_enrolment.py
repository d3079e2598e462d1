"""Enrolment over HTTP: a one-time code plus proof of key possession gives a kiosk identity."""

from __future__ import annotations

import hashlib

import pytest
from server_helpers import HOUR, Api, assert_error

from protocol import PrivateKey, PublicKey, Reason, b64encode, enrolment_message, verify_trust_list
from server import enrolment
from tests.server.ledger_file import stored_bytes


def test_enrolment_returns_identity_and_keys(api: Api, server_key: PublicKey) -> None:
    site = api.create_site(tokens_per_hour=12, max_shift_hours=10)
    code = api.create_code(site["site_id"])
    assert len(code) == 24 and code[4] == code[9] == code[14] == code[19] == "-"
    assert code.replace("-", "").isdigit()
    key = PrivateKey.generate()
    response = api.enrol_request(code, key)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "kiosk_id",
        "site_id",
        "site_name",
        "mode",
        "server_public_key",
        "uid_pseudonym_key",
        "tokens_per_hour",
        "max_shift_hours",
        "trust",
        "log_origin",
        "log_verifier_key",
    }
    assert body["kiosk_id"].startswith("k_")
    assert (body["site_id"], body["site_name"]) == (site["site_id"], "Repair café")
    assert body["mode"] == "checkin"
    assert (body["tokens_per_hour"], body["max_shift_hours"]) == (12, 10)
    assert body["server_public_key"] == server_key.to_b64()
    assert body["uid_pseudonym_key"] == b64encode(api.context.uid_pseudonym_key)
    state = api.kiosk_state(body["kiosk_id"])
    assert (state["status"], state["last_seq"], state["head"]) == ("active", 0, "0" * 64)
    # The first trust list comes with the identity, so credentials can be checked before the first sync.
    trust = verify_trust_list(body["trust"], server_key, kiosk_id=body["kiosk_id"])
    assert (trust.site, trust.issuers, trust.blocked, trust.allow_uncredentialed) == (
        site["site_id"],
        (),
        frozenset(),
        False,
    )


def test_code_is_stored_only_as_a_hash(api: Api) -> None:
    site = api.create_site()
    code = api.create_code(site["site_id"])
    digits = code.replace("-", "")
    raw = stored_bytes(api.context.storage)
    assert digits.encode() not in raw
    with api.context.storage.read() as tx:
        assert tx.get_enrolment_code(hashlib.sha256(digits.encode()).hexdigest()) is not None


@pytest.mark.parametrize("spelling", ["{d}", "{a}-{b}-{c}", "{a} {b} {c}", " {a}-{b} {c} "])
def test_dashes_and_spaces_are_ignored(api: Api, spelling: str) -> None:
    digits = api.create_code(api.create_site()["site_id"]).replace("-", "")
    code = spelling.format(d=digits, a=digits[:4], b=digits[4:8], c=digits[8:])
    assert api.enrol_request(code, PrivateKey.generate()).status_code == 200


def test_used_code_is_refused(api: Api) -> None:
    code = api.create_code(api.create_site()["site_id"])
    assert api.enrol_request(code, PrivateKey.generate()).status_code == 200
    before = api.snapshot()
    assert_error(api.enrol_request(code, PrivateKey.generate()), 409, Reason.ENROLMENT_CODE_USED)
    assert api.snapshot() == before
    api.assert_serving()


def test_expired_code_is_refused(api: Api) -> None:
    code = api.create_code(api.create_site()["site_id"], expires_in_s=3600)
    api.clock.now += HOUR
    before = api.snapshot()
    assert_error(api.enrol_request(code, PrivateKey.generate()), 410, Reason.ENROLMENT_CODE_EXPIRED)
    assert api.snapshot() == before


def test_code_is_valid_for_24_hours_by_default(api: Api) -> None:
    site = api.create_site()
    code = api.create_code(site["site_id"])
    api.clock.now += 24 * HOUR - 1
    assert api.enrol_request(code, PrivateKey.generate()).status_code == 200
    code = api.create_code(site["site_id"])
    api.clock.now += 24 * HOUR
    assert_error(api.enrol_request(code, PrivateKey.generate()), 410, Reason.ENROLMENT_CODE_EXPIRED)


@pytest.mark.parametrize(
    "code", ["0" * 20, "1234", "123456789012", "abcdefghijklmnopqrst", "123456789012345678901", ""]
)
def test_unknown_or_malformed_code_is_invalid(api: Api, code: str) -> None:
    api.create_code(api.create_site()["site_id"])
    before = api.snapshot()
    response = api.enrol_request(code, PrivateKey.generate())
    if code == "":
        assert_error(response, 400, Reason.MALFORMED_REQUEST)
    else:
        assert_error(response, 400, Reason.ENROLMENT_CODE_INVALID)
    assert api.snapshot() == before


def test_key_enrols_only_once(api: Api) -> None:
    site = api.create_site()
    key = PrivateKey.generate()
    assert api.enrol_request(api.create_code(site["site_id"]), key).status_code == 200
    second_code = api.create_code(site["site_id"])
    before = api.snapshot()
    assert_error(api.enrol_request(second_code, key), 409, Reason.KEY_ALREADY_ENROLLED)
    assert api.snapshot() == before
    # The code was not spent by the refusal.
    assert api.enrol_request(second_code, PrivateKey.generate()).status_code == 200


def test_signature_by_another_key_is_refused(api: Api) -> None:
    code = api.create_code(api.create_site()["site_id"])
    key, thief = PrivateKey.generate(), PrivateKey.generate()
    digits = code.replace("-", "")
    signature = thief.sign(enrolment_message(digits, key.public_key))
    before = api.snapshot()
    response = api.http.post(
        "/v1/enrol",
        json={"code": code, "public_key": key.public_key.to_b64(), "signature": b64encode(signature)},
    )
    assert_error(response, 400, Reason.BAD_SIGNATURE)
    assert api.snapshot() == before
    # The code is still usable by its rightful kiosk.
    assert api.enrol_request(code, key).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"code": 12345678901234567890, "public_key": "AA==", "signature": "AA=="}',
        b'{"code": "12345678901234567890"}',
        b'{"code": "12345678901234567890", "public_key": "!!", "signature": "AA=="}',
        b'{"code": "12345678901234567890", "public_key": "AA==", "signature": "AA==", "extra": 1}',
    ],
)
def test_malformed_enrolment_requests(api: Api, body: bytes) -> None:
    before = api.snapshot()
    assert_error(api.post_raw("/v1/enrol", body), 400, Reason.MALFORMED_REQUEST)
    assert api.snapshot() == before
    api.assert_serving()


def test_outstanding_codes_are_capped(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """More valid codes would make a guess likelier: the bound in docs/protocol.md counts on the cap."""
    monkeypatch.setattr(enrolment, "MAX_OUTSTANDING_CODES", 3)
    site = api.create_site()["site_id"]
    used = api.create_code(site)
    api.create_code(site, expires_in_s=60)
    api.create_code(site)
    body = {"site_id": site}
    refused = api.admin("POST", "/v1/admin/enrolment-codes", body)
    assert_error(refused, 409, Reason.TOO_MANY_ENROLMENT_CODES)
    assert api.enrol_request(used, PrivateKey.generate()).status_code == 200  # a spent code frees a place
    api.admin("POST", "/v1/admin/enrolment-codes", body, expect=201)
    assert_error(api.admin("POST", "/v1/admin/enrolment-codes", body), 409, Reason.TOO_MANY_ENROLMENT_CODES)
    api.clock.now += 60_000  # so does an expired one
    api.admin("POST", "/v1/admin/enrolment-codes", body, expect=201)
