"""Places (organisations, sites, shops) and disabling accounts, as the console's services.

Real server context and SQLite; principals are people's, built from their teams
as the console's sessions build them.
"""

from __future__ import annotations

import pytest

from protocol import PrivateKey, Reason
from server import accounts, console_decisions, places
from server.accounts import TeamScope
from server.accounts.disable import disable_person, enable_person
from server.accounts.persons import check_password
from server.accounts.teams import principal_of_person
from server.context import ServerContext
from server.errors import ServiceError
from server.http.access import Permission, Principal
from server.ratelimit import CONSOLE_LOGINS, Attempt, GuessLimiter

PASSWORD = "correct horse battery"


def member(ctx: ServerContext, email: str, permissions: set[str], scope: TeamScope) -> tuple[str, Principal]:
    person_id = accounts.add_person(ctx, email=email, display_name=email.split("@")[0], password=PASSWORD)
    team_id = accounts.add_team(ctx, name=f"team of {email}", permissions=permissions, scope=scope)
    accounts.add_member(ctx, team_id, person_id)
    with ctx.storage.read() as tx:
        return person_id, principal_of_person(tx, person_id, email)


def guess(ctx: ServerContext, email: str) -> Attempt:
    return GuessLimiter(ctx.now_ms).attempt(CONSOLE_LOGINS, "test", email)


def login(ctx: ServerContext, email: str, password: str = PASSWORD) -> str:
    return check_password(ctx, email, password, attempt=guess(ctx, email))


def refused(reason: Reason, call: object, *args: object) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        call(*args)  # type: ignore[operator]
    assert caught.value.reason is reason, caught.value
    return caught.value


def actions(ctx: ServerContext) -> list[str]:
    with ctx.storage.read() as tx:
        return [row.action for row in reversed(tx.activity())]


# -- places ----------------------------------------------------------------------------------------


def test_an_admin_creates_an_organisation_a_site_in_it_and_a_shop(context: ServerContext) -> None:
    _, admin = member(context, "admin@example.org", {"manage_sites"}, TeamScope("economy"))
    org_id = places.add_organisation(context, admin, "  Caritas Nord ")
    site_id = places.create_place(context, admin, "checkin", {"name": "Tafel", "tokens_per_hour": 10}, org_id)
    shop_id = places.create_place(context, admin, "shop", {"name": "Laden"})
    listed, organisations = places.list_places(context, admin)
    assert organisations == [(org_id, "Caritas Nord")]
    assert [(p.site_id, p.kind, p.tokens_per_hour, p.organisation) for p in listed] == [
        (site_id, "checkin", 10, "Caritas Nord"),
        (shop_id, "shop", 0, ""),
    ]
    places.attach(context, admin, shop_id, org_id)
    places.attach(context, admin, site_id, "")
    assert [p.org_id for p in places.list_places(context, admin)[0]] == ["", org_id]
    assert actions(context)[-5:] == [
        "place.organisation_add", "place.site_add", "place.shop_add", "place.attach", "place.attach",
    ]  # fmt: skip


def test_the_admin_apis_validation_applies(context: ServerContext) -> None:
    _, admin = member(context, "admin@example.org", {"manage_sites"}, TeamScope("economy"))
    refused(
        Reason.MALFORMED_REQUEST,
        places.create_place,
        context,
        admin,
        "checkin",
        {"name": "X", "tokens_per_hour": -1},
    )
    refused(Reason.BAD_FIELD, places.create_place, context, admin, "kiosk", {"name": "X"})
    refused(Reason.UNKNOWN_ORGANISATION, places.create_place, context, admin, "shop", {"name": "X"}, "o_nope")
    assert places.list_places(context, admin)[0] == []  # nothing created by a refusal
    refused(Reason.MALFORMED_REQUEST, places.add_organisation, context, admin, "  ")


