"""Coordinator keys and signed decisions: what coordinators type, and the CLI against a real server."""

from __future__ import annotations

import datetime as dt
import json
import socket
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kokreativ.cli import main
from protocol import (
    PrivateKey,
    Reason,
    b64decode,
    coordinator_id,
    ids,
    parse_decision,
    verify_decision,
)
from protocol.clock import now_ms
from provisioning.client import ApiClient
from provisioning.coordinator_keys import (
    LOCAL_TZ,
    create_coordinator_key,
    format_bonus,
    format_local,
    key_path,
    load_coordinator_key,
    local_days_ms,
    parse_bonus,
    parse_days,
    parse_holiday,
    parse_local_time,
    parse_shift_ref,
    pending_dir,
    sign,
    site_rules_data,
)
from provisioning.errors import ProvisioningError
from tests.conftest import ServerProcess
from tests.provisioning.conftest import refused, run

UTC = dt.UTC

# -- what coordinators type ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "days"),
    [
        ("Mo-So", [0, 1, 2, 3, 4, 5, 6]),
        ("Mon-Sun", [0, 1, 2, 3, 4, 5, 6]),
        ("mo-fr", [0, 1, 2, 3, 4]),
        ("Sa,So", [5, 6]),
        ("Sat, Sun", [5, 6]),
        ("Di", [1]),
        ("Tue", [1]),
        ("Mi,Do", [2, 3]),
        ("Wed-Thu,Sat", [2, 3, 5]),
        ("Fr-Mo", [0, 4, 5, 6]),  # a range wraps past Sunday
        ("So-Mo", [0, 6]),
        ("Montag-Mittwoch", [0, 1, 2]),
        ("friday", [4]),
        ("Mo,Mo,Mo-Di", [0, 1]),
    ],
)
def test_weekdays_in_german_and_english(typed: str, days: list[int]):
    assert parse_days(typed) == days


@pytest.mark.parametrize("typed", ["", "Xy", "Mo-", "-Fr", "Mo-Fr-Sa", "Mo;Di", "Montagabend", "1-5"])
def test_unknown_weekdays_are_refused_with_bad_field(typed: str):
    with pytest.raises(ProvisioningError) as info:
        parse_days(typed)
    assert info.value.reason == Reason.BAD_FIELD


@pytest.mark.parametrize(
    ("typed", "bonus"),
    [
        (
            "125:Mo-So:22:00-06:00",
            {"percent": 125, "days": [0, 1, 2, 3, 4, 5, 6], "dates": [], "from": "22:00", "to": "06:00"},
        ),
        ("150:Sa,So", {"percent": 150, "days": [5, 6], "dates": [], "from": "00:00", "to": "00:00"}),
        (
            "110:Mon-Fri:06:00-08:00",
            {"percent": 110, "days": [0, 1, 2, 3, 4], "dates": [], "from": "06:00", "to": "08:00"},
        ),
    ],
)
def test_bonus_arguments(typed: str, bonus: dict):
    assert parse_bonus(typed) == bonus


@pytest.mark.parametrize(
    ("typed", "bonus"),
    [
        (
            "200:2026-12-25,2026-12-26",
            {
                "percent": 200,
                "days": [],
                "dates": ["2026-12-25", "2026-12-26"],
                "from": "00:00",
                "to": "00:00",
            },
        ),
        (  # sorted, without repeats, as the protocol wants them
            "300:2026-12-31,2026-12-24,2026-12-31:18:00-02:00",
            {
                "percent": 300,
                "days": [],
                "dates": ["2026-12-24", "2026-12-31"],
                "from": "18:00",
                "to": "02:00",
            },
        ),
    ],
)
def test_holiday_arguments(typed: str, bonus: dict):
    assert parse_holiday(typed) == bonus


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "125",
        "125:",
        "99:Mo",
        "1001:Mo",
        "abc:Mo",
        "125:Mo:22-06",
        "125:Mo:24:00-06:00",
        "125:Xx:22:00-06:00",
    ],
)
def test_malformed_bonuses_are_refused(typed: str):
    with pytest.raises(ProvisioningError) as info:
        parse_bonus(typed)
    assert info.value.reason == Reason.BAD_FIELD


