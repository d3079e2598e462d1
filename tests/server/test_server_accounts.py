"""Console accounts: passwords and TOTP, console sessions, teams and what they grant, the activity log.

Services are called over a real data folder with the test's clock; the access
checks run through a real route of the loopback server with a ``kk_console``
cookie, so the 404-versus-403 rule is what a browser gets.
"""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest
from argon2 import PasswordHasher
from server_helpers import HOUR, MINUTE, Api, FakeClock, assert_error

from protocol import Reason
from server import accounts, admin
from server.accounts import TeamScope, invitations
from server.accounts import account as own
from server.accounts.settings import IDLE_SETTING, LIFETIME_SETTING, LOCKOUT_FAILURES_SETTING
from server.context import ServerContext
from server.datadir import InitResult
from server.errors import ServiceError
from server.http.access import (
    CONSOLE_COOKIE,
    Grant,
    Permission,
    Principal,
    anywhere,
    economy,
    require,
    site_of_kiosk,
)
from server.ratelimit import CONSOLE_LOGINS, Attempt, Budget, Guarded, GuessLimiter
from tests.server.ledger_file import ledger_file, ledger_text

PASSWORD = "correct horse battery"


def site(ctx: ServerContext, name: str = "Café") -> str:
    return str(admin.create_site(ctx, {"name": name, "tokens_per_hour": 10})["site_id"])


def person(ctx: ServerContext, email: str = "ada@example.org") -> str:
    return accounts.add_person(ctx, email=email, display_name="Ada", password=PASSWORD)


def member(
    ctx: ServerContext, permissions: set[str], scope: TeamScope, email: str = "ada@example.org"
) -> str:
    person_id = person(ctx, email)
    team_id = accounts.add_team(ctx, name=f"team of {email}", permissions=permissions, scope=scope)
    accounts.add_member(ctx, team_id, person_id)
    return person_id


def guess(ctx: ServerContext, target: str = "ada@example.org") -> Attempt:
    return GuessLimiter(ctx.now_ms).attempt(CONSOLE_LOGINS, "test", target)


def set_setting(ctx: ServerContext, key: str, value: int) -> None:
    with ctx.storage.write() as tx:
        tx.set_setting(key, str(value))


# -- principals ------------------------------------------------------------------------------------


def test_an_old_principal_is_one_grant_and_a_persons_is_the_union_of_their_teams() -> None:
    token = Principal("site token", frozenset({Permission.REVIEW}), frozenset({"s_a"}))
    assert token.grants == (Grant(frozenset({Permission.REVIEW}), frozenset({"s_a"})),)
    assert token.may(Permission.REVIEW, "s_a") and not token.may(Permission.REVIEW, "s_b")
    assert token.sites_for(Permission.REVIEW) == {"s_a"} and token.sites_for(Permission.DECIDE) == frozenset()
    ada = Principal.of_grants(
        "Ada",
        (
            Grant(frozenset({Permission.REVIEW, Permission.DECIDE}), frozenset({"s_a"})),
            Grant(frozenset({Permission.REVIEW}), frozenset({"s_b"})),
            Grant(frozenset({Permission.AUDIT}), None),
        ),
        person_id="p_1",
    )
    # DECIDE holds at s_a only, not at s_b where she only reviews: no cross-grant mixing.
    assert ada.may(Permission.DECIDE, "s_a") and not ada.may(Permission.DECIDE, "s_b")
    assert ada.sites_for(Permission.REVIEW) == {"s_a", "s_b"}
    assert ada.sites_for(Permission.AUDIT) is None and ada.may(Permission.AUDIT, None)
    assert ada.permissions == {Permission.REVIEW, Permission.DECIDE, Permission.AUDIT} and ada.sites is None


def test_anywhere_admits_a_principal_holding_the_permission_at_some_site(context: ServerContext) -> None:
    listing = require(Permission.REVIEW, scope=anywhere)
    somewhere = Principal("a", frozenset({Permission.REVIEW}), frozenset({"s_a"}))
    nowhere = Principal("b", frozenset({Permission.DECIDE}), frozenset({"s_a"}))
    assert listing.allows(context, somewhere, {})
    assert not listing.allows(context, nowhere, {})
    assert not require(Permission.REVIEW, scope=economy).allows(context, somewhere, {})


