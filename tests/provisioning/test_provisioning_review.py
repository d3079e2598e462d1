"""What issue 16 holds for review, decided with the CLI against a real server process.

Held offline redemptions (``review list``, ``review approve|reject r_…``), shifts the kiosk
limits hold (``review approve k_…:SEQ``, the existing command), a site's kiosk limits
(``rules limits``), and how held redemptions show in a shop's settlement.
"""

from __future__ import annotations

import datetime as dt
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
from tests.provisioning.test_provisioning_decisions import balance

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def table(capsys: pytest.CaptureFixture[str], *argv: str, command: str = "provision") -> str:
    """What ``kokreativ COMMAND …`` printed for people."""
    assert main([command, *argv]) == 0, capsys.readouterr().err
    return capsys.readouterr().out


@dataclass
class Held:
    """A volunteer with 30 tokens and two offline redemptions held at a shop's till."""

    key: list[str]
    card: str
    volunteer: str
    shop: str
    till: str
    over_allowance: str  # 12 tokens, more than the till's offline allowance of 10
    backdated: str  # 4 tokens, dated four days before it arrived


@pytest.fixture
def held(cli_env: ServerProcess, capsys, tmp_path: Path) -> Held:
    site = run(capsys, "site", "add", "--name", "Freizeitheim Linden", "--tokens-per-hour", "10")
    shop = run(capsys, "shop", "add", "--name", "Café Linden")
    card = run(capsys, "card", "register", "--name", "Ada", "--site", site["site_id"])
    key = ["--key", str(tmp_path / "kim.key")]
    run(capsys, "coordinator", "init", "--name", "Kim", *key)
    yesterday = dt.datetime.now(LOCAL_TZ).date() - dt.timedelta(days=1)
    run(  # 3 hours by hand: 30 tokens
        capsys,
        *("shift", "add", "--card", card["card_id"], "--site", site["site_id"], *key),
        *("--start", f"{yesterday} 10:00", "--end", f"{yesterday} 13:00", "--reason", "kiosk_broken"),
    )
    till = cli_env.enrol_signer(shop["site_id"])
    now = now_ms()
    over, backdated = ids.new_id(ids.REDEMPTION), ids.new_id(ids.REDEMPTION)
    cli_env.send(
        till,
        till.event("redeem", card["card_id"], now, data={"amount": 12, "id": over, "online": False}),
        till.event(
            "redeem", card["card_id"], now - 4 * DAY_MS, data={"amount": 4, "id": backdated, "online": False}
        ),
    )
    return Held(key, card["card_id"], card["volunteer_id"], shop["site_id"], till.kiosk_id, over, backdated)


def test_held_redemptions_are_listed_in_plain_language(cli_env: ServerProcess, held: Held, capsys):
    items = run(capsys, "review", "list", "--json")
    assert [(i["item"], i["redemption_id"], i["reason"], i["amount"]) for i in items] == [
        ("held", held.over_allowance, "offline_over_allowance", 12),
        ("held", held.backdated, "redeem_backdated", 4),
    ]
    assert all(i["kiosk_id"] == held.till and i["card_id"] == held.card for i in items)

    text = table(capsys, "review", "list")
    assert "Held redemptions (2)" in text and "review approve|reject r_" in text
    for item in items:
        assert item["redemption_id"] in text
        # the till's time and when the server received it, both in local time
        assert reports.format_local(item["wall_ms"]) in text
        assert reports.format_local(item["received_ms"]) in text
    assert held.till in text and held.card in text and "Café Linden" in text
    # Why each is held, in words and not only as a code.
    assert "offline allowance" in text and "72 hours" in text
    assert "nothing" in text.lower()  # nothing was debited yet


