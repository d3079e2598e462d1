"""Every table of the console downloads as CSV (issue 18, page 6), or is marked exempt.

An admin on a seeded economy (shifts, a volunteer with a card, a confirmation
list, an invitation) visits every page of the navigation, a volunteer's page
and a confirmation list; each ``<table>`` either has a CSV link whose download
has as many data rows as the table shows, or says ``data-csv="exempt"`` (one's
own settings, form grids).
"""

from __future__ import annotations

import csv
import io
import time
from datetime import date, timedelta

from playwright.sync_api import Page

from protocol import EventKind
from server import accounts, hoursconfirm
from server.accounts import invitations
from server.http.access import Permission
from server.web.nav import NAV
from tests.web.conftest import Console
from tests.web.views_helpers import open_as

HOUR = 3_600_000


def _seed(console: Console) -> dict[str, str]:
    """A paid shift at site A, a volunteer with a card, a confirmation list and an open invitation."""
    api = console.api
    now = int(time.time() * 1000)
    kiosk = api.enrol_kiosk(console.site_a)
    card = api.create_card("Ada Muster", site_id=console.site_a)
    events = [
        kiosk.event(EventKind.CHECK_IN, card["card_id"], now + 60_000),
        kiosk.event(EventKind.CHECK_OUT, card["card_id"], now + 2 * HOUR),
    ]
    assert api.send(kiosk.kiosk_id, events).status_code == 200
    day = (date.today() - timedelta(days=2)).isoformat()
    made = hoursconfirm.create_list(
        console.ctx,
        site_id=console.site_a,
        created_by="test",
        contact_label="Tafel Nord",
        lines=[{"volunteer_id": card["volunteer_id"], "day": day, "start": "09:00", "end": "12:00"}],
        volunteer_sites=None,
    )
    team = accounts.add_team(
        console.ctx,
        name="Koordination A",
        permissions=["review"],
        scope=accounts.TeamScope("sites", (console.site_a,)),
    )
    invitations.invite(console.ctx, email="neu@example.org", team_id=team, by=None)
    return {"volunteer": card["volunteer_id"], "list": made["list_id"]}


def _data_rows(page: Page, index: int) -> int:
    """The table's body rows that hold data (not the one "nothing yet" row)."""
    rows = page.locator("table").nth(index).locator("tbody tr")
    return sum(1 for i in range(rows.count()) if rows.nth(i).locator("td.empty").count() == 0)


def test_every_table_of_every_page_downloads_as_csv_or_is_marked_exempt(page: Page, console: Console) -> None:
    seeded = _seed(console)
    admin = console.admin()
    # Separation of duties: no admin settles shops, so a shop's person opens that page.
    shop = console.person(
        ["settle_shops"], scope=accounts.TeamScope("shops", (console.shop,)), name="Lea Laden"
    )
    visits = [(shop if item.permission is Permission.SETTLE_SHOPS else admin, item.path) for item in NAV]
    visits += [
        (admin, f"/console/volunteers/{seeded['volunteer']}"),
        (admin, f"/console/confirmations/{seeded['list']}"),
        (admin, f"/console/certificates/{seeded['volunteer']}"),
        (admin, f"/console/certificates/{seeded['volunteer']}/prior"),
        (admin, "/console/account"),
        (admin, "/console/account/device"),
    ]
    checked: list[str] = []
    missing: list[str] = []
    for person, path in visits:
        page.context.clear_cookies()
        cookie = accounts.open_console_session(console.ctx, person.person_id, user_agent="test")
        headers = {"Cookie": f"kk_console={cookie}"}
        open_as(page, console, person, "/console/account")
        answer = page.goto(f"{console.url}{path}")
        assert answer is not None and answer.status == 200, path
        tables = page.locator("table")
        for index in range(tables.count()):
            table = tables.nth(index)
            where = f"{path} table {index + 1} ({table.locator('caption').all_inner_texts()})"
            if table.get_attribute("data-csv") == "exempt":
                continue
            links = table.locator("a.csv", has_text="CSV")
            if links.count() == 0:
                missing.append(where)
                continue
            href = links.first.get_attribute("href")
            assert href is not None
            download = page.request.get(f"{console.url}{href}", headers=headers)
            assert download.status == 200, (where, download.text())
            assert download.headers["content-type"].startswith("text/csv"), where
            lines = list(csv.reader(io.StringIO(download.text())))
            assert len(lines) - 1 == _data_rows(page, index), (where, lines)
            checked.append(where)
    assert missing == [], missing
    for query in ("format=xml", "format=csv&table=nope"):  # a wrong ask is a 400, never a 5xx
        assert page.request.get(f"{console.url}/console/teams?{query}", headers=headers).status == 400
    # The seeded pages' tables were there and compared, rows and all.
    assert any(seeded["volunteer"] in where for where in checked)
    assert any(seeded["list"] in where for where in checked)
