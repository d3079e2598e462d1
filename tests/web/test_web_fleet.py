"""Kiosks and tills in a real browser: an enrolment code a simulated kiosk then uses, and revoking one."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from protocol import PrivateKey
from tests.web.conftest import Console, logged_in
from tests.web.views_helpers import open_as


def test_an_enrolment_code_from_the_console_enrols_a_kiosk_that_then_shows_in_the_fleet(
    page: Page, console: Console
) -> None:
    person = console.person(["manage_fleet"])
    logged_in(page, console, person, next_path="/console/kiosks")  # the real login form, with its TOTP step
    assert page.locator("h1").inner_text() == "Kiosks und Kassen"
    options = page.locator("#f-site_id option")
    assert options.evaluate_all("found => found.map(o => o.value)") == [console.site_a]  # not site B

    page.get_by_role("button", name="Einrichtungscode erzeugen").click()
    groups = page.locator("#enrolment-code .group").all_inner_texts()
    assert len(groups) == 5 and all(re.fullmatch(r"[0-9]{4}", g) for g in groups)
    expect(page.locator("figure.qr svg")).to_be_visible()

    # A kiosk at the site types the code: the enrolment answers its new identity.
    key = PrivateKey.generate()
    answer = console.api.enrol_request("-".join(groups), key)
    assert answer.status_code == 200, answer.text
    kiosk_id = answer.json()["kiosk_id"]
    assert answer.json()["site_id"] == console.site_a

    page.get_by_role("link", name="Zurück zu den Kiosks").click()
    row = page.locator(f'#fleet tr[data-kiosk="{kiosk_id}"]')
    expect(row).to_contain_text("Stadtteilzentrum Linden")
    expect(row).to_contain_text("aktiv")


def test_revoking_asks_first_and_another_sites_kiosk_is_not_found(page: Page, console: Console) -> None:
    here = console.api.enrol_kiosk(console.site_a)
    there = console.api.enrol_kiosk(console.site_b)
    open_as(page, console, console.person(["manage_fleet"]), "/console/kiosks")
    assert page.locator(f'#fleet tr[data-kiosk="{there.kiosk_id}"]').count() == 0

    page.get_by_role("link", name=f"{here.kiosk_id} sperren").click()
    expect(page.locator("h1")).to_have_text(f"{here.kiosk_id} sperren")
    assert console.api.kiosk_state(here.kiosk_id)["status"] == "active"  # asking changed nothing
    page.get_by_role("button", name="Endgültig sperren").click()
    expect(page.locator(".flash")).to_have_text(f"{here.kiosk_id} ist gesperrt.")
    expect(page.locator(f'#fleet tr[data-kiosk="{here.kiosk_id}"]')).to_contain_text("gesperrt")
    assert console.api.kiosk_state(here.kiosk_id)["status"] == "revoked"

    page.goto(f"{console.url}/console/kiosks/{there.kiosk_id}/revoke")
    assert page.locator("h1").inner_text() == "Nicht gefunden"
    assert console.api.kiosk_state(there.kiosk_id)["status"] == "active"
