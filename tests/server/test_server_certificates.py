"""Eligibility, prior engagement and hours certificates (issue 18, page 7), at service level and over HTTP.

Real server on loopback, real SQLite, decisions signed with real coordinator
keys as a coordinator's laptop (or browser) signs them; certificates checked
offline with :mod:`protocol.certificates` and by the public route.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from server_helpers import HOUR, T0, Api, assert_error

from protocol import PrivateKey, coordinator_id, sign_decision
from protocol.certificates import CertificatePayload, parse_payload, verify_certificate
from protocol.decisions import committed_decision
from protocol.logentry import parse_entry
from protocol.note import NoteVerifier
from server import certificates, eligibility
from server.eligibility import Status, Thresholds, day_start_ms
from server.errors import ServiceError
from server.principals import ADMIN_TOKEN

DAY = datetime.date(2025, 11, 29)  # the local day of T0
YEAR1 = (datetime.date(2024, 11, 30), DAY)  # rolling year 1 on DAY: 365 local days ending with it
YEAR2 = (datetime.date(2023, 12, 1), datetime.date(2024, 11, 29))


def span(days: tuple[datetime.date, datetime.date]) -> tuple[int, int]:
    return day_start_ms(days[0]), day_start_ms(days[1] + datetime.timedelta(days=1))


class Coordinator:
    def __init__(self, api: Api) -> None:
        self.api, self.key = api, PrivateKey.generate()
        body = {"name": "Grace Hopper", "public_key": self.key.public_key.to_b64()}
        api.admin("POST", "/v1/admin/coordinators", body, expect=201)

    def wire(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        decision, opening = committed_decision(
            kind, coordinator_id(self.key.public_key), self.api.clock.now, data
        )
        return sign_decision(decision, self.key, opening)

    def post(self, kind: str, data: dict[str, Any]) -> Any:
        return self.api.admin("POST", "/v1/admin/decisions", self.wire(kind, data))

    def prior(self, card: str, site: str, days: tuple[datetime.date, datetime.date], hours: int) -> Any:
        start, end = span(days)
        data = {"card": card, "site": site, "from_ms": start, "to_ms": end, "minutes": hours * 60}
        response = self.post("prior_hours", {**data, "reason": "paper_list"})
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def boss(api: Api) -> Coordinator:
    return Coordinator(api)


# -- prior engagement ------------------------------------------------------------------------------
def test_prior_hours_are_logged_signed_and_pay_no_tokens(api: Api, boss: Coordinator) -> None:
    site = api.create_site()["site_id"]
    card = api.create_card("Ada Lovelace", site_id=site)
    answer = boss.prior(card["card_id"], site, YEAR2, 300)
    assert answer["kind"] == "prior_hours"
    assert answer["result"]["minutes"] == 18_000
    assert answer["result"]["volunteer_id"] == card["volunteer_id"]
    assert api.balance(card["card_id"]) == 0  # hours only
    assert api.shifts(card["card_id"]) == []
    with api.context.storage.read() as tx:
        entry = parse_entry(tx.tlog_entry(answer["log_index"]) or b"")
        assert [p.minutes for p in tx.prior_hours_of(card["volunteer_id"])] == [18_000]
    assert entry["kind"] == "decision" and card["card_id"].encode() not in entry["body"]  # a ref, no card


def test_prior_hours_are_refused_without_a_card_site_or_a_period_that_holds_them(
    api: Api, boss: Coordinator
) -> None:
    site = api.create_site()["site_id"]
    created = api.create_card("Ada", site_id=site)
    card = created["card_id"]
    start, end = span(YEAR2)
    good = {
        "card": card,
        "site": site,
        "from_ms": start,
        "to_ms": end,
        "minutes": 600,
        "reason": "paper_list",
    }
    assert_error(boss.post("prior_hours", {**good, "card": "c_" + "0" * 32}), 404, "unknown_card")
    assert_error(boss.post("prior_hours", {**good, "site": "s_" + "0" * 32}), 404, "unknown_site")
    assert_error(boss.post("prior_hours", {**good, "to_ms": start + 9 * HOUR}), 400, "bad_field")
    assert_error(boss.post("prior_hours", {**good, "to_ms": start}), 400, "bad_field")
    assert_error(boss.post("prior_hours", {**good, "to_ms": T0 + 48 * HOUR}), 400, "bad_field")
    with api.context.storage.read() as tx:
        assert tx.prior_hours_of(created["volunteer_id"]) == []


# -- eligibility -----------------------------------------------------------------------------------
def test_who_qualifies_who_is_close_scoped_to_sites(api: Api, boss: Coordinator) -> None:
    a, b = api.create_site()["site_id"], api.create_site()["site_id"]
    keeps = api.create_card("Keeps", site_id=a)  # 260 h in each of two years: qualifies
    close = api.create_card("Close", site_id=a)  # 210 h and 260 h: close (80 % is 200 h)
    fresh = api.create_card("Fresh", site_id=a)  # 300 h this year only: not yet
    other = api.create_card("Other", site_id=b)  # qualifies, at site B
    for card, first, second in ((keeps, 260, 260), (close, 260, 210), (fresh, 300, 0), (other, 260, 260)):
        boss.prior(card["card_id"], a, YEAR1, first)
        if second:
            boss.prior(card["card_id"], a, YEAR2, second)
    report = eligibility.eligibility(api.context, day=DAY, sites=frozenset({a}))
    by_id = {row.volunteer_id: row for row in report.rows}
    assert other["volunteer_id"] not in by_id
    assert by_id[keeps["volunteer_id"]].status is Status.QUALIFIES
    assert by_id[keeps["volunteer_id"]].years_kept == 2
    assert by_id[keeps["volunteer_id"]].minutes_this_year == 260 * 60
    assert by_id[close["volunteer_id"]].status is Status.CLOSE
    assert by_id[fresh["volunteer_id"]].status is Status.NOT_YET
    assert [r.volunteer_id for r in report.listed()] == [keeps["volunteer_id"], close["volunteer_id"]]
    everyone = eligibility.eligibility(api.context, day=DAY, sites=None)
    assert {r.volunteer_id for r in everyone.listed()} == {
        keeps["volunteer_id"],
        close["volunteer_id"],
        other["volunteer_id"],
    }
    # Three years required (some sources): nobody has them.
    strict = eligibility.eligibility(api.context, day=DAY, thresholds=Thresholds(years_required=3))
    assert all(r.status is not Status.QUALIFIES for r in strict.rows)


def test_shift_hours_count_and_prior_engagement_counts_pro_rata(api: Api, boss: Coordinator) -> None:
    site = api.create_site()["site_id"]
    card = api.create_card("Ada", site_id=site)
    boss.post(
        "manual_shift",
        {
            "card": card["card_id"],
            "site": site,
            "start_ms": T0 - 5 * HOUR,
            "end_ms": T0 - 2 * HOUR,
            "reason": "paper_list",
        },
    )
    # 100 h over two rolling years, half in each.
    start, end = span((YEAR2[0], YEAR1[1]))
    data = {"card": card["card_id"], "site": site, "from_ms": start, "to_ms": end, "minutes": 6000}
    assert boss.post("prior_hours", {**data, "reason": "paper_list"}).status_code == 200
    row = eligibility.eligibility(api.context, day=DAY).rows[0]
    assert row.years[:2] == (3 * 60 + 3000, 3000)


def test_thresholds_are_settings_and_refuse_nonsense(context) -> None:
    with context.storage.read() as tx:
        assert eligibility.read_thresholds(tx) == Thresholds(5, 250, 2, 80)
    assert Thresholds(5, 250, 2, 80).year_minutes == 15_000  # 250 h is lower than 5 h × 365 / 7
    assert Thresholds(5, 0, 2, 80).year_minutes == 15_643
    eligibility.set_thresholds(
        context.storage, Thresholds(hours_per_week=5, hours_per_year=0, years_required=3)
    )
    with context.storage.read() as tx:
        assert eligibility.read_thresholds(tx).years_required == 3
    for bad in ({"hours_per_week": 0, "hours_per_year": 0}, {"years_required": 0}, {"close_percent": 100}):
        with pytest.raises(ServiceError):
            Thresholds(**bad)


# -- certificates ----------------------------------------------------------------------------------
def _issued(api: Api, boss: Coordinator) -> tuple[certificates.IssuedCertificate, str]:
    site = api.create_site()["site_id"]
    card = api.create_card("Erika Müller", site_id=site)
    boss.prior(card["card_id"], site, YEAR1, 250)
    issued = certificates.issue_certificate(
        api.context, volunteer_id=card["volunteer_id"], from_day=YEAR1[0], to_day=YEAR1[1], by=ADMIN_TOKEN
    )
    return issued, card["volunteer_id"]


def verifier(api: Api) -> NoteVerifier:
    return NoteVerifier.parse(api.admin("GET", "/v1/log/key", expect=200).json()["verifier_key"])


def test_a_certificate_is_a_log_entry_without_card_or_volunteer_and_verifies_offline(
    api: Api, boss: Coordinator
) -> None:
    issued, volunteer = _issued(api, boss)
    assert issued.minutes == 250 * 60 and issued.name == "Erika Müller"
    with api.context.storage.read() as tx:
        logged = tx.tlog_entry(issued.index)
        assert [c.log_index for c in tx.certificates_of(volunteer)] == [issued.index]
        assert [c.issued_by for c in tx.certificates_of(volunteer)] == [ADMIN_TOKEN.name]
    assert logged == issued.entry
    assert volunteer.encode() not in logged and b"Erika" not in logged
    facts = verify_certificate(issued.payload, [verifier(api)], name="Erika Müller", salt=issued.salt)
    assert (facts.from_day, facts.to_day, facts.minutes) == (*YEAR1, 15_000)
    with pytest.raises(Exception) as caught:
        verify_certificate(issued.payload, [verifier(api)], name="Erika Mueller", salt=issued.salt)
    assert caught.value.reason.value == "certificate_name_mismatch"  # type: ignore[attr-defined]


def test_the_public_check_agrees_with_the_live_log(api: Api, boss: Coordinator) -> None:
    issued, _ = _issued(api, boss)
    boss.prior(api.create_card("Later")["card_id"], api.home_site(), YEAR2, 1)  # the log grows
    ok = api.http.get(
        "/v1/log/certificates/check",
        params={"payload": issued.payload, "name": issued.name, "salt": issued.salt},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["valid"] is True and ok.json()["name_checked"] is True
    assert ok.json()["certificate"]["minutes"] == 15_000
    facts_only = api.http.get("/v1/log/certificates/check", params={"payload": issued.url("http://x")})
    assert facts_only.json()["name_checked"] is False
    wrong = api.http.get(
        "/v1/log/certificates/check", params={"payload": issued.payload, "name": "Max", "salt": issued.salt}
    )
    assert_error(wrong, 400, "certificate_name_mismatch")
    assert_error(
        api.http.get("/v1/log/certificates/check", params={"payload": "xyz"}), 400, "bad_certificate"
    )
    assert_error(api.http.get("/v1/log/certificates/check"), 400, "bad_field")


def test_a_certificate_the_live_log_does_not_hold_is_refused(api: Api, boss: Coordinator, context) -> None:
    issued, _ = _issued(api, boss)
    payload = parse_payload(issued.payload)
    # Signed by the server, but for a log the live one is not (an entry the server never kept): a fork.
    from protocol.checkpoint import Checkpoint, sign_checkpoint
    from protocol.merkle import leaf_hash

    forged = sign_checkpoint(
        Checkpoint("kokreativ.local/ledger", 1, leaf_hash(payload.entry)), context.server_key
    )
    fork = CertificatePayload(payload.entry, 0, (), forged).encode()
    answer = api.http.get(
        "/v1/log/certificates/check", params={"payload": fork, "name": issued.name, "salt": issued.salt}
    )
    assert_error(answer, 409, "certificate_not_in_log")


def test_issuing_refuses_unknown_people_and_odd_periods(context) -> None:
    with pytest.raises(ServiceError) as caught:
        certificates.issue_certificate(context, volunteer_id="v_" + "0" * 32, from_day=YEAR1[0], to_day=DAY)
    assert caught.value.reason.value == "unknown_volunteer"
    for first, last in ((DAY, YEAR1[0]), (DAY, DAY + datetime.timedelta(days=1))):
        with pytest.raises(ServiceError) as caught:
            certificates.issue_certificate(context, volunteer_id="v_" + "0" * 32, from_day=first, to_day=last)
        assert caught.value.reason.value == "bad_field"


def test_the_pdf_carries_the_qr_url_that_verifies_and_a_printable_qr_code(
    api: Api, boss: Coordinator
) -> None:
    import io

    import pypdf

    from server.certificatepdf import qr_facts, render_certificate

    issued, _ = _issued(api, boss)
    pdf = render_certificate(issued, base_url=api.base_url, site_name="Repair-Café")
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    text = reader.pages[0].extract_text()
    assert "Erika Müller" in text and issued.salt in text and "250 Stunden" in text
    links = [a.get_object()["/A"]["/URI"] for a in reader.pages[0]["/Annots"]]
    assert links == [issued.url(api.base_url)]
    verify_certificate(links[0], [verifier(api)], name="Erika Müller", salt=issued.salt)
    facts = qr_facts(issued.url("https://ledger.example.org"))
    assert facts.version <= 25, facts  # 117 modules a side: 0.7 mm each at 8 cm, fine for a phone


def test_the_thresholds_are_changed_with_the_cli(data_dir, capsys) -> None:
    import json

    from kokreativ.cli import main

    folder = str(data_dir[0])
    assert main(["server", "eligibility", "--data", folder]) == 0
    assert json.loads(capsys.readouterr().out)["years_required"] == 2
    assert main(["server", "eligibility", "--data", folder, "--years-required", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["years_required"] == 3
    assert main(["server", "eligibility", "--data", folder, "--close-percent", "100"]) == 2
    assert capsys.readouterr().err.startswith("kokreativ: error: bad_field:")
    assert main(["server", "eligibility", "--data", folder]) == 0
    assert json.loads(capsys.readouterr().out)["close_percent"] == 80  # the refused change changed nothing


def test_verify_certificate_help_has_an_example(capsys) -> None:
    from kokreativ.cli import main

    with pytest.raises(SystemExit):
        main(["verify", "certificate", "--help"])
    assert "kokreativ verify certificate --key" in capsys.readouterr().out


HOSTILE = (
    "9" * 5000,
    "-1",
    "",
    "\x00",
    "١٢٣",
    "[]",
    "{}",
    "%ZZ",
    "A" * 9000,
    "?p=",
    "https://x/nachweis#p=AAAA",
)


def test_hostile_queries_to_the_check_route_and_page_are_refused_below_500(api: Api) -> None:
    for value in HOSTILE:
        for params in ({"payload": value}, {"payload": value, "name": value, "salt": value}, {"x": value}):
            answer = api.http.get("/v1/log/certificates/check", params=params)
            assert 400 <= answer.status_code < 500, (params, answer.text[:200])
            assert set(answer.json()) == {"error"}
            page = api.http.get("/nachweis", params={"p": value, "name": value, "salt": value})
            assert page.status_code == 200, (value, page.text[:200])


def test_the_person_export_lists_their_certificates_and_prior_hours(api: Api, boss: Coordinator) -> None:
    from server.personexport import export_person

    issued, volunteer = _issued(api, boss)
    exported = export_person(api.context, volunteer)
    assert [row["log_index"] for row in exported["certificates"]] == [issued.index]
    assert [row["minutes"] for row in exported["prior_hours"]] == [250 * 60]


def test_a_day_out_of_any_plausible_range_is_refused_not_a_crash(context) -> None:
    for day in (datetime.date(1, 1, 1), datetime.date(9999, 12, 31)):
        with pytest.raises(ServiceError) as caught:
            eligibility.eligibility(context, day=day)
        assert caught.value.reason.value == "bad_field"
    with pytest.raises(ServiceError):
        certificates.issue_certificate(
            context,
            volunteer_id="v_" + "0" * 32,
            from_day=datetime.date(1, 1, 1),
            to_day=datetime.date(1, 1, 2),
        )