# -- passwords, TOTP, lockout ----------------------------------------------------------------------


def test_a_password_is_stored_as_argon2id_and_checked(
    context: ServerContext, data_dir: tuple[Path, InitResult], production_password_hashes: PasswordHasher
) -> None:
    person_id = person(context)
    assert person_id.startswith("p_") and len(person_id) == 34
    assert accounts.check_password(context, "ADA@example.org", PASSWORD, attempt=guess(context)) == person_id
    for email, password in (("ada@example.org", PASSWORD + "!"), ("bob@example.org", PASSWORD)):
        with pytest.raises(ServiceError) as refused:
            accounts.check_password(context, email, password, attempt=guess(context))
        assert refused.value.reason is Reason.LOGIN_FAILED and refused.value.status == 401
    with ledger_file(context.storage) as db:
        (stored,) = db.execute("SELECT password_hash FROM persons").fetchone()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert "$m=65536,t=3,p=4$" in stored  # argon2-cffi's defaults (the rest of the suite hashes cheaper)
    with pytest.raises(ServiceError) as exists:
        person(context, "Ada@Example.org")
    assert exists.value.reason is Reason.PERSON_EXISTS


def test_a_totp_code_counts_within_one_step_and_once(context: ServerContext, clock: FakeClock) -> None:
    person_id = person(context)
    secret = accounts.new_totp_secret()
    accounts.set_totp_secret(context, person_id, secret)
    totp = pyotp.TOTP(secret)
    at = clock.now // 1000
    accounts.check_totp(context, person_id, totp.at(at))
    with pytest.raises(ServiceError) as replayed:
        accounts.check_totp(context, person_id, totp.at(at))  # the same code again: refused
    assert replayed.value.reason is Reason.TOTP_INVALID
    accounts.check_totp(context, person_id, totp.at(at + 30))  # the next step's code, 30 s early: fine
    for stale in (totp.at(at - 60), totp.at(at + 90), "12345", "abcdef"):
        with pytest.raises(ServiceError):
            accounts.check_totp(context, person_id, stale)


