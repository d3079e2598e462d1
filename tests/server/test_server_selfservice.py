"""The volunteer's own page (``/ich``) and its services without a browser: only their own data and cards.

``server.selfservice`` reads and acts for the volunteer a session proves; these
tests try it with someone else's card, a guessed code and no session at all.
The browser flows are in ``tests/web/test_web_me.py``.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from server_helpers import HOUR, T0, Api, assert_error
from test_server_personal_access import cookie, session_cookie

from protocol import EventKind, Reason
from server import selfservice
from server.errors import ServiceError
from server.ratelimit import ACCESS_SECRETS


def _session(api: Api, card: dict[str, Any]) -> str:
    response = api.http.post("/v1/me/session", json={"secret": card["access_secret"]})
    assert response.status_code == 204, response.text
    return session_cookie(response)


def _blocked(api: Api, card_id: str) -> bool:
    with api.context.storage.read() as tx:
        card = tx.get_card(card_id)
    assert card is not None
    return card.blocked_ms is not None


def _log_size(api: Api) -> int:
    with api.context.storage.read() as tx:
        return tx.tlog_size()


def test_a_volunteer_blocks_their_own_card_once_and_nobody_elses(api: Api) -> None:
    ada, bob = api.create_card("Ada Lovelace"), api.create_card("Bob")
    ada_session = _session(api, ada)
    lost = f"/v1/me/cards/{ada['card_id']}/lost"
    assert_error(api.http.post(lost), 401, Reason.SESSION_REQUIRED)
    # Bob's card answers exactly as a card that does not exist, and stays as it was.
    theirs = api.http.post(f"/v1/me/cards/{bob['card_id']}/lost", headers=cookie(ada_session))
    nobodys = api.http.post("/v1/me/cards/c_0000000000000000/lost", headers=cookie(ada_session))
    assert_error(theirs, 404, Reason.UNKNOWN_CARD)
    assert theirs.json() == nobodys.json() and theirs.status_code == nobodys.status_code
    assert not _blocked(api, bob["card_id"])
    size = _log_size(api)
    first = api.http.post(lost, headers=cookie(ada_session))
    assert first.status_code == 200, first.text
    assert first.json() == {"blocked": [ada["card_id"]], "already": []}
    assert first.headers["cache-control"] == "no-store"
    again = api.http.post(lost, headers=cookie(ada_session))
    assert again.json() == {"blocked": [], "already": [ada["card_id"]]}
    assert _blocked(api, ada["card_id"]) and _log_size(api) == size + 1  # one card_blocked entry
    with api.context.storage.read() as tx:
        card = tx.get_card(ada["card_id"])
    assert card is not None and card.block_reason == selfservice.LOST_REASON


def test_reporting_lost_blocks_every_active_card_of_the_volunteer_only(api: Api) -> None:
    ada = api.create_card("Ada Lovelace")
    spare = api.create_card(volunteer_id=ada["volunteer_id"])
    bob = api.create_card("Bob")
    found = selfservice.report_lost(api.context, ada["volunteer_id"])
    assert sorted(found["blocked"]) == sorted([ada["card_id"], spare["card_id"]])
    assert selfservice.report_lost(api.context, ada["volunteer_id"])["blocked"] == []
    assert not _blocked(api, bob["card_id"])
    with pytest.raises(ServiceError) as refused:
        selfservice.report_lost(api.context, ada["volunteer_id"], [ada["card_id"], bob["card_id"]])
    assert refused.value.reason is Reason.UNKNOWN_CARD


def _page(api: Api, session: str | None) -> httpx.Response:
    headers = cookie(session) if session else {}
    return api.http.get("/ich", headers={**headers, "Cookie": headers.get("Cookie", "") + "; kk_lang=de"})


def test_the_page_shows_the_sessions_volunteer_only(api: Api) -> None:
    site = api.create_site(tokens_per_hour=10)
    kiosk = api.enrol_kiosk(site["site_id"])
    ada, bob = api.create_card("Ada Lovelace"), api.create_card("Bob")
    taps = [
        kiosk.event(EventKind.CHECK_IN, ada["card_id"], T0 - 3 * HOUR),
        kiosk.event(EventKind.CHECK_OUT, ada["card_id"], T0 - HOUR),
    ]
    assert api.send(kiosk.kiosk_id, taps).status_code == 200
    mine = _page(api, _session(api, ada))
    assert mine.status_code == 200 and mine.headers["x-kk-offline"] == "keep"
    assert mine.headers["cache-control"] == "no-store"
    assert 'id="balance">20<' in mine.text and "Meine Einsätze" in mine.text
    theirs = _page(api, _session(api, bob))
    assert 'id="balance">0<' in theirs.text and "Noch keine Einsätze." in theirs.text
    # Bob's receipts are his card's registration only; none of Ada's entries.
    assert theirs.text.count("data-kk-verify-index=") == 1
    assert mine.text.count("data-kk-verify-index=") == 3
    assert "Ada" not in mine.text  # the page shows no name at all
    login = _page(api, None)
    assert login.status_code == 200 and login.headers["x-kk-offline"] == "clear"
    assert 'action="/ich/anmelden"' in login.text and "balance" not in login.text
    # A session's pages under /ich send a browser without one back to /ich, not to the console's login.
    gone = api.http.get("/ich/karte-verloren", headers=cookie("ended"), follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"] == "/ich"


def _form_login(client: httpx.Client, code: str) -> httpx.Response:
    csrf = client.get("/ich").cookies.get("kk_csrf") or client.cookies["kk_csrf"]
    return client.post("/ich/anmelden", data={"csrf": csrf, "code": code}, follow_redirects=False)


def test_the_code_form_opens_a_session_and_a_guessed_code_is_refused_then_limited(api: Api) -> None:
    ada = api.create_card("Ada Lovelace")
    with httpx.Client(base_url=api.base_url, cookies={"kk_lang": "de"}) as browser:
        pasted = _form_login(browser, f"https://example.org/ich#k={ada['access_secret']}")
        assert pasted.status_code == 303 and pasted.headers["location"] == "/ich"
        assert "kk_session=" in pasted.headers["set-cookie"]
        assert (
            "HttpOnly" in pasted.headers["set-cookie"] and "SameSite=strict" in pasted.headers["set-cookie"]
        )
    with httpx.Client(base_url=api.base_url, cookies={"kk_lang": "de"}) as guesser:
        guessed = _form_login(guesser, "A" * 43)
        assert guessed.status_code == 401 and "access_secret_invalid" in guessed.text
        assert "Dieser Code geht nicht." in guessed.text
        assert "kk_session" not in guessed.headers.get("set-cookie", "")
        for _ in range(ACCESS_SECRETS.per_client.failures - 1):
            assert _form_login(guesser, "B" * 43).status_code == 401
        limited = _form_login(guesser, ada["access_secret"])  # even the right code, while locked out
        assert limited.status_code == 429 and "rate_limited" in limited.text
        assert "Zu viele falsche Codes." in limited.text and "retry-after" in limited.headers
        # The JSON exchange is locked out for this client too: one budget for both ways in.
        assert_error(
            api.http.post("/v1/me/session", json={"secret": ada["access_secret"]}), 429, Reason.RATE_LIMITED
        )


def test_a_volunteer_prints_a_few_certificates_a_day(api: Api) -> None:
    ada = api.create_card("Ada Lovelace")
    for _ in range(selfservice.CERTIFICATES_PER_DAY):
        issued = selfservice.issue_own_certificate(api.context, ada["volunteer_id"])
        assert issued.name == "Ada Lovelace"
    with pytest.raises(ServiceError) as refused:
        selfservice.issue_own_certificate(api.context, ada["volunteer_id"])
    assert refused.value.reason is Reason.QUOTA_EXCEEDED
    page = selfservice.my_page(api.context, ada["volunteer_id"])
    assert len(page["certificates"]) == selfservice.CERTIFICATES_PER_DAY
    with api.context.storage.read() as tx:
        done = tx.activity(action="certificate_issued")
    assert {a.actor for a in done} == {selfservice.SELF.name} and {a.object_id for a in done} == {
        ada["volunteer_id"]
    }


def test_the_manifest_and_the_service_worker_are_served_for_the_page(api: Api) -> None:
    manifest = api.http.get("/ich/manifest.webmanifest")
    assert manifest.status_code == 200 and manifest.headers["content-type"].startswith("application/manifest")
    assert manifest.json()["scope"] == "/ich" and manifest.json()["start_url"] == "/ich"
    for icon in manifest.json()["icons"]:
        assert api.http.get(icon["src"]).status_code == 200
    worker = api.http.get("/ich/sw.js")
    assert worker.status_code == 200 and worker.headers["service-worker-allowed"] == "/ich"
    assert worker.headers["content-type"].startswith("text/javascript")


def test_the_lost_card_form_blocks_only_the_sessions_cards(api: Api) -> None:
    ada, bob = api.create_card("Ada Lovelace"), api.create_card("Bob")
    csrf = "c" * 43
    browser = {"Cookie": f"kk_session={_session(api, ada)}; kk_csrf={csrf}; kk_lang=de"}

    def post(fields: dict[str, str]) -> httpx.Response:
        return api.http.post("/ich/karte-verloren", data=fields, headers=browser, follow_redirects=False)

    assert post({"card": ada["card_id"]}).status_code == 403  # no token from the page: csrf_failed
    theirs = post({"csrf": csrf, "card": bob["card_id"]})
    assert theirs.status_code == 404 and "unknown_card" in theirs.text
    assert not _blocked(api, bob["card_id"]) and not _blocked(api, ada["card_id"])
    mine = post({"csrf": csrf, "card": "all"})
    assert mine.status_code == 303 and mine.headers["location"] == "/ich"
    assert _blocked(api, ada["card_id"]) and not _blocked(api, bob["card_id"])