def test_a_held_redemption_approved_is_debited_and_owed_another_rejected_moves_nothing(
    cli_env: ServerProcess, held: Held, capsys
):
    assert balance(cli_env, held.card) == 30  # held: nothing debited
    with cli_env.admin() as admin:
        shop = reports.shop_statement(admin, held.shop)
        account = reports.volunteer_statement(admin, held.volunteer)
    assert (shop["held"], shop["redeemed"], shop["to_settle"]) == (16, 0, 0)
    assert (account["redeemed"], account["closing_balance"]) == (0, 30)  # held ones are not entries

    approved = run(
        capsys, "review", "approve", held.over_allowance, *held.key, "--reason", "confirmed_by_shop"
    )
    assert approved["kind"] == "redemption_review"
    assert (approved["result"]["redemption_id"], approved["result"]["status"]) == (
        held.over_allowance,
        "debited",
    )
    assert balance(cli_env, held.card) == 18
    rejected = run(capsys, "review", "reject", held.backdated, *held.key, "--reason", "not_confirmed")
    assert (rejected["kind"], rejected["result"]["status"]) == ("redemption_review", "rejected")
    assert balance(cli_env, held.card) == 18
    assert run(capsys, "review", "list", "--json") == []

    with cli_env.admin() as admin:
        shop = reports.shop_statement(admin, held.shop)
        account = reports.volunteer_statement(admin, held.volunteer)
    assert (shop["held"], shop["redeemed"], shop["to_settle"]) == (0, 12, 12)
    assert (account["redeemed"], account["closing_balance"]) == (12, 18)

    # Decided once: both are off the list now, and the refusal is one line with its code.
    error = refused(capsys, "review", "reject", held.over_allowance, *held.key, "--reason", "not_confirmed")
    assert error.startswith("kokreativ: error: not_in_review:")
    error = refused(capsys, "review", "approve", "r_" + "0" * 32, *held.key, "--reason", "confirmed_by_shop")
    assert error.startswith("kokreativ: error: unknown_redemption:")


def test_times_belong_to_shifts_not_to_redemptions(cli_env: ServerProcess, held: Held, capsys):
    error = refused(
        capsys,
        *("review", "approve", held.over_allowance, *held.key, "--reason", "confirmed_by_shop"),
        *("--end", "2026-11-29 17:00"),
    )
    assert error.startswith("kokreativ: error: bad_field:") and "shift" in error
    error = refused(capsys, "review", "approve", "x_12", *held.key, "--reason", "confirmed_by_shop")
    assert error.startswith("kokreativ: error: bad_field:") and "r_" in error and "k_" in error
    assert balance(cli_env, held.card) == 30


def test_a_shop_statement_shows_what_waits_for_review(cli_env: ServerProcess, held: Held, capsys):
    text = table(capsys, "shop", held.shop, command="report")
    assert held.over_allowance in text and held.backdated in text
    assert "To settle    0" in text
    assert "Held         16" in text and "review" in text  # waiting, and why it is not owed yet

    run(capsys, "review", "approve", held.over_allowance, *held.key, "--reason", "confirmed_by_shop")
    run(capsys, "review", "reject", held.backdated, *held.key, "--reason", "not_confirmed")
    text = table(capsys, "shop", held.shop, command="report")
    assert "To settle    12" in text and "Held " not in text
    assert "Rejected     4" in text  # rejected in review: never owed

    account = table(capsys, "volunteer", held.volunteer, command="report")
    assert held.over_allowance not in account  # the ledger refers to rows, not to held ones
    assert "Redeemed  12" in account and "Closing balance  18" in account


def test_shifts_the_kiosk_limits_hold_are_approved_with_the_existing_command(
    cli_env: ServerProcess, capsys, tmp_path: Path
):
    site = run(capsys, "site", "add", "--name", "Treff", "--tokens-per-hour", "10")
    early, long_day = (
        run(capsys, "card", "register", "--name", n, "--site", site["site_id"])["card_id"]
        for n in ("Ada", "Bo")
    )
    key = ["--key", str(tmp_path / "kim.key")]
    run(capsys, "coordinator", "init", "--name", "Kim", *key)
    kiosk = cli_env.enrol_signer(site["site_id"])
    now = now_ms()  # after the enrolment
    cli_env.send(
        kiosk,
        kiosk.event("check_in", early, now - 2 * HOUR_MS),  # seq 1: before the kiosk was enrolled
        kiosk.event("check_out", early, now - 60_000),
    )
    limits = run(capsys, "rules", "limits", site["site_id"], *key, "--max-day-hours", "2")
    assert limits["kind"] == "kiosk_limits"
    assert (limits["result"]["max_day_hours"], limits["result"]["backdate_days"]) == (2, 14)
    cli_env.send(  # seq 3: three hours, more than the site's two a day now
        kiosk,
        kiosk.event("check_in", long_day, now + 60_000),
        kiosk.event("check_out", long_day, now + 60_000 + 3 * HOUR_MS),
    )
    items = run(capsys, "review", "list", "--json")
    assert [(i["item"], i["reason"], i["ref"]["seq"]) for i in items] == [
        ("shift", "before_enrolment", 1),
        ("shift", "day_too_long", 3),
    ]
    text = table(capsys, "review", "list")
    assert "before_enrolment" in text and "day_too_long" in text
    assert "enrolled" in text and "hours a day" in text  # what the codes mean, in words

    for seq in (1, 3):
        paid = run(
            capsys, "review", "approve", f"{kiosk.kiosk_id}:{seq}", *key, "--reason", "confirmed_by_site"
        )
        assert paid["kind"] == "review" and paid["result"]["status"] == "paid"
    assert balance(cli_env, early) == 19  # 1 h 59 min at 10 an hour, rounded down
    assert balance(cli_env, long_day) == 30  # approving pays, whatever the limits say
    assert run(capsys, "review", "list", "--json") == []


