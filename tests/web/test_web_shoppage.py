"""The shop owner's page in a real browser: today's sale, the CSV, a phone, and nobody else's shop.

One server for the module (the checks only read): a shop with a till that sold
7 tokens just now, a second shop, and a check-in site.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from server_helpers import Api, FakeClock

from protocol import EventKind, ids
from server import accounts
from server.app import create_app
from server.datadir import init_data_dir, open_data_dir
from server.runner import serve_in_thread
from tests.web.conftest import Console, _site, logged_in
from tests.web.views_helpers import open_as

MINUTE = 60_000
HOUR = 60 * MINUTE
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def shop_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """The browser tests' console, once for the module, with a sale at the shop's till just now."""
    data = tmp_path_factory.mktemp("shoppage") / "data"
    init = init_data_dir(data)
    with open_data_dir(data) as ctx, serve_in_thread(create_app(ctx)) as url:
        api = Api(url, init.admin_token, ctx, FakeClock())
        try:
            console = Console(
                url,
                ctx,
                api,
                _site(api, "Stadtteilzentrum Linden"),
                _site(api, "Nachbarschaftshaus List"),
                _site(api, "Bioladen Nordstadt", "shop"),
            )
            _sell(console)
            yield console
        finally:
            api.close()


def _sell(console: Console) -> None:
    """Two hours at site A (20 tokens), then 7 of them spent online at the shop's till, just now."""
    api = console.api
    now = int(time.time() * 1000)
    kiosk, till = api.enrol_kiosk(console.site_a), api.enrol_kiosk(console.shop)
    card = api.create_card("Ada", site_id=console.site_a)["card_id"]
    shift = [
        kiosk.event(EventKind.CHECK_IN, card, now + MINUTE),  # after the kiosk's enrolment (now)
        kiosk.event(EventKind.CHECK_OUT, card, now + 2 * HOUR + MINUTE),
    ]
    assert api.send(kiosk.kiosk_id, shift).status_code == 200
    sale = {"amount": 7, "id": ids.new_id(ids.REDEMPTION), "online": True}
    answer = api.send(till.kiosk_id, [till.event(EventKind.REDEEM, card, now, data=sale)])
    assert answer.json()["results"][0]["flags"] == [], answer.text
    console.people.append(
        console.person(["settle_shops", "run_shop"], scope=_shops(console.shop), name="Lou")
    )


def _shops(*shop_ids: str) -> accounts.TeamScope:
    return accounts.TeamScope("shops", shop_ids)


def test_the_owner_lands_on_the_shop_sees_todays_sale_and_downloads_the_csv(
    page: Page, shop_console: Console
) -> None:
    console = shop_console
    owner = console.people[0]
    logged_in(page, console, owner)  # the real login: the Laden role lands on its shop's page
    page.wait_for_url(f"**/console/laden/{console.shop}")
    expect(page.locator("h1")).to_have_text("Bioladen Nordstadt")
    expect(page.get_by_role("link", name="Mein Laden")).to_have_attribute("aria-current", "page")
    today = page.locator("table.lines").first
    expect(today.locator("tbody tr")).to_have_count(1)
    expect(today.locator("tbody tr")).to_contain_text("bezahlt")
    expect(page.locator('dl[aria-label="Zahlen von heute"]')).to_contain_text("7")
    expect(page.locator(".till dd[data-field=offline]")).to_contain_text("0 von 200 Token")
    expect(page.get_by_role("link", name="Profil des Ladens")).to_be_visible()

    with page.expect_download() as downloading:
        today.get_by_role("link", name="CSV").click()
    rows = list(csv.DictReader(io.StringIO(downloading.value.path().read_text(encoding="utf-8"))))
    assert [(r["amount"], r["status"]) for r in rows] == [("7", "debited")]
    with page.expect_download() as downloading:
        page.get_by_role("link", name="Abrechnung als CSV").click()
    statement = list(csv.DictReader(io.StringIO(downloading.value.path().read_text(encoding="utf-8"))))
    assert [(r["amount"], r["status"]) for r in statement] == [("7", "debited")]
    with page.expect_download() as downloading:
        page.get_by_role("link", name="Abrechnung als PDF").click()
    assert Path(downloading.value.path()).read_bytes().startswith(b"%PDF")


def test_on_a_phone_the_page_fits_the_screen(browser: Browser, shop_console: Console) -> None:
    context = browser.new_context(viewport=PHONE, locale="de-DE", is_mobile=True, has_touch=True)
    try:
        page = open_as(
            context.new_page(), shop_console, shop_console.people[0], f"/console/laden/{shop_console.shop}"
        )
        expect(page.locator("table.lines").first).to_contain_text("bezahlt")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        button = page.get_by_role("link", name="Abrechnung als PDF").bounding_box()
        assert button is not None and button["height"] >= 44  # a finger hits it
    finally:
        context.close()


