"""The overview and the reports in a real browser: a seeded anomaly, site B unseen, a CSV download."""

from __future__ import annotations

import csv
import io
import time

from playwright.sync_api import Page, expect

from protocol import EventKind
from tests.web.conftest import Console
from tests.web.views_helpers import open_as

MINUTE = 60_000
HOUR = 60 * MINUTE


def _send(console: Console, kiosk: object, *taps: tuple[EventKind, str, int]) -> None:
    events = [kiosk.event(kind, card, at) for kind, card, at in taps]  # type: ignore[attr-defined]
    response = console.api.send(kiosk.kiosk_id, events)  # type: ignore[attr-defined]
    assert response.status_code == 200, response.text


def _seed(console: Console, *, anomaly: bool) -> dict[str, str]:
    """A paid shift at site A (two hours) and at B (one); with ``anomaly``, a card at three of A's kiosks.

    The shifts come after the kiosks' enrolment (now), so that they pay rather than wait for review.
    """
    api = console.api
    now = int(time.time() * 1000)
    a_kiosks = [api.enrol_kiosk(console.site_a) for _ in range(3)]
    b_kiosk = api.enrol_kiosk(console.site_b)
    card_a = api.create_card("Ada", site_id=console.site_a)["card_id"]
    card_b = api.create_card("Bea", site_id=console.site_b)["card_id"]
    _send(
        console,
        a_kiosks[0],
        (EventKind.CHECK_IN, card_a, now + MINUTE),
        (EventKind.CHECK_OUT, card_a, now + 2 * HOUR + MINUTE),
    )
    _send(
        console,
        b_kiosk,
        (EventKind.CHECK_IN, card_b, now + MINUTE),
        (EventKind.CHECK_OUT, card_b, now + HOUR + MINUTE),
    )
    if anomaly:
        # Before now: the overview looks at taps up to now, not at ones a kiosk dates in the future.
        for minutes, kiosk in zip((30, 20, 10), a_kiosks, strict=True):
            _send(console, kiosk, (EventKind.CHECK_IN, card_a, now - minutes * MINUTE))
    return {"card_a": card_a, "card_b": card_b, "b_kiosk": b_kiosk.kiosk_id}


def test_the_overview_shows_a_seeded_anomaly_and_nothing_of_site_b(page: Page, console: Console) -> None:
    seeded = _seed(console, anomaly=True)
    open_as(page, console, console.person(["review"]), "/console")
    assert page.locator("h1").inner_text() == "Übersicht"
    anomalies = page.locator("#h-anomalies + p + .table table")
    expect(anomalies).to_contain_text("Eine Karte an vielen Kiosks")
    expect(anomalies).to_contain_text(seeded["card_a"])
    expect(page.locator(f'.card[data-site="{console.site_a}"]')).to_contain_text("Stadtteilzentrum Linden")

    html = page.content()
    for secret in ("Nachbarschaftshaus List", console.site_b, seeded["card_b"], seeded["b_kiosk"]):
        assert secret not in html
    # The chart is drawn on the server: an inline SVG, no script.
    expect(page.locator("figure.chart svg")).to_be_visible()


def test_reports_show_site_a_only_and_the_table_downloads_as_csv(page: Page, console: Console) -> None:
    _seed(console, anomaly=False)
    open_as(page, console, console.person(["reports"]), "/console/reports")
    assert page.locator("h1").inner_text() == "Berichte"
    hours = page.locator("#h-hours ~ .table table").first
    expect(hours).to_contain_text("Stadtteilzentrum Linden")
    assert "Nachbarschaftshaus List" not in page.content()

    with page.expect_download() as downloading:
        hours.get_by_role("link", name="CSV").click()
    rows = list(csv.DictReader(io.StringIO(downloading.value.path().read_text(encoding="utf-8"))))
    assert [(r["site_id"], r["shifts"], r["hours"]) for r in rows] == [(console.site_a, "1", "2.0")]


def test_a_shop_owner_sees_the_settlements_of_their_shop_only(page: Page, console: Console) -> None:
    from server import accounts

    owner = console.person(["settle_shops"], scope=accounts.TeamScope("shops", (console.shop,)))
    open_as(page, console, owner, "/console/settlements")
    table = page.locator("main table")
    expect(table).to_contain_text("Bioladen Nordstadt")
    assert "Stadtteilzentrum Linden" not in page.content()
    page.goto(f"{console.url}/console/reports")
    assert page.locator("h1").inner_text() == "Nicht erlaubt"


def test_a_shop_owner_lands_on_their_shop_after_logging_in(page: Page, console: Console) -> None:
    from server import accounts
    from tests.web.conftest import logged_in

    owner = console.person(["settle_shops"], scope=accounts.TeamScope("shops", (console.shop,)))
    logged_in(page, console, owner)
    page.wait_for_url(f"**/console/laden/{console.shop}")  # their one shop's page (server.web.Web.home)
    assert page.locator("h1").inner_text() != "Nicht erlaubt"