@pytest.mark.parametrize("typed", ["200", "200:", "200:2026-02-30", "200:25.12.2026", "50:2026-12-25"])
def test_malformed_holidays_are_refused(typed: str):
    with pytest.raises(ProvisioningError) as info:
        parse_holiday(typed)
    assert info.value.reason == Reason.BAD_FIELD


_times = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59))
_windows = st.tuples(_times, _times)
_day_bonuses = st.builds(
    lambda p, days, w: {"percent": p, "days": sorted(days), "dates": [], "from": w[0], "to": w[1]},
    st.integers(100, 1000),
    st.sets(st.integers(0, 6), min_size=1),
    _windows,
)
_date_bonuses = st.builds(
    lambda p, dates, w: {
        "percent": p,
        "days": [],
        "dates": sorted(d.isoformat() for d in dates),
        "from": w[0],
        "to": w[1],
    },
    st.integers(100, 1000),
    st.sets(st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31)), min_size=1, max_size=64),
    _windows,
)


@given(_day_bonuses)
def test_a_weekday_bonus_reads_back_as_written(bonus: dict):
    assert parse_bonus(format_bonus(bonus)) == bonus


@given(_date_bonuses)
def test_a_holiday_reads_back_as_written(bonus: dict):
    assert parse_holiday(format_bonus(bonus)) == bonus


@given(st.lists(st.one_of(_day_bonuses, _date_bonuses), max_size=16))
def test_parsed_bonuses_are_what_the_protocol_signs(bonuses: list):
    # Whatever the arguments parse to passes the protocol's own checks, so it can be signed.

    site = {"site_id": "s_" + "1" * 32, "tokens_per_hour": 10, "max_shift_hours": 12}
    key = PrivateKey.generate()
    wire = sign(key, "site_rules", site_rules_data(site, bonuses=bonuses), at_ms=1)
    assert parse_decision(b64decode(wire["body"], field="body")).data["bonuses"] == bonuses


def test_local_times_are_europe_berlin_and_skipped_times_are_refused():
    assert parse_local_time("2026-11-29 14:00") == int(
        dt.datetime(2026, 11, 29, 13, tzinfo=UTC).timestamp() * 1000
    )
    assert parse_local_time("2026-07-01 14:00") == int(
        dt.datetime(2026, 7, 1, 12, tzinfo=UTC).timestamp() * 1000
    )
    assert parse_local_time("2026-07-01T14:00:30") == parse_local_time("2026-07-01 14:00") + 30_000
    # 25 October 2026, 02:30 happens twice: the first (summer time) is meant.
    assert parse_local_time("2026-10-25 02:30") == int(
        dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC).timestamp() * 1000
    )
    for typed in ("2026-03-29 02:30", "29.11.2026 14:00", "2026-11-29 14:00+01:00", "tomorrow"):
        with pytest.raises(ProvisioningError) as info:
            parse_local_time(typed)
        assert info.value.reason == Reason.BAD_FIELD, typed


def test_a_period_of_local_days_includes_the_last_day():
    start, end = local_days_ms(dt.date(2026, 3, 29), dt.date(2026, 3, 29))  # the day the clocks go forward
    assert start == int(dt.datetime(2026, 3, 28, 23, tzinfo=UTC).timestamp() * 1000)
    assert end is not None and start is not None and end - start == 23 * 3600 * 1000
    assert local_days_ms(None, None) == (None, None)
    with pytest.raises(ProvisioningError):
        local_days_ms(dt.date(2026, 12, 2), dt.date(2026, 12, 1))


@pytest.mark.parametrize("typed", ["k_" + "a" * 32, "k_" + "a" * 32 + ":", "k_x:1", "s_" + "a" * 32 + ":1"])
def test_malformed_shift_references_are_refused(typed: str):
    with pytest.raises(ProvisioningError):
        parse_shift_ref(typed)
    assert parse_shift_ref("k_" + "a" * 32 + ":7") == ("k_" + "a" * 32, 7)


# -- the key file ----------------------------------------------------------------------------------


