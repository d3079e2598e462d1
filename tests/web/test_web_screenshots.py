"""``make screenshots``: every console page of the demo's economy in Chromium, as PNGs for the docs.

Runs only with ``KOKREATIV_WEB_SCREENSHOTS=DIR`` (``make screenshots`` sets it
to ``docs/img/web``).  The pages are the navigation's (:data:`server.web.nav.NAV`,
so a page that lands later is taken too), the login, the account page and the
public pages without a parameter in their path; each at 1280×800, and the
overview (or the first page) also at 768×1024 as ``<name>-tablet.png``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright

from kokreativ.demo.serve import DemoConsole
from tests.web.conftest import LAUNCH_ARGS, chromium_path
from tests.web.demo_economy import console_pages, log_in, person_of, running_demo

pytestmark = pytest.mark.slow

TARGET = os.environ.get("KOKREATIV_WEB_SCREENSHOTS")
DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 768, "height": 1024}
VOLUNTEERS = "/ich"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoConsole]:
    yield from running_demo(tmp_path_factory.mktemp("demo") / "demo")


@pytest.fixture(scope="module")
def german_browser(playwright_driver: Playwright) -> Iterator[Browser]:
    """Chromium with a German interface, so time fields read 17:00, not 05:00 PM.

    That needs Chromium's German locale (Debian: the ``chromium-l10n`` package);
    without it Chromium falls back to English inside its own date and time fields.
    """
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium here: apt-get install chromium")
    launched = playwright_driver.chromium.launch(
        executable_path=path,
        headless=True,
        args=[*LAUNCH_ARGS, "--lang=de-DE"],
        env={**os.environ, "LANG": "de_DE.UTF-8", "LANGUAGE": "de"},  # Linux Chromium reads its locale here
    )
    yield launched
    launched.close()


def public_paths() -> set[str]:
    """The paths of the public pages (tag ``pages``) a GET reaches."""
    from server.app import ROUTERS

    found = set()
    for router in ROUTERS:
        for route in router.routes:
            path, methods, tags = (getattr(route, name, None) for name in ("path", "methods", "tags"))
            if "pages" in (tags or []) and "GET" in (methods or ()):
                found.add(str(path))
    return found


def public_pages() -> list[str]:
    """The public pages without a parameter in the path (``/bestaetigen/danke`` is after an answer).

    The volunteer's pages (``/ich``) need a session and a phone: ``test_web_screenshots_me.py`` takes them.
    """
    return sorted(
        path
        for path in public_paths()
        if "{" not in path and path not in {"/", "/bestaetigen/danke"} and not path.startswith(VOLUNTEERS)
    )


def _shoot(page: Page, url: str, target: Path, name: str) -> Path:
    response = page.goto(url)
    assert response is not None and response.status == 200, f"{url}: {response and response.status}"
    png = target / f"{name}.png"
    page.screenshot(path=str(png))  # the viewport: what a person sees first, and a small file
    _shrink(png)
    return png


def _shrink(png: Path) -> None:
    """128 colours without dithering: flat pages with text stay sharp at about a third of the bytes."""
    from PIL import Image

    with Image.open(png) as shot:
        fewer = shot.convert("RGB").quantize(
            colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    fewer.save(png, optimize=True)


@pytest.mark.skipif(not TARGET, reason="make screenshots sets KOKREATIV_WEB_SCREENSHOTS")
def test_every_console_page_as_a_picture(german_browser: Browser, demo: DemoConsole) -> None:
    assert TARGET is not None
    target = Path(TARGET)
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    context = german_browser.new_context(viewport=DESKTOP, locale="de-DE")
    try:
        page = context.new_page()
        written.append(_shoot(page, f"{demo.url}/console/login", target, "login"))
        for path in public_pages():
            written.append(_shoot(page, demo.url + path, target, path.strip("/").replace("/", "-")))
        if "/bestaetigen/{token}" in public_paths():  # the organiser's page behind the demo's open link
            written.append(_shoot(page, demo.url + demo.confirmation_path, target, "bestaetigen"))
        pages = console_pages()
        people = {account.key: person_of(account) for account in demo.accounts}  # one TOTP step each
        for key in sorted({entry.account for entry in pages} | {"admin"}):
            context.clear_cookies()
            log_in(page, demo.url, people[key])
            if key == "admin":
                written.append(_shoot(page, f"{demo.url}/console/account", target, "account"))
            for entry in (entry for entry in pages if entry.account == key):
                written.append(_shoot(page, demo.url + entry.path, target, entry.name))
        context.clear_cookies()
        log_in(page, demo.url, people["admin"])
        page.set_viewport_size(TABLET)
        first = next((entry for entry in pages if entry.name == "overview"), None) or pages[0]
        written.append(_shoot(page, demo.url + first.path, target, f"{first.name}-tablet"))
    finally:
        context.close()
    assert all(png.stat().st_size > 5_000 for png in written), "a page that drew (almost) nothing"
