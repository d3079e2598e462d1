"""``make screenshots`` for the public pages: ``/``, ``/anzeige`` and ``/so-gehts`` as PNGs for the docs.

Runs only with ``KOKREATIV_WEB_SCREENSHOTS=DIR`` (``make screenshots`` sets it
to ``docs/img/web``), over the economy of :mod:`tests.web.public_economy`
(five published months): each page on a desktop (1280×800), on a phone
(390×844) and the display on a 1920×1080 screen.  File names start with
``public-``; the console's pictures are :mod:`tests.web.test_web_screenshots`'.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.web.public_economy import PublicEconomy, running_public_economy
from tests.web.test_web_screenshots import _shrink

pytestmark = pytest.mark.slow

TARGET = os.environ.get("KOKREATIV_WEB_SCREENSHOTS")
SHOTS = (
    ("/", "public-economy", {"width": 1280, "height": 800}),
    ("/", "public-economy-phone", {"width": 390, "height": 844}),
    ("/anzeige", "public-anzeige", {"width": 1920, "height": 1080}),
    ("/so-gehts", "public-so-gehts", {"width": 1280, "height": 800}),
    ("/so-gehts", "public-so-gehts-phone", {"width": 390, "height": 844}),
)


@pytest.fixture(scope="module")
def economy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PublicEconomy]:
    yield from running_public_economy(tmp_path_factory.mktemp("public") / "data")


@pytest.mark.skipif(not TARGET, reason="make screenshots sets KOKREATIV_WEB_SCREENSHOTS")
def test_every_public_page_as_a_picture(browser: Browser, economy: PublicEconomy) -> None:
    assert TARGET is not None
    target = Path(TARGET)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for path, name, viewport in SHOTS:
        context = browser.new_context(viewport=viewport, locale="de-DE")
        try:
            page = context.new_page()
            response = page.goto(economy.url + path)
            assert response is not None and response.status == 200
            png = target / f"{name}.png"
            page.screenshot(path=str(png))  # the viewport: what a person sees first
            _shrink(png)
            written.append(png)
        finally:
            context.close()
    assert all(png.stat().st_size > 5_000 for png in written), "a page that drew (almost) nothing"