def test_the_key_file_is_private_never_overwritten_and_signs_as_its_coordinator_id(tmp_path: Path):
    path = tmp_path / "keys" / "coordinator.key"
    key = create_coordinator_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_coordinator_key(path).seed == key.seed
    before = path.read_bytes()
    with pytest.raises(ProvisioningError) as info:
        create_coordinator_key(path)
    assert info.value.reason == "key_exists" and path.read_bytes() == before

    wire = sign(key, "acknowledge", {"redemption": "r_" + "2" * 32, "reason": "confirmed_by_shop"}, at_ms=5)
    decision = verify_decision(
        b64decode(wire["body"], field="body"), b64decode(wire["sig"], field="sig"), key.public_key
    )
    assert decision.coordinator == coordinator_id(key.public_key) and decision.at_ms == 5

    path.chmod(0o644)
    with pytest.raises(ProvisioningError) as readable:
        load_coordinator_key(path)
    assert "chmod 600" in readable.value.message
    with pytest.raises(ProvisioningError):
        load_coordinator_key(tmp_path / "missing.key")


def test_the_key_path_comes_from_the_option_or_the_environment(tmp_path: Path):
    env = {"KOKREATIV_COORDINATOR_KEY": str(tmp_path / "env.key")}
    assert key_path(str(tmp_path / "opt.key"), env) == tmp_path / "opt.key"
    assert key_path(None, env) == tmp_path / "env.key"
    with pytest.raises(ProvisioningError) as info:
        key_path(None, {})
    assert "KOKREATIV_COORDINATOR_KEY" in info.value.message


def test_a_malformed_decision_is_refused_before_it_is_signed(tmp_path: Path):
    key = create_coordinator_key(tmp_path / "c.key")
    with pytest.raises(ProvisioningError) as info:
        sign(key, "acknowledge", {"redemption": "r_" + "2" * 32, "reason": "Kim said so"})
    assert info.value.reason == Reason.BAD_FIELD and "reason code" in info.value.message


# -- the CLI against a real server -----------------------------------------------------------------

HOUR_MS = 3_600_000


def balance(server: ServerProcess, card_id: str) -> int:
    with server.admin() as api:  # the card's balance is personal: an admin token reads it (issue 17)
        return int(api.request("GET", f"/v1/cards/{card_id}/balance")["balance"])


def test_coordinator_init_registers_once_and_never_overwrites_the_key(
    cli_env: ServerProcess, capsys, tmp_path: Path, monkeypatch
):
    key_file = tmp_path / "kim.key"
    made = run(capsys, "coordinator", "init", "--name", "Kim", "--key", str(key_file))
    key = load_coordinator_key(key_file)
    assert made["coordinator_id"] == coordinator_id(key.public_key) and made["status"] == "active"
    assert made["key_file"] == str(key_file) and stat.S_IMODE(key_file.stat().st_mode) == 0o600

    seed = key_file.read_bytes()
    error = refused(capsys, "coordinator", "init", "--name", "Kim", "--key", str(key_file))
    assert error.startswith("kokreativ: error: key_exists:") and key_file.read_bytes() == seed
    again = run(capsys, "coordinator", "init", "--name", "Kim", "--key", str(key_file), "--existing")
    assert (again["coordinator_id"], again["created_ms"]) == (made["coordinator_id"], made["created_ms"])

    monkeypatch.setenv("KOKREATIV_COORDINATOR_KEY", str(tmp_path / "lou.key"))
    other = run(capsys, "coordinator", "init", "--name", "Lou")
    assert other["key_file"] == str(tmp_path / "lou.key")
    listed = run(capsys, "coordinator", "list")
    assert {(c["coordinator_id"], c["name"], c["status"]) for c in listed} == {
        (made["coordinator_id"], "Kim", "active"),
        (other["coordinator_id"], "Lou", "active"),
    }


def test_a_refused_init_leaves_no_key_behind(cli_env: ServerProcess, capsys, tmp_path: Path):
    key_file = tmp_path / "long.key"
    assert "kokreativ: error:" in refused(
        capsys, "coordinator", "init", "--name", "x" * 500, "--key", str(key_file)
    )
    assert not key_file.exists()  # never registered, so nothing could depend on it


