"""The shell in a real browser: an error page in German, keyboard use, the language switch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from server.app import create_app
from server.context import ServerContext
from server.datadir import init_data_dir, open_data_dir
from server.runner import serve_in_thread


@pytest.fixture
def base_url(tmp_path: object) -> Iterator[str]:
    from pathlib import Path

    data = Path(str(tmp_path)) / "data"
    init_data_dir(data)
    with open_data_dir(data) as ctx, serve_in_thread(create_app(ctx)) as url:
        assert isinstance(ctx, ServerContext)
        yield url


def test_a_missing_page_explains_itself_in_german_and_switches_to_english(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/console/nowhere")
    assert page.locator("h1").inner_text() == "Nicht gefunden"
    assert page.locator("html").get_attribute("lang") == "de"
    page.keyboard.press("Tab")
    skip = page.locator("a.skip")
    assert skip.evaluate("element => element === document.activeElement")
    assert skip.inner_text() == "Zum Inhalt springen"
    page.get_by_role("link", name="English").click()
    assert page.locator("h1").inner_text() == "Not found"
    assert page.url.endswith("/console/nowhere")