def test_nobody_opens_a_shop_that_is_not_theirs(page: Page, shop_console: Console) -> None:
    console = shop_console
    other = _site(console.api, "Weltladen List", "shop")
    owner = console.people[0]
    checks = [
        (owner, f"/console/laden/{other}", 404),
        (owner, f"/console/laden/{other}/abrechnung?format=csv", 404),
        (owner, "/console/laden/s_unknown", 404),
        (owner, f"/console/laden/{console.site_a}", 404),
        (console.person(["review", "manage_cards"], name="Kim"), f"/console/laden/{console.shop}", 403),
        (
            console.person(["settle_shops"], scope=_shops(other), name="Wim"),
            f"/console/laden/{console.shop}",
            404,
        ),
    ]
    texts = {}
    for person, path, status in checks:
        page.context.clear_cookies()
        cookie = accounts.open_console_session(console.ctx, person.person_id, user_agent="test")
        answer = page.request.get(f"{console.url}{path}", headers={"Cookie": f"kk_console={cookie}"})
        assert answer.status == status, path
        assert "Bioladen" not in answer.text(), path
        texts.setdefault(status, set()).add(answer.text().split("<main")[1].split("</main>")[0])
    # Another shop, a check-in site and an unknown ID: the very same page, word for word.
    assert len(texts[404]) == 1
    # Two shops: /console/laden lists both (one shop goes straight to it), and nothing else.
    both = console.person(["run_shop"], scope=_shops(console.shop, other), name="Bo")
    cookie = accounts.open_console_session(console.ctx, both.person_id, user_agent="test")
    listed = page.request.get(f"{console.url}/console/laden", headers={"Cookie": f"kk_console={cookie}"})
    assert (
        listed.status == 200 and "Bioladen Nordstadt" in listed.text() and "Weltladen List" in listed.text()
    )
    assert "Stadtteilzentrum Linden" not in listed.text()
    open_as(page, console, owner, f"/console/laden/{other}")
    expect(page.locator("h1")).to_have_text("Nicht gefunden")


def test_the_owner_asks_the_till_to_void_todays_sale(page: Page, shop_console: Console) -> None:
    console = shop_console
    open_as(page, console, console.people[0], f"/console/laden/{console.shop}")
    sale = page.locator("table.lines").first.locator("tbody tr").first
    sale.get_by_role("button", name="Stornieren").click()
    expect(page.locator(".flash")).to_contain_text("Die Kasse storniert es bei ihrer nächsten Verbindung")
    sale = page.locator("table.lines").first.locator("tbody tr").first
    expect(sale).to_contain_text("wartet auf die Kasse")
    expect(sale.get_by_role("button", name="Stornieren")).to_have_count(0)
    # Taken back before a till signed it: paid again, and voidable again.
    sale.get_by_role("button", name="Zurücknehmen").click()
    expect(page.locator(".flash")).to_contain_text("Die Storno-Anfrage ist zurückgenommen")
    sale = page.locator("table.lines").first.locator("tbody tr").first
    expect(sale).to_contain_text("bezahlt")
    expect(sale.get_by_role("button", name="Stornieren")).to_have_count(1)


def test_till_staff_get_a_pin_shown_once_a_new_maximum_and_are_removed(
    page: Page, shop_console: Console
) -> None:
    console = shop_console
    open_as(page, console, console.people[0], f"/console/laden/{console.shop}")
    page.get_by_role("link", name="Kassenpersonal").click()
    page.fill("#f-name", "Aylin")
    page.select_option("#f-role", "cashier")
    page.fill("#f-daily_max", "60")
    page.get_by_role("button", name="Hinzufügen und PIN erzeugen").click()
    pin = page.locator("#staff-pin").inner_text()
    assert len(pin) == 6 and pin.isdigit()
    page.get_by_role("link", name="Zurück zum Kassenpersonal").click()
    assert pin not in page.content()  # shown once: the server keeps only its hash
    person = page.locator("section.staff", has_text="Aylin")
    expect(person).to_contain_text("Tagesmaximum: 60 Token")

    person.get_by_role("button", name="Neue PIN für Aylin").click()
    again = page.locator("#staff-pin").inner_text()
    assert len(again) == 6 and again.isdigit()
    page.get_by_role("link", name="Zurück zum Kassenpersonal").click()

    person = page.locator("section.staff", has_text="Aylin")
    person.get_by_label("Neues Tagesmaximum (Token)").fill("80")
    person.get_by_role("button", name="Ändern").click()
    expect(page.locator(".flash")).to_have_text("Aylin darf jetzt bis zu 80 Token am Tag einlösen.")
    expect(page.locator("section.staff", has_text="Aylin")).to_contain_text("Tagesmaximum: 80 Token")

    page.get_by_role("link", name="Aylin entfernen").click()
    expect(page.locator("h1")).to_have_text("Aylin entfernen")  # asking changed nothing yet
    page.get_by_role("button", name="Endgültig entfernen").click()
    expect(page.locator(".flash")).to_have_text("Aylin ist entfernt.")
    expect(page.locator("section.staff", has_text="Aylin")).to_have_count(0)


def test_nobody_voids_or_manages_staff_of_a_shop_that_is_not_theirs(
    page: Page, shop_console: Console
) -> None:
    console = shop_console
    other = _site(console.api, "Tee und Mehr", "shop")
    owner = console.people[0]
    settles = console.person(["settle_shops"], scope=_shops(console.shop), name="Sam")
    checks = [
        (owner, "POST", f"/console/laden/{other}/storno", 404),
        (owner, "POST", f"/console/laden/{other}/personal", 404),
        (owner, "GET", f"/console/laden/{other}/personal", 404),
        (settles, "POST", f"/console/laden/{console.shop}/storno", 403),  # reading the page is not voiding
        (settles, "GET", f"/console/laden/{console.shop}/personal", 403),
    ]
    for person, method, path, status in checks:
        cookie = accounts.open_console_session(console.ctx, person.person_id, user_agent="test")
        headers = {"Cookie": f"kk_console={cookie}; kk_csrf=t0ken"}
        form = {"csrf": "t0ken", "redemption_id": "r_nope", "name": "X", "role": "cashier", "daily_max": "5"}
        answer = page.request.fetch(
            f"{console.url}{path}", method=method, headers=headers, form=form if method == "POST" else None
        )
        assert answer.status == status, (method, path, answer.text())