def test_a_revoked_or_unknown_coordinator_cannot_decide(cli_env: ServerProcess, capsys, tmp_path: Path):
    site = run(capsys, "site", "add", "--name", "Treff", "--tokens-per-hour", "10")
    key_file = tmp_path / "kim.key"
    kim = run(capsys, "coordinator", "init", "--name", "Kim", "--key", str(key_file))
    applied = run(capsys, "rules", "set", site["site_id"], "--key", str(key_file), "--daily-cap", "40")
    assert applied["result"]["daily_cap"] == 40

    revoked = run(capsys, "coordinator", "revoke", kim["coordinator_id"])
    assert revoked["status"] == "revoked"
    error = refused(capsys, "rules", "set", site["site_id"], "--key", str(key_file), "--daily-cap", "50")
    assert error.startswith("kokreativ: error: coordinator_revoked:")

    stranger = tmp_path / "stranger.key"
    create_coordinator_key(stranger)  # made, but never registered
    error = refused(capsys, "rules", "set", site["site_id"], "--key", str(stranger), "--daily-cap", "50")
    assert error.startswith("kokreativ: error: unknown_coordinator:")
    with cli_env.admin() as admin:
        assert admin.get_site(site["site_id"])["daily_cap"] == 40  # neither changed anything
    assert refused(capsys, "coordinator", "revoke", "o_" + "0" * 32).startswith(
        "kokreativ: error: unknown_coordinator:"
    )


def test_rules_set_changes_what_is_given_and_keeps_the_rest(cli_env: ServerProcess, capsys, tmp_path: Path):
    site = run(capsys, "site", "add", "--name", "Treff", "--tokens-per-hour", "10", "--max-shift-hours", "8")
    key = ["--key", str(tmp_path / "kim.key")]
    run(capsys, "coordinator", "init", "--name", "Kim", *key)

    night = "125:Mo-So:22:00-06:00"
    christmas = "200:2026-12-25,2026-12-26"
    answer = run(capsys, "rules", "set", site["site_id"], *key, "--bonus", night, "--holiday", christmas)
    assert answer["kind"] == "site_rules"
    rules = answer["result"]
    assert (rules["tokens_per_hour"], rules["max_shift_hours"], rules["daily_cap"]) == (10, 8, 0)
    assert rules["bonuses"] == [parse_bonus(night), parse_holiday(christmas)]

    rules = run(capsys, "rules", "set", site["site_id"], *key, "--tokens-per-hour", "12")["result"]
    assert rules["tokens_per_hour"] == 12 and rules["bonuses"] == [
        parse_bonus(night),
        parse_holiday(christmas),
    ]
    rules = run(capsys, "rules", "set", site["site_id"], *key, "--no-bonuses")["result"]
    assert (rules["tokens_per_hour"], rules["bonuses"]) == (12, [])
    with cli_env.admin() as admin:
        assert admin.get_site(site["site_id"]) == rules

    assert refused(
        capsys, "rules", "set", site["site_id"], *key, "--no-bonuses", "--bonus", night
    ).startswith("kokreativ: error: bad_field:")
    assert "Xy" in refused(capsys, "rules", "set", site["site_id"], *key, "--bonus", "150:Xy")
    shop = run(capsys, "shop", "add", "--name", "Laden")
    assert "not_a_shop" in refused(capsys, "rules", "set", shop["site_id"], *key, "--daily-cap", "5")


