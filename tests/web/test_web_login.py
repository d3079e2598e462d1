"""Logging in to the console in real Chromium: the two steps, refusals in German, lockout, CSRF, scope.

Each test drives the real login form of a real server on loopback (the
``console`` fixture); the TOTP codes come from the person's secret with pyotp,
as a phone's authenticator app makes them.
"""

from __future__ import annotations

import pyotp
from playwright.sync_api import Browser, Page

from server.accounts.settings import LOCKOUT_FAILURES_SETTING
from tests.web.conftest import Console, Person, logged_in


def _password_step(page: Page, console: Console, person: Person, password: str | None = None) -> None:
    page.goto(f"{console.url}/console/login?next=/console/account")
    page.fill("input[name=email]", person.email)
    page.fill("input[name=password]", password if password is not None else person.password)
    page.press("input[name=password]", "Enter")
    page.wait_for_load_state()


def test_login_takes_the_password_then_the_code_and_shows_my_sessions(page: Page, console: Console) -> None:
    kim = console.person(["review"])
    _password_step(page, console, kim)
    assert page.locator("h1").inner_text() == "Zweiter Faktor"
    # Without the code there is no session yet: the account page sends the browser back to the login.
    page.goto(f"{console.url}/console/account")
    assert "/console/login" in page.url
    _password_step(page, console, kim)
    page.fill("input[name=code]", "000000")
    page.press("input[name=code]", "Enter")
    assert "Code ist falsch" in page.locator("#login-error").inner_text()
    page.fill("input[name=code]", kim.code())
    page.press("input[name=code]", "Enter")
    page.wait_for_url("**/console/account")
    assert page.locator("h1").inner_text() == "Mein Konto"
    assert "diese Sitzung" in page.locator("table").first.inner_text()
    cookie = next(c for c in page.context.cookies() if c["name"] == "kk_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    page.get_by_role("button", name="Abmelden").click()
    assert page.locator("p.flash").inner_text() == "Sie sind abgemeldet."
    page.goto(f"{console.url}/console/account")
    assert "/console/login" in page.url


def test_a_wrong_password_is_refused_in_german_and_repeated_failures_lock_the_account(
    page: Page, console: Console
) -> None:
    with console.ctx.storage.write() as tx:
        tx.set_setting(LOCKOUT_FAILURES_SETTING, "3")
    kim = console.person(["review"])
    _password_step(page, console, kim, "falsches Passwort")
    assert page.locator("#login-error").inner_text() == "E-Mail-Adresse oder Passwort sind falsch."
    assert page.locator("input[name=email]").input_value() == kim.email
    for _ in range(2):
        _password_step(page, console, kim, "falsches Passwort")
    _password_step(page, console, kim)  # the right password, but the account is locked now
    assert "vorübergehend gesperrt" in page.locator("#login-error").inner_text()
    assert page.locator("input[name=code]").count() == 0


def test_a_forged_form_without_the_csrf_token_is_refused(page: Page, console: Console) -> None:
    kim = console.person(["review"])
    logged_in(page, console, kim, next_path="/console/account")
    other = page.context.new_page()  # a second login: a session the forged form would end
    logged_in(other, console, kim, next_path="/console/account")
    # A form that looks like the page's own but lacks the token, posted by script from the page.
    page.evaluate(
        """() => {
            const form = document.createElement('form');
            form.method = 'post';
            form.action = '/console/account/password';
            const fields = [['current', 'x'], ['new', 'hijacked-pass'], ['repeat', 'hijacked-pass']];
            for (const [name, value] of fields) {
                const input = document.createElement('input');
                input.name = name; input.value = value; form.appendChild(input);
            }
            document.body.appendChild(form);
            form.submit();
        }"""
    )
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Nicht erlaubt"
    assert "csrf_failed" in page.content()
    other.goto(f"{console.url}/console/account")
    assert other.locator("h1").inner_text() == "Mein Konto"  # nothing changed, the other session lives


def test_a_coordinator_of_site_a_gets_404_for_a_kiosk_of_site_b(page: Page, console: Console) -> None:
    kiosk_a = console.api.enrol_kiosk(console.site_a).kiosk_id
    kiosk_b = console.api.enrol_kiosk(console.site_b).kiosk_id
    kim = console.person(["manage_fleet", "review"])
    logged_in(page, console, kim, next_path="/console/account")
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "kk_csrf")
    headers = {"X-CSRF-Token": csrf}
    own = page.request.post(f"{console.url}/v1/admin/kiosks/{kiosk_a}/clear", headers=headers)
    assert own.status == 200
    other = page.request.post(f"{console.url}/v1/admin/kiosks/{kiosk_b}/clear", headers=headers)
    unknown = page.request.post(f"{console.url}/v1/admin/kiosks/k_{'0' * 32}/clear", headers=headers)
    assert other.status == 404 and other.json() == unknown.json()
    assert other.json()["error"]["code"] == "unknown_kiosk"
    # Teams are not hers to manage: the console says so (403), in German.
    page.goto(f"{console.url}/console/teams")
    assert page.locator("h1").inner_text() == "Nicht erlaubt"


def test_an_invitation_is_made_accepted_and_used_once(page: Page, console: Console, browser: Browser) -> None:
    admin = console.admin()
    logged_in(page, console, admin, next_path="/console/teams")
    page.fill("#f-team_name", "Koordination Linden")
    page.select_option("#f-preset", "coordination")
    page.get_by_label("Stadtteilzentrum Linden").check()
    page.get_by_role("button", name="Team anlegen").click()
    assert page.locator("p.flash").inner_text() == "Team angelegt."
    page.fill("form[action='/console/invitations'] input[name=email]", "neu@example.org")
    page.select_option("#f-team", label="Koordination Linden")
    page.get_by_role("button", name="Einladungslink erstellen").click()
    link = page.locator("#invitation-link").inner_text()
    assert link.startswith(f"{console.url}/console/invite/")

    invited = browser.new_context(locale="de-DE").new_page()
    invited.goto(link)
    invited.fill("#f-name", "Nele Neu")
    invited.fill("#f-password", "ein-langes-Passwort")
    invited.fill("#f-repeat", "ein-langes-Passwort")
    secret = invited.locator("#totp-secret").inner_text()
    assert invited.locator(".qr svg").count() == 1
    invited.fill("#f-code", pyotp.TOTP(secret).now())
    invited.get_by_role("button", name="Konto anlegen").click()
    invited.wait_for_load_state()
    invited.goto(f"{console.url}/console/account")
    assert invited.locator("h1").inner_text() == "Mein Konto"
    assert "neu@example.org" in invited.content()
    invited.goto(link)  # used: the link works once
    assert invited.locator("h1").inner_text() != "Ihr Konto anlegen"
    invited.context.close()

    page.goto(f"{console.url}/console/teams")
    assert "neu@example.org" in page.locator("section", has_text="Koordination Linden").inner_text()
    page.goto(f"{console.url}/console/activity")
    activity = page.locator("table").inner_text()
    assert "invitation.accept" in activity and "team.add" in activity and "login" in activity
