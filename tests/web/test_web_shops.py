"""Where tokens can be spent, in real Chromium: a shop's owner keeps its profile, the public finds it.

A real server on loopback (the ``console`` fixture); the owner's and the
admin's sessions are real console sessions put into the browser
(:func:`open_as`).  The public page is read at a phone's size (390×844) with
no session at all.  The rules themselves (fields, who may edit) are tested
without a browser in ``tests/server/test_server_shop_profiles.py``.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Page

from server.accounts import TeamScope
from tests.web.conftest import Console
from tests.web.views_helpers import open_as

PHONE = {"width": 390, "height": 844}
CHECKS_JS = (Path(__file__).parent / "a11y.js").read_text(encoding="utf-8")  # names, h1, contrast, alt text


def test_an_owner_keeps_the_profile_and_a_phone_finds_the_shop_on_the_public_list(
    browser: Browser, page: Page, console: Console
) -> None:
    owner = console.person(["run_shop"], scope=TeamScope("shops", (console.shop,)), name="Lou Laden")
    form = f"/console/laden/{console.shop}/profil"
    open_as(page, console, owner, form)
    assert page.locator("h1").inner_text() == "Öffentliches Profil von Bioladen Nordstadt"
    assert page.evaluate(CHECKS_JS) == []
    page.get_by_label("Straße und Hausnummer").fill("Engelbosteler Damm 7")
    page.get_by_label("Postleitzahl").fill("3016")
    page.get_by_label("Stadtbezirk").select_option(label="Nord")
    page.get_by_label("Was der Laden anbietet").fill("Bio-Gemüse, Brot und Kaffee")
    page.get_by_label("Öffnungszeiten").fill("Mo–Fr 9–18")
    page.get_by_role("button", name="Profil speichern").click()
    assert page.locator("#profile-error").inner_text() == "Die Postleitzahl hat fünf Ziffern."
    assert page.get_by_label("Straße und Hausnummer").input_value() == "Engelbosteler Damm 7"  # kept
    page.get_by_label("Postleitzahl").fill("30167")
    page.get_by_role("button", name="Profil speichern").click()
    assert page.locator("p.flash").inner_text().startswith("Profil gespeichert")
    # Another place's profile page is the same 404 as one that does not exist.
    for other in (console.site_a, console.site_b, "s_nosuchshop"):
        response = page.goto(f"{console.url}/console/laden/{other}/profil")
        assert response is not None and response.status == 404

    phone = browser.new_page(locale="de-DE", viewport=PHONE)
    phone.goto(f"{console.url}/laeden")
    assert phone.locator("h1").inner_text() == "Wo einlösen"
    shop = phone.locator("#bezirk-nord li.shop")
    assert shop.locator("h4").inner_text() == "Bioladen Nordstadt"
    assert "Engelbosteler Damm 7, 30167 Hannover" in shop.inner_text()
    assert phone.locator('.district-map a.pin[data-district="nord"]').get_attribute("data-shops") == "1"
    assert phone.locator(".district-map").get_attribute("role") == "img"
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
    assert phone.evaluate(CHECKS_JS) == []
    # The filter is a plain GET form: no script needed.
    phone.get_by_label("Suchen").fill("Fahrrad")
    phone.get_by_role("button", name="Läden zeigen").click()
    assert phone.locator("li.shop").count() == 0
    assert phone.get_by_text("Kein Laden passt zu dieser Suche.").is_visible()
    phone.get_by_label("Suchen").fill("brot")
    phone.get_by_label("Stadtbezirk", exact=True).select_option(label="Nord")
    phone.get_by_role("button", name="Läden zeigen").click()
    assert phone.locator("li.shop h4").all_inner_texts() == ["Bioladen Nordstadt"]
    phone.close()

    # The keeper of places edits the same profile from the places page.
    admin = console.admin()
    open_as(page, console, admin, "/console/places")
    page.get_by_label("Öffentliches Profil von Bioladen Nordstadt").click()
    assert page.get_by_label("Öffnungszeiten").input_value() == "Mo–Fr 9–18"
    page.get_by_label("Öffnungszeiten").fill("Mo–Sa 8–20")
    page.get_by_role("button", name="Profil speichern").click()
    assert page.url.endswith("/console/places")
    assert page.locator("p.flash").inner_text().startswith("Profil gespeichert")
    page.goto(f"{console.url}/laeden")
    assert "Mo–Sa 8–20" in page.locator("#bezirk-nord li.shop").inner_text()
    page.goto(f"{console.url}/console/places/{console.shop}/profil")
    page.get_by_role("button", name="Profil entfernen").click()
    assert page.locator("p.flash").inner_text().startswith("Profil entfernt")
    page.goto(f"{console.url}/laeden")
    assert page.locator("li.shop").count() == 0
