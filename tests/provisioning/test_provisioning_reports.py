"""``kokreativ report volunteer|shop`` end to end against a real server process."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

import pytest

from kokreativ.cli import main
from protocol import ids
from protocol.clock import now_ms
from provisioning import reports
from provisioning.coordinator_keys import LOCAL_TZ
from tests.conftest import ServerProcess
from tests.provisioning.conftest import refused, run

HOUR_MS = 3_600_000


def refused_report(capsys, *argv: str) -> str:
    return refused(capsys, *argv, command="report")


def report(capsys, *argv: str) -> str:
    """``kokreativ report …``'s standard output."""
    assert main(["report", *argv]) == 0, capsys.readouterr().err
    return capsys.readouterr().out


@dataclass
class Month:
    """A volunteer who earned at a check-in site and spent at a shop, with two cards."""

    volunteer_id: str
    cards: list[str]
    site_id: str
    shop_id: str


@pytest.fixture
def month(cli_env: ServerProcess, capsys, tmp_path: Path) -> Month:
    site = run(capsys, "site", "add", "--name", "Freizeitheim Linden", "--tokens-per-hour", "10")
    shop = run(capsys, "shop", "add", "--name", "Café Linden")
    first = run(capsys, "card", "register", "--name", "Ada Beispiel", "--site", site["site_id"])
    second = run(capsys, "card", "register", "--volunteer", first["volunteer_id"])
    key = ["--key", str(tmp_path / "kim.key")]
    run(capsys, "coordinator", "init", "--name", "Kim", *key)
    yesterday = dt.datetime.now(LOCAL_TZ).date() - dt.timedelta(days=1)
    run(  # 3 hours by hand: 30 tokens
        capsys,
        *("shift", "add", "--card", first["card_id"], "--site", site["site_id"], *key),
        *("--start", f"{yesterday} 10:00", "--end", f"{yesterday} 13:00", "--reason", "kiosk_broken"),
    )
    kiosk = cli_env.enrol_signer(site["site_id"])
    now = now_ms()  # after the enrolment: the server holds shifts dated before it (before_enrolment)
    cli_env.send(  # 2 hours tapped, from now (the server takes kiosk times up to a day ahead): 20 tokens
        kiosk,
        kiosk.event("check_in", second["card_id"], now),
        kiosk.event("check_out", second["card_id"], now + 2 * HOUR_MS),
    )
    till = cli_env.enrol_signer(shop["site_id"])
    kept, undone, offline, declined = (ids.new_id(ids.REDEMPTION) for _ in range(4))
    cli_env.send(
        till,
        till.event("redeem", first["card_id"], now, data={"amount": 5, "id": kept, "online": True}),
        till.event("redeem", first["card_id"], now, data={"amount": 8, "id": undone, "online": True}),
        till.event("void", first["card_id"], now + 1000, data={"id": undone}),
        till.event("redeem", second["card_id"], now, data={"amount": 3, "id": offline, "online": False}),
        till.event("redeem", second["card_id"], now, data={"amount": 500, "id": declined, "online": True}),
    )
    return Month(
        first["volunteer_id"], [first["card_id"], second["card_id"]], site["site_id"], shop["site_id"]
    )


def _totals_from_csv(text: str) -> dict[str, int]:
    rows = list(csv.DictReader(io.StringIO(text)))
    by_kind: dict[str, int] = {}
    for row in rows:
        by_kind[row["kind"]] = by_kind.get(row["kind"], 0) + int(row["delta"])
    return {
        "rows": len(rows),
        "earned": by_kind.get("shift", 0),
        "redeemed": -by_kind.get("redeem", 0),
        "voided": by_kind.get("void", 0),
        "closing_balance": int(rows[-1]["balance"]),
    }


