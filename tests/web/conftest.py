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
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

# --import-mode=importlib does not put test folders on sys.path; the server tests' helpers live there.
sys.path.insert(0, str(Path(__file__).parents[1] / "server"))

from server_helpers import Api, FakeClock

from server.app import create_app
from server.context import ServerContext
from server.datadir import init_data_dir, open_data_dir
from server.runner import serve_in_thread

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


# --- The console: a real server over a small seeded economy, and people to log in as. -----------------


PASSWORD = "Ehrenamt-macht-Stadt-2026"


@dataclass
class Person:
    """A console account a test logs in as: its password and TOTP secret are the test's."""

    person_id: str
    email: str
    password: str
    totp_secret: str
    last_step: int = -1  # the last TOTP time step used: a code counts once

    def code(self) -> str:
        """A TOTP code the server takes now and has not seen: this step's, else the next one's."""
        import pyotp

        step = max(int(time.time()) // 30, self.last_step + 1)
        self.last_step = step
        return str(pyotp.TOTP(self.totp_secret).at(step * 30))


@dataclass
class Console:
    """The running server (``url``), its context, the admin API, and the seeded sites."""

    url: str
    ctx: ServerContext
    api: Api
    site_a: str
    site_b: str
    shop: str
    people: list[Person] = field(default_factory=list)

    def person(
        self,
        permissions: list[str] | None = None,
        *,
        scope: Any = None,
        name: str = "Kim Koordination",
        email: str | None = None,
    ) -> Person:
        """A new person in a new team with ``permissions`` over ``scope`` (default: site A)."""
        from server import accounts

        scope = scope if scope is not None else accounts.TeamScope("sites", (self.site_a,))
        email = email or f"person{len(self.people) + 1}@example.org"
        person_id = accounts.add_person(self.ctx, email=email, display_name=name, password=PASSWORD)
        secret = _totp_secret()
        accounts.set_totp_secret(self.ctx, person_id, secret)
        team = accounts.add_team(
            self.ctx, name=f"Team of {name}", permissions=permissions or ["review"], scope=scope
        )
        accounts.add_member(self.ctx, team, person_id)
        made = Person(person_id, email, PASSWORD, secret)
        self.people.append(made)
        return made

    def admin(self, name: str = "Ada Admin") -> Person:
        """A person with every permission over the whole economy (but settle_shops: duties are split)."""
        from server import accounts
        from server.http.access import Permission
        from server.principals import SHOP_DUTIES

        everything = [p.value for p in Permission if p not in SHOP_DUTIES]
        return self.person(everything, scope=accounts.TeamScope("economy"), name=name)


def _totp_secret() -> str:
    import pyotp

    return str(pyotp.random_base32())


def _site(api: Api, name: str, kind: str = "checkin") -> str:
    if kind == "shop":
        body = {"name": name, "max_amount": 50}
        response = api.admin("POST", "/v1/admin/shops", body)
    else:
        response = api.admin("POST", "/v1/admin/sites", {"name": name, "tokens_per_hour": 10})
    assert response.status_code == 201, response.text
    return str(response.json()["site_id"])


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    """A fresh server on loopback with the wall clock (TOTP needs it), two sites and a shop."""
    data = tmp_path / "data"
    init = init_data_dir(data)
    with open_data_dir(data) as ctx, serve_in_thread(create_app(ctx)) as url:
        api = Api(url, init.admin_token, ctx, FakeClock())
        try:
            site_a = _site(api, "Stadtteilzentrum Linden")
            site_b = _site(api, "Nachbarschaftshaus List")
            shop = _site(api, "Bioladen Nordstadt", "shop")
            yield Console(url, ctx, api, site_a, site_b, shop)
        finally:
            api.close()


def logged_in(page: Page, console: Console, person: Person, *, next_path: str = "/console") -> Page:
    """``page`` after the real login form: e-mail and password, then the TOTP code."""
    page.goto(f"{console.url}/console/login?next={next_path}")
    page.fill("input[name=email]", person.email)
    page.fill("input[name=password]", person.password)
    page.press("input[name=password]", "Enter")
    page.wait_for_selector("input[name=code]")
    page.fill("input[name=code]", person.code())
    page.press("input[name=code]", "Enter")
    page.wait_for_load_state()
    return page
