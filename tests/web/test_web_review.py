"""The review queue in real Chromium: decisions signed by a non-extractable browser key, four eyes, audit.

A coordinator registers this browser's WebCrypto Ed25519 key, approves a held
shift with a corrected end (``sign.js`` signs the bytes the server prepared),
then records nine hours by hand, which waits until a second person cosigns it
in another browser.  The independent auditor (``kokreativ verify ledger``,
with the auditor's token) then checks the whole log, both signatures included.
"""

from __future__ import annotations

import time
from pathlib import Path

from playwright.sync_api import Browser, Page, expect
from server_helpers import FakeKiosk

from kokreativ.cli import main as kokreativ
from protocol.logentry import parse_entry
from server import accounts
from server.console_review import local_input
from tests.web.conftest import Console, Person

HOUR = 3_600_000
MINUTE = 60_000


def logged_in(page: Page, console: Console, person: Person, *, next_path: str) -> None:
    """A console session for ``person`` in ``page``'s browser, as after password and TOTP (those have
    their own browser tests), then ``next_path``."""
    cookie = accounts.open_console_session(console.ctx, person.person_id, user_agent="test")
    page.context.add_cookies([{"name": "kk_console", "value": cookie, "url": console.url}])
    page.goto(console.url + next_path)


def register_browser(page: Page, console: Console, person: Person) -> None:
    logged_in(page, console, person, next_path="/console/account/device")
    page.get_by_role("button", name="Diesen Browser registrieren").click()
    expect(page.locator("p.flash")).to_contain_text("Dieser Browser kann jetzt")
    expect(page.locator("[data-this-browser]")).to_be_visible()


def held_shift(console: Console, card: str, start_ms: int) -> FakeKiosk:
    """A check-in long ago and no check-out: held for review (``missing_check_out`` or a kiosk limit)."""
    kiosk = console.api.enrol_kiosk(console.site_a)
    response = console.api.send(kiosk.kiosk_id, [kiosk.event("check_in", card, start_ms)])
    assert response.status_code == 200, response.text
    return kiosk


def test_a_browser_signed_review_and_a_cosigned_long_shift_pass_the_auditor(
    console: Console, browser: Browser, page: Page, tmp_path: Path
) -> None:
    card = console.api.create_card(site_id=console.site_a)["card_id"]
    now = int(time.time() * 1000) // MINUTE * MINUTE
    start = now - 13 * HOUR
    kiosk = held_shift(console, card, start)
    kim = console.person(["review", "decide"], name="Kim Koordination")
    register_browser(page, console, kim)

    # The key is the browser's: WebCrypto refuses to export it, to this page as to anyone.
    exported = page.evaluate(
        """async (personId) => {
          const db = await new Promise((ok) => {
            const q = indexedDB.open("kokreativ", 1);
            q.onsuccess = () => ok(q.result);
          });
          const rec = await new Promise((ok) => {
            const q = db.transaction("keys").objectStore("keys").get(personId);
            q.onsuccess = () => ok(q.result);
          });
          const extractable = rec.privateKey.extractable;
          try { await crypto.subtle.exportKey("pkcs8", rec.privateKey); return [extractable, "exported"]; }
          catch (e) { return [extractable, e.name]; }
        }""",
        kim.person_id,
    )
    assert exported == [False, "InvalidAccessError"]

    page.goto(f"{console.url}/console/review")
    shift = page.locator("article.item").filter(has=page.locator("form.decide")).first
    approve = shift.locator("form.decide").first
    approve.locator("input[name=end_ms]").fill(local_input(start + 4 * HOUR))
    approve.get_by_label("Grund").select_option("forgot_check_out")
    approve.get_by_role("button", name="Freigeben").click()
    expect(page.locator("p.flash")).to_contain_text("4.0 Stunden gearbeitet, 40 Token gutgeschrieben")
    expect(page.get_by_text("Keine angehaltenen Schichten.")).to_be_visible()

    # Nine hours by hand: more than the four-eyes threshold (8 h), so it waits for a second person.
    begin = now - 40 * HOUR
    page.goto(
        f"{console.url}/console/hours/new?card={card}&site={console.site_a}"
        f"&start={local_input(begin)}&end={local_input(begin + 9 * HOUR)}&reason=no_kiosk"
    )
    page.get_by_role("button", name="Unterschreiben und verbuchen").click()
    expect(page.locator("p.flash")).to_contain_text("zweite Person")
    page.goto(f"{console.url}/console/review/pending")
    expect(page.get_by_text("Diese haben Sie unterschrieben")).to_be_visible()
    assert page.get_by_role("button", name="Mitzeichnen").count() == 0
    assert console.api.balance(card) == 40

    second = browser.new_context(viewport={"width": 768, "height": 1024}, locale="de-DE")
    try:
        lea_page = second.new_page()
        lea = console.person(["review", "decide"], name="Lea Leitung")
        register_browser(lea_page, console, lea)
        lea_page.goto(f"{console.url}/console/review/pending")
        lea_page.get_by_role("button", name="Mitzeichnen").click()
        expect(lea_page.locator("p.flash")).to_contain_text("9.0 Stunden gearbeitet, 90 Token gutgeschrieben")
    finally:
        second.close()
    assert console.api.balance(card) == 130

    with console.ctx.storage.read() as tx:
        entries = [parse_entry(tx.tlog_entry(i) or b"") for i in range(tx.tlog_size())]
    decisions = [e for e in entries if e["kind"] == "decision"]
    assert [("cosig" in e) for e in decisions] == [False, True]

    token = tmp_path / "auditor.token"
    token.write_text(console.api.admin_token)
    key = str(kiosk.enrolment["log_verifier_key"])  # as the programme publishes it
    audit = ["--state", str(tmp_path / "audit"), "--workers", "1", "--json"]
    code = kokreativ(["verify", "ledger", console.url, "--key", key, "--auditor-token", str(token), *audit])
    assert code == 0


