"""Denied attempts in a real browser (issue 20): a coordinator sees their site's counts and bursts only."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from protocol import EventKind, ids
from tests.server.server_helpers import FakeKiosk
from tests.web.conftest import Console
from tests.web.views_helpers import open_as


def _denied(console: Console, kiosk: FakeKiosk, reasons: list[str]) -> None:
    now = int(time.time() * 1000)
    events = [
        kiosk.event(
            EventKind.DENIED, ids.new_id(ids.UID_CARD), now - 20_000 + i * 1000, data={"reason": reason}
        )
        for i, reason in enumerate(reasons)
    ]
    response = console.api.send(kiosk.kiosk_id, events)
    assert response.status_code == 200, response.text


def test_a_coordinator_sees_a_burst_of_uid_mismatch_at_their_site_and_nothing_of_another(
    page: Page, console: Console
) -> None:
    here = console.api.enrol_kiosk(console.site_a)
    there = console.api.enrol_kiosk(console.site_b)
    _denied(console, here, ["uid_mismatch", "uid_mismatch", "unknown_card", "uid_mismatch"])
    _denied(console, there, ["card_blocked"])

    open_as(page, console, console.person(["review"]), "/console/denied")
    expect(page.locator("h1")).to_have_text("Abgelehnte Versuche")
    alarm = page.locator(f'.alarm.burst[data-kiosk="{here.kiosk_id}"]')
    expect(alarm).to_contain_text("Vielleicht probiert jemand kopierte Karten aus.")
    expect(alarm).to_contain_text("3 Karten abgelehnt")
    burst = page.locator(f'#denied tr[data-kiosk="{here.kiosk_id}"][data-reason="uid_mismatch"]')
    expect(burst).to_have_class("burst")
    expect(burst).to_contain_text("Karte passt nicht zu ihrem Chip")
    expect(burst.locator("td.num")).to_have_text("3")
    expect(
        page.locator(f'#denied tr[data-kiosk="{here.kiosk_id}"][data-reason="unknown_card"] td.num')
    ).to_have_text("1")
    assert page.locator(f'#denied tr[data-kiosk="{there.kiosk_id}"]').count() == 0
    options = page.locator("#f-site option").evaluate_all("found => found.map(o => o.value)")
    assert options == ["", console.site_a]
    assert "u_" not in page.content()  # no card, not even a pseudonym

    page.select_option("#f-reason", "unknown_card")
    page.get_by_role("button", name="Filtern").click()
    expect(page.locator("#denied tbody tr")).to_have_count(1)
    expect(page.locator(".alarm.burst")).to_have_count(0)
    assert page.get_by_role("link", name="Abgelehnte Versuche").count() == 1  # in the navigation


def test_another_sites_coordinator_sees_no_denied_attempts(page: Page, console: Console) -> None:
    here = console.api.enrol_kiosk(console.site_a)
    _denied(console, here, ["uid_mismatch", "uid_mismatch", "uid_mismatch"])
    from server import accounts

    elsewhere = console.person(
        ["review"], scope=accounts.TeamScope("sites", (console.site_b,)), name="Lia List"
    )
    open_as(page, console, elsewhere, "/console/denied")
    expect(page.locator("#denied td.empty")).to_have_text("Keine abgelehnten Versuche in diesem Zeitraum.")
    expect(page.locator(".alarm.burst")).to_have_count(0)
