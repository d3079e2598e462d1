"""Accessibility of every console page, checked in real Chromium over the demo's economy.

For each page of the navigation (:data:`server.web.nav.NAV`; as the demo's
admin, a shop's pages as its owner; pages landing later are taken too), the
account page, the login, the public confirmation page (``/bestaetigen/…``) and
the public pages (:data:`PUBLIC_PAGES`):
every form control has an accessible name, exactly one ``h1``, images and SVG
have text alternatives, body text and links meet WCAG AA contrast (computed in
the page from the computed styles: ``a11y.js``), the Tab key reaches the main
navigation and every element it focuses shows a focus ring
(``:focus-visible``'s computed outline or box shadow), and at 1280×800 and
768×1024 the page does not scroll sideways.  All failures of all pages are
reported together, as "page: check: element: detail".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from kokreativ.demo.serve import DemoConsole
from tests.web.demo_economy import console_pages, log_in, person_of, running_demo

pytestmark = pytest.mark.slow

CHECKS_JS = (Path(__file__).parent / "a11y.js").read_text(encoding="utf-8")
VIEWPORTS = ({"width": 1280, "height": 800}, {"width": 768, "height": 1024})
# The pages for everyone (issue 19), without a session: the volunteer's page shows its login.
PUBLIC_PAGES = (
    ("/", "economy"),
    ("/anzeige", "display"),
    ("/so-gehts", "how"),
    ("/laeden", "shops"),
    ("/pruefen", "check"),
    ("/ich", "my hours (login)"),
)
MAX_TAB_STOPS = 40  # the skip link, the navigation and the page's first controls: enough to reach the nav

# The focused element and whether it is inside the main navigation (header > nav) and shows focus.
FOCUSED_JS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  // A date field's calendar button is the browser's own control (shadow DOM, its own ring): not the page's.
  const dated = ["date", "time", "datetime-local", "month", "week"].includes(el.type);
  const picker = el.tagName === "INPUT" && dated && !el.matches(":focus-visible");
  const ring = picker || (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0)
    || (style.boxShadow && style.boxShadow !== "none");
  const nav = document.querySelector("header > nav");
  const text = (el.textContent || el.getAttribute("name") || "").trim().replace(/\\s+/g, " ").slice(0, 40);
  const what = el.tagName.toLowerCase() + ' "' + text + '"';
  return {inNav: !!(nav && nav.contains(el)), ring: !!ring, what, visible: el.getClientRects().length > 0};
}"""

# Elements sticking out to the right of the page where the page scrolls sideways (at most three).
OVERFLOW_JS = """() => {
  const root = document.documentElement;
  if (root.scrollWidth <= root.clientWidth && document.body.scrollWidth <= root.clientWidth) return null;
  const wide = [];
  for (const el of document.body.querySelectorAll("*")) {
    if (el.getBoundingClientRect().right > root.clientWidth + 1 && !el.parentElement.closest(".table")) {
      if (![...el.children].some((c) => c.getBoundingClientRect().right > root.clientWidth + 1)) {
        const kind = typeof el.className === "string" && el.className ? "." + el.className : "";
        wide.push(el.tagName.toLowerCase() + kind);
      }
    }
    if (wide.length >= 3) break;
  }
  return `scrollWidth ${root.scrollWidth} > ${root.clientWidth}: ${wide.join(", ")}`;
}"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoConsole]:
    yield from running_demo(tmp_path_factory.mktemp("demo") / "demo")


def _keyboard(page: Page) -> list[tuple[str, str, str]]:
    """Tab from the top: the main navigation must be reached, and each stop must show its focus."""
    failures: list[tuple[str, str, str]] = []
    page.locator("body").focus()
    reached = False
    has_nav = page.locator("header > nav").count() > 0
    for _ in range(MAX_TAB_STOPS):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED_JS)
        if focused is None:
            break
        if focused["visible"] and not focused["ring"]:
            failures.append(("focus visible", focused["what"], "no outline or box-shadow when focused"))
        reached = reached or focused["inNav"]
    if has_nav and not reached:
        failures.append(("keyboard", "header > nav", f"not reached in {MAX_TAB_STOPS} Tab presses"))
    return failures


def _check(page: Page, url: str, name: str) -> list[str]:
    response = page.goto(url)
    if response is None or response.status != 200:
        return [f"{name}: page: {url}: status {response and response.status}"]
    found = [tuple(row) for row in page.evaluate(CHECKS_JS)]
    found += _keyboard(page)
    lines = [f"{name}: {check}: {element}: {detail}" for check, element, detail in found]
    for viewport in VIEWPORTS:
        page.set_viewport_size(viewport)
        page.goto(url)
        wide = page.evaluate(OVERFLOW_JS)
        if wide:
            lines.append(f"{name}: no horizontal scroll at {viewport['width']}×{viewport['height']}: {wide}")
    page.set_viewport_size(VIEWPORTS[0])
    return lines


def test_every_console_page_is_accessible(browser: Browser, demo: DemoConsole) -> None:
    context = browser.new_context(viewport=VIEWPORTS[0], locale="de-DE")
    failures: list[str] = []
    try:
        page = context.new_page()
        failures += _check(page, f"{demo.url}/console/login", "login")
        failures += _check(page, demo.url + demo.confirmation_path, "bestaetigen")  # public, no account
        for path, name in PUBLIC_PAGES:
            failures += _check(page, demo.url + path, name)
        pages = console_pages()
        for key in ["admin", *sorted({entry.account for entry in pages} - {"admin"})]:
            context.clear_cookies()
            log_in(page, demo.url, person_of(demo.account(key)))
            visits = [("/console/account", "account")] if key == "admin" else []
            visits += [(entry.path, entry.name) for entry in pages if entry.account == key]
            for path, name in visits:
                failures += _check(page, demo.url + path, name)
    finally:
        context.close()
    assert not failures, f"{len(failures)} accessibility failure(s):\n" + "\n".join(failures)


BROKEN_PAGE = """<!doctype html><html lang="de"><head><style>
  :focus { outline: none; }  .pale { color: #aaa; }  .wide { width: 3000px; }
</style></head><body>
<header><nav><a href="#a">A</a></nav></header>
<h1>One</h1><h1>Two</h1>
<input name="unlabelled"> <label>Named <input name="named"></label> <button></button>
<img src="data:,"> <svg width="10" height="10"><rect width="10" height="10"/></svg>
<p class="pale">grey on white</p> <div class="wide">wide</div>
</body></html>"""


def test_the_checks_catch_what_they_check(page: Page) -> None:
    """Each check fails on a page made to break it, so a pass over the console means something."""
    page.set_content(BROKEN_PAGE)
    found = {(check, element.split(" ")[0]) for check, element, _ in page.evaluate(CHECKS_JS)}
    assert found == {
        ("one h1", ""),
        ("form control label", "input[name=unlabelled]"),
        ("form control label", "button"),
        ("text alternative", "img"),
        ("text alternative", "svg"),
        ("contrast", "p.pale"),
    }
    keyboard = _keyboard(page)  # the nav is reached, but nothing shows its focus
    assert {check for check, _, _ in keyboard} == {"focus visible"}
    assert [element for _, element, _ in keyboard][:2] == ['a "A"', 'input "unlabelled"']
    assert "div.wide" in page.evaluate(OVERFLOW_JS)
