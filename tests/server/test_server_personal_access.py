"""Personal routes answer the person or a principal scoped to them, and nobody else (issue 17).

Against the real loopback server: two sites, a volunteer registered at each,
named tokens made as ``kokreativ server token add`` makes them, and sessions
opened with the access secrets the registrations answered.  The matrix checks
every personal route for every kind of caller, and that a caller who may not
read a card gets exactly the answer an unknown card gets (no oracle).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from server_helpers import Api, assert_error

from protocol import Reason
from server.tokens import add_token

CARD_ROUTES = ("balance", "shifts", "statement")
UNKNOWN_CARD = "c_" + "0" * 32


@dataclass
class People:
    """Two sites, Ada registered at ``home``, Bob at ``other``, tokens and sessions to call with."""

    api: Api
    home: str
    other: str
    ada: dict[str, str]
    bob: dict[str, str]
    tokens: dict[str, str]

    def session(self, secret: str) -> str:
        """Open a session with ``secret``; the cookie's value."""
        response = self.api.http.post("/v1/me/session", json={"secret": secret})
        assert response.status_code == 204, response.text
        return session_cookie(response)


def session_cookie(response: httpx.Response) -> str:
    """The ``kk_session`` value a ``Set-Cookie`` header sets (parsed by hand: it is ``Secure``)."""
    header = response.headers["set-cookie"]
    name, _, rest = header.partition("=")
    assert name == "kk_session"
    return rest.split(";", 1)[0]


