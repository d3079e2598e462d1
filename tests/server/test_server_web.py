"""The pages' shell: errors as pages, the language switch, static files, CSRF, and a complete catalogue."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from babel.messages.extract import extract_from_dir
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from server.app import create_app
from server.context import ServerContext
from server.http.access import Permission, economy, quota
from server.runner import serve_in_thread
from server.web import PAGE_PREFIXES, local_path, web
from server.web.access import console_page
from server.web.forms import CSRF_COOKIE, csrf_protected, read_form, unprotected_posts
from server.web.i18n import LANGUAGES, clashes, negotiate, read_catalogue

WEB_DIR = Path(__file__).parents[2] / "server" / "web"


def _test_router() -> APIRouter:
    """Two page routes of the tests' own: a page that needs a permission, and a form that changes a value."""
    router = APIRouter(tags=["console"])
    state: dict[str, str] = {}

    @router.get("/console/test-page", dependencies=[Depends(console_page(Permission.REVIEW, scope=economy))])
    async def page(request: Request) -> Response:
        return web(request).page(
            request,
            "error.html",
            heading="ok",
            explanation=state.get("v", ""),
            code="none",
            back="/",
            status=200,
        )

    @router.post(
        "/console/test-form",
        dependencies=[
            Depends(console_page(Permission.REVIEW, scope=economy)),
            Depends(csrf_protected),
            Depends(quota("test")),
        ],
    )
    async def form(request: Request) -> Response:
        state["v"] = (await read_form(request))["value"]
        return web(request).redirect(request, "/console/test-page", flash="Back")

    return router


@pytest.fixture
def pages(context: ServerContext, api: object) -> Iterator[tuple[str, str]]:
    app = create_app(context)
    app.include_router(_test_router())
    with serve_in_thread(app) as base_url:
        yield base_url, api.admin_token  # type: ignore[attr-defined]


def test_an_unknown_console_path_is_a_german_page_and_an_api_path_stays_json(pages: tuple[str, str]) -> None:
    base_url, _ = pages
    page = httpx.get(f"{base_url}/console/nowhere")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Nicht gefunden" in page.text and '<html lang="de">' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    english = httpx.get(f"{base_url}/console/nowhere", cookies={"kk_lang": "en"})
    assert "Not found" in english.text and '<html lang="en">' in english.text
    api = httpx.get(f"{base_url}/v1/nowhere")
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"


def test_a_page_without_a_login_sends_the_browser_to_the_login_page(pages: tuple[str, str]) -> None:
    base_url, _ = pages
    answer = httpx.get(f"{base_url}/console/test-page?x=1")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/login?next=%2Fconsole%2Ftest-page%3Fx%3D1"


def test_the_language_switch_goes_back_to_a_local_page_only(pages: tuple[str, str]) -> None:
    base_url, _ = pages
    answer = httpx.get(f"{base_url}/lang/en?next=/console/review")
    assert answer.status_code == 303 and answer.headers["location"] == "/console/review"
    assert answer.cookies["kk_lang"] == "en"
    for hostile in ("//evil.example/", "https://evil.example/", "/\\evil", ""):
        assert httpx.get(f"{base_url}/lang/de", params={"next": hostile}).headers["location"] == "/console"
    assert httpx.get(f"{base_url}/lang/xx").status_code == 404


def test_static_files_are_those_of_the_folder_and_no_others(pages: tuple[str, str]) -> None:
    base_url, _ = pages
    css = httpx.get(f"{base_url}/static/console.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert ":focus-visible" in css.text
    for name in ("nope.css", "..%2F__init__.py", "%2E%2E%2Fforms.py"):
        assert httpx.get(f"{base_url}/static/{name}").status_code == 404


def test_a_form_without_the_pages_csrf_token_changes_nothing(pages: tuple[str, str]) -> None:
    base_url, token = pages
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=auth) as browser:
        first = browser.get("/console/test-page")
        csrf = first.cookies[CSRF_COOKIE]
        forged = browser.post("/console/test-form", data={"value": "forged"})
        assert forged.status_code == 403 and "csrf_failed" in forged.text
        wrong = browser.post("/console/test-form", data={"value": "forged", "csrf": "x" * 43})
        assert wrong.status_code == 403
        assert "forged" not in browser.get("/console/test-page").text
        sent = browser.post("/console/test-form", data={"value": "kept", "csrf": csrf})
        assert sent.status_code == 303
        after = browser.get("/console/test-page")
        assert "kept" in after.text and "Zurück" in after.text  # the flash, translated


def test_every_page_form_of_the_real_app_declares_csrf_protection(context: ServerContext) -> None:
    assert unprotected_posts(create_app(context).routes, PAGE_PREFIXES) == []


def test_every_message_of_the_pages_has_a_german_translation() -> None:
    german = read_catalogue("de")
    method_map = [("templates/**.html", "jinja2"), ("**.py", "python")]
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    missing = sorted(
        {
            (message if isinstance(message, str) else message[0])
            for filename, _line, message, _comments, _context in extract_from_dir(
                str(WEB_DIR), method_map, keywords=keywords
            )
            if (message if isinstance(message, str) else message[0]) not in german
        }
    )
    assert missing == []


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_no_two_areas_translate_one_message_differently(language: str) -> None:
    assert clashes(language) == []


def test_the_language_is_the_persons_choice_then_the_browsers_then_german() -> None:
    assert negotiate("en", "de-DE") == "en"
    assert negotiate(None, "en-GB,en;q=0.8") == "en"
    assert negotiate("xx", "fr") == "de"
    assert negotiate(None, None) == "de"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/console/x?y=1", "/console/x?y=1"),
        ("//a", "/console"),
        ("http://a", "/console"),
        ("/a\r\nb", "/console"),
    ],
)
def test_next_is_a_local_path_or_the_console(target: str, expected: str) -> None:
    assert local_path(target) == expected
