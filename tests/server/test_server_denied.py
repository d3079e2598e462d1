"""Denied attempts for coordinators (issue 20): counts per day, kiosk and reason, at the caller's sites."""

from __future__ import annotations

from typing import Any

import httpx
from server_helpers import MINUTE, T0, Api, FakeKiosk, assert_error

from protocol import EventKind, ids
from server import denials
from server.tokens import add_token

DAY = "2025-11-29"  # T0's day in Europe/Berlin


def _denied(api: Api, kiosk: FakeKiosk, reasons: list[str], *, version: int | None = None) -> None:
    events = [
        kiosk.event(
            EventKind.DENIED,
            ids.new_id(ids.UID_CARD),
            T0 - 30 * MINUTE + i * MINUTE,
            data={"reason": r},
            version=version,
        )
        for i, r in enumerate(reasons)
    ]
    response = api.send(kiosk.kiosk_id, events)
    assert response.status_code == 200, response.text


def _site(api: Api, name: str) -> str:
    return str(
        api.admin("POST", "/v1/admin/sites", {"name": name, "tokens_per_hour": 10}, expect=201).json()[
            "site_id"
        ]
    )


def _get(api: Api, token: str, **params: str) -> httpx.Response:
    return api.http.get("/v1/admin/denied", params=params, headers={"Authorization": f"Bearer {token}"})


def _world(api: Api) -> dict[str, Any]:
    site_a, site_b = _site(api, "Linden"), _site(api, "List")
    here, there = api.enrol_kiosk(site_a), api.enrol_kiosk(site_b)
    _denied(api, here, ["uid_mismatch", "unknown_card", "uid_mismatch", "uid_mismatch"])
    _denied(api, there, ["card_blocked", "card_blocked"], version=1)  # a kiosk from before issue 17
    return {"a": site_a, "b": site_b, "here": here.kiosk_id, "there": there.kiosk_id}


def test_a_coordinator_sees_counts_of_their_own_sites_with_the_burst_and_no_card(api: Api) -> None:
    w = _world(api)
    mine = add_token(api.context.storage, name="linden", permissions=["review"], sites=[w["a"]], now_ms=1)
    answer = _get(api, mine, to=DAY)
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert [(r["kiosk_id"], r["reason"], r["count"], r["burst"]) for r in found["rows"]] == [
        (w["here"], "uid_mismatch", 3, True),
        (w["here"], "unknown_card", 1, False),
    ]
    assert found["rows"][0]["day"] == DAY and found["time_zone"] == "Europe/Berlin"
    (burst,) = found["bursts"]
    assert (burst["kiosk_id"], burst["count"], burst["site_name"]) == (w["here"], 3, "Linden")
    assert burst["first"].endswith("+01:00")
    assert found["reasons"] == ["uid_mismatch", "unknown_card"] and found["total"] == 4
    for prefix in ('"c_', '"u_', '"v_'):
        assert prefix not in answer.text

    assert _get(api, mine, to=DAY, site=w["b"]).json()["rows"] == []  # another site: nothing, not an error
    only = _get(api, mine, to=DAY, reason="unknown_card").json()
    assert [r["reason"] for r in only["rows"]] == ["unknown_card"] and only["bursts"] == []


def test_an_economy_wide_principal_sees_every_site_and_v1_reasons(api: Api) -> None:
    w = _world(api)
    found = api.admin("GET", f"/v1/admin/denied?to={DAY}", expect=200).json()
    assert {(r["kiosk_id"], r["reason"], r["count"]) for r in found["rows"]} == {
        (w["here"], "uid_mismatch", 3),
        (w["here"], "unknown_card", 1),
        (w["there"], "card_blocked", 2),
    }


def test_someone_without_review_is_refused_and_bad_filters_are_bad_fields(api: Api) -> None:
    w = _world(api)
    fleet = add_token(
        api.context.storage, name="technik", permissions=["manage_fleet"], sites=[w["a"]], now_ms=1
    )
    assert_error(_get(api, fleet), 403, "forbidden")
    mine = add_token(api.context.storage, name="linden", permissions=["review"], sites=[w["a"]], now_ms=1)
    bad = (
        {"from": "2025-13-01"},
        {"to": "yesterday"},
        {"from": "2025-11-30", "to": DAY},
        {"from": "2024-01-01", "to": DAY},
        {"reason": "Robert'); DROP"},
        {"site": "../x"},
    )
    for params in bad:
        assert_error(_get(api, mine, **params), 400, "bad_field")


def test_the_range_defaults_to_the_last_two_weeks_in_local_days(api: Api) -> None:
    found = denials.denied_attempts(api.context, None, {})
    assert (found["from"], found["to"]) == ("2025-11-16", DAY)