def test_review_approve_reject_and_a_shift_by_hand(cli_env: ServerProcess, capsys, tmp_path: Path):
    site = run(capsys, "site", "add", "--name", "Treff", "--tokens-per-hour", "10")
    cards = [
        run(capsys, "card", "register", "--name", name, "--site", site["site_id"])["card_id"]
        for name in ("Ada", "Bo", "Cem")
    ]
    key = ["--key", str(tmp_path / "kim.key")]
    run(capsys, "coordinator", "init", "--name", "Kim", *key)
    kiosk = cli_env.enrol_signer(site["site_id"])
    now = now_ms()
    cli_env.send(
        kiosk,
        kiosk.event("check_out", cards[0], now - 60_000),  # seq 1: no check-in
        kiosk.event("check_in", cards[1], now - 14 * HOUR_MS),  # seq 2: too long
        kiosk.event("check_out", cards[1], now - 60_000),
        kiosk.event("check_in", cards[2], now - 20 * HOUR_MS),  # seq 4: never checked out
    )
    items = run(capsys, "review", "list", "--json")
    assert [(i["item"], i["reason"], i["ref"]["seq"]) for i in items] == [
        ("shift", "check_out_without_check_in", 1),
        ("shift", "shift_too_long", 2),
        ("shift", "missing_check_out", 4),
    ]
    assert main(["provision", "review", "list"]) == 0
    table = capsys.readouterr().out
    for seq, reason in ((1, "check_out_without_check_in"), (2, "shift_too_long"), (4, "missing_check_out")):
        assert f"{kiosk.kiosk_id}:{seq}" in table and reason in table
    assert "Treff" in table  # sites by name

    start = format_local(now - 3 * HOUR_MS)  # what a coordinator types, to the minute
    approved = run(
        capsys,
        "review",
        "approve",
        f"{kiosk.kiosk_id}:1",
        *key,
        "--reason",
        "forgot_check_in",
        "--start",
        start,
    )
    shift = approved["result"]
    assert (shift["status"], shift["start_ms"]) == ("paid", parse_local_time(start))
    assert shift["tokens"] == shift["minutes"] * 10 // 60 > 0
    assert balance(cli_env, cards[0]) == shift["tokens"]

    rejected = run(capsys, "review", "reject", f"{kiosk.kiosk_id}:2", *key, "--reason", "not_worked")[
        "result"
    ]
    assert (rejected["status"], rejected["tokens"]) == ("rejected", 0)
    assert balance(cli_env, cards[1]) == 0

    # A forgotten check-out needs its end; the server says so in one line.
    error = refused(capsys, "review", "approve", f"{kiosk.kiosk_id}:4", *key, "--reason", "forgot_check_out")
    assert error.startswith("kokreativ: error: bad_field:") and "end" in error
    end = format_local(now - 16 * HOUR_MS)
    paid = run(
        capsys, "review", "approve", f"{kiosk.kiosk_id}:4", *key, "--reason", "forgot_check_out", "--end", end
    )["result"]
    assert paid["status"] == "paid" and paid["end_ms"] == parse_local_time(end)

    assert main(["provision", "review", "list"]) == 0
    assert capsys.readouterr().out == "Nothing to review.\n"
    error = refused(capsys, "review", "reject", f"{kiosk.kiosk_id}:1", *key, "--reason", "not_worked")
    assert error.startswith("kokreativ: error: not_in_review:")
    error = refused(capsys, "review", "reject", f"{kiosk.kiosk_id}:9", *key, "--reason", "not_worked")
    assert error.startswith("kokreativ: error: unknown_shift:")

    before = balance(cli_env, cards[2])
    yesterday = dt.datetime.now(LOCAL_TZ).date() - dt.timedelta(days=1)
    added = run(
        capsys,
        *("shift", "add", "--card", cards[2], "--site", site["site_id"], *key, "--reason", "kiosk_broken"),
        *("--start", f"{yesterday} 10:00", "--end", f"{yesterday} 12:30"),
    )
    assert added["kind"] == "manual_shift"
    assert (added["result"]["source"], added["result"]["minutes"], added["result"]["tokens"]) == (
        "manual",
        150,
        25,
    )
    assert balance(cli_env, cards[2]) == before + 25
    error = refused(
        capsys,
        *("shift", "add", "--card", cards[2], "--site", site["site_id"], *key, "--reason", "kiosk_broken"),
        *("--start", f"{yesterday} 12:30", "--end", f"{yesterday} 10:00"),
    )
    assert error.startswith("kokreativ: error: bad_field:")


def test_an_overdraft_is_listed_and_acknowledged(cli_env: ServerProcess, capsys, tmp_path: Path):
    shop = run(capsys, "shop", "add", "--name", "Café Linden")
    card = run(capsys, "card", "register", "--name", "Ada", "--site", shop["site_id"])["card_id"]
    key = ["--key", str(tmp_path / "kim.key")]
    run(capsys, "coordinator", "init", "--name", "Kim", *key)
    till = cli_env.enrol_signer(shop["site_id"])
    redemption = ids.new_id(ids.REDEMPTION)
    cli_env.send(
        till,
        till.event("redeem", card, now_ms(), data={"amount": 7, "id": redemption, "online": False}),
    )

    (item,) = run(capsys, "review", "list", "--json")
    assert (item["item"], item["redemption_id"], item["amount"], item["balance"]) == (
        "overdraft",
        redemption,
        7,
        -7,
    )
    assert main(["provision", "review", "list"]) == 0
    table = capsys.readouterr().out
    assert "Overdrafts (1)" in table and redemption in table and "Café Linden" in table

    answer = run(capsys, "review", "acknowledge", redemption, *key, "--reason", "confirmed_by_shop")
    assert answer["kind"] == "acknowledge" and answer["result"]["redemption_id"] == redemption
    assert run(capsys, "review", "list", "--json") == []
    assert balance(cli_env, card) == -7  # seen and accepted, not forgiven
    error = refused(capsys, "review", "acknowledge", redemption, *key, "--reason", "confirmed_by_shop")
    assert error.startswith("kokreativ: error: not_in_review:")


