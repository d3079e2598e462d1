"""``make screenshots`` for ``/pruefen``: an entry checked in the browser (desktop, phone) and a warning.

Runs only with ``KOKREATIV_WEB_SCREENSHOTS=DIR`` (as ``tests/web/test_web_screenshots.py``,
whose helpers it uses), over the demo's economy.  The warning is what a person
sees when a server answers a proof that does not fit its signed log: Playwright
changes one hash of the real answer.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route

from kokreativ.demo.serve import DemoConsole
from tests.web.demo_economy import running_demo
from tests.web.test_web_screenshots import TARGET, _shrink, german_browser  # noqa: F401 (a fixture)

pytestmark = pytest.mark.slow

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoConsole]:
    yield from running_demo(tmp_path_factory.mktemp("demo") / "demo")


def _checked(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_function(
        "() => { const r = document.querySelector('[data-kk-verify-result]');"
        " return r.dataset.kkVerifyOutcome && r.dataset.kkVerifyOutcome !== 'checking'; }"
    )
    page.locator("form[data-kk-verify-form]").scroll_into_view_if_needed()


def _shot(page: Page, target: Path, name: str) -> Path:
    png = target / f"{name}.png"
    page.screenshot(path=str(png))
    _shrink(png)
    return png


def _bad_proof(route: Route) -> None:
    answer = route.fetch().json()
    head, sep, rest = answer["proof"].partition("\n\n")
    lines = head.split("\n")
    raw = bytearray(base64.b64decode(lines[-1]))
    raw[0] ^= 1
    lines[-1] = base64.b64encode(bytes(raw)).decode()
    answer["proof"] = "\n".join(lines) + sep + rest
    route.fulfill(status=200, content_type="application/json", body=json.dumps(answer))


@pytest.mark.skipif(not TARGET, reason="make screenshots sets KOKREATIV_WEB_SCREENSHOTS")
def test_the_check_page_as_pictures(german_browser: Browser, demo: DemoConsole) -> None:  # noqa: F811
    assert TARGET is not None
    target = Path(TARGET)
    target.mkdir(parents=True, exist_ok=True)
    context = german_browser.new_context(viewport=DESKTOP, locale="de-DE")
    written = []
    try:
        page = context.new_page()
        _checked(page, f"{demo.url}/pruefen?index=3")
        written.append(_shot(page, target, "pruefen-geprueft"))
        page.route("**/v1/log/entries/*", _bad_proof)
        _checked(page, f"{demo.url}/pruefen?index=3")
        written.append(_shot(page, target, "pruefen-warnung"))
        page.unroute_all()
        page.set_viewport_size(PHONE)
        page.goto(f"{demo.url}/pruefen")
        written.append(_shot(page, target, "pruefen-telefon"))
    finally:
        context.close()
    assert all(png.stat().st_size > 5_000 for png in written), "a page that drew (almost) nothing"
