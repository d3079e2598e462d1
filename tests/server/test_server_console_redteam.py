"""The red team's findings against the console, each kept by a test (issue 18, principle 10).

A coordinator of site A drives real console routes over loopback with a live
``kk_console`` cookie (what the login opens after the second factor) and tries
to read or change site B's things; downloads must not hand a spreadsheet a
formula.  Each test here failed before its fix.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import httpx
import pytest
from server_helpers import Api

from server import accounts, cardissuing, statements
from server.accounts import TeamScope
from server.http.access import CONSOLE_COOKIE
from server.web.forms import CSRF_COOKIE

COORDINATION = ["review", "decide", "manage_cards", "manage_fleet", "read_personal", "reports"]
CSRF = "red-team-csrf-token"


def _person(api: Api, site_id: str, email: str, permissions: list[str] = COORDINATION) -> str:
    person_id = accounts.add_person(api.context, email=email, display_name="Kim", password="x" * 12)
    accounts.set_totp_secret(api.context, person_id, accounts.new_totp_secret())
    team = accounts.add_team(
        api.context, name=f"Team {email}", permissions=permissions, scope=TeamScope("sites", (site_id,))
    )
    accounts.add_member(api.context, team, person_id)
    return person_id


@pytest.fixture
def two_sites(api: Api) -> tuple[str, str]:
    return api.create_site()["site_id"], api.create_site()["site_id"]


@pytest.fixture
def coordinator_a(api: Api, two_sites: tuple[str, str]) -> Iterator[httpx.Client]:
    """A browser of a coordinator of site A: the session cookie and a CSRF cookie."""
    person_id = _person(api, two_sites[0], "kim@example.org")
    cookie = accounts.open_console_session(api.context, person_id, user_agent="test")
    cookies = {CONSOLE_COOKIE: cookie, CSRF_COOKIE: CSRF}
    with httpx.Client(base_url=api.base_url, cookies=cookies) as browser:
        yield browser


def test_the_manual_shift_form_names_no_card_of_another_sites_volunteer(
    api: Api, two_sites: tuple[str, str], coordinator_a: httpx.Client
) -> None:
    """``/console/hours/new?volunteer=`` of site B must not fill in (and so reveal) their card ID."""
    site_b = two_sites[1]
    card_b = api.create_card("Bea", site_id=site_b)
    page = coordinator_a.get("/console/hours/new", params={"volunteer": card_b["volunteer_id"]})
    assert page.status_code == 200
    assert card_b["card_id"] not in page.text
    card_a = api.create_card("Ada", site_id=two_sites[0])  # at their own site the link still helps
    own = coordinator_a.get("/console/hours/new", params={"volunteer": card_a["volunteer_id"]})
    assert card_a["card_id"] in own.text


def test_the_prior_engagement_form_offers_only_the_coordinators_sites(
    api: Api, two_sites: tuple[str, str], coordinator_a: httpx.Client
) -> None:
    """The "where" choice of a prior-engagement decision listed every site of the economy."""
    site_a, site_b = two_sites
    volunteer = api.create_card("Ada", site_id=site_a)["volunteer_id"]
    page = coordinator_a.get(f"/console/certificates/{volunteer}/prior")
    assert page.status_code == 200
    assert site_a in page.text and site_b not in page.text


def test_another_sites_objects_answer_as_unknown_ones(
    api: Api, two_sites: tuple[str, str], coordinator_a: httpx.Client
) -> None:
    """Every page about one object of site B answers exactly what an unknown object's page answers."""
    site_b = two_sites[1]
    volunteer_b = api.create_card("Bea", site_id=site_b)["volunteer_id"]
    kiosk_b = api.enrol_kiosk(site_b).kiosk_id
    unknown_volunteer = "v_" + "0" * 32
    pairs = [
        (f"/console/volunteers/{volunteer_b}", f"/console/volunteers/{unknown_volunteer}"),
        (f"/console/certificates/{volunteer_b}", f"/console/certificates/{unknown_volunteer}"),
        (f"/console/certificates/{volunteer_b}/prior", f"/console/certificates/{unknown_volunteer}/prior"),
        (f"/console/kiosks/{kiosk_b}/revoke", "/console/kiosks/k_" + "0" * 32 + "/revoke"),
        (f"/console/rules?site={site_b}", "/console/rules?site=s_" + "0" * 32),
    ]
    for theirs, unknown in pairs:
        got, expected = coordinator_a.get(theirs), coordinator_a.get(unknown)
        assert got.status_code == expected.status_code == 404, (theirs, got.status_code, expected.status_code)
        assert got.text.replace(volunteer_b, "").replace(kiosk_b, "").replace(
            site_b, ""
        ) == expected.text.replace(unknown_volunteer, "").replace("k_" + "0" * 32, "").replace(
            "s_" + "0" * 32, ""
        ), theirs


