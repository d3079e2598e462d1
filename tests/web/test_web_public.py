"""The public pages in Chromium: ``/``, ``/anzeige`` and ``/so-gehts`` over an economy with history.

One server for the module (:mod:`tests.web.public_economy`): five closed
months, a site with a single volunteer (Mitte), two shops.  The pages must show
the published figures, never one about fewer than five people, fit a phone
(390×844) without scrolling sideways, pass the accessibility checks the console
passes, and run no script the CSP refuses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from playwright.sync_api import Browser, Page
from server_helpers import HOUR

from protocol import EventKind
from tests.web.public_economy import PublicEconomy, running_public_economy
from tests.web.test_web_accessibility import CHECKS_JS, OVERFLOW_JS

PHONE = {"width": 390, "height": 844}
PAGES = ("/", "/anzeige", "/so-gehts")


@pytest.fixture(scope="module")
def economy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PublicEconomy]:
    yield from running_public_economy(tmp_path_factory.mktemp("public") / "data")


def _open(browser: Browser, url: str, viewport: dict[str, int] | None = None) -> tuple[Page, list[str]]:
    """A fresh German page at ``url`` and the console errors it logs (a CSP refusal is one)."""
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 800}, locale="de-DE")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("response", lambda answer: errors.append(answer.url) if answer.status >= 400 else None)
    response = page.goto(url)
    assert response is not None and response.status == 200
    return page, errors


def _cells(page: Page, table: str, name: str) -> list[str]:
    row = page.locator(f"#{table} tr", has=page.locator("th", has_text=re.compile(f"^{name}$")))
    return [text.strip() for text in row.locator("td").all_inner_texts()]


def test_the_economy_page_shows_the_published_figures_charts_and_the_checkpoint(
    browser: Browser, economy: PublicEconomy
) -> None:
    page, errors = _open(browser, economy.url + "/")
    totals = httpx.get(economy.url + "/v1/log/totals").json()
    figure = page.locator("[data-figure=hours] .value")
    assert figure.inner_text() == "145,5" == f"{totals['hours']}".replace(".", ",")
    # Tokens issued as the log's daily totals say: through October (November's last day of bookings
    # closes with the log's next append), never a shift just synced (server.tlog.published_sums).
    shown = page.locator("[data-figure=issued] .value").inner_text()
    assert shown == "1.164" == f"{totals['issued']:,}".replace(",", ".")
    assert page.locator("[data-figure=volunteers_active] .value").inner_text() == "11"
    assert "bis Ende November 2025" in page.locator("[data-figure=hours]").inner_text()
    # Two charts, each with its title, and the table of the same months beside them.
    titles = page.locator("svg.chart > title").all_text_contents()
    assert titles == ["Stunden Ehrenamt pro Monat", "Ausgegebene und eingelöste Token pro Monat"]
    assert page.locator("#months tbody tr").count() == 5
    assert _cells(page, "months", "Juli 2025")[:3] == ["29,1", "11", "11"]
    # The checkpoint, and the ways on: where to spend, how it works, how to check.
    size = httpx.get(economy.url + "/checkpoint").text.split("\n")[1]  # the latest, not the totals' size
    assert f"{size} Einträge" in page.locator("#checkpoint").inner_text()
    for link in ("/pruefen", "/laeden", "/so-gehts", "/anzeige"):
        assert page.locator(f"main a[href='{link}']").count() >= 1
    assert page.locator("header nav a[aria-current=page]").inner_text() == "Die Wirtschaft"
    failures = [tuple(row) for row in page.evaluate(CHECKS_JS)]
    assert failures == [] and errors == []
    page.context.close()


def test_no_page_shows_a_figure_about_the_one_volunteer_of_a_site(
    browser: Browser, economy: PublicEconomy
) -> None:
    """Mitte has one volunteer: its row shows nothing of her, and neither does any period or the JSON."""
    totals = httpx.get(economy.url + "/v1/log/totals").json()
    for period in totals["months"]:
        mitte = next(row for row in period["sites"] if row["site_id"] == economy.lonely_site)
        assert (mitte["hours"], mitte["shifts"], mitte["volunteers"]) == (None, None, None)
    page, _ = _open(browser, economy.url + "/")
    assert _cells(page, "places", economy.lonely_site_name) == ["0 + verborgen", "0"]
    page.locator("#places a.hidden-mark").first.click()
    assert page.url.endswith("#h-hidden")
    assert "weniger als 5 Personen" in page.locator("#h-hidden + p").inner_text()
    # Olga's 1 h 37 min a month (8.1 hours in all) is on no page, in no form.
    for path in PAGES:
        text = httpx.get(economy.url + path).text
        assert not re.search(r"\b(8[,.]1|1[,.]6|97)\b", text), path
    page.context.close()


def test_a_figure_about_too_few_people_reads_hidden_with_the_reason(
    browser: Browser, economy: PublicEconomy
) -> None:
    """In July nothing is closed yet: no month, no active volunteers, and the page says why."""
    clock = economy.api.clock
    saved = clock.now
    clock.now = int(datetime(2025, 7, 25, 12, 0, tzinfo=UTC).timestamp() * 1000)
    try:
        page, _ = _open(browser, economy.url + "/")
        assert page.locator("[data-figure=volunteers_active] .value").inner_text() == "verborgen"
        assert page.locator("#no-months").is_visible() and page.locator("svg.chart").count() == 0
        page.context.close()
    finally:
        clock.now = saved


def test_the_public_pages_fit_a_phone(browser: Browser, economy: PublicEconomy) -> None:
    for path in PAGES:
        page, errors = _open(browser, economy.url + path, PHONE)
        assert page.evaluate(OVERFLOW_JS) is None, path
        assert errors == [], path
        page.context.close()


def test_the_display_is_big_without_navigation_and_refreshes_its_figures(
    browser: Browser, economy: PublicEconomy
) -> None:
    page, errors = _open(browser, economy.url + "/anzeige", {"width": 1920, "height": 1080})
    assert page.locator("nav, header, a, form, button").count() == 0
    size = page.locator("[data-figure=hours] .value").evaluate(
        "e => parseFloat(getComputedStyle(e).fontSize)"
    )
    assert size >= 120  # about 3 cm tall on a 1.2 m wide screen: readable from 5 m
    assert page.locator("[data-figure=hours] .value").inner_text() == "145,5"
    assert page.evaluate("() => document.documentElement.scrollHeight <= innerHeight")  # one screen
    failures = [tuple(row) for row in page.evaluate(CHECKS_JS)]
    assert failures == [] and errors == []
    # Without JavaScript the page reloads itself every minute.
    assert '<noscript><meta http-equiv="refresh" content="60"></noscript>' in httpx.get(page.url).text
    # A shift comes in on a new day: the log closes November's last day, and the next refresh shows its
    # tokens without reloading the page; the new shift's own 20 wait for its day to close.
    issued = page.locator("[data-figure=issued] .value")
    before = int(issued.inner_text().replace(".", ""))
    page.evaluate("() => { window.notReloaded = true; }")
    kiosk, now = economy.kiosk, economy.api.clock.now
    batch = [
        kiosk.event(EventKind.CHECK_IN, economy.card_id, now - 3 * HOUR),
        kiosk.event(EventKind.CHECK_OUT, economy.card_id, now - HOUR),
    ]
    assert economy.api.send(kiosk.kiosk_id, batch).status_code == 200
    assert page.evaluate("() => window.kkDisplay.refresh()") is True
    logged = httpx.get(economy.url + "/v1/log/totals").json()["issued"]
    assert (before, logged) == (1164, 1455)
    assert int(issued.inner_text().replace(".", "")) == logged
    assert page.evaluate("() => window.notReloaded") is True
    # The network fails: the last figures stay up, and the screen says they are the last ones.
    page.route("**/anzeige", lambda route: route.abort())
    assert page.evaluate("() => window.kkDisplay.refresh()") is False
    assert int(issued.inner_text().replace(".", "")) == logged
    assert page.locator("#stale").is_visible()
    page.unroute("**/anzeige")
    assert page.evaluate("() => window.kkDisplay.refresh()") is True
    assert page.locator("#stale").is_hidden()
    page.context.close()


def test_how_it_works_has_a_diagram_with_its_steps_in_words(browser: Browser, economy: PublicEconomy) -> None:
    page, errors = _open(browser, economy.url + "/so-gehts")
    svg = page.locator("svg#flow")
    assert svg.get_attribute("role") == "img"
    assert svg.locator("title").text_content().startswith("Der Weg einer Stunde")
    steps = [s.get_attribute("data-step") for s in svg.locator("g[data-step]").all()]
    assert steps == ["tap", "kiosk", "ledger", "shop", "audit"]
    assert page.locator("#steps > li h2").all_inner_texts() == [
        "Antippen",
        "Kiosk",
        "Ledger",
        "Laden",
        "Prüfung",
    ]
    failures = [tuple(row) for row in page.evaluate(CHECKS_JS)]
    assert failures == [] and errors == []
    page.get_by_role("link", name="English").click()
    assert page.locator("h1").inner_text() == "How it works"
    page.context.close()


def test_a_page_path_outside_the_three_is_a_german_error_page(economy: PublicEconomy) -> None:
    response = httpx.get(economy.url + "/so-gehts/nichts")
    assert response.status_code == 404 and "<html" in response.text
