"""Screenshots of the shop owner's page (``/console/laden``) for the docs: a desktop, a phone, its staff.

Runs only with ``KOKREATIV_WEB_SCREENSHOTS=DIR`` (``make screenshots`` sets it to
``docs/img/web``), over the demo's economy, as its shop owner (the ``laden`` account).
The page opens on the month of the demo's sales, so the picture shows some.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from kokreativ.demo.serve import DemoConsole
from tests.web.demo_economy import log_in, person_of, running_demo
from tests.web.test_web_screenshots import DESKTOP, TARGET, _shrink

pytestmark = pytest.mark.slow

PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoConsole]:
    yield from running_demo(tmp_path_factory.mktemp("demo") / "demo")


def _sales_month(page: Page, demo: DemoConsole) -> str:
    """The latest month (of the last 24) whose settlement lists a sale: the demo's story has its own day."""
    today = date.today()
    for back in range(24):
        year, month = divmod(today.year * 12 + today.month - 1 - back, 12)
        text = f"{year}-{month + 1:02d}"
        answer = page.request.get(
            f"{demo.url}/console/laden/{demo.shop_id}/abrechnung?format=csv&month={text}"
        )
        if answer.ok and len(answer.text().strip().splitlines()) > 1:
            return text
    return today.strftime("%Y-%m")


@pytest.mark.skipif(not TARGET, reason="make screenshots sets KOKREATIV_WEB_SCREENSHOTS")
def test_the_shop_page_as_pictures(browser: Browser, demo: DemoConsole) -> None:
    assert TARGET is not None
    target = Path(TARGET)
    target.mkdir(parents=True, exist_ok=True)
    owner = person_of(next(a for a in demo.accounts if a.key == "laden"))
    written = []
    for name, viewport, full in (("laden-shop", DESKTOP, False), ("laden-shop-phone", PHONE, True)):
        context = browser.new_context(viewport=viewport, locale="de-DE", is_mobile=viewport is PHONE)
        try:
            page = context.new_page()
            log_in(page, demo.url, owner)
            path = f"/console/laden/{demo.shop_id}?month={_sales_month(page, demo)}"
            answer = page.goto(demo.url + path)
            assert answer is not None and answer.status == 200, path
            png = target / f"{name}.png"
            page.screenshot(path=str(png), full_page=full)
            _shrink(png)
            written.append(png)
            if viewport is PHONE:  # the till staff page, with one person added through its form
                page.goto(f"{demo.url}/console/laden/{demo.shop_id}/personal")
                page.fill("#f-name", "Aylin")
                page.fill("#f-daily_max", "80")
                page.get_by_role("button", name="Hinzufügen und PIN erzeugen").click()
                page.get_by_role("link", name="Zurück zum Kassenpersonal").click()
                png = target / "laden-personal-phone.png"
                page.screenshot(path=str(png), full_page=True)
                _shrink(png)
                written.append(png)
        finally:
            context.close()
    assert all(png.stat().st_size > 5_000 for png in written)