def test_kiosk_limits_are_changed_shown_and_enforced(cli_env: ServerProcess, capsys, tmp_path: Path):
    site = run(capsys, "site", "add", "--name", "Treff", "--tokens-per-hour", "10")
    first, second = (
        run(capsys, "card", "register", "--name", n, "--site", site["site_id"])["card_id"]
        for n in ("Ada", "Bo")
    )
    key = ["--key", str(tmp_path / "kim.key")]
    run(capsys, "coordinator", "init", "--name", "Kim", *key)
    listed = {s["site_id"]: s for s in run(capsys, "site", "list")}
    assert (listed[site["site_id"]]["max_day_hours"], listed[site["site_id"]]["backdate_days"]) == (12, 14)

    kiosk = cli_env.enrol_signer(site["site_id"])
    now = now_ms()
    cli_env.send(  # three hours under the default limits: paid
        kiosk,
        kiosk.event("check_in", first, now + 60_000),
        kiosk.event("check_out", first, now + 60_000 + 3 * HOUR_MS),
    )
    assert balance(cli_env, first) == 30

    answer = run(
        capsys, "rules", "limits", site["site_id"], *key, "--max-day-hours", "2", "--backdate-days", "7"
    )
    assert (answer["result"]["max_day_hours"], answer["result"]["backdate_days"]) == (2, 7)
    kept = run(capsys, "rules", "limits", site["site_id"], *key, "--backdate-days", "3")["result"]
    assert (kept["max_day_hours"], kept["backdate_days"]) == (2, 3)  # not given: stays
    listed = {s["site_id"]: s for s in run(capsys, "site", "list")}
    assert (listed[site["site_id"]]["max_day_hours"], listed[site["site_id"]]["backdate_days"]) == (2, 3)
    assert kept["tokens_per_hour"] == 10  # the earning rules are another decision
    shown = table(capsys, "rules", "show", site["site_id"])
    assert "Treff" in shown and "10 tokens an hour" in shown
    assert "max_day_hours      2" in shown and "backdate_days      3" in shown
    assert run(capsys, "rules", "show", site["site_id"], "--json") == listed[site["site_id"]]

    cli_env.send(  # the same three hours for another card: held now
        kiosk,
        kiosk.event("check_in", second, now + 60_000),
        kiosk.event("check_out", second, now + 60_000 + 3 * HOUR_MS),
    )
    assert balance(cli_env, second) == 0
    [item] = run(capsys, "review", "list", "--json")
    assert (item["card_id"], item["reason"]) == (second, "day_too_long")

    # Refusals: one line with the reason code, nothing signed or changed.
    assert refused(capsys, "rules", "limits", site["site_id"], *key, "--max-day-hours", "25").startswith(
        "kokreativ: error: bad_field:"
    )
    assert refused(capsys, "rules", "limits", site["site_id"], *key).startswith(
        "kokreativ: error: missing_field:"
    )
    shop = run(capsys, "shop", "add", "--name", "Laden")
    assert refused(capsys, "rules", "limits", shop["site_id"], *key, "--backdate-days", "5").startswith(
        "kokreativ: error: not_a_shop:"
    )
    assert refused(capsys, "rules", "show", shop["site_id"]).startswith("kokreativ: error: not_a_shop:")
    assert refused(capsys, "rules", "limits", "s_" + "0" * 32, *key, "--backdate-days", "5").startswith(
        "kokreativ: error: unknown_site:"
    )
    listed = {s["site_id"]: s for s in run(capsys, "site", "list")}
    assert (listed[site["site_id"]]["max_day_hours"], listed[site["site_id"]]["backdate_days"]) == (2, 3)