def test_a_site_scoped_holder_sees_and_moves_only_their_sites_and_creates_nothing(
    context: ServerContext,
) -> None:
    _, admin = member(context, "admin@example.org", {"manage_sites"}, TeamScope("economy"))
    org_id = places.add_organisation(context, admin, "Träger")
    mine = places.create_place(context, admin, "checkin", {"name": "A", "tokens_per_hour": 10}, org_id)
    other = places.create_place(context, admin, "checkin", {"name": "B", "tokens_per_hour": 10}, org_id)
    _, local = member(context, "local@example.org", {"manage_sites"}, TeamScope("sites", (mine,)))
    listed, organisations = places.list_places(context, local)
    assert [p.site_id for p in listed] == [mine] and organisations == [(org_id, "Träger")]
    elsewhere = places.add_organisation(context, admin, "Anderer Träger")
    refused(Reason.UNKNOWN_ORGANISATION, places.attach, context, local, mine, elsewhere)
    places.attach(context, local, mine, org_id)  # where it is: allowed (their organisation)
    places.attach(context, local, mine, "")
    # Out of it, the organisation is none of theirs any more: only an admin puts the site back.
    refused(Reason.UNKNOWN_ORGANISATION, places.attach, context, local, mine, org_id)
    error = refused(Reason.UNKNOWN_SITE, places.attach, context, local, other, "")
    assert error.status == 404  # outside the scope: as if there were no such site
    refused(Reason.FORBIDDEN, places.add_organisation, context, local, "Mine")
    refused(Reason.FORBIDDEN, places.create_place, context, local, "shop", {"name": "Mine"})
    assert len(places.list_places(context, admin)[0]) == 2


# -- disabling accounts ----------------------------------------------------------------------------


def test_disabling_ends_sessions_refuses_login_and_revokes_device_keys(context: ServerContext) -> None:
    _, admin = member(context, "admin@example.org", {"manage_teams"}, TeamScope("economy"))
    bob, bob_principal = member(context, "bob@example.org", {"review", "decide"}, TeamScope("economy"))
    sessions = [accounts.open_console_session(context, bob) for _ in range(2)]
    key = PrivateKey.generate()
    registered = console_decisions.register_device_key(
        context, bob_principal, {"public_key": key.public_key.to_b64(), "label": "Laptop"}
    )
    assert disable_person(context, admin, bob) == [registered["coordinator_id"]]
    assert all(accounts.console_principal(context, cookie) is None for cookie in sessions)
    refused(Reason.ACCOUNT_DISABLED, login, context, "bob@example.org")
    refused(Reason.LOGIN_FAILED, login, context, "bob@example.org", "wrong password!")
    with context.storage.read() as tx:
        assert [status for _, status, _ in tx.device_keys_of(bob)] == ["revoked"]
    assert disable_person(context, admin, bob) == []  # again: nothing more to revoke
    enable_person(context, admin, bob)
    assert login(context, "bob@example.org") == bob
    assert [a for a in actions(context) if a.startswith("person.")] == [
        "person.disable", "person.disable", "person.enable",
    ]  # fmt: skip


def test_nobody_disables_themselves_the_last_admin_or_without_economy_wide_manage_teams(
    context: ServerContext,
) -> None:
    ada, admin = member(context, "admin@example.org", {"manage_teams"}, TeamScope("economy"))
    refused(Reason.DISABLE_REFUSED, disable_person, context, admin, ada)
    # A principal that is not a person's admin (a machine token) cannot remove the last admin either.
    machine = Principal("admin token", frozenset({Permission.MANAGE_TEAMS}), None)
    refused(Reason.DISABLE_REFUSED, disable_person, context, machine, ada)
    bob, _ = member(context, "bob@example.org", {"manage_teams"}, TeamScope("economy"))
    disable_person(context, machine, ada)  # another admin remains
    refused(Reason.DISABLE_REFUSED, disable_person, context, machine, bob)
    scoped = Principal("scoped", frozenset({Permission.MANAGE_TEAMS}), frozenset({"s_x"}))
    refused(Reason.FORBIDDEN, disable_person, context, scoped, bob)
    refused(Reason.FORBIDDEN, enable_person, context, scoped, ada)
    refused(Reason.UNKNOWN_PERSON, disable_person, context, machine, "p_" + "0" * 32)
