"""``make screenshots`` for ``/ich``: the volunteer's pages on a phone (390×844), as PNGs for the docs.

Runs only with ``KOKREATIV_WEB_SCREENSHOTS=DIR`` (as ``test_web_screenshots.py``).
The world is the browser tests' (``tests/web/me_helpers.py``): Ada with a shift,
a redemption and receipts.  The home page is taken whole (it scrolls on a phone).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.web.me_helpers import PHONE, World, me_world
from tests.web.test_web_me import KEPT
from tests.web.test_web_screenshots import _shrink, german_browser  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow

TARGET = os.environ.get("KOKREATIV_WEB_SCREENSHOTS")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from me_world(tmp_path_factory.mktemp("me-shots"))


def _shoot(page: Page, target: Path, name: str, *, full_page: bool = False) -> Path:
    png = target / f"{name}.png"
    page.screenshot(path=str(png), full_page=full_page)
    _shrink(png)
    return png


@pytest.mark.skipif(not TARGET, reason="make screenshots sets KOKREATIV_WEB_SCREENSHOTS")
def test_the_volunteers_pages_as_pictures(german_browser: Browser, world: World) -> None:  # noqa: F811
    assert TARGET is not None
    target = Path(TARGET)
    target.mkdir(parents=True, exist_ok=True)
    context = german_browser.new_context(viewport=PHONE, locale="de-DE", is_mobile=True, has_touch=True)
    written: list[Path] = []
    try:
        page = context.new_page()
        page.goto(f"{world.url}/ich")
        written.append(_shoot(page, target, "ich-login"))
        page.goto(f"{world.url}/ich#k={world.ada['access_secret']}")
        page.wait_for_selector("#balance")
        written.append(_shoot(page, target, "ich", full_page=True))
        page.evaluate(KEPT)
        context.set_offline(True)
        page.reload()
        written.append(_shoot(page, target, "ich-offline"))
        context.set_offline(False)
        page.goto(f"{world.url}/ich/karte-verloren")
        written.append(_shoot(page, target, "ich-karte-verloren"))
    finally:
        context.close()
    assert all(png.stat().st_size > 5_000 for png in written), "a page that drew (almost) nothing"
