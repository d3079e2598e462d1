"""The overview, kiosks and reports pages over HTTP: downloads, checked inputs, forms with CSRF.

The admin bearer token stands in for a person here (a principal for the whole
economy); the browser tests (``tests/web``) open the pages as people with grants.
"""

from __future__ import annotations

import csv
import io

import httpx
from server_helpers import HOUR, T0, Api

from protocol import EventKind
from server import overview, reports
from server.web.forms import CSRF_COOKIE


def _client(api: Api) -> httpx.Client:
    return httpx.Client(base_url=api.base_url, headers={"Authorization": f"Bearer {api.admin_token}"})


def test_each_overview_table_downloads_as_the_csv_of_its_rows(api: Api) -> None:
    site = api.create_site(tokens_per_hour=60)["site_id"]
    kiosk = api.enrol_kiosk(site)
    card = api.create_card("Ada", site_id=site)["card_id"]
    events = [
        kiosk.event(EventKind.CHECK_IN, card, T0 - 2 * HOUR),
        kiosk.event(EventKind.CHECK_OUT, card, T0),
    ]
    assert api.send(kiosk.kiosk_id, events).status_code == 200
    with _client(api) as browser:
        for name in ("today", "alarms", "anomalies", "month"):
            answer = browser.get("/console", params={"table": name, "format": "csv"})
            assert answer.status_code == 200, answer.text
            assert answer.headers["content-type"].startswith("text/csv")
            assert f'filename="overview-{name}.csv"' in answer.headers["content-disposition"]
            expected = overview.tables(overview.overview(api.context, None))[name]
            assert answer.text == expected.csv()
        month = list(csv.DictReader(io.StringIO(browser.get("/console?table=month&format=csv").text)))
        assert sum(int(row["issued"]) for row in month) == 120
        assert browser.get("/console", params={"table": "nope", "format": "csv"}).status_code == 400
        assert browser.get("/console", params={"format": "xml"}).status_code == 400


def test_reports_download_as_csv_and_pdf_and_check_their_period(api: Api) -> None:
    with _client(api) as browser:
        hours = browser.get("/console/reports", params={"table": "hours", "format": "csv", "year": "2025"})
        assert hours.status_code == 200
        assert hours.text.splitlines()[0] == ",".join(c.key for c in reports.HOURS_COLUMNS)
        pdf = browser.get("/console/reports", params={"table": "shops", "format": "pdf", "month": "2025-11"})
        assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")
        for bad in ({"year": "20x5"}, {"month": "2025-13"}, {"table": "people", "format": "csv"}):
            answer = browser.get("/console/reports", params=bad)
            assert answer.status_code == 400 and "bad_field" in answer.text


def test_an_enrolment_code_needs_the_pages_csrf_token_and_a_listed_validity(api: Api) -> None:
    site = api.create_site()["site_id"]
    with _client(api) as browser:
        csrf = browser.get("/console/kiosks").cookies[CSRF_COOKIE]
        forged = browser.post("/console/kiosks/code", data={"site_id": site, "hours": "24"})
        assert forged.status_code == 403 and "csrf_failed" in forged.text
        odd = browser.post("/console/kiosks/code", data={"site_id": site, "hours": "5", "csrf": csrf})
        assert odd.status_code == 400
        made = browser.post("/console/kiosks/code", data={"site_id": site, "hours": "1", "csrf": csrf})
        assert made.status_code == 200 and 'id="enrolment-code"' in made.text
        unknown = browser.post("/console/kiosks/code", data={"site_id": "s_nope", "hours": "1", "csrf": csrf})
        assert unknown.status_code == 404
    with api.context.storage.read() as tx:
        assert tx.count_unused_codes(site) == 1


def test_every_page_renders_in_german_and_in_english(api: Api) -> None:
    site = api.create_site()["site_id"]
    kiosk = api.enrol_kiosk(site)
    pages = {
        "/console": ("Übersicht", "Overview"),
        "/console/kiosks": ("Kiosks und Kassen", "Kiosks and tills"),
        f"/console/kiosks/{kiosk.kiosk_id}/revoke": (f"{kiosk.kiosk_id} sperren", f"Revoke {kiosk.kiosk_id}"),
        "/console/reports": ("Berichte", "Reports"),
        "/console/settlements": ("Abrechnungen", "Settlements"),
        "/console/laden": ("Mein Laden", "My shop"),
    }
    for language in ("de", "en"):
        with _client(api) as browser:
            browser.cookies.set("kk_lang", language)
            for path, headings in pages.items():
                heading = headings[language == "en"]
                answer = browser.get(path)
                assert answer.status_code == 200, (path, answer.text)
                assert f"<h1>{heading}</h1>" in answer.text, (path, language)
