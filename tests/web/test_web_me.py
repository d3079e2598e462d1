"""``/ich`` in Chromium on a phone (390×844): a volunteer's jobs, and the ways others must not get in.

One server for the module with three volunteers (``tests/web/me_helpers.py``):
Ada worked a shift at site A and spent 5 tokens at the shop; Bob (site B) has
nothing yet; Carol reports her card lost.  Each test opens its own browser
context (its own cookies and service worker).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pypdf
import pytest
from playwright.sync_api import Browser, BrowserContext, Page
from playwright.sync_api import Error as PlaywrightError

from server import accounts
from tests.web.conftest import logged_in
from tests.web.me_helpers import PHONE, World, me_world
from tests.web.test_web_accessibility import CHECKS_JS, OVERFLOW_JS, _keyboard

# Whether the service worker keeps a copy of the page within 20 s (the CSP forbids wait_for_function's
# eval, and an evaluate has no timeout of its own: the loop must end).
KEPT = """async () => {
    for (let waited = 0; waited < 20000; waited += 50) {
        if (await caches.match("/ich")) { return true; }
        await new Promise(resolve => setTimeout(resolve, 50));
    }
    return false;
}"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from me_world(tmp_path_factory.mktemp("me"))


@pytest.fixture
def phone(browser: Browser) -> Iterator[BrowserContext]:
    made = browser.new_context(viewport=PHONE, locale="de-DE", is_mobile=True, has_touch=True)
    made.set_default_timeout(15_000)
    yield made
    made.close()


def _errors(page: Page) -> list[str]:
    """What the page's scripts report as errors (a missing file, a failed script), collected as they come."""
    found: list[str] = []
    page.on("pageerror", lambda error: found.append(str(error)))
    page.on("console", lambda message: found.append(message.text) if message.type == "error" else None)
    return found


def _open(page: Page, world: World, card: dict[str, Any]) -> Page:
    """The QR code's link, as the phone's camera opens it."""
    page.goto(f"{world.url}/ich#k={card['access_secret']}")
    page.wait_for_selector("#balance")
    return page


def test_the_qr_link_logs_in_hides_the_code_and_shows_my_hours(phone: BrowserContext, world: World) -> None:
    page = phone.new_page()
    errors = _errors(page)
    _open(page, world, world.ada)
    assert page.evaluate("location.href") == f"{world.url}/ich"  # the secret left the address bar
    assert page.inner_text("#balance") == "15"
    shifts = page.inner_text("#shifts")
    assert "Stadtteilzentrum Linden" in shifts and "2 Stunden" in shifts and "20 Tokens" in shifts
    assert "Bioladen Nordstadt" in page.inner_text("#redemptions") and "5 Tokens" in page.inner_text(
        "#redemptions"
    )
    assert page.get_attribute("#progress", "max") == "100" and page.get_attribute("#progress", "value") == "0"
    assert "250 Stunden im Jahr" in page.inner_text("main")
    # Each receipt: an entry with its index's button and a place for the verdict, as verify.js expects.
    openings = page.request.get(f"{world.url}/v1/me/openings").json()["openings"]
    entries = page.locator("[data-kk-verify-entry]")
    assert entries.count() == len(openings) == 4  # the card, check-in, check-out, redemption
    indexes = {
        int(entries.nth(i).locator("[data-kk-verify-index]").get_attribute("data-kk-verify-index") or "")
        for i in range(entries.count())
    }
    assert indexes == {item["index"] for item in openings}
    assert entries.first.locator("[data-kk-verify-result]").count() == 1
    assert errors == []  # no script error, no missing file (verify.js and its texts included)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
    page.get_by_role("link", name="English").click()
    page.wait_for_selector("text=My tokens")
    assert page.inner_text("#balance") == "15"


def _download(page: Page, action: Any) -> bytes:
    with page.expect_download() as download:
        action()
    return Path(download.value.path()).read_bytes()


def test_the_last_page_is_there_offline_with_its_date_until_logout(
    phone: BrowserContext, world: World
) -> None:
    page = _open(phone.new_page(), world, world.ada)
    assert page.evaluate(KEPT)  # the first visit is kept too: the page asks the worker to fetch it
    assert page.locator("[data-kk-offline]").is_hidden()
    phone.set_offline(True)
    page.reload()
    banner = page.locator("[data-kk-offline]")
    assert banner.is_visible() and "Keine Verbindung. Das ist der Stand vom" in banner.inner_text()
    assert page.inner_text("#balance") == "15"
    phone.set_offline(False)
    page.reload()
    assert page.locator("[data-kk-offline]").is_hidden()

    # The Art. 15 export, as PDF and JSON, and a certificate: downloads of their own.
    pdf = _download(page, lambda: page.get_by_role("link", name="Meine Daten als PDF").click())
    assert pdf.startswith(b"%PDF")
    exported = json.loads(
        _download(page, lambda: page.get_by_role("link", name="Meine Daten als JSON").click())
    )
    assert world.ada["volunteer_id"] in json.dumps(exported) and world.bob["volunteer_id"] not in json.dumps(
        exported
    )
    certificate = _download(
        page, lambda: page.get_by_role("button", name="Nachweis herunterladen (PDF)").click()
    )
    text = pypdf.PdfReader(io.BytesIO(certificate)).pages[0].extract_text()
    assert "Ada Lovelace" in text
    page.reload()
    assert page.locator("#certificates li").count() == 1

    page.get_by_role("button", name="Abmelden").click()
    page.wait_for_selector("text=Sie sind abgemeldet.")
    assert page.evaluate("async () => (await caches.keys()).length") == 0
    assert page.request.get(f"{world.url}/v1/me").status == 401
    phone.set_offline(True)
    with pytest.raises(PlaywrightError):
        page.reload()  # nothing kept: offline there is no page


