"""Places and accounts in real Chromium: an admin makes an organisation and a site, and disables a person.

A real server on loopback (the ``console`` fixture); the admin's session is a
real console session put into the browser (:func:`open_as`), the disabled
person logs in through the real login form.
"""

from __future__ import annotations

from playwright.sync_api import Browser, Page

from server.accounts import TeamScope
from tests.web.conftest import Console, logged_in
from tests.web.views_helpers import open_as


def test_an_admin_creates_an_organisation_and_a_site_in_it_and_a_site_coordinator_sees_only_theirs(
    browser: Browser, page: Page, console: Console
) -> None:
    admin = console.admin()
    open_as(page, console, admin, "/console/places")
    assert page.locator("h1").inner_text() == "Orte"
    page.get_by_label("Name des Trägers").fill("Caritas Hannover")
    page.get_by_role("button", name="Träger anlegen").click()
    assert page.locator("p.flash").inner_text() == "Träger angelegt."
    page.locator("#f-name").fill("Suppenküche")
    page.locator("#f-kind").select_option("checkin")
    page.locator("#f-tokens_per_hour").fill("12")
    page.locator("#f-organisation").select_option(label="Caritas Hannover")
    page.get_by_role("button", name="Ort anlegen").click()
    assert page.locator("p.flash").inner_text() == "Ort angelegt."
    row = page.locator("#places tbody tr", has_text="Suppenküche")
    assert "Caritas Hannover" in row.inner_text() and "12" in row.inner_text()
    # Site A moves into the organisation too, from its row.
    page.get_by_label("Träger von Stadtteilzentrum Linden").select_option(label="Caritas Hannover")
    page.locator("#places tbody tr", has_text="Stadtteilzentrum Linden").get_by_role("button").click()
    assert page.locator("p.flash").inner_text() == "Träger geändert."
    assert page.locator("#places tbody tr").count() == 4

    local = console.person(["manage_sites"], scope=TeamScope("sites", (console.site_a,)), name="Lia Lokal")
    other = browser.new_page(locale="de-DE")
    open_as(other, console, local, "/console/places")
    assert other.locator("#places tbody tr").count() == 1  # only site A
    assert other.get_by_role("button", name="Ort anlegen").count() == 0
    other.close()


def test_an_admin_disables_a_person_whose_session_ends_and_whose_login_is_refused(
    browser: Browser, page: Page, console: Console
) -> None:
    admin = console.admin()
    kim = console.person(["review"], name="Kim Koordination")
    kims_page = browser.new_page(locale="de-DE")
    logged_in(kims_page, console, kim, next_path="/console/account")
    assert kims_page.locator("h1").inner_text() == "Mein Konto"

    open_as(page, console, admin, "/console/teams")
    assert page.get_by_role("button", name="Ada Admin sperren").count() == 0  # not oneself
    page.get_by_role("button", name="Kim Koordination sperren").click()
    assert page.locator("p.flash").inner_text() == "Konto gesperrt: Seine Sitzungen sind beendet."

    kims_page.goto(f"{console.url}/console/account")
    assert "/console/login" in kims_page.url  # the session ended at once
    kims_page.fill("input[name=email]", kim.email)
    kims_page.fill("input[name=password]", kim.password)
    kims_page.press("input[name=password]", "Enter")
    kims_page.wait_for_load_state()
    assert "Dieses Konto ist gesperrt" in kims_page.locator("#login-error").inner_text()

    page.get_by_role("button", name="Kim Koordination freigeben").click()
    assert page.locator("p.flash").inner_text() == "Konto wieder freigegeben."
    logged_in(kims_page, console, kim, next_path="/console/account")
    assert kims_page.locator("h1").inner_text() == "Mein Konto"
    kims_page.close()
