"""Ehrenamtskarte in a real browser: who qualifies, a certificate PDF whose QR URL verifies on /nachweis.

The prior engagement that makes the volunteer qualify is a ``prior_hours``
decision signed in Python with a registered coordinator key (the browser's
signing is H3's ``sign.js``); everything else is the console and the public page.
"""

from __future__ import annotations

import datetime
import io
import re
import subprocess
import sys
from pathlib import Path

import pypdf
from playwright.sync_api import Page

from protocol import PrivateKey, coordinator_id, sign_decision
from protocol.decisions import committed_decision
from server import coordinator_keys, decisions
from server.eligibility import day_start_ms, local_today
from tests.web.conftest import Console, logged_in

NAME = "Erika Müller-Lüdenscheidt"


def _qualifying_volunteer(console: Console) -> str:
    """A volunteer at site A with 260 hours in each of the last two rolling years (prior engagement)."""
    card = console.api.create_card(NAME, site_id=console.site_a)
    key = PrivateKey.generate()
    coordinator_keys.register_coordinator(
        console.ctx, {"name": "Grace", "public_key": key.public_key.to_b64()}
    )
    today = local_today(console.ctx.now_ms())
    for back in (0, 1):
        last = today - datetime.timedelta(days=365 * back)
        first = last - datetime.timedelta(days=364)
        data = {
            "card": card["card_id"],
            "site": console.site_a,
            "from_ms": day_start_ms(first),
            "to_ms": day_start_ms(last + datetime.timedelta(days=1)),
            "minutes": 260 * 60,
            "reason": "paper_list",
        }
        decision, opening = committed_decision(
            "prior_hours", coordinator_id(key.public_key), console.ctx.now_ms(), data
        )
        decisions.submit_decision(console.ctx, sign_decision(decision, key, opening))
    return str(card["volunteer_id"])


def test_a_certificate_pdf_verifies_on_the_public_page_and_with_the_cli(page: Page, console: Console) -> None:
    volunteer = _qualifying_volunteer(console)
    person = console.person(["reports", "read_personal", "decide"])
    logged_in(page, console, person, next_path="/console/eligibility")
    page.goto(f"{console.url}/console/eligibility")
    row = page.locator("tr", has_text=NAME)
    assert "erfüllt" in row.inner_text()
    row.get_by_role("link", name="Nachweis ausstellen").click()
    page.wait_for_url(f"**/console/certificates/{volunteer}")
    with page.expect_download() as download:
        page.get_by_role("button", name="Nachweis ausstellen (PDF)").click()
    pdf = pypdf.PdfReader(io.BytesIO(Path(download.value.path()).read_bytes()))
    text = pdf.pages[0].extract_text()
    salt = re.search(r"\b[0-9a-f]{32}\b", text)
    assert salt is not None and NAME in text
    url = pdf.pages[0]["/Annots"][0].get_object()["/A"]["/URI"]
    assert url.startswith(f"{console.url}/nachweis?p=")
    with console.ctx.storage.read() as tx:  # who issued it, in the activity log (not the public one)
        done = tx.activity(action="certificate_issued")
    assert [(a.person_id, a.object_id, a.site_id) for a in done] == [
        (person.person_id, volunteer, console.site_a)
    ]

    # The employer: opens the QR code's URL, types name and Prüfcode from the paper.
    employer = page.context.browser.new_page(locale="de-DE")  # type: ignore[union-attr]  # no login
    employer.goto(url)
    employer.fill("#f-name", NAME)
    employer.fill("#f-salt", salt.group(0))
    employer.get_by_role("button", name="Prüfen").click()
    assert employer.locator("#verdict h2").inner_text() == "Der Nachweis ist echt."
    assert "260 Stunden" in employer.locator("#verdict").inner_text()
    employer.fill("#f-name", "Erika Mueller-Luedenscheidt")
    employer.get_by_role("button", name="Prüfen").click()
    assert employer.locator("#verdict h2").inner_text() == "Der Nachweis konnte nicht bestätigt werden."
    employer.close()

    # The prior engagement form is there for the browser to sign (sign.js, by markup only).
    page.goto(f"{console.url}/console/certificates/{volunteer}/prior")
    form = page.locator('form[data-sign="prior_hours"]')
    assert form.count() == 1 and form.locator("select[name=card] option").count() == 1

    # Offline, with the log's verifier key and no server.
    key = console.api.http.get("/v1/log/key").json()["verifier_key"]
    cli = [sys.executable, "-m", "kokreativ", "verify", "certificate", "--payload", url, "--key", key]
    ok = subprocess.run([*cli, "--name", NAME, "--salt", salt.group(0)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "260" in ok.stdout
    bad = subprocess.run([*cli, "--name", "Erika", "--salt", salt.group(0)], capture_output=True, text=True)
    assert bad.returncode != 0 and "certificate_name_mismatch" in bad.stderr


def test_a_coordinator_of_site_b_sees_nobody_of_site_a(page: Page, console: Console) -> None:
    volunteer = _qualifying_volunteer(console)
    person = console.person(["reports", "read_personal"], scope=None, name="Bea B")
    from server import accounts

    other = console.person(
        ["reports", "read_personal"], scope=accounts.TeamScope("sites", (console.site_b,)), name="Bo B"
    )
    del person
    logged_in(page, console, other, next_path="/console/eligibility")
    page.goto(f"{console.url}/console/eligibility")
    assert NAME not in page.content()
    answer = page.goto(f"{console.url}/console/certificates/{volunteer}")
    assert answer is not None and answer.status == 404