def test_volunteer_statement_table_and_csv_agree_with_the_json(
    cli_env: ServerProcess, month: Month, capsys, tmp_path: Path
):
    with cli_env.admin() as admin:
        statement = reports.volunteer_statement(admin, month.volunteer_id)
    assert (statement["earned"], statement["redeemed"], statement["voided"]) == (50, 16, 8)
    assert statement["opening_balance"] == 0 and statement["closing_balance"] == 42

    table = report(capsys, "volunteer", month.volunteer_id)
    assert "Ada Beispiel" in table and "Freizeitheim Linden" in table and "Café Linden" in table
    assert "Earned  +50   Redeemed  16   Voided  8" in table and "Closing balance  42" in table
    for entry in statement["entries"]:
        assert month.cards[0] in table or month.cards[1] in table
        assert f"{entry['balance']}" in table
    # The same volunteer, found by either card.
    assert report(capsys, "volunteer", "--card", month.cards[1]) == table

    out = tmp_path / "ada.csv"
    assert report(capsys, "volunteer", month.volunteer_id, "--csv", str(out)) == ""
    totals = _totals_from_csv(out.read_text(encoding="utf-8"))
    assert totals == {
        "rows": len(statement["entries"]),
        "earned": statement["earned"],
        "redeemed": statement["redeemed"],
        "voided": statement["voided"],
        "closing_balance": statement["closing_balance"],
    }
    assert report(capsys, "volunteer", "--card", month.cards[0], "--csv", "-") == out.read_bytes().decode()


def test_shop_settlement_table_and_csv_agree_with_the_json(
    cli_env: ServerProcess, month: Month, capsys, tmp_path: Path
):
    with cli_env.admin() as admin:
        statement = reports.shop_statement(admin, month.shop_id)
    # The declined online redemption moved nothing, so it is not the shop's to settle.
    assert (statement["count"], statement["redeemed"], statement["voided"], statement["to_settle"]) == (
        3,
        16,
        8,
        8,
    )

    table = report(capsys, "shop", month.shop_id)
    assert "Café Linden" in table and "To settle    8" in table
    for line in statement["redemptions"]:
        assert line["redemption_id"] in table

    out = tmp_path / "shop.csv"
    report(capsys, "shop", month.shop_id, "--csv", str(out))
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(rows) == statement["count"]
    redeemed = sum(int(r["amount"]) for r in rows)
    voided = sum(int(r["amount"]) for r in rows if r["status"] == "voided")
    assert (redeemed, voided, redeemed - voided) == (
        statement["redeemed"],
        statement["voided"],
        statement["to_settle"],
    )


def test_periods_are_local_days_with_the_last_one_included(cli_env: ServerProcess, month: Month, capsys):
    today = dt.datetime.now(LOCAL_TZ).date()
    long_ago = str(today - dt.timedelta(days=30))
    before = report(
        capsys, "volunteer", month.volunteer_id, "--from", long_ago, "--to", str(today - dt.timedelta(days=2))
    )
    assert "(no entries in this period)" in before and "Closing balance  0" in before
    after = report(capsys, "volunteer", month.volunteer_id, "--from", str(today + dt.timedelta(days=2)))
    assert "Opening balance  42" in after and "Closing balance  42" in after
    shop = report(
        capsys, "shop", month.shop_id, "--from", long_ago, "--to", str(today + dt.timedelta(days=1))
    )
    assert "To settle    8" in shop

    assert refused_report(
        capsys, "volunteer", month.volunteer_id, "--from", str(today), "--to", long_ago
    ).startswith("kokreativ: error: bad_field:")
    assert refused_report(capsys, "volunteer", month.volunteer_id, "--from", "1.12.2026").startswith(
        "kokreativ: error: bad_field:"
    )


def test_unknown_subjects_are_one_line_with_the_reason_code(cli_env: ServerProcess, month: Month, capsys):
    assert refused_report(capsys, "volunteer", "v_" + "0" * 32).startswith(
        "kokreativ: error: unknown_volunteer:"
    )
    assert refused_report(capsys, "volunteer", "--card", "c_" + "0" * 32).startswith(
        "kokreativ: error: unknown_card:"
    )
    assert refused_report(capsys, "shop", month.site_id).startswith("kokreativ: error: not_a_shop:")
    assert refused_report(capsys, "shop", "s_" + "0" * 32).startswith("kokreativ: error: unknown_site:")