def test_a_lost_card_is_blocked_at_once(phone: BrowserContext, world: World) -> None:
    page = _open(phone.new_page(), world, world.carol)
    page.get_by_role("link", name="Karte verloren").click()
    page.wait_for_url("**/ich/karte-verloren")
    page.get_by_role("button", name="Meine Karte jetzt sperren").click()
    page.wait_for_selector("text=Ihre Karte ist jetzt gesperrt.")
    with world.console.ctx.storage.read() as tx:
        card = tx.get_card(world.carol["card_id"])
    assert card is not None and card.blocked_ms is not None
    assert "Ihre Karte ist schon gesperrt." in page.inner_text("main")
    page.goto(f"{world.url}/ich/karte-verloren")
    assert page.get_by_role("button", name="Meine Karte jetzt sperren").count() == 0


def test_without_javascript_the_code_form_opens_only_that_persons_page(
    browser: Browser, world: World
) -> None:
    context = browser.new_context(viewport=PHONE, locale="de-DE", java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{world.url}/ich")
        page.fill("#f-code", "A" * 43)
        page.get_by_role("button", name="Meine Seite öffnen").click()
        assert "Dieser Code geht nicht." in page.inner_text("#login-error")
        page.fill("#f-code", f"{world.url}/ich#k={world.bob['access_secret']}")  # the whole link, pasted
        page.get_by_role("button", name="Meine Seite öffnen").click()
        page.wait_for_selector("#balance")
        assert page.inner_text("#balance") == "0"
        main = page.inner_text("main")
        assert "Noch keine Einsätze." in main and "Bioladen" not in main and "Linden" not in main
        assert page.locator("[data-kk-verify-entry]").count() == 1  # his card's registration only
    finally:
        context.close()


def test_a_coordinator_of_another_site_sees_only_the_login(page: Page, world: World) -> None:
    coordinator = world.console.person(
        ["review", "read_personal", "reports"],
        scope=accounts.TeamScope("sites", (world.console.site_b,)),
        email="kim@example.org",
    )
    logged_in(page, world.console, coordinator)
    page.goto(f"{world.url}/ich")
    assert page.locator("#balance").count() == 0 and page.locator("#f-code").count() == 1
    assert page.request.get(f"{world.url}/v1/me").status == 401
    assert page.request.get(f"{world.url}/v1/me/openings").status == 401
    # A guessed code in a link: refused in plain words, and no session.
    page.goto(f"{world.url}/ich#k={'A' * 43}")
    page.wait_for_selector("text=Dieser Code geht nicht.")
    assert page.evaluate("location.href") == f"{world.url}/ich"  # gone from the address bar, no reload needed
    assert page.locator("#balance").count() == 0


def test_the_pages_pass_the_accessibility_checks_on_a_phone(phone: BrowserContext, world: World) -> None:
    """The console's checks (labels, one h1, contrast, a visible focus, the keyboard) on each /ich page."""
    page = phone.new_page()
    failures: list[str] = []
    for name, path in (("login", "/ich"), ("home", f"/ich#k={world.bob['access_secret']}"), ("lost", "")):
        if name == "lost":
            page.goto(f"{world.url}/ich/karte-verloren")
        else:
            page.goto(world.url + path)
        if name == "home":
            page.wait_for_selector("#balance")
        found = [tuple(row) for row in page.evaluate(CHECKS_JS)] + _keyboard(page)
        failures += [f"{name}: {check}: {element}: {detail}" for check, element, detail in found]
        wide = page.evaluate(OVERFLOW_JS)
        failures += [f"{name}: sideways scroll: {wide}"] if wide else []
    assert failures == []


def test_my_receipts_check_out_against_the_log_in_the_browser(phone: BrowserContext, world: World) -> None:
    """Each receipt's button checks the entry, its proof and its opening (static/verify.js)."""
    page = _open(phone.new_page(), world, world.ada)
    buttons = page.locator("[data-kk-verify-entry] [data-kk-verify-index]")
    assert buttons.count() == 4 and buttons.first.is_enabled()
    for i in range(buttons.count()):
        buttons.nth(i).click()
    results = page.locator("[data-kk-verify-entry] [data-kk-verify-result][data-kk-verify-outcome]")
    results.nth(3).wait_for()
    outcomes = [results.nth(i).get_attribute("data-kk-verify-outcome") for i in range(results.count())]
    assert outcomes == ["ok_receipt"] * 4  # verify.js's code for a receipt whose opening matched too
    assert all(results.nth(i).inner_text().strip() for i in range(4))
