"""Opening a console page as a person, for the overview, fleet and reports tests.

The login form is H1's and has its own tests; these tests start from a real
console session (:func:`server.accounts.open_console_session`, what the login
opens after the second factor) put into the browser as its ``kk_console``
cookie, so every page still goes through the same cookie check and grants.
"""

from __future__ import annotations

from playwright.sync_api import Page

from server import accounts
from tests.web.conftest import Console, Person


def open_as(page: Page, console: Console, person: Person, path: str) -> Page:
    """``page`` at ``path`` with a live console session of ``person``."""
    cookie = accounts.open_console_session(console.ctx, person.person_id, user_agent="test")
    page.context.add_cookies([{"name": "kk_console", "value": cookie, "url": console.url}])
    page.goto(f"{console.url}{path}")
    return page