def test_rules_signed_in_the_browser_then_obvious_shifts_approved_in_bulk(
    console: Console, page: Page
) -> None:
    kim = console.person(["review", "decide"], name="Kim Koordination")
    register_browser(page, console, kim)
    page.goto(f"{console.url}/console/rules?site={console.site_a}")
    rules = page.locator("form[data-sign=site_rules]")
    rules.get_by_label("Längste plausible Schicht (Stunden)").fill("4")
    rules.get_by_label("Token pro Stunde").fill("12")
    rules.get_by_role("button", name="Regeln unterschreiben").click()
    expect(page.locator("p.flash")).to_contain_text("Unterschrieben und verbucht.")
    expect(page.locator("table")).to_contain_text("max_shift_hours=4")

    card = console.api.create_card(site_id=console.site_a)["card_id"]
    kiosk = console.api.enrol_kiosk(console.site_a)
    now = int(time.time() * 1000) // MINUTE * MINUTE
    taps = []
    for day in (3, 2):  # two five-hour shifts: longer than the new maximum, so both are held
        start = now - day * 24 * HOUR
        taps += [kiosk.event("check_in", card, start), kiosk.event("check_out", card, start + 5 * HOUR)]
    assert console.api.send(kiosk.kiosk_id, taps).status_code == 200
    page.goto(f"{console.url}/console/review")
    bulk = page.locator("form[data-sign=bulk]")
    assert bulk.locator("input[type=checkbox]:checked").count() == 2
    bulk.get_by_role("button", name="Ausgewählte freigeben").click()
    expect(page.get_by_text("Keine angehaltenen Schichten.")).to_be_visible()
    assert console.api.balance(card) == 2 * 5 * 12

    # A refusal is explained on the form in German, with its reason code; nothing is recorded.
    page.goto(f"{console.url}/console/hours/new?card=c_{'0' * 32}&site={console.site_a}")
    hours = page.locator("form[data-sign=manual_shift]")
    hours.get_by_label("Beginn").fill(local_input(now - 3 * HOUR))
    hours.get_by_label("Ende").fill(local_input(now - HOUR))
    hours.get_by_role("button", name="Unterschreiben und verbuchen").click()
    expect(hours.locator("[data-sign-status]")).to_contain_text("Nicht gefunden")
    expect(hours.locator("[data-sign-status]")).to_contain_text("(unknown_card)")
    assert console.api.balance(card) == 2 * 5 * 12
