"""Receipts and the transparency log, checked in Chromium (``static/verify.js``) against a real server.

One module-scoped server holds a small real log: two volunteers' cards, a
kiosk's sealed taps and a block.  The browser must accept every real entry and
each of Ada's receipts with its opening, agree with ``protocol.merkle`` and
``protocol.encoding`` on hashes, roots and canonical bytes, and refuse what a
lying server could send (a changed proof, entry or signature, another key,
somebody else's opening): Playwright rewrites the real server's answers.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape
from playwright.sync_api import Page, Route
from server_helpers import HOUR, T0, Api, FakeClock

from protocol import EventKind, PrivateKey
from protocol.checkpoint import Checkpoint, format_tlog_proof, sign_checkpoint
from protocol.encoding import canonical_json
from protocol.merkle import leaf_hash, reference_root
from protocol.note import NoteVerifier
from server.app import create_app
from server.context import ServerContext
from server.datadir import init_data_dir, open_data_dir
from server.runner import serve_in_thread
from server.web.verify import MESSAGES


@dataclass
class Ledger:
    """The running server, its admin API, and Ada's access secret and entries."""

    url: str
    ctx: ServerContext
    api: Api
    ada_secret: str
    entries: list[bytes]


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    data = tmp_path_factory.mktemp("verify") / "data"
    init = init_data_dir(data)
    with open_data_dir(data) as ctx, serve_in_thread(create_app(ctx)) as url:
        api = Api(url, init.admin_token, ctx, FakeClock())
        try:
            ada, bob = api.create_card("Ada Lovelace"), api.create_card("Bob")
            spare = api.create_card(volunteer_id=ada["volunteer_id"])
            kiosk = api.enrol_kiosk(api.home_site())
            taps = [
                kiosk.event(EventKind.CHECK_IN, ada["card_id"], T0),
                kiosk.event(EventKind.CHECK_IN, bob["card_id"], T0 + 1),
                kiosk.event(EventKind.CHECK_OUT, ada["card_id"], T0 + 2 * HOUR),
            ]
            assert api.send(kiosk.kiosk_id, taps).status_code == 200
            api.block(spare["card_id"])
            with ctx.storage.read() as tx:
                entries = tx.tlog_entry_range(0, tx.tlog_size())
            yield Ledger(url, ctx, api, ada["access_secret"], entries)
        finally:
            api.close()


def _outcome(page: Page, holder: str) -> str:
    """The outcome code verify.js wrote into ``holder``'s result, once it has one."""
    result = page.locator(f"{holder} [data-kk-verify-result]")
    page.wait_for_function(
        "el => el.dataset.kkVerifyOutcome && el.dataset.kkVerifyOutcome !== 'checking'",
        arg=result.element_handle(),
    )
    return str(result.get_attribute("data-kk-verify-outcome"))


def _check(page: Page, index: int | str, key: str | None = None) -> str:
    page.fill("#f-index", str(index))
    if key is not None:
        page.fill("#f-key", key)
    page.locator("[data-kk-verify-result]").evaluate("el => el.removeAttribute('data-kk-verify-outcome')")
    page.click("form[data-kk-verify-form] button[type=submit]")
    return _outcome(page, "form[data-kk-verify-form]")


def _rewrite(page: Page, pattern: str, change: Callable[[dict[str, Any]], None]) -> None:
    """Answer ``pattern`` with the real server's JSON after ``change``: a server that lies."""

    def handle(route: Route) -> None:
        answer = route.fetch().json()
        change(answer)
        route.fulfill(status=200, content_type="application/json", body=json.dumps(answer))

    page.route(pattern, handle)


def _flip(text: str) -> str:
    """``text`` (base64) with one bit of its first byte changed."""
    raw = bytearray(base64.b64decode(text))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def test_the_check_page_shows_the_signed_state_and_checks_any_entry(ledger: Ledger, page: Page) -> None:
    page.goto(f"{ledger.url}/pruefen")
    served = ledger.api.http.get("/checkpoint").text
    assert (
        page.locator("#checkpoint").inner_text() + "\n" == served
        or page.locator("#checkpoint").inner_text() == served
    )
    assert page.locator("#checkpoint-size").inner_text() == str(len(ledger.entries))
    for index in range(len(ledger.entries)):
        assert _check(page, index) == "ok_entry"
    text = page.locator("[data-kk-verify-result]").inner_text()
    assert f"Eintrag {len(ledger.entries) - 1} steht im öffentlichen Protokoll" in text
    assert _check(page, len(ledger.entries)) == "not_found"
    assert _check(page, "zwei") == "bad_index"
    page.goto(f"{ledger.url}/pruefen?index=2")  # a link to one entry: checked as the page opens
    assert _outcome(page, "form[data-kk-verify-form]") == "ok_entry"
    assert page.locator("#entry-proof").inner_text().startswith("c2sp.org/tlog-proof@v1\nindex 2\n")


