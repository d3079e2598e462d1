"""The settings page in real Chromium: an admin lowers the four-eyes threshold; a scoped coordinator may not.

A real server on loopback (the ``console`` fixture); sessions are real console
sessions put into the browser (:func:`open_as`).  The value is read back where
four eyes reads it, and the change is in the activity log.
"""

from __future__ import annotations

from playwright.sync_api import Browser, Page

from server.accounts import TeamScope, list_activity
from server.foureyes import threshold_minutes
from server.http.access import Permission, Principal
from tests.web.conftest import Console
from tests.web.views_helpers import open_as


def test_an_admin_lowers_the_four_eyes_threshold_and_a_site_coordinator_gets_403(
    browser: Browser, page: Page, console: Console
) -> None:
    admin = console.admin()
    open_as(page, console, admin, "/console")
    page.get_by_role("link", name="Einstellungen").click()
    assert page.locator("h1").inner_text() == "Einstellungen"
    threshold = page.get_by_label("Schwelle für Vier Augen (Minuten)")
    assert threshold.input_value() == "480"
    threshold.fill("240")
    page.get_by_role("button", name="Speichern").click()
    assert page.locator("p.flash").inner_text() == "Einstellungen gespeichert: 1 geändert."
    assert page.get_by_label("Schwelle für Vier Augen (Minuten)").input_value() == "240"
    with console.ctx.storage.read() as tx:
        assert threshold_minutes(tx) == 240
    everyone = Principal("auditor", frozenset(Permission), None)
    logged = list_activity(console.ctx, everyone, Permission.READ_ACTIVITY, action="settings.change")
    assert [(row.object_id, row.data, row.person_id) for row in logged] == [
        ("four_eyes_minutes", {"old": 480, "new": 240}, admin.person_id)
    ]

    # An idle timeout longer than the lifetime: the 400 page, nothing stored.
    page.get_by_label("Sitzung endet nach Untätigkeit (Minuten)").fill("1000")
    response_status = []
    page.on("response", lambda r: response_status.append(r.status) if r.request.method == "POST" else None)
    page.get_by_role("button", name="Speichern").click()
    page.wait_for_load_state()
    assert response_status == [400]
    open_as(page, console, admin, "/console/settings")
    assert page.get_by_label("Sitzung endet nach Untätigkeit (Minuten)").input_value() == "180"

    local = console.person(["manage_teams"], scope=TeamScope("sites", (console.site_a,)), name="Lia Lokal")
    other = browser.new_page(locale="de-DE")
    open_as(other, console, local, "/console/teams")
    assert other.get_by_role("link", name="Einstellungen").count() == 0  # no link that would answer 403
    answer = other.goto(f"{console.url}/console/settings")
    assert answer is not None and answer.status == 403
    other.close()