def cookie(value: str) -> dict[str, str]:
    """The ``Cookie`` header a browser sends back (httpx's jar keeps ``Secure`` cookies for https only)."""
    return {"Cookie": f"kk_session={value}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def people(api: Api) -> People:
    home = api.create_site()["site_id"]
    other = api.create_site()["site_id"]
    ada = api.create_card("Ada Lovelace", site_id=home)
    bob = api.create_card("Bob Example", site_id=other)
    storage = api.context.storage

    def token(name: str, permissions: list[str], sites: list[str] | None) -> str:
        return add_token(storage, name=name, permissions=permissions, sites=sites, now_ms=api.clock())

    tokens = {
        "read_home": token("home coordinators", ["read_personal"], [home]),
        "read_other": token("other coordinators", ["read_personal"], [other]),
        "no_read": token("reporter", ["reports", "manage_cards"], None),
    }
    return People(api, home, other, ada, bob, tokens)


# Each caller: how to make its headers, and the status it gets for Ada's card.
Caller = Callable[[People], dict[str, str]]
MATRIX: dict[str, tuple[Caller, int, str | None]] = {
    "no credential": (lambda p: {}, 401, Reason.UNAUTHORIZED),
    "wrong token": (lambda p: bearer("x" * 43), 401, Reason.UNAUTHORIZED),
    "economy admin": (lambda p: bearer(p.api.admin_token), 200, None),
    "read_personal for home site": (lambda p: bearer(p.tokens["read_home"]), 200, None),
    "read_personal for another site": (lambda p: bearer(p.tokens["read_other"]), 404, Reason.UNKNOWN_CARD),
    "token without read_personal": (lambda p: bearer(p.tokens["no_read"]), 403, Reason.FORBIDDEN),
    "card holder session": (lambda p: cookie(p.session(p.ada["access_secret"])), 200, None),
    "another volunteer's session": (
        lambda p: cookie(p.session(p.bob["access_secret"])),
        404,
        Reason.UNKNOWN_CARD,
    ),
    "ended session": (lambda p: cookie("y" * 43), 401, Reason.UNAUTHORIZED),
}


@pytest.mark.parametrize("route", CARD_ROUTES)
@pytest.mark.parametrize("who", list(MATRIX))
def test_card_route_authorisation(people: People, route: str, who: str) -> None:
    make_headers, status, code = MATRIX[who]
    headers = make_headers(people)
    response = people.api.http.get(f"/v1/cards/{people.ada['card_id']}/{route}", headers=headers)
    if code is None:
        assert response.status_code == status, response.text
        assert response.headers["cache-control"] == "no-store"
        assert "Ada" not in response.text
    else:
        assert_error(response, status, code)
    # No oracle: whoever may not read Ada's card gets what an unknown card gets, body and all.
    unknown = people.api.http.get(f"/v1/cards/{UNKNOWN_CARD}/{route}", headers=headers)
    if status != 200:
        assert (unknown.status_code, unknown.json()) == (response.status_code, response.json())
    elif who != "card holder session":
        assert_error(unknown, 404, Reason.UNKNOWN_CARD)


def test_a_site_token_reads_its_volunteers_and_no_one_else(people: People) -> None:
    headers = bearer(people.tokens["read_other"])
    bob = people.api.http.get(f"/v1/cards/{people.bob['card_id']}/balance", headers=headers)
    assert bob.status_code == 200 and bob.json()["balance"] == 0
    assert_error(
        people.api.http.get(f"/v1/cards/{people.ada['card_id']}/balance", headers=headers),
        404,
        Reason.UNKNOWN_CARD,
    )


def test_a_token_with_read_personal_economy_wide_reads_every_card(people: People) -> None:
    token = add_token(
        people.api.context.storage, name="auditor", permissions=["read_personal"], sites=None, now_ms=0
    )
    for who in (people.ada, people.bob):
        response = people.api.http.get(f"/v1/cards/{who['card_id']}/shifts", headers=bearer(token))
        assert response.status_code == 200, response.text


ME_ROUTES = ("/v1/me", "/v1/me/balance", "/v1/me/shifts", "/v1/me/statement")


@pytest.mark.parametrize("path", ME_ROUTES)
def test_me_routes_need_a_live_session(people: People, path: str) -> None:
    http = people.api.http
    assert_error(http.get(path), 401, Reason.SESSION_REQUIRED)
    assert_error(http.get(path, headers=cookie("z" * 43)), 401, Reason.SESSION_REQUIRED)
    assert_error(http.get(path, headers=bearer(people.api.admin_token)), 401, Reason.SESSION_REQUIRED)
    response = http.get(path, headers=cookie(people.session(people.ada["access_secret"])))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["volunteer_id"] == people.ada["volunteer_id"]
    assert people.bob["volunteer_id"] not in response.text and "Ada" not in response.text


def test_me_shows_the_volunteer_their_home_site_and_cards(people: People) -> None:
    spare = people.api.create_card(volunteer_id=people.ada["volunteer_id"])
    assert "access_secret" not in spare  # a card for an existing volunteer keeps their secret
    me = people.api.http.get("/v1/me", headers=cookie(people.session(people.ada["access_secret"]))).json()
    assert me["home_site_id"] == people.home
    assert [card["card_id"] for card in me["cards"]] == [people.ada["card_id"], spare["card_id"]]
    assert me["access"]["sessions"] == 1


def test_admin_routes_still_refuse_a_session(people: People) -> None:
    response = people.api.http.get(
        "/v1/admin/report", headers=cookie(people.session(people.ada["access_secret"]))
    )
    assert_error(response, 401, Reason.UNAUTHORIZED)


def test_access_reissue_and_revoke_are_scoped_to_the_home_site(people: People) -> None:
    storage = people.api.context.storage
    home_cards = add_token(
        storage, name="home cards", permissions=["manage_cards"], sites=[people.home], now_ms=0
    )
    ada, bob = people.ada["volunteer_id"], people.bob["volunteer_id"]
    http = people.api.http
    assert http.post(f"/v1/admin/volunteers/{ada}/access", headers=bearer(home_cards)).status_code == 200
    for path in (f"/v1/admin/volunteers/{bob}/access", f"/v1/admin/volunteers/{bob}/access/revoke"):
        assert_error(http.post(path, headers=bearer(home_cards)), 403, Reason.FORBIDDEN)
    # A volunteer registered before home sites (none) is the economy's only.
    assert_error(
        http.post("/v1/admin/volunteers/v_" + "0" * 32 + "/access", headers=bearer(home_cards)),
        403,
        Reason.FORBIDDEN,
    )
    assert_error(
        people.api.admin("POST", "/v1/admin/volunteers/v_" + "0" * 32 + "/access"),
        404,
        Reason.UNKNOWN_VOLUNTEER,
    )


def test_a_revoked_token_stops_at_once(people: People) -> None:
    from server.tokens import revoke_token

    path = f"/v1/cards/{people.ada['card_id']}/balance"
    headers = bearer(people.tokens["read_home"])
    assert people.api.http.get(path, headers=headers).status_code == 200
    revoke_token(people.api.context.storage, "home coordinators", now_ms=0)
    assert_error(people.api.http.get(path, headers=headers), 401, Reason.UNAUTHORIZED)