def test_without_javascript_the_page_answers_the_entry_and_its_proof(ledger: Ledger) -> None:
    http = ledger.api.http
    page = http.get("/pruefen", params={"index": "3"})
    assert page.status_code == 200 and page.headers["content-security-policy"].startswith(
        "default-src 'self'"
    )
    proof = http.get("/v1/log/entries/3/proof").text
    assert str(escape(proof)) in page.text
    assert str(escape(json.dumps(json.loads(ledger.entries[3]), indent=2))) in page.text
    for index in (str(len(ledger.entries)), "-1", "x" * 500, "1" * 40, "\x00", "3.0"):
        answer = http.get("/pruefen", params={"index": index})
        assert answer.status_code == 200 and 'id="entry-missing"' in answer.text, index
    german = http.get("/pruefen/meldungen/de").json()
    assert german["ok_entry"].startswith("Geprüft.") and set(german) == set(MESSAGES)
    assert http.get("/pruefen/meldungen/xx").status_code == 404


def test_the_browser_agrees_with_the_python_implementation(ledger: Ledger, page: Page) -> None:
    page.goto(f"{ledger.url}/pruefen")
    leaves = [leaf_hash(entry) for entry in ledger.entries]
    cases = []
    for size in range(1, len(leaves) + 1):
        for index in range(size):
            proof = ledger.api.http.get(f"/v1/log/inclusion?index={index}&size={size}").json()["hashes"]
            cases.append(
                {
                    "index": index,
                    "size": size,
                    "leaf": base64.b64encode(leaves[index]).decode(),
                    "proof": proof,
                }
            )
    computed = page.evaluate(
        """async ({entries, cases}) => {
            const k = window.kkVerify;
            const leaves = [];
            for (const e of entries) leaves.push(k.b64(await k.leafHash(k.unb64(e))));
            const roots = [];
            for (const c of cases) {
                const proof = c.proof.map(h => k.unb64(h));
                const root = await k.rootFromInclusion(k.unb64(c.leaf), c.index, c.size, proof);
                roots.push([c.size, k.b64(root)]);
            }
            return {leaves, roots};
        }""",
        {"entries": [base64.b64encode(e).decode() for e in ledger.entries], "cases": cases},
    )
    assert computed["leaves"] == [base64.b64encode(h).decode() for h in leaves]
    expected = [
        [size, base64.b64encode(reference_root(leaves[:size])).decode()] for size, _ in computed["roots"]
    ]
    assert computed["roots"] == expected and len(expected) == len(cases)
    values = [
        {"b": [1, {"z": True, "a": "é€\u2028"}], "a": 'x"\\\n'},
        {"card": "c_00", "kind": "check_in", "data": {}},
    ]
    assert page.evaluate("vs => vs.map(v => window.kkVerify.canonicalJson(v))", values) == [
        canonical_json(value).decode() for value in values
    ]


def test_signed_notes_are_checked_as_the_spec_says(ledger: Ledger, page: Page) -> None:
    page.goto(f"{ledger.url}/pruefen")
    ours, stranger = PrivateKey.generate(), PrivateKey.generate()
    origin = "example.org/ledger"
    note = sign_checkpoint(Checkpoint(origin, 7, bytes(range(32))), ours).decode()
    other = sign_checkpoint(Checkpoint(origin, 7, bytes(range(32))), stranger).decode()
    both = note + other.split("\n\n", 1)[1]  # a second signature by an unknown key is ignored
    key = str(NoteVerifier.for_key(origin, ours.public_key))
    outcomes = page.evaluate(
        """async ({notes, key}) => {
            const k = window.kkVerify, verifier = await k.parseVerifierKey(key), out = [];
            for (const n of notes) {
                try { const c = await k.verifyCheckpoint(n, verifier); out.push("ok " + c.size); }
                catch (e) { out.push(e.code || String(e)); }
            }
            return out;
        }""",
        {
            "notes": [note, both, other, note.replace("\n7\n", "\n8\n"), note.replace("\u2014", "-")],
            "key": key,
        },
    )
    assert outcomes == ["ok 7", "ok 7", "note_unverified", "bad_signature", "bad_note"]


