"""``GET /v1/me/openings``: a volunteer reads what opens the log entries about their own cards.

The public log shows of a tap only its kiosk's chain place, a commitment and the
day; the card holder may check each of their receipts against it, so their own
session gets the auditor's items for their cards, and nobody else's.
"""

from __future__ import annotations

from typing import Any

import httpx
from server_helpers import HOUR, T0, Api, assert_error
from test_server_personal_access import cookie, session_cookie

from protocol import EventKind, Reason, parse_event
from protocol.commitments import Opening
from protocol.logentry import parse_entry
from server import tlog


def _session(api: Api, card: dict[str, Any]) -> str:
    response = api.http.post("/v1/me/session", json={"secret": card["access_secret"]})
    assert response.status_code == 204, response.text
    return session_cookie(response)


def _mine(api: Api, session: str) -> httpx.Response:
    return api.http.get("/v1/me/openings", headers=cookie(session))


def test_a_volunteer_reads_the_openings_of_their_own_cards_only(api: Api) -> None:
    ada, bob = api.create_card("Ada Lovelace"), api.create_card("Bob")
    kiosk = api.enrol_kiosk(api.home_site())
    taps = [
        kiosk.event(EventKind.CHECK_IN, ada["card_id"], T0),
        kiosk.event(EventKind.CHECK_IN, bob["card_id"], T0 + 1),
        kiosk.event(EventKind.CHECK_OUT, ada["card_id"], T0 + 2 * HOUR),
    ]
    assert api.send(kiosk.kiosk_id, taps).status_code == 200
    mine = _mine(api, _session(api, ada))
    assert mine.status_code == 200, mine.text
    assert mine.headers["cache-control"] == "no-store"
    items = mine.json()["openings"]
    assert [(o["kind"], o.get("seq")) for o in items] == [("card", None), ("event", 1), ("event", 3)]
    assert {o["card"] for o in items} == {ada["card_id"]}
    assert items[2]["issued"] > 0 and items[2]["sealed"]["kind"] == "check_out"
    # The same items the auditor reads, and each opens its public entry.
    with api.context.storage.read() as tx:
        logged = tx.tlog_entry_range(0, tx.tlog_size())
        audit = {o.log_index: o.to_json() for o in tx.openings_after(-1, 1000)}
    for item in items:
        assert audit[item["index"]] == item
        entry = parse_entry(logged[item["index"]])
        if item["kind"] == "card":
            assert tlog.registration_ref(item["card"], item["volunteer"], item["salt"]) == entry["ref"]
        else:
            event = parse_event(entry["body"])
            assert event.opened(Opening(item["card"], item["salt"], item["sealed"])).card == ada["card_id"]
    theirs = _mine(api, _session(api, bob)).json()["openings"]
    assert [o["card"] for o in theirs] == [bob["card_id"]] * 2


def test_my_openings_need_my_session(api: Api) -> None:
    ada = api.create_card("Ada Lovelace")
    assert_error(api.http.get("/v1/me/openings"), 401, Reason.SESSION_REQUIRED)
    assert_error(_mine(api, "not-a-session"), 401, Reason.SESSION_REQUIRED)
    # An admin token is not a volunteer's session: the auditor has its own route.
    admin = api.http.get("/v1/me/openings", headers={"Authorization": f"Bearer {api.admin_token}"})
    assert_error(admin, 401, Reason.SESSION_REQUIRED)
    assert _mine(api, _session(api, ada)).status_code == 200
