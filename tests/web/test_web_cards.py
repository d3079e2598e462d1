"""Volunteers, cards and hours confirmations in a real browser (issue 18, pages 3 and 8).

The coordinator logs in as a person of a team for site A (password and TOTP
through the real login form); the contact's browser carries nothing at all.
The card is written through nfcpy's UDP driver onto an emulated NTAG, by the
same function ``kokreativ provision card issue --prepared`` runs.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Browser, Page

from hardware.emulator import EmulatedType2Tag, serve_tag
from hardware.nfc import write_one_tag
from protocol import PrivateKey
from provisioning.cards import issue_prepared
from provisioning.client import ApiClient
from server import cardissuing
from tests.web.conftest import Console, logged_in

UID = bytes.fromhex("04c0ffee001122")


@pytest.fixture
def coordinator(page: Page, console: Console) -> Page:
    """A coordinator of site A (cards and review there), logged in."""
    kim = console.person(["manage_cards", "review"])
    return logged_in(page, console, kim, next_path="/console/volunteers")


def _state(page: Page, card_id: str) -> str:
    return page.locator(f'tr[data-card="{card_id}"] .badge').inner_text()


def test_a_card_prepared_in_the_console_is_pending_until_written_and_read_back_then_blocked(
    coordinator: Page,
    console: Console,
) -> None:
    page = coordinator
    elsewhere = cardissuing.register_volunteer(console.ctx, name="Berta Anders", site_id=console.site_b)
    page.goto(f"{console.url}/console/volunteers")
    assert "Berta" not in page.locator("main").inner_text()  # site B's volunteer is not listed
    assert page.locator("#f-site_id option").all_inner_texts() == ["Stadtteilzentrum Linden"]  # site A only
    other = page.goto(f"{console.url}/console/volunteers/{elsewhere['volunteer_id']}")
    assert other is not None and other.status == 404
    page.goto(f"{console.url}/console/volunteers")
    page.locator("#f-name").fill("Alex Beispiel")  # its label is "Name *": the field is required
    page.locator("#f-site_id").select_option(console.site_a)
    page.get_by_role("button", name="Erfassen").click()
    assert page.locator("h1").inner_text() == "Alex Beispiel"
    page.get_by_role("button", name="Karte vorbereiten").click()
    assert "vorbereitet" in page.locator(".flash").inner_text()
    card_id = str(page.locator("tr[data-card]").get_attribute("data-card"))
    assert _state(page, card_id) == "ausstehend: noch nicht beschrieben"

    issuer = PrivateKey.generate()
    with ApiClient(console.url, admin_token=console.api.admin_token) as client:
        client.add_issuer_key(issuer.public_key.to_b64())
        with serve_tag(EmulatedType2Tag(UID)) as emulation:
            issued = issue_prepared(
                client,
                issuer,
                lambda make: write_one_tag(emulation.path, make, lock=True, timeout_s=10),
                card_id,
            )
    assert issued.locked is True
    page.reload()
    assert _state(page, card_id) == "aktiv"

    page.get_by_role("button", name=f"Karte {card_id} sperren").click()
    assert _state(page, card_id) == "gesperrt"
    assert page.locator(f'tr[data-card="{card_id}"] button').count() == 0  # nothing left to do with it

    page.get_by_role("button", name="Ausgabeblatt drucken").click()
    link = page.locator("#access-link").inner_text()
    assert re.fullmatch(re.escape(console.url) + r"/ich#k=[A-Za-z0-9_-]{43}", link)
    assert page.locator(".qr svg").count() == 1


def test_hours_confirmed_by_a_contact_without_an_account_come_back_with_links_to_the_shift_form(
    coordinator: Page,
    browser: Browser,
    console: Console,
) -> None:
    volunteer = cardissuing.register_volunteer(console.ctx, name="Kim Muster", site_id=console.site_a)
    day = (date.today() - timedelta(days=2)).isoformat()
    page = coordinator
    page.goto(f"{console.url}/console/confirmations")
    page.locator("#f-site_id").select_option(console.site_a)
    page.locator("#f-contact").fill("Tafel Nord")
    page.get_by_label("Ehrenamtliche Person, Zeile 1").select_option(volunteer["volunteer_id"])
    page.get_by_label("Tag, Zeile 1").fill(day)
    page.get_by_label("Von, Zeile 1").fill("09:00")
    page.get_by_label("Bis, Zeile 1").fill("12:00")
    page.get_by_role("button", name="Link erstellen").click()
    link = page.get_by_label("Bestätigungslink").input_value()
    assert link.startswith(f"{console.url}/bestaetigen/")

    contact_context = browser.new_context(locale="de-DE")  # no account, no header
    contact = contact_context.new_page()
    contact.goto(link)
    legend = contact.locator("legend").inner_text()
    assert legend == f"Kim M., {day}, 09:00–12:00"
    assert volunteer["volunteer_id"] not in contact.content() and "Muster" not in contact.content()
    contact.get_by_label("Andere Zeiten:").check()
    contact.get_by_label("bis").fill("11:30")
    contact.get_by_role("button", name="Antwort senden").click()
    assert contact.locator("h1").inner_text() == "Vielen Dank"
    contact.goto(link)  # the link works once
    assert contact.locator("h1").inner_text() != "Ehrenamtsstunden bestätigen"
    contact_context.close()

    page.goto(f"{console.url}/console/confirmations")
    page.get_by_role("link", name="Öffnen").click()
    assert "korrigiert auf 09:00–11:30" in page.locator("#lines").inner_text()
    form = urlparse(
        str(page.get_by_role("link", name="Als Schicht eintragen (signiert)").get_attribute("href"))
    )
    assert form.path == "/console/hours/new"
    assert parse_qs(form.query) == {
        "volunteer": [volunteer["volunteer_id"]],
        "site": [console.site_a],
        "start": [f"{day}T09:00"],
        "end": [f"{day}T11:30"],
        "reason": ["external_confirmed"],
    }
