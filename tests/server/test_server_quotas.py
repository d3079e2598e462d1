"""Count quotas on what admins and enrolment codes create: over one, 429 quota_exceeded, nothing stored.

The limits are far above an honest programme's needs, so each test lowers the one it checks to what is
already stored (the server runs in this process and reads :mod:`server.quotas` at each request).
"""

from __future__ import annotations

import pytest

from protocol import PrivateKey, Reason
from server import quotas
from tests.server.server_helpers import Api, World, assert_error


def _log_size(api: Api) -> int:
    with api.context.storage.read() as tx:
        return tx.tlog_size()


def test_sites_and_shops_share_a_count(api: Api, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    with api.context.storage.read() as tx:
        monkeypatch.setattr(quotas, "SITES", tx.count_sites() + 1)
    api.admin("POST", "/v1/admin/shops", {"name": "Shop"}, expect=201)
    size = _log_size(api)
    over = api.admin("POST", "/v1/admin/sites", {"name": "One more", "tokens_per_hour": 1})
    error = assert_error(over, 429, Reason.QUOTA_EXCEEDED)
    assert error["limit"] == quotas.SITES
    assert_error(api.admin("POST", "/v1/admin/shops", {"name": "Shop"}), 429, Reason.QUOTA_EXCEEDED)
    with api.context.storage.read() as tx:
        assert tx.count_sites() == quotas.SITES
    assert _log_size(api) == size


def test_unused_enrolment_codes_per_site_until_a_day_after_they_expire(
    api: Api, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(quotas, "UNUSED_CODES_PER_SITE", 2)
    site = world.site["site_id"]
    api.create_code(site, expires_in_s=60)
    api.create_code(site, expires_in_s=60)
    body = {"site_id": site}
    assert_error(api.admin("POST", "/v1/admin/enrolment-codes", body), 429, Reason.QUOTA_EXCEEDED)
    other = api.create_site()  # the quota is per site
    api.create_code(other["site_id"])
    api.clock.now += 60_000 + quotas.EXPIRED_CODES_KEPT_MS  # expired, then kept a day: still counted
    assert_error(api.admin("POST", "/v1/admin/enrolment-codes", body), 429, Reason.QUOTA_EXCEEDED)
    api.clock.now += 1_000  # now forgotten, and their places free
    api.create_code(site)
    with api.context.storage.read() as tx:
        assert tx.count_unused_codes(site) == 1


def test_kiosks_per_site_bound_both_new_codes_and_enrolment(
    api: Api, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = world.site["site_id"]
    code = api.create_code(site)  # made while the site had room
    monkeypatch.setattr(quotas, "KIOSKS_PER_SITE", 1)  # world's kiosk fills it
    size = _log_size(api)
    assert_error(api.enrol_request(code, PrivateKey.generate()), 429, Reason.QUOTA_EXCEEDED)
    assert_error(api.admin("POST", "/v1/admin/enrolment-codes", {"site_id": site}), 429, "quota_exceeded")
    with api.context.storage.read() as tx:
        assert tx.count_kiosks(site) == 1
    assert _log_size(api) == size


def test_cards_issuer_keys_and_coordinators(api: Api, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    issuer, _ = api.add_issuer_key()
    coordinator = {"name": "Grace", "public_key": PrivateKey.generate().public_key.to_b64()}
    assert api.admin("POST", "/v1/admin/coordinators", coordinator).status_code == 201
    with api.context.storage.read() as tx:
        monkeypatch.setattr(quotas, "CARDS", tx.count_cards())
        monkeypatch.setattr(quotas, "ISSUER_KEYS", tx.count_issuer_keys())
        monkeypatch.setattr(quotas, "COORDINATORS", tx.count_coordinators())
    size = _log_size(api)
    card = {"name": "Ada", "site_id": api.home_site()}
    assert_error(api.admin("POST", "/v1/admin/cards", card), 429, Reason.QUOTA_EXCEEDED)
    new_key = {"public_key": PrivateKey.generate().public_key.to_b64()}
    assert_error(api.admin("POST", "/v1/admin/issuer-keys", new_key), 429, Reason.QUOTA_EXCEEDED)
    other = {"name": "Ada", "public_key": PrivateKey.generate().public_key.to_b64()}
    assert_error(api.admin("POST", "/v1/admin/coordinators", other), 429, Reason.QUOTA_EXCEEDED)
    # Registering a key the server holds already creates nothing, so the quota does not refuse it.
    again = {"public_key": issuer.public_key.to_b64()}
    assert api.admin("POST", "/v1/admin/issuer-keys", again).status_code == 200
    assert api.admin("POST", "/v1/admin/coordinators", coordinator).status_code == 200
    assert _log_size(api) == size
    with api.context.storage.read() as tx:
        assert (tx.count_cards(), tx.count_issuer_keys(), tx.count_coordinators()) == (
            quotas.CARDS,
            quotas.ISSUER_KEYS,
            quotas.COORDINATORS,
        )