def test_a_lying_server_is_caught(ledger: Ledger, page: Page) -> None:
    page.goto(f"{ledger.url}/pruefen")
    index = len(ledger.entries) - 2

    def proof_hash(answer: dict[str, Any]) -> None:
        head, sep, rest = answer["proof"].partition("\n\n")
        lines = head.split("\n")
        lines[-1] = _flip(lines[-1])
        answer["proof"] = "\n".join(lines) + sep + rest

    def signature_only(answer: dict[str, Any]) -> None:
        head, sep, rest = answer["proof"].rpartition(" ")
        raw = bytearray(base64.b64decode(rest.strip()))
        raw[10] ^= 1  # a byte of the signature, not of the key ID
        answer["proof"] = head + sep + base64.b64encode(bytes(raw)).decode() + "\n"

    def entry(answer: dict[str, Any]) -> None:
        answer["entry"] = base64.b64encode(ledger.entries[index - 1]).decode()

    for change, expected in (
        (proof_hash, "bad_proof"),
        (signature_only, "bad_signature"),
        (entry, "bad_proof"),
    ):
        page.unroute_all()
        _rewrite(page, "**/v1/log/entries/*", change)
        assert _check(page, index) == expected, change.__name__
    page.unroute_all()
    assert _check(page, index) == "ok_entry"
    stranger = str(
        NoteVerifier.for_key(
            ledger.api.http.get("/v1/log/key").json()["origin"], PrivateKey.generate().public_key
        )
    )
    assert _check(page, index, key=stranger) == "note_unverified"
    assert _check(page, index, key="not a key") == "bad_key"


RECEIPTS = """<!doctype html><html lang="de"><body><ul>{items}</ul>
<script src="/static/verify.js"></script></body></html>"""


def test_a_volunteers_receipts_are_checked_with_their_openings(ledger: Ledger, page: Page) -> None:
    """The hooks of the volunteer's page: a button per receipt, its outcome beside it."""
    signed_in = page.request.post(f"{ledger.url}/v1/me/session", data={"secret": ledger.ada_secret})
    assert signed_in.status == 204
    mine = page.request.get(f"{ledger.url}/v1/me/openings").json()["openings"]
    assert {item["kind"] for item in mine} == {"card", "event", "card_blocked"}
    others = sorted(set(range(len(ledger.entries))) - {item["index"] for item in mine})
    indexes = [item["index"] for item in mine] + others[-1:]
    items = "".join(
        f'<li id="r{i}" data-kk-verify-entry><button type="button" data-kk-verify-index="{i}">Prüfen</button>'
        f"<span data-kk-verify-result></span></li>"
        for i in indexes
    )
    page.route(
        f"{ledger.url}/meine-belege",
        lambda route: route.fulfill(content_type="text/html", body=RECEIPTS.format(items=items)),
    )
    page.goto(f"{ledger.url}/meine-belege")
    for i in indexes:
        page.click(f"#r{i} button")
    outcomes = {i: _outcome(page, f"#r{i}") for i in indexes}
    assert outcomes == {**{item["index"]: "ok_receipt" for item in mine}, others[-1]: "not_mine"}
    assert "Der Eintrag gehört zu Ihrer Karte" in page.locator(f"#r{mine[0]['index']}").inner_text()

    # An opening that does not open the entry: another salt, another amount, another volunteer.
    def tamper(answer: dict[str, Any]) -> None:
        for item in answer["openings"]:
            if item["kind"] == "card":
                item["volunteer"] = "v_" + "0" * 32
            elif item["kind"] == "event":
                item["sealed"]["clock"]["mono_ms"] += 1
            else:
                item["salt"] = "0" * 32

    _rewrite(page, "**/v1/me/openings", tamper)
    page.reload()
    for item in mine:
        page.click(f"#r{item['index']} button")
    assert {_outcome(page, f"#r{item['index']}") for item in mine} == {"opening_mismatch"}

    page.unroute("**/v1/me/openings")
    page.context.clear_cookies()
    page.reload()
    page.click(f"#r{mine[0]['index']} button")
    assert _outcome(page, f"#r{mine[0]['index']}") == "signed_out"