def test_failed_logins_lock_the_account_for_the_set_minutes(context: ServerContext, clock: FakeClock) -> None:
    set_setting(context, LOCKOUT_FAILURES_SETTING, 3)
    person_id = person(context)
    accounts.set_totp_secret(context, person_id, secret := accounts.new_totp_secret())
    # Generous guessing budgets: this test is about the account's own lockout.
    roomy = Guarded(CONSOLE_LOGINS.name, Budget(1000, 60), Budget(1000, 60))
    limiter = GuessLimiter(context.now_ms, budgets=[roomy])
    for _ in range(3):
        with pytest.raises(ServiceError):
            accounts.check_password(
                context, "ada@example.org", "wrong password", attempt=limiter.attempt(CONSOLE_LOGINS, "c")
            )
    with pytest.raises(ServiceError) as locked:
        accounts.check_password(
            context, "ada@example.org", PASSWORD, attempt=limiter.attempt(CONSOLE_LOGINS, "c")
        )
    assert locked.value.reason is Reason.ACCOUNT_LOCKED and locked.value.status == 423
    assert locked.value.extra["retry_after_s"] == 15 * 60
    with pytest.raises(ServiceError) as still:
        accounts.check_totp(context, person_id, pyotp.TOTP(secret).at(clock.now // 1000))
    assert still.value.reason is Reason.ACCOUNT_LOCKED
    clock.now += 15 * MINUTE
    attempt = limiter.attempt(CONSOLE_LOGINS, "c")
    assert accounts.check_password(context, "ada@example.org", PASSWORD, attempt=attempt) == person_id


def test_wrong_passwords_spend_the_accounts_guessing_budget(context: ServerContext) -> None:
    person(context)
    limiter = GuessLimiter(context.now_ms)
    for number in range(CONSOLE_LOGINS.per_target.failures):
        with pytest.raises(ServiceError):
            # Each from another client: the per-account budget counts them all.
            accounts.check_password(
                context,
                "ada@example.org",
                "wrong",
                attempt=limiter.attempt(CONSOLE_LOGINS, f"c{number}", "ada"),
            )
    with pytest.raises(ServiceError) as limited:
        accounts.check_password(
            context, "ada@example.org", PASSWORD, attempt=limiter.attempt(CONSOLE_LOGINS, "new", "ada")
        )
    assert limited.value.reason is Reason.RATE_LIMITED


# -- console sessions ------------------------------------------------------------------------------


def test_a_console_session_ends_when_idle_and_after_its_lifetime(
    context: ServerContext, clock: FakeClock
) -> None:
    site_a = site(context)
    person_id = member(context, {"review"}, TeamScope("sites", (site_a,)))
    cookie = accounts.open_console_session(context, person_id, user_agent="Firefox")
    principal = accounts.console_principal(context, cookie)
    assert principal is not None and principal.person_id == person_id and principal.name == "Ada"
    assert principal.may(Permission.REVIEW, site_a)
    # Used every 2 h 59 min, it lives until 12 h after login, then ends whatever its use.
    for _ in range(4):
        clock.now += 3 * HOUR - MINUTE
        assert accounts.console_principal(context, cookie) is not None
    clock.now += 12 * HOUR - 4 * (3 * HOUR - MINUTE)
    assert accounts.console_principal(context, cookie) is None
    # Idle for 3 h: ended.
    idle = accounts.open_console_session(context, person_id)
    clock.now += 3 * HOUR
    assert accounts.console_principal(context, idle) is None
    assert (
        accounts.console_principal(context, "x" * 43) is None
        and accounts.console_principal(context, None) is None
    )


def test_the_timeouts_are_settings(context: ServerContext, clock: FakeClock) -> None:
    person_id = member(context, {"audit"}, TeamScope("economy"))
    set_setting(context, IDLE_SETTING, 10)
    set_setting(context, LIFETIME_SETTING, 30)
    cookie = accounts.open_console_session(context, person_id)
    clock.now += 9 * MINUTE
    assert accounts.console_principal(context, cookie) is not None
    clock.now += 10 * MINUTE
    assert accounts.console_principal(context, cookie) is None


def test_a_person_lists_and_ends_their_own_sessions_only(context: ServerContext) -> None:
    ada = member(context, {"audit"}, TeamScope("economy"))
    bob = person(context, "bob@example.org")
    first = accounts.open_console_session(context, ada, user_agent="laptop")
    second = accounts.open_console_session(context, ada, user_agent="tablet")
    bobs = accounts.open_console_session(context, bob)
    listed = accounts.sessions_of(context, ada)
    assert [s.user_agent for s in listed] == ["laptop", "tablet"]
    bob_session = accounts.sessions_of(context, bob)[0].session_id
    assert not accounts.end_session(context, ada, bob_session)  # not hers: untouched
    assert accounts.console_principal(context, bobs) is not None
    assert accounts.end_other_sessions(context, ada, second) == 1
    assert accounts.console_principal(context, first) is None
    assert accounts.console_principal(context, second) is not None
    accounts.close_console_session(context, second)
    assert accounts.console_principal(context, second) is None


# -- teams ----------------------------------------------------------------------------------------


def test_an_organisation_team_holds_for_the_organisations_sites_as_they_are(context: ServerContext) -> None:
    site_a, site_b, site_c = site(context, "A"), site(context, "B"), site(context, "C")
    org = accounts.add_organisation(context, "Träger e.V.", [site_a, site_b])
    person_id = member(context, {"review", "manage_cards"}, TeamScope("organisation", (org,)))
    cookie = accounts.open_console_session(context, person_id)
    principal = accounts.console_principal(context, cookie)
    assert principal is not None
    assert principal.sites_for(Permission.REVIEW) == {site_a, site_b}
    assert not principal.may(Permission.REVIEW, site_c) and not principal.may(Permission.REVIEW, None)
    accounts.set_site_organisation(context, site_c, org)  # moved in: covered at the next request
    moved = accounts.console_principal(context, cookie)
    assert moved is not None and moved.sites_for(Permission.MANAGE_CARDS) == {site_a, site_b, site_c}


def test_no_person_may_both_decide_and_settle_shops(context: ServerContext) -> None:
    shop = str(admin.create_site(context, {"name": "Laden", "tokens_per_hour": 0})["site_id"])
    with context.storage.write() as tx:
        tx._conn.execute("UPDATE sites SET kind = 'shop' WHERE site_id = ?", (shop,))
    with pytest.raises(ServiceError) as one_team:
        accounts.add_team(
            context, name="both", permissions=["decide", "settle_shops"], scope=TeamScope("economy")
        )
    assert one_team.value.reason is Reason.DUTIES_CONFLICT and one_team.value.status == 409
    ada = member(context, {"decide", "review"}, TeamScope("economy"))
    shopkeepers = accounts.add_team(
        context, name="Laden", permissions=["settle_shops"], scope=TeamScope("shops", (shop,))
    )
    with pytest.raises(ServiceError) as two_teams:
        accounts.add_member(context, shopkeepers, ada)
    assert two_teams.value.reason is Reason.DUTIES_CONFLICT


def test_nobody_grants_more_than_they_hold(context: ServerContext) -> None:
    site_a, site_b = site(context, "A"), site(context, "B")
    granter = Principal.of_grants(
        "Coordinator A",
        (Grant(frozenset({Permission.MANAGE_TEAMS, Permission.REVIEW}), frozenset({site_a})),),
        person_id="p_x",
    )
    team = accounts.add_team(
        context, name="Helpers A", permissions=["review"], scope=TeamScope("sites", (site_a,)), by=granter
    )
    for permissions, scope in (
        (["review"], TeamScope("sites", (site_a, site_b))),  # a site she does not hold
        (["decide"], TeamScope("sites", (site_a,))),  # a permission she does not hold
        (["review"], TeamScope("economy")),
    ):
        with pytest.raises(ServiceError) as refused:
            accounts.add_team(context, name="more", permissions=permissions, scope=scope, by=granter)
        assert refused.value.reason is Reason.GRANT_EXCEEDS_OWN and refused.value.status == 403
    admins = accounts.add_team(context, name="Admins", permissions=["audit"], scope=TeamScope("economy"))
    bob = person(context, "bob@example.org")
    accounts.add_member(context, team, bob, by=granter)
    with pytest.raises(ServiceError) as joining:
        accounts.add_member(context, admins, bob, by=granter)
    assert joining.value.reason is Reason.GRANT_EXCEEDS_OWN


# -- the activity log -----------------------------------------------------------------------------


def test_activity_records_who_did_what_and_a_site_scoped_viewer_sees_their_sites(
    context: ServerContext, clock: FakeClock
) -> None:
    site_a, site_b = site(context, "A"), site(context, "B")
    ada = Principal.of_grants(
        "Ada", (Grant(frozenset({Permission.READ_ACTIVITY}), frozenset({site_a})),), person_id="p_a"
    )
    accounts.record_activity(context, ada, "card.block", "c_1", site_id=site_a, data={"reason": "lost"})
    accounts.record_activity(context, None, "team.add", "t_1")
    accounts.record_activity(context, ada, "card.block", "c_2", site_id=site_b)
    rows = accounts.list_activity(context, ada, Permission.READ_ACTIVITY)
    assert [(r.actor, r.action, r.object_id, r.site_id, r.data) for r in rows] == [
        ("Ada", "card.block", "c_1", site_a, {"reason": "lost"})
    ]
    everything = accounts.list_activity(
        context, Principal("admin", frozenset(Permission)), Permission.READ_ACTIVITY
    )
    assert [r.object_id for r in everything] == ["c_2", "t_1", "c_1"]
    assert everything[1].actor == "operator" and everything[1].person_id is None
    assert accounts.list_activity(context, ada, Permission.READ_ACTIVITY, site_id=site_b) == []


# -- through a real route ---------------------------------------------------------------------------


def console(api: Api, cookie: str, csrf: str | None = "t" * 43) -> dict[str, str]:
    """A browser's headers: the console cookie and, for writes, the page's CSRF token (cookie and header)."""
    if csrf is None:
        return {"Cookie": f"{CONSOLE_COOKIE}={cookie}"}
    return {"Cookie": f"{CONSOLE_COOKIE}={cookie}; kk_csrf={csrf}", "X-CSRF-Token": csrf}


def test_a_coordinator_of_site_a_gets_404_for_site_b_and_403_without_the_permission(api: Api) -> None:
    ctx = api.context
    site_a, site_b = api.create_site()["site_id"], api.create_site()["site_id"]
    kiosk_a, kiosk_b = api.enrol_kiosk(site_a).kiosk_id, api.enrol_kiosk(site_b).kiosk_id
    fleet_a = member(ctx, {"manage_fleet"}, TeamScope("sites", (site_a,)))
    reviewer = member(ctx, {"review"}, TeamScope("sites", (site_a,)), email="bob@example.org")
    fleet_cookie = accounts.open_console_session(ctx, fleet_a)
    review_cookie = accounts.open_console_session(ctx, reviewer)

    def clear(kiosk_id: str, cookie: str):  # type: ignore[no-untyped-def]
        return api.http.post(f"/v1/admin/kiosks/{kiosk_id}/clear", headers=console(api, cookie))

    assert clear(kiosk_a, fleet_cookie).status_code == 200
    # A write with the console's cookie but without the page's token: another site's forged post.
    forged = api.http.post(f"/v1/admin/kiosks/{kiosk_a}/clear", headers=console(api, fleet_cookie, None))
    assert_error(forged, 403, Reason.CSRF_FAILED)
    other = clear(kiosk_b, fleet_cookie)
    unknown = clear("k_" + "0" * 32, fleet_cookie)
    assert_error(other, 404, Reason.UNKNOWN_KIOSK)
    assert other.json() == unknown.json()  # site B's kiosk looks like one that does not exist
    assert_error(clear(kiosk_a, review_cookie), 403, Reason.FORBIDDEN)
    assert_error(clear(kiosk_b, review_cookie), 403, Reason.FORBIDDEN)  # no oracle either way
    accounts.close_console_session(ctx, fleet_cookie)
    assert_error(clear(kiosk_a, fleet_cookie), 401, Reason.UNAUTHORIZED)
    # A bearer token keeps today's answer (403 for another site): its answers are an API.
    assert require(Permission.MANAGE_FLEET, scope=site_of_kiosk).scope.hidden == (
        Reason.UNKNOWN_KIOSK,
        "no such kiosk",
    )


def test_the_console_cookie_is_taken_before_the_bearer_token(api: Api) -> None:
    ctx = api.context
    site_a = api.create_site()["site_id"]
    reviewer = member(ctx, {"review"}, TeamScope("sites", (site_a,)))
    cookie = accounts.open_console_session(ctx, reviewer)
    headers = {**console(api, cookie), "Authorization": f"Bearer {api.admin_token}"}
    # /v1/admin/review needs `review` economy-wide: the admin token would pass, the person does not.
    assert_error(api.http.get("/v1/admin/review", headers=headers), 403, Reason.FORBIDDEN)
    ended = {"Cookie": f"{CONSOLE_COOKIE}=gone", "Authorization": f"Bearer {api.admin_token}"}
    assert api.http.get("/v1/admin/review", headers=ended).status_code == 200


# -- invitations, password change, a new authenticator -----------------------------------------------


def test_an_invitation_works_once_expires_and_is_stored_hashed(
    context: ServerContext, clock: FakeClock, data_dir: tuple[Path, InitResult]
) -> None:
    site_a = site(context)
    team = accounts.add_team(
        context, name="Linden", permissions=["review"], scope=TeamScope("sites", (site_a,))
    )
    made = invitations.invite(context, email="kim@example.org", team_id=team, by=None)
    secret = accounts.new_totp_secret()
    code = pyotp.TOTP(secret).at(clock.now // 1000)
    with pytest.raises(ServiceError) as wrong_code:
        invitations.accept_invitation(
            context, made.token, display_name="Kim", password=PASSWORD, totp_secret=secret, code="000000"
        )
    assert wrong_code.value.reason is Reason.TOTP_INVALID
    kim = invitations.accept_invitation(
        context, made.token, display_name="Kim", password=PASSWORD, totp_secret=secret, code=code
    )
    assert accounts.check_password(context, "kim@example.org", PASSWORD, attempt=guess(context)) == kim
    with context.storage.read() as tx:
        assert tx.team_members(team) == [kim]
    with pytest.raises(ServiceError) as again:
        invitations.accept_invitation(
            context, made.token, display_name="Eve", password=PASSWORD, totp_secret=secret, code=code
        )
    assert again.value.reason is Reason.INVITATION_INVALID and again.value.status == 410
    late = invitations.invite(context, email="lou@example.org", team_id=team, by=None)
    clock.now += 72 * HOUR
    with pytest.raises(ServiceError) as expired:
        invitations.show_invitation(context, late.token)
    assert expired.value.reason is Reason.INVITATION_INVALID
    dump = ledger_text(context.storage)
    assert made.token not in dump and late.token not in dump


def test_an_invitation_cannot_grant_more_than_the_inviter_holds(context: ServerContext) -> None:
    site_a = site(context)
    admins = accounts.add_team(context, name="Admins", permissions=["audit"], scope=TeamScope("economy"))
    inviter = Principal.of_grants(
        "Coordinator A", (Grant(frozenset({Permission.MANAGE_TEAMS, Permission.AUDIT}), frozenset({site_a})),)
    )
    with pytest.raises(ServiceError) as refused:
        invitations.invite(context, email="x@example.org", team_id=admins, by=inviter)
    assert refused.value.reason is Reason.GRANT_EXCEEDS_OWN


def test_a_password_change_ends_the_other_sessions(context: ServerContext) -> None:
    ada = member(context, {"audit"}, TeamScope("economy"))
    here = accounts.open_console_session(context, ada)
    laptop = accounts.open_console_session(context, ada)
    with pytest.raises(ServiceError) as wrong:
        own.change_password(
            context, ada, "not it", "a new long password", keep_cookie=here, attempt=guess(context)
        )
    assert wrong.value.reason is Reason.LOGIN_FAILED
    ended = own.change_password(
        context, ada, PASSWORD, "a new long password", keep_cookie=here, attempt=guess(context)
    )
    assert ended == 1
    assert accounts.console_principal(context, laptop) is None
    assert accounts.console_principal(context, here) is not None
    assert (
        accounts.check_password(context, "ada@example.org", "a new long password", attempt=guess(context))
        == ada
    )


def test_a_new_authenticator_counts_only_once_confirmed(context: ServerContext, clock: FakeClock) -> None:
    ada = person(context)
    old = accounts.new_totp_secret()
    accounts.set_totp_secret(context, ada, old)
    new = own.begin_totp(context, ada)
    now_s = clock.now // 1000
    accounts.check_totp(context, ada, pyotp.TOTP(old).at(now_s))  # the old app still works meanwhile
    with pytest.raises(ServiceError):
        own.confirm_totp(context, ada, "000000", PASSWORD, attempt=guess(context))
    clock.now += 30_000
    # A live session alone does not change the second factor: the password is asked again.
    with pytest.raises(ServiceError) as refused:
        own.confirm_totp(
            context, ada, pyotp.TOTP(new).at(now_s + 30), "not the password", attempt=guess(context)
        )
    assert refused.value.reason.value == "login_failed"
    own.confirm_totp(context, ada, pyotp.TOTP(new).at(now_s + 30), PASSWORD, attempt=guess(context))
    clock.now += 30_000
    with pytest.raises(ServiceError):
        accounts.check_totp(context, ada, pyotp.TOTP(old).at(now_s + 60))
    accounts.check_totp(context, ada, pyotp.TOTP(new).at(now_s + 60))


def test_a_persons_console_cookie_reads_the_cards_of_their_sites_only(api: Api) -> None:
    ctx = api.context
    site_a, site_b = api.create_site()["site_id"], api.create_site()["site_id"]
    ada = api.create_card("Ada", site_id=site_a)["card_id"]
    bob = api.create_card("Bob", site_id=site_b)["card_id"]
    reader = member(ctx, {"read_personal"}, TeamScope("sites", (site_a,)))
    cookie = accounts.open_console_session(ctx, reader)
    headers = console(api, cookie, None)
    assert api.http.get(f"/v1/cards/{ada}/balance", headers=headers).status_code == 200
    other = api.http.get(f"/v1/cards/{bob}/balance", headers=headers)
    assert_error(other, 404, Reason.UNKNOWN_CARD)
    assert other.json() == api.http.get("/v1/cards/c_" + "0" * 32 + "/balance", headers=headers).json()