def test_a_download_hands_no_formula_to_a_spreadsheet(
    api: Api, two_sites: tuple[str, str], coordinator_a: httpx.Client
) -> None:
    """A volunteer's name is the registering person's text: ``=HYPERLINK(…)`` must arrive as text."""
    cardissuing.register_volunteer(
        api.context, name='=HYPERLINK("http://evil.example","x")', site_id=two_sites[0]
    )
    cardissuing.register_volunteer(api.context, name="@SUM(1+1)", site_id=two_sites[0])
    answer = coordinator_a.get("/console/volunteers", params={"format": "csv"})
    assert answer.status_code == 200
    names = [row["name"] for row in csv.DictReader(io.StringIO(answer.text))]
    assert names and all(name[0] not in "=+-@\t\r" for name in names), names
    # Numbers stay numbers: a negative balance is no formula.
    assert statements.to_csv(("n", "s"), [{"n": -5, "s": "-5"}]).splitlines()[1] == "-5,'-5"


def test_an_invitation_grants_only_while_its_inviter_still_may(api: Api, two_sites: tuple[str, str]) -> None:
    """An invitation of someone disabled since (they left), or who lost the team's rights, is void.

    Else a person leaving could hand their rights on by a link made the day before.
    """
    from protocol import Reason
    from server.accounts import invitations
    from server.accounts.disable import disable_person
    from server.errors import ServiceError

    ctx = api.context
    admin_id = accounts.add_person(ctx, email="root@example.org", display_name="Root", password="x" * 12)
    everything = accounts.add_team(
        ctx, name="Admins", permissions=["manage_teams"], scope=TeamScope("economy")
    )
    accounts.add_member(ctx, everything, admin_id)
    leaver = _person(api, two_sites[0], "leaver@example.org", [*COORDINATION, "manage_teams"])
    team = accounts.add_team(
        ctx, name="Linden", permissions=COORDINATION, scope=TeamScope("sites", (two_sites[0],))
    )
    with ctx.storage.read() as tx:
        by = accounts.teams.principal_of_person(tx, leaver, "Leaver")
    made = invitations.invite(ctx, email="friend@example.org", team_id=team, by=by)
    with ctx.storage.read() as tx:
        root = accounts.teams.principal_of_person(tx, admin_id, "Root")
    disable_person(ctx, root, leaver)
    secret = accounts.new_totp_secret()
    import pyotp

    with pytest.raises(ServiceError) as refused:
        invitations.accept_invitation(
            ctx,
            made.token,
            display_name="Friend",
            password="y" * 12,
            totp_secret=secret,
            code=pyotp.TOTP(secret).at(ctx.now_ms() // 1000),
        )
    assert refused.value.reason is Reason.INVITATION_INVALID
    with ctx.storage.read() as tx:
        assert tx.person_by_email("friend@example.org") is None


def test_a_locked_account_answers_a_wrong_password_as_an_unknown_address_does(api: Api) -> None:
    """``account_locked`` for any password told a guesser which addresses have an account.

    Lock an address by failing, and compare with an address that has none: the
    same ``401 login_failed``.  Only the right password learns about the lock.
    """
    from protocol import Reason
    from server.accounts.settings import LOCKOUT_FAILURES_SETTING
    from server.errors import ServiceError
    from server.ratelimit import CONSOLE_LOGINS, Budget, Guarded, GuessLimiter

    ctx = api.context
    with ctx.storage.write() as tx:
        tx.set_setting(LOCKOUT_FAILURES_SETTING, "3")
    accounts.add_person(ctx, email="kim@example.org", display_name="Kim", password="x" * 12)
    roomy = Guarded(CONSOLE_LOGINS.name, Budget(1000, 60), Budget(1000, 60))
    limiter = GuessLimiter(ctx.now_ms, budgets=[roomy])

    def answer(email: str, password: str) -> Reason:
        with pytest.raises(ServiceError) as refused:
            accounts.check_password(ctx, email, password, attempt=limiter.attempt(CONSOLE_LOGINS, "c"))
        return refused.value.reason

    for email in ("kim@example.org", "nobody@example.org"):
        assert [answer(email, "wrong password") for _ in range(5)] == [Reason.LOGIN_FAILED] * 5, email
    assert answer("kim@example.org", "x" * 12) is Reason.ACCOUNT_LOCKED


def test_an_enrolment_code_of_thousands_of_digits_of_hours_is_a_4xx(
    api: Api, two_sites: tuple[str, str], coordinator_a: httpx.Client
) -> None:
    """``int()`` of more than 4,300 digits raises ``ValueError``: that was a 500."""
    for hours in ("9" * 5000, "١٢", "+24", " 24"):
        form = {"csrf": CSRF, "site_id": two_sites[0], "hours": hours}
        answer = coordinator_a.post("/console/kiosks/code", data=form)
        assert answer.status_code == 400, (hours[:10], answer.status_code)


def test_a_site_scoped_granter_makes_no_organisation_team(api: Api, two_sites: tuple[str, str]) -> None:
    """An organisation team grows with every site moved into it later: only an economy-wide granter makes one.

    Else a manager of site A, whose organisation holds only A today, makes an
    organisation team, joins it, and holds site C the day an admin moves C in.
    """
    from protocol import Reason
    from server.errors import ServiceError

    ctx = api.context
    site_a = two_sites[0]
    org = accounts.add_organisation(ctx, "Träger e.V.", [site_a])
    manager = _person(api, site_a, "mo@example.org", [*COORDINATION, "manage_teams"])
    with ctx.storage.read() as tx:
        by = accounts.teams.principal_of_person(tx, manager, "Mo")
    with pytest.raises(ServiceError) as refused:
        accounts.add_team(
            ctx, name="Träger", permissions=["review"], scope=TeamScope("organisation", (org,)), by=by
        )
    assert refused.value.reason is Reason.GRANT_EXCEEDS_OWN
    # A site team of their own site stays theirs to make.
    accounts.add_team(ctx, name="Linden", permissions=["review"], scope=TeamScope("sites", (site_a,)), by=by)


def test_the_volunteers_download_is_never_cached(
    api: Api, two_sites: tuple[str, str], coordinator_a: httpx.Client
) -> None:
    """It holds names (personal data): ``no-store`` and an attachment, as every other download of a page."""
    cardissuing.register_volunteer(api.context, name="Ada", site_id=two_sites[0])
    answer = coordinator_a.get("/console/volunteers", params={"format": "csv"})
    assert answer.status_code == 200
    assert answer.headers.get("cache-control") == "no-store"
    assert answer.headers.get("content-disposition") == 'attachment; filename="volunteers.csv"'


def test_a_decision_field_of_thousands_of_digits_is_a_4xx(
    api: Api, two_sites: tuple[str, str], coordinator_a: httpx.Client
) -> None:
    """``int()`` refuses more than 4,300 digits with ``ValueError``: a whole-number field must be a 400."""
    from protocol import PrivateKey

    public_key = PrivateKey.generate().public_key.to_b64()
    for fields in (
        {"kind": "review", "kiosk": "k_x", "seq": "9" * 5000, "action": "approve", "reason": "ok"},
        {"kind": "site_rules", "site": two_sites[0], "tokens_per_hour": "9" * 5000},
        {"kind": "manual_shift", "card": "c_x", "site": two_sites[0], "start_ms": "9" * 5000, "end_ms": "1"},
    ):
        answer = coordinator_a.post(
            "/console/decisions/prepare",
            json={"public_key": public_key, "fields": fields},
            headers={"X-CSRF-Token": CSRF},
        )
        assert 400 <= answer.status_code < 500, (fields["kind"], answer.status_code, answer.text[:200])
    for seq in ("9" * 4000, "-" + "9" * 30, "1e400"):  # JSON numbers, not text
        fields_json = '{"kind": "review", "kiosk": "k_x", "seq": ' + seq + "}"
        raw = '{"public_key": "' + public_key + '", "fields": ' + fields_json + "}"
        answer = coordinator_a.post(
            "/console/decisions/prepare",
            content=raw,
            headers={"X-CSRF-Token": CSRF, "Content-Type": "application/json"},
        )
        assert 400 <= answer.status_code < 500, (seq[:10], answer.status_code, answer.text[:200])


def test_a_password_change_voids_a_login_half_done_with_the_old_password(api: Api) -> None:
    """The password step's ticket outlived a password change: with the old password and a code, a session."""
    from server.accounts import account as own
    from server.accounts.login import issue_ticket, ticket_person
    from server.ratelimit import CONSOLE_LOGINS, GuessLimiter

    ctx = api.context
    person_id = accounts.add_person(ctx, email="kim@example.org", display_name="Kim", password="x" * 12)
    ticket = issue_ticket(ctx, person_id)  # someone who learnt the old password passed step one
    assert ticket_person(ctx, ticket) == person_id
    attempt = GuessLimiter(ctx.now_ms).attempt(CONSOLE_LOGINS, "c", person_id)
    api.clock.now += 1000
    own.change_password(ctx, person_id, "x" * 12, "y" * 12, keep_cookie=None, attempt=attempt)
    assert ticket_person(ctx, ticket) is None
    assert ticket_person(ctx, issue_ticket(ctx, person_id)) == person_id


def test_a_laptop_key_an_admin_registers_through_the_api_is_theirs_so_they_cannot_cosign_themselves(
    api: Api, two_sites: tuple[str, str]
) -> None:
    """Four eyes: an admin who enrols a laptop key beside their browser key is still one person."""
    from protocol import PrivateKey, coordinator_id
    from server.http.access import Permission
    from server.principals import SHOP_DUTIES

    everything = [p.value for p in Permission if p not in SHOP_DUTIES]
    person_id = accounts.add_person(
        api.context, email="ada@example.org", display_name="Ada", password="x" * 12
    )
    team = accounts.add_team(api.context, name="Admins", permissions=everything, scope=TeamScope("economy"))
    accounts.add_member(api.context, team, person_id)
    cookie = accounts.open_console_session(api.context, person_id, user_agent="test")
    laptop = PrivateKey.generate()
    with httpx.Client(base_url=api.base_url, cookies={CONSOLE_COOKIE: cookie, CSRF_COOKIE: CSRF}) as browser:
        answer = browser.post(
            "/v1/admin/coordinators",
            json={"name": "Ada's laptop", "public_key": laptop.public_key.to_b64()},
            headers={"X-CSRF-Token": CSRF},
        )
    assert answer.status_code == 201, answer.text
    with api.context.storage.read() as tx:
        assert tx.coordinator_person(coordinator_id(laptop.public_key)) == person_id
    machine = PrivateKey.generate()  # the machine token's keys stay a key of nobody in particular
    api.admin(
        "POST",
        "/v1/admin/coordinators",
        {"name": "CI", "public_key": machine.public_key.to_b64()},
        expect=201,
    )
    with api.context.storage.read() as tx:
        assert tx.coordinator_person(coordinator_id(machine.public_key)) is None
