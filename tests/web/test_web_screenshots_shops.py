"""``make screenshots`` for where tokens can be spent: ``/laeden`` on a desktop and a phone, the profile form.

Runs only with ``KOKREATIV_WEB_SCREENSHOTS=DIR`` (as ``tests/web/test_web_screenshots.py``,
whose helpers it uses), over the demo's economy, which lists two shops.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from kokreativ.demo.serve import DemoConsole
from tests.web.demo_economy import log_in, person_of, running_demo
from tests.web.test_web_screenshots import DESKTOP, TARGET, _shoot, german_browser

pytestmark = pytest.mark.slow
PHONE = {"width": 390, "height": 844}
__all__ = ["german_browser"]  # the fixture, shared with the console's screenshots


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoConsole]:
    yield from running_demo(tmp_path_factory.mktemp("demo") / "demo")


@pytest.mark.skipif(not TARGET, reason="make screenshots sets KOKREATIV_WEB_SCREENSHOTS")
def test_the_shops_pages_as_pictures(german_browser: Browser, demo: DemoConsole) -> None:
    assert TARGET is not None
    target = Path(TARGET)
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    context = german_browser.new_context(viewport=DESKTOP, locale="de-DE")
    try:
        page = context.new_page()
        written.append(_shoot(page, f"{demo.url}/laeden", target, "laeden"))
        page.set_viewport_size(PHONE)
        written.append(_shoot(page, f"{demo.url}/laeden", target, "laeden-phone"))
        page.set_viewport_size(DESKTOP)
        log_in(page, demo.url, person_of(demo.account("laden")))
        written.append(
            _shoot(page, f"{demo.url}/console/laden/{demo.shop_id}/profil", target, "laden-profil")
        )
    finally:
        context.close()
    assert all(png.stat().st_size > 5_000 for png in written), "a page that drew (almost) nothing"
