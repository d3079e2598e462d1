"""The demo's economy for browser tests: ``kokreativ demo --serve`` in this process, and its pages.

The screenshots and the accessibility checks look at the console with
something on its pages (two sites, a shop, shifts, a held shift, four people),
which is what the demo serves.  :func:`console_pages` lists the pages to visit
from :data:`server.web.nav.NAV`, so a page another branch adds is visited as
soon as it is in the navigation.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Page

from kokreativ.demo.serve import DemoAccount, DemoConsole, demo_console
from server.principals import SHOP_DUTIES
from server.web.nav import NAV
from tests.web.conftest import Person


@dataclass(frozen=True)
class ConsolePage:
    """A page to visit: its name (for the PNG), path and the demo account that may see it."""

    name: str
    path: str
    account: str  # a DemoAccount.key


ADMIN_LACKS = SHOP_DUTIES  # duties are split: the admin preset has no settle_shops


def page_name(path: str) -> str:
    """``/console/review/pending`` reads ``review-pending``; ``/console`` is the overview."""
    rest = path.removeprefix("/console").strip("/")
    return rest.replace("/", "-") or "overview"


# Pages reached from another page, not from the navigation, which the demo fills: taken where they exist.
SUBPAGES = ("/console/review/pending",)


def _get_paths() -> set[str]:
    from server.app import ROUTERS

    return {
        str(getattr(route, "path", ""))
        for router in ROUTERS
        for route in router.routes
        if "GET" in (getattr(route, "methods", None) or ())
    }


def console_pages() -> list[ConsolePage]:
    """Every page of the navigation, as the admin sees it (the shop owner for a shop's pages), and
    the :data:`SUBPAGES` that exist."""
    pages = []
    for item in NAV:
        account = "laden" if item.permission in ADMIN_LACKS else "admin"
        pages.append(ConsolePage(page_name(item.path), item.path, account))
    existing = _get_paths()
    pages += [ConsolePage(page_name(path), path, "admin") for path in SUBPAGES if path in existing]
    return pages


def running_demo(folder: Path, *, history: bool = False) -> Iterator[DemoConsole]:
    """The demo's day told in ``folder`` (quietly), then served on a free port until closed.

    Without the six months before the day (``history``) unless asked: these tests look at the
    console, which the past only lengthens, and the public page's months are checked by
    ``tests/test_demo_serve.py``; that saves each module's fixture the past's seconds.
    """
    with demo_console(folder, io.StringIO(), port=0, history=history) as demo:
        yield demo


def person_of(account: DemoAccount) -> Person:
    """The demo account as the browser fixtures' :class:`Person` (which never reuses a TOTP step)."""
    return Person("", account.email, account.password, account.totp_secret)


def log_in(page: Page, url: str, person: Person, next_path: str = "/console/account") -> Page:
    """``page`` after the real login form (as :func:`tests.web.conftest.logged_in`, for any server URL)."""
    page.goto(f"{url}/console/login?next={next_path}")
    page.fill("input[name=email]", person.email)
    page.fill("input[name=password]", person.password)
    page.press("input[name=password]", "Enter")
    page.wait_for_selector("input[name=code]")
    page.fill("input[name=code]", person.code())
    page.press("input[name=code]", "Enter")
    page.wait_for_url(f"**{next_path}")
    return page
