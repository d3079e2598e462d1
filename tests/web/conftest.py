"""Browser fixtures: the distribution's Chromium driven by Playwright, against a real loopback server.

Playwright cannot download its browsers here, so the tests launch the system's
``chromium`` (``.ci/run`` installs it) headless with the container flags
(``/work/shared/REFERENCE.md``, "Real Chromium in tests").  One browser lives
for the session; each test gets a fresh context (cookies, storage) and page.

pytest-playwright's plugin is switched off (``-p no:playwright`` in
``pyproject.toml``): it would parametrize every test of the suite that uses a
fixture called ``context``, as the server tests do.  These fixtures are the
small part of it the page tests need.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
LAUNCH_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


def chromium_path() -> str | None:
    """The system's Chromium, or ``None`` where it is not installed."""
    configured = os.environ.get("KOKREATIV_CHROMIUM")
    if configured:
        return configured
    for candidate in CHROMIUM_CANDIDATES:
        if os.path.exists(candidate):
            return candidate
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    path = chromium_path()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have Chromium: .ci/run installs the chromium package")
        pytest.skip("no Chromium here: apt-get install chromium")
    launched = playwright_driver.chromium.launch(executable_path=path, headless=True, args=LAUNCH_ARGS)
    yield launched
    launched.close()


@pytest.fixture
def browser_context(browser: Browser) -> Iterator[BrowserContext]:
    made = browser.new_context(viewport={"width": 1280, "height": 800}, locale="de-DE")
    made.set_default_timeout(15_000)
    yield made
    made.close()


@pytest.fixture
def page(browser_context: BrowserContext) -> Page:
    return browser_context.new_page()