@pytest.mark.skipif(not os.path.exists("/usr/bin/openssl"), reason="no openssl here")
def test_the_pages_openssl_recipe_verifies_the_checkpoint(ledger: Ledger, page: Page, tmp_path: Path) -> None:
    page.goto(f"{ledger.url}/pruefen")
    recipe = page.locator("#recipe-openssl").inner_text()
    done = subprocess.run(["bash", "-c", recipe], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert "Signature Verified Successfully" in done.stdout, done.stdout + done.stderr
    lines = ledger.api.http.get("/checkpoint").text.split("\n")
    lines[1] = str(int(lines[1]) + 1)  # a bigger tree than the one signed
    (tmp_path / "checkpoint.txt").write_text("\n".join(lines))
    spoiled = recipe.replace("curl", "true", 1)
    failed = subprocess.run(["bash", "-c", spoiled], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert failed.returncode != 0


def test_the_check_page_reads_on_a_phone(ledger: Ledger, page: Page) -> None:
    """At 390×844, with a checked entry on it: labelled, contrasted, and no sideways scrolling."""
    from tests.web.test_web_accessibility import CHECKS_JS, OVERFLOW_JS

    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{ledger.url}/pruefen?index=1")
    assert _outcome(page, "form[data-kk-verify-form]") == "ok_entry"
    assert [p for p in problems if "favicon" not in p and "404" not in p] == []  # no CSP refusal, no error
    assert page.evaluate(CHECKS_JS) == []
    assert page.evaluate(OVERFLOW_JS) is None


def test_the_browser_remembers_the_log_and_notices_a_rewrite(ledger: Ledger, page: Page) -> None:
    """Consistency proofs agree with Python; a later checkpoint must extend the one this browser saw."""
    page.goto(f"{ledger.url}/pruefen")
    size = len(ledger.entries)
    leaves = [leaf_hash(entry) for entry in ledger.entries]
    roots = [base64.b64encode(reference_root(leaves[:n])).decode() for n in range(size + 1)]
    cases = []
    for old in range(1, size + 1):
        for new in range(old, size + 1):
            hashes = ledger.api.http.get(f"/v1/log/consistency?from={old}&to={new}").json()["hashes"]
            cases.append({"old": old, "new": new, "proof": hashes, "a": roots[old], "b": roots[new]})
    longest = max(cases, key=lambda case: len(case["proof"]))
    cases.append({**longest, "a": roots[longest["old"] - 1]})  # another old root
    cases.append({**longest, "proof": longest["proof"][:-1]})  # a proof too short
    verdicts = page.evaluate(
        """async (cases) => {
            const k = window.kkVerify, out = [];
            for (const c of cases) {
                try {
                    const proof = c.proof.map(h => k.unb64(h));
                    await k.verifyConsistency(c.old, c.new, proof, k.unb64(c.a), k.unb64(c.b));
                    out.push("ok");
                } catch (e) { out.push(e.code || String(e)); }
            }
            return out;
        }""",
        cases,
    )
    assert verdicts == ["ok"] * (len(cases) - 2) + ["log_inconsistent"] * 2

    origin = ledger.api.http.get("/v1/log/key").json()["origin"]
    seen = f"kokreativ.verify.seen:{origin}"
    assert _check(page, 0) == "ok_entry"
    assert json.loads(page.evaluate("k => localStorage.getItem(k)", seen)) == {
        "size": str(size),
        "root": roots[size],
    }
    ledger.api.create_card("Grace Hopper")  # the log grows: the new checkpoint must extend the one seen
    with ledger.ctx.storage.read() as tx:
        ledger.entries[:] = tx.tlog_entry_range(0, tx.tlog_size())
    assert _check(page, 0) == "ok_entry"
    assert json.loads(page.evaluate("k => localStorage.getItem(k)", seen))["size"] == str(len(ledger.entries))
    # An older signed state (a cache, a slow mirror) is fine when the one seen extends it, and is not kept.
    with ledger.ctx.storage.read() as tx:
        note = tx.checkpoint(size)
    assert note is not None
    hashes = ledger.api.http.get(f"/v1/log/inclusion?index=0&size={size}").json()["hashes"]
    older = format_tlog_proof(0, [base64.b64decode(h) for h in hashes], note).decode()
    page.route(
        "**/v1/log/entries/0",
        lambda route: route.fulfill(
            content_type="application/json",
            body=json.dumps(
                {"index": 0, "entry": base64.b64encode(ledger.entries[0]).decode(), "proof": older}
            ),
        ),
    )
    assert _check(page, 0) == "ok_entry"
    assert json.loads(page.evaluate("k => localStorage.getItem(k)", seen))["size"] == str(len(ledger.entries))
    page.unroute_all()
    # What a server that rewrote its history looks like to a browser that saw the old one.
    other_root = base64.b64encode(bytes(32)).decode()
    for before in (
        {"size": str(size), "root": other_root},
        {"size": str(len(ledger.entries) + 1), "root": roots[1]},
    ):
        page.evaluate("([k, v]) => localStorage.setItem(k, v)", [seen, json.dumps(before)])
        assert _check(page, 0) == "log_inconsistent", before