def test_a_shift_by_hand_whose_answer_was_lost_is_sent_again_and_pays_once(
    cli_env: ServerProcess, capsys, tmp_path: Path, monkeypatch
):
    site = run(capsys, "site", "add", "--name", "Treff", "--tokens-per-hour", "10")
    card = run(capsys, "card", "register", "--name", "Ada", "--site", site["site_id"])["card_id"]
    key_file = tmp_path / "kim.key"
    run(capsys, "coordinator", "init", "--name", "Kim", "--key", str(key_file))
    pending = pending_dir(key_file)
    yesterday = dt.datetime.now(LOCAL_TZ).date() - dt.timedelta(days=1)
    shift = (
        *("shift", "add", "--card", card, "--site", site["site_id"], "--key", str(key_file)),
        *("--reason", "kiosk_broken", "--start", f"{yesterday} 10:00", "--end", f"{yesterday} 12:30"),
    )

    # The server cannot be reached: the signed decision stays next to the key, and the error says so.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("KOKREATIV_SERVER", dead)
    error = refused(capsys, *shift)
    assert error.startswith("kokreativ: error: server_unreachable:") and "decision resend" in error
    [kept] = list(pending.glob("*.json"))
    monkeypatch.setenv("KOKREATIV_SERVER", cli_env.url)
    assert balance(cli_env, card) == 0

    # It did reach the server after all (the answer was lost on the way back): the server applied it.
    with ApiClient(cli_env.url, admin_token=cli_env.admin_token) as admin:
        first = admin.post_decision(json.loads(kept.read_text()))
    assert first["duplicate"] is False and balance(cli_env, card) == 25

    # Sending it again is safe: the same bytes get the stored answer, and nothing is paid twice.
    [again] = run(capsys, "decision", "resend", "--key", str(key_file))
    assert (again["decision"], again["duplicate"]) == (first["decision"], True)
    assert balance(cli_env, card) == 25
    assert list(pending.glob("*.json")) == []
    assert run(capsys, "decision", "resend", "--key", str(key_file)) == []


def test_a_long_shift_by_hand_waits_until_another_coordinator_cosigns_it(
    cli_env: ServerProcess, capsys, tmp_path: Path
):
    site = run(capsys, "site", "add", "--name", "Treff", "--tokens-per-hour", "10")
    card = run(capsys, "card", "register", "--name", "Ada", "--site", site["site_id"])["card_id"]
    kim, lou = ["--key", str(tmp_path / "kim.key")], ["--key", str(tmp_path / "lou.key")]
    run(capsys, "coordinator", "init", "--name", "Kim", *kim)
    run(capsys, "coordinator", "init", "--name", "Lou", *lou)
    end = now_ms() - HOUR_MS
    times = ["--start", format_local(end - 10 * HOUR_MS), "--end", format_local(end)]
    shift = ["shift", "add", "--card", card, "--site", site["site_id"], *times, "--reason", "no_kiosk"]
    waiting = run(capsys, *shift, *kim)
    assert (waiting["pending"], waiting["reason"], waiting["minutes"]) == (True, "four_eyes_required", 600)
    assert balance(cli_env, card) == 0
    [listed] = run(capsys, "decision", "pending")
    assert (listed["decision"], listed["kind"], listed["minutes"]) == (
        waiting["decision"],
        "manual_shift",
        600,
    )
    error = refused(capsys, "decision", "cosign", waiting["decision"], *kim)
    assert error.startswith("kokreativ: error: cosigner_same_person:")
    applied = run(capsys, "decision", "cosign", waiting["decision"], *lou)
    assert (applied["result"]["minutes"], applied["duplicate"]) == (600, False)
    assert balance(cli_env, card) == 100
    assert run(capsys, "decision", "pending") == []
    error = refused(capsys, "decision", "cosign", waiting["decision"], *lou)
    assert error.startswith("kokreativ: error: not_pending:")
