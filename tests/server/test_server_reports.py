"""The console's reports (server.reports): hours and tokens per site and month, shop settlements, CSV, PDF."""

from __future__ import annotations

import csv
import io

import pytest
from pypdf import PdfReader
from server_helpers import HOUR, T0, Api
from server_shop_helpers import ShopWorld, create_shop, redeem

from protocol import EventKind, Reason
from server import reports, statements
from server.errors import InputError
from server.personpdf import FONT_CANDIDATES

NOVEMBER = ("2025-11", *reports.parse_month("2025-11", now_ms=T0)[1:])


def _shift(api: Api, world: ShopWorld, site: str, card: str, hours: int, end: int) -> None:
    kiosk = api.enrol_kiosk(site)
    batch = [
        kiosk.event(EventKind.CHECK_IN, card, end - hours * HOUR),
        kiosk.event(EventKind.CHECK_OUT, card, end),
    ]
    assert world.send(kiosk, batch) == [[], []]


def test_hours_and_tokens_per_site_and_month_for_the_callers_sites(api: Api) -> None:
    world = ShopWorld(api)
    a = world.earn_site["site_id"]
    b = api.create_site(tokens_per_hour=10)["site_id"]
    ada = api.create_card("Ada", site_id=a)["card_id"]
    bea = api.create_card("Bea", site_id=b)["card_id"]
    _shift(api, world, a, ada, 2, T0 - HOUR)
    _shift(api, world, b, bea, 3, T0 - HOUR)

    table = reports.hours_by_site(api.context, frozenset({a}), 2025)
    assert [
        (r["month"], r["site_id"], r["shifts"], r["volunteers"], r["hours"], r["tokens"]) for r in table.rows
    ] == [("2025-11", a, 1, 1, 2.0, 120)]
    everything = reports.hours_by_site(api.context, None, 2025)
    assert {r["site_id"]: (r["hours"], r["tokens"]) for r in everything.rows} == {a: (2.0, 120), b: (3.0, 30)}
    assert reports.hours_by_site(api.context, None, 2024).rows == []


def test_the_csv_is_the_tables_rows_under_its_column_keys(api: Api) -> None:
    world = ShopWorld(api)
    a = world.earn_site["site_id"]
    _shift(api, world, a, api.create_card("Ada", site_id=a)["card_id"], 1, T0 - HOUR)
    table = reports.hours_by_site(api.context, None, 2025)
    parsed = list(csv.DictReader(io.StringIO(table.csv())))
    assert list(parsed[0]) == [c.key for c in table.columns]
    assert [{k: str(v) for k, v in row.items()} for row in table.rows] == parsed


def test_shop_settlements_agree_with_the_shop_statement_and_show_only_the_callers_shops(api: Api) -> None:
    world = ShopWorld(api)
    other = create_shop(api, "Zweiter Laden")
    holder = world.holder(tokens=50)
    _, event = redeem(world.till, holder.card_id, 20)
    assert world.send(world.till, [event]) == [[]]
    shop = world.shop["site_id"]

    table = reports.shop_settlements(api.context, frozenset({shop}), *NOVEMBER)
    assert [(r["shop_id"], r["count"], r["redeemed"], r["to_settle"]) for r in table.rows] == [
        (shop, 1, 20, 20)
    ]
    statement = statements.shop_statement(
        api.context, shop, {"from_ms": str(NOVEMBER[1]), "to_ms": str(NOVEMBER[2])}
    ).content
    assert isinstance(statement, dict) and statement["to_settle"] == table.rows[0]["to_settle"]
    everything = reports.shop_settlements(api.context, None, *NOVEMBER)
    assert {r["shop_id"] for r in everything.rows} == {shop, other["site_id"]}
    # A coordinator of the check-in site has no shop to see.
    assert (
        reports.shop_settlements(api.context, frozenset({world.earn_site["site_id"]}), *NOVEMBER).rows == []
    )
    december = reports.parse_month("2025-12", now_ms=T0)
    assert reports.shop_settlements(api.context, None, *december).rows[0]["count"] == 0


def test_months_and_years_are_checked() -> None:
    assert reports.parse_month(None, now_ms=T0)[0] == "2025-11"
    _, first, after = reports.parse_month("2025-12", now_ms=T0)
    assert (after - first) == 31 * 24 * HOUR  # no clock change in December
    assert reports.parse_year("", now_ms=T0) == 2025
    for bad in ("2025-13", "25-01", "2025-1", "x", "2025-01-01"):
        with pytest.raises(InputError) as refused:
            reports.parse_month(bad, now_ms=T0)
        assert refused.value.reason is Reason.BAD_FIELD
    with pytest.raises(InputError):
        reports.parse_year("20255", now_ms=T0)


def test_the_pdf_holds_the_table_with_umlauts() -> None:
    table = reports.Table(
        "t",
        reports.HOURS_COLUMNS,
        [
            {
                "month": "2025-11",
                "site_id": "s_1",
                "site": "Bürgerhaus Süd",
                "shifts": 3,
                "volunteers": 2,
                "hours": 4.5,
                "tokens": 45,
            }
        ],
    )
    data = reports.render_pdf(table, title="Stunden und Token je Ort und Monat", labels={"site": "Ort"})
    assert data.startswith(b"%PDF-")
    if not any(p.is_file() for p in FONT_CANDIDATES):
        pytest.skip("no DejaVu font: the text is only checked with the Unicode font embedded")
    text = PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert "Bürgerhaus Süd" in text and "Ort" in text and "4,50" in text
