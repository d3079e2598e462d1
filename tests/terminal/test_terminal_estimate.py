"""The check-out estimate: the site's earning rules from the trust list, paid exactly as the server pays.

The kiosk shows an estimate of the tokens at check-out.  With a v3 trust list it uses the
rules the list carries (rate, bonuses, maximum shift), so the number is what
the server pays for the same taps, short of the daily cap, which only the
server can apply.  A list without rules (v1, v2) leaves it with ``kiosk.toml``.
"""

from __future__ import annotations

import dataclasses
import datetime
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hardware.indicator import RecordingIndicator
from protocol import (
    EarningRules,
    EventKind,
    PrivateKey,
    TrustList,
    ids,
    sign_trust_list,
    verify_trust_list,
)
from protocol.clock import now_ms
from protocol.earning import ZONE, parse_bonuses
from protocol.economy.clocks import CLOCK_MAX_AHEAD_MS
from provisioning.coordinator_keys import sign, site_rules_data
from server.models import Card, CardKind, Shift, ShiftStatus, Site
from server.shifts import Tap as ServerTap
from server.shifts import apply_taps
from terminal.clock import SimulatedClock
from terminal.config import KioskConfig
from terminal.outbox import Outbox
from terminal.sync import SyncClient
from terminal.tap import Kiosk, Outcome
from terminal.trust import TrustStore
from tests.cardfactory import FixedTrust, TestIssuer
from tests.conftest import EnrolledKiosk, ServerProcess
from tests.server.ledger_file import memory_ledger

HOUR_S = 3600
HOUR_MS = HOUR_S * 1000
MINUTE_MS = 60_000
EVERY_DAY = [0, 1, 2, 3, 4, 5, 6]
NIGHT = {"percent": 125, "days": EVERY_DAY, "dates": [], "from": "22:00", "to": "06:00"}
CHRISTMAS = {"percent": 200, "days": [], "dates": ["2025-12-25"], "from": "00:00", "to": "00:00"}


def local_ms(text: str) -> int:
    """The instant of a Europe/Berlin wall-clock time ``YYYY-MM-DD HH:MM``."""
    return int(datetime.datetime.fromisoformat(text).replace(tzinfo=ZONE).timestamp() * 1000)


def _utc_offset(t_ms: int) -> datetime.timedelta | None:
    return datetime.datetime.fromtimestamp(t_ms // 1000, tz=ZONE).utcoffset()


def _local_clock(t_ms: int) -> str:
    return datetime.datetime.fromtimestamp(t_ms // 1000, tz=ZONE).strftime("%H:%M")


def an_evening_after(after_ms: int) -> tuple[int, dict[str, Any]]:
    """A start on a whole minute after ``after_ms`` and a bonus like NIGHT that begins 2 h after it.

    From 20:00, a 6 h shift works 2 h at 100 % and then 4 h in NIGHT (22:00 to 06:00).  A
    kiosk of a server on the real clock cannot always start at 20:00: its shifts must start
    after its enrolment (``before_enrolment``) and end at most 24 h ahead of the server's
    clock.  So the bonus moves instead: 125 % every day from 2 h after the start until 8 h
    after it, as 22:00 to 06:00 is from 20:00.  The start moves on by hours past a
    daylight-saving change, so the local times of those 8 h run as one stretch (a repeated
    hour would put part of the first 2 h in the window).
    """
    start = -(-after_ms // MINUTE_MS) * MINUTE_MS
    while _utc_offset(start) != _utc_offset(start + 8 * HOUR_MS):
        start += HOUR_MS
    bonus = {
        "percent": 125,
        "days": EVERY_DAY,
        "dates": [],
        "from": _local_clock(start + 2 * HOUR_MS),
        "to": _local_clock(start + 8 * HOUR_MS),
    }
    return start, bonus


def with_rules(trust: TrustList, rules: EarningRules | None, server_key: PrivateKey) -> TrustList:
    """``trust`` carrying ``rules``, signed and verified as the kiosk receives it."""
    signed = sign_trust_list(dataclasses.replace(trust, earning=rules), server_key)
    return verify_trust_list(signed, server_key.public_key, kiosk_id=trust.kiosk)


def server_pays(site: Site, start_ms: int, end_ms: int) -> Shift:
    """The shift the server's payroll makes of a check-in at ``start_ms`` and a check-out at ``end_ms``."""
    card, volunteer = ids.new_id(ids.CARD), ids.new_id(ids.VOLUNTEER)
    with memory_ledger() as storage:
        with storage.write() as tx:
            tx.insert_site(site, 0)
            tx.insert_volunteer(volunteer, b"", 0)
            tx.insert_card(Card(card, volunteer, CardKind.CREDENTIAL, 0))
        with storage.write() as tx:
            taps = [
                ServerTap("k", 1, EventKind.CHECK_IN, card, volunteer, start_ms),
                ServerTap("k", 2, EventKind.CHECK_OUT, card, volunteer, end_ms),
            ]
            apply_taps(tx, site, taps, 0)
            (shift,) = tx.shifts_by_volunteer()[volunteer]
    return shift


def site_of(rules: EarningRules, bonuses: list[dict[str, Any]]) -> Site:
    return Site(
        ids.new_id(ids.SITE),
        "Tafel",
        rules.tokens_per_hour,
        rules.max_shift_hours,
        daily_cap=rules.daily_cap,
        bonuses=tuple(bonuses),
    )


def test_a_night_check_out_shows_the_night_bonus_the_server_pays(
    kiosk, trust, clock, card_tap, server_key
) -> None:
    rules = EarningRules(10, bonuses=parse_bonuses([NIGHT]))
    trust.trust = with_rules(trust.trust, rules, server_key)
    clock.set_wall(local_ms("2025-11-28 20:00"))  # a Friday: 2 h at 100 %, then 4 h at 125 %
    card = ids.new_id(ids.CARD)
    start = kiosk.handle_tap(card_tap(card))
    clock.advance(6 * HOUR_S)
    out = kiosk.handle_tap(card_tap(card))
    assert (out.kind, out.shift_minutes) == (Outcome.CHECK_OUT, 360)
    assert out.tokens == (120 * 100 + 240 * 125) * 10 // 6000 == 70  # 60 at kiosk.toml's plain rate
    paid = server_pays(site_of(rules, [NIGHT]), start.wall_ms, out.wall_ms)
    assert (paid.status, paid.minutes, paid.tokens) == (ShiftStatus.PAID, out.shift_minutes, out.tokens)


ISSUER = TestIssuer()
SERVER = PrivateKey.generate()
DST_EVE = [local_ms(day) for day in ("2025-12-24 18:00", "2026-03-28 18:00", "2026-10-24 18:00")]
_clock_text = st.sampled_from(["00:00", "02:30", "06:00", "08:00", "18:00", "22:00", "23:30"])
_bonus = st.builds(
    lambda percent, start, end, days, dates: {
        "percent": percent,
        "days": days,
        "dates": dates,
        "from": start,
        "to": end,
    },
    st.integers(100, 1000),
    _clock_text,
    _clock_text,
    st.lists(st.integers(0, 6), unique=True, max_size=3).map(sorted),
    st.lists(st.sampled_from(["2025-12-25", "2026-03-29", "2026-10-25"]), unique=True, max_size=2).map(
        sorted
    ),
).filter(lambda b: bool(b["days"] or b["dates"]))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    anchor=st.sampled_from(DST_EVE),
    offset_s=st.integers(0, 12 * HOUR_S),
    length_s=st.integers(0, 10 * HOUR_S),
    rate=st.integers(0, 1000),
    bonuses=st.lists(_bonus, max_size=3),
)
def test_the_kiosk_shows_what_the_server_pays_for_any_shift_and_bonuses(
    make_config, anchor: int, offset_s: int, length_s: int, rate: int, bonuses: list[dict[str, Any]]
) -> None:
    rules = EarningRules(rate, bonuses=parse_bonuses(bonuses), max_shift_hours=10)
    with tempfile.TemporaryDirectory() as folder:
        config: KioskConfig = make_config(data_dir=Path(folder))
        clock = SimulatedClock(anchor + offset_s * 1000)
        trust = FixedTrust(with_rules(ISSUER.trust_list(kiosk=config.kiosk_id), rules, SERVER))
        with Outbox(config.outbox_path) as outbox:
            kiosk = Kiosk(
                config=config,
                key=PrivateKey.generate(),
                outbox=outbox,
                clock=clock,
                indicator=RecordingIndicator(),
                trust=trust,
            )
            card = ids.new_id(ids.CARD)
            start = kiosk.handle_tap(ISSUER.tap(card))
            clock.advance(max(length_s, 10))  # past the double-tap window
            out = kiosk.handle_tap(ISSUER.tap(card))
    assert out.kind is Outcome.CHECK_OUT
    paid = server_pays(site_of(rules, bonuses), start.wall_ms, out.wall_ms)
    assert (paid.minutes, paid.tokens) == (out.shift_minutes, out.tokens)


def test_a_list_without_rules_leaves_the_kiosk_with_kiosk_toml(
    kiosk, trust, clock, card_tap, config, server_key
) -> None:
    assert trust.trust.earning is None and config.tokens_per_hour == 10  # a v1/v2 list, or none in it
    card = ids.new_id(ids.CARD)
    kiosk.handle_tap(card_tap(card))
    clock.advance(3 * HOUR_S)
    assert kiosk.handle_tap(card_tap(card)).tokens == 30
    trust.trust = with_rules(trust.trust, EarningRules(60), server_key)
    clock.advance(HOUR_S)
    kiosk.handle_tap(card_tap(card))
    clock.advance(3 * HOUR_S)
    assert kiosk.handle_tap(card_tap(card)).tokens == 180  # the list's rate, not kiosk.toml's


def test_the_rules_at_check_out_count_as_the_server_pays_with_the_rules_when_it_pays(
    kiosk, trust, clock, card_tap, server_key
) -> None:
    card = ids.new_id(ids.CARD)
    trust.trust = with_rules(trust.trust, EarningRules(10), server_key)
    kiosk.handle_tap(card_tap(card))
    trust.trust = with_rules(trust.trust, EarningRules(20), server_key)  # a site_rules decision, synced
    clock.advance(2 * HOUR_S)
    assert kiosk.handle_tap(card_tap(card)).tokens == 40


def test_the_lists_maximum_shift_decides_what_counts_as_abandoned(
    kiosk, trust, clock, card_tap, config, server_key
) -> None:
    assert config.max_shift_hours == 12
    trust.trust = with_rules(trust.trust, EarningRules(10, max_shift_hours=2), server_key)
    card = ids.new_id(ids.CARD)
    kiosk.handle_tap(card_tap(card))
    clock.advance(2 * HOUR_S)
    assert kiosk.handle_tap(card_tap(card)).kind is Outcome.CHECK_OUT  # exactly the maximum
    clock.advance(HOUR_S)
    assert kiosk.handle_tap(card_tap(card)).kind is Outcome.CHECK_IN
    clock.advance(2 * HOUR_S + 1)  # a second longer than the list allows; kiosk.toml would say 12 h
    again = kiosk.handle_tap(card_tap(card))
    assert again.kind is Outcome.CHECK_IN and again.abandoned_start_ms is not None


def test_the_daily_cap_is_not_in_the_estimate(kiosk, trust, clock, card_tap, server_key) -> None:
    rules = EarningRules(10, daily_cap=5)
    trust.trust = with_rules(trust.trust, rules, server_key)
    clock.set_wall(local_ms("2025-11-26 10:00"))
    card = ids.new_id(ids.CARD)
    start = kiosk.handle_tap(card_tap(card))
    clock.advance(2 * HOUR_S)
    out = kiosk.handle_tap(card_tap(card))
    paid = server_pays(site_of(rules, []), start.wall_ms, out.wall_ms)
    # The kiosk cannot know what the volunteer earned elsewhere today: it shows the shift's worth.
    assert out.tokens == paid.uncapped_tokens == 20 and paid.tokens == 5


@given(
    after_ms=st.sampled_from([local_ms("2026-12-06 23:50"), *DST_EVE]).flatmap(
        lambda eve: st.integers(eve, eve + 12 * HOUR_MS)
    )
)
def test_the_end_to_end_evening_is_2_h_plain_then_4_h_of_bonus_whenever_the_test_runs(after_ms: int) -> None:
    """What the end-to-end test below relies on, at any hour it runs: past midnight and DST changes too."""
    start, evening = an_evening_after(after_ms)
    assert after_ms <= start and start + 6 * HOUR_MS <= after_ms + CLOCK_MAX_AHEAD_MS
    rules = EarningRules(12, bonuses=parse_bonuses([evening]))
    paid = server_pays(site_of(rules, [evening]), start, start + 6 * HOUR_MS)
    assert (paid.status, paid.minutes, paid.tokens) == (ShiftStatus.PAID, 360, 84)


def test_end_to_end_a_rule_change_reaches_the_kiosk_and_it_shows_what_the_server_pays(
    enrolled_kiosk: EnrolledKiosk, server_process: ServerProcess
) -> None:
    config, issuer = enrolled_kiosk.config, enrolled_kiosk.issuer
    card = enrolled_kiosk.card_ids[0]
    boss = PrivateKey.generate()
    start_ms, evening = an_evening_after(now_ms())  # after the kiosk's enrolment, by the server's clock
    with server_process.admin() as admin:
        admin.add_coordinator("Grace Hopper", boss.public_key.to_b64())
        data = site_rules_data(admin.get_site(config.site_id), tokens_per_hour=12, bonuses=[evening])
        admin.post_decision(sign(boss, "site_rules", data))
    clock = SimulatedClock(start_ms)
    with Outbox(config.outbox_path) as outbox:
        trust = TrustStore(outbox, server_key=config.server_public_key, kiosk_id=config.kiosk_id)
        enrolled = trust.current()
        assert enrolled is not None and enrolled.earning == EarningRules(10)  # the enrolment answer's list
        kiosk = enrolled_kiosk.tap_kiosk(outbox, clock, trust)
        with SyncClient(config, outbox) as client:  # the default refresh: a new client fetches at once
            assert client.sync_once().ok
        learned = trust.current()
        assert learned is not None and learned.issued_ms > enrolled.issued_ms
        assert learned.earning == EarningRules(12, bonuses=parse_bonuses([evening]))
        assert kiosk.handle_tap(issuer.tap(card)).kind is Outcome.CHECK_IN
        clock.advance(6 * HOUR_S)
        out = kiosk.handle_tap(issuer.tap(card))
        assert out.kind is Outcome.CHECK_OUT
        assert out.tokens == (120 * 100 + 240 * 125) * 12 // 6000 == 84  # 60 under the enrolment rate
        with SyncClient(config, outbox) as client:
            result = client.sync_once()
            assert result.ok and result.pending == 0, result
    with server_process.admin() as admin:
        (shift,) = admin.request("GET", f"/v1/cards/{card}/shifts")["shifts"]
    assert (shift["status"], shift["minutes"], shift["tokens"]) == ("paid", out.shift_minutes, out.tokens)
