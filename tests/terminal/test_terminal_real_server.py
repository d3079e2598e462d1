"""The kiosk against the real ledger app (server/), in-process on loopback: enrol, tap offline, sync.

The fake ledger in conftest covers failure injection; this checks the two sides agree on the wire.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from protocol import PrivateKey, PublicKey, Reason, b64decode, b64encode, enrolment_message, ids
from protocol.checkpoint import parse_checkpoint_text
from protocol.note import NoteVerifier
from terminal.config import KioskConfig
from terminal.keystore import create_key
from terminal.outbox import Outbox
from terminal.sync import SyncClient
from terminal.tap import Kiosk, Outcome
from terminal.trust import TrustStore
from tests.conftest import clock_from_now

app_module = pytest.importorskip("server.app", reason="server/ is being written concurrently")
runner = pytest.importorskip("server.runner")
datadir = pytest.importorskip("server.datadir")
backup_ledger = pytest.importorskip("server.backup").backup_ledger
LEDGER = datadir.LEDGER


@dataclass
class Ledger:
    url: str
    admin: requests.Session


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    init = datadir.init_data_dir(tmp_path / "server")
    with (
        datadir.open_data_dir(tmp_path / "server") as context,
        runner.serve_in_thread(app_module.create_app(context)) as url,
        requests.Session() as admin,
    ):
        admin.headers["Authorization"] = f"Bearer {init.admin_token}"
        yield Ledger(url, admin)


def _enrol(ledger: Ledger, data_dir: Path) -> tuple[KioskConfig, PrivateKey, dict]:
    site = ledger.admin.post(f"{ledger.url}/v1/admin/sites", json={"name": "Tafel", "tokens_per_hour": 12})
    site.raise_for_status()
    code = ledger.admin.post(
        f"{ledger.url}/v1/admin/enrolment-codes", json={"site_id": site.json()["site_id"]}
    )
    code.raise_for_status()
    key = create_key(data_dir / "kiosk.key")
    digits = code.json()["code"].replace("-", "")  # the signature covers the 20 digits only
    request = {
        "code": digits,
        "public_key": key.public_key.to_b64(),
        "signature": b64encode(key.sign(enrolment_message(digits, key.public_key))),
    }
    answer = requests.post(f"{ledger.url}/v1/enrol", json=request, timeout=10)
    answer.raise_for_status()
    enrolled = answer.json()
    config = KioskConfig(
        kiosk_id=enrolled["kiosk_id"],
        site_id=enrolled["site_id"],
        site_name=enrolled["site_name"],
        server_url=ledger.url,
        server_public_key=PublicKey.from_b64(enrolled["server_public_key"]),
        uid_pseudonym_key=b64decode(enrolled["uid_pseudonym_key"], field="uid_pseudonym_key"),
        tokens_per_hour=enrolled["tokens_per_hour"],
        max_shift_hours=enrolled["max_shift_hours"],
        data_dir=data_dir,
        log_origin=enrolled["log_origin"],
    )
    # The log's verifier key is the server key under the origin (what provision enrol checks too).
    verifier = NoteVerifier.for_key(enrolled["log_origin"], config.server_public_key)
    assert enrolled["log_verifier_key"] == str(verifier)
    return config, key, enrolled["trust"]


def test_offline_taps_sync_to_the_real_ledger_and_verify(ledger, tmp_path, issuer, card_tap, indicator):
    added = ledger.admin.post(
        f"{ledger.url}/v1/admin/issuer-keys", json={"public_key": issuer.key.public_key.to_b64()}
    )
    assert added.json()["key_id"] == issuer.key_id
    config, key, first_trust = _enrol(ledger, tmp_path / "kiosk")
    card = ledger.admin.post(
        f"{ledger.url}/v1/admin/cards", json={"name": "Ada", "site_id": config.site_id}
    ).json()["card_id"]
    clock = clock_from_now()
    with Outbox(config.outbox_path) as outbox:
        trust = TrustStore(outbox, server_key=config.server_public_key, kiosk_id=config.kiosk_id)
        assert issuer.key_id in dict(trust.store(first_trust).issuers)  # the enrolment answer's list
        kiosk = Kiosk(config=config, key=key, outbox=outbox, clock=clock, indicator=indicator, trust=trust)
        assert kiosk.handle_tap(card_tap(card)).kind is Outcome.CHECK_IN
        clock.advance(2 * 3600)
        out = kiosk.handle_tap(card_tap(card))
        assert (out.kind, out.shift_minutes, out.tokens) == (Outcome.CHECK_OUT, 120, 24)
        assert kiosk.handle_tap(card_tap(ids.new_id(ids.CARD))).kind is Outcome.CHECK_IN  # unregistered card

        with SyncClient(config, outbox) as client:
            result = client.sync_once()
            assert result.ok, result
            assert (result.sent, result.acknowledged, result.pending) == (3, 3, 0)
            # The kiosk verified the server's checkpoint, its consistency and the three inclusion proofs.
            verified = outbox.log_checkpoint()
            assert verified is not None and verified.origin == config.log_origin
            assert result.log_size == verified.size
            again = client.sync_once()  # nothing left to send: it witnesses GET /checkpoint instead
            assert (again.error, again.sent) == (None, 0)

        # Other activity grows the log; the next sync proves it only grew.
        grace = {"name": "Grace", "site_id": config.site_id}
        ledger.admin.post(f"{ledger.url}/v1/admin/cards", json=grace).raise_for_status()
        latest = requests.get(f"{ledger.url}/checkpoint", timeout=10)
        served = parse_checkpoint_text(latest.text.split("\n\n")[0] + "\n")
        assert served.size > verified.size
        with SyncClient(config, outbox) as client:
            assert client.sync_once().ok
            assert outbox.log_checkpoint().size == served.size
            # The server takes the kiosk's evidence report (here a made-up one).
            outbox.record_log_inconsistency(
                old_note=verified.note, new_note=latest.content, consistency=[], detail="wire check"
            )
            assert client.report_evidence() == 1
            outbox.clear_alarm()

        # A block on the server reaches the kiosk with the trust list of its next sync.
        ledger.admin.post(
            f"{ledger.url}/v1/admin/cards/{card}/block", json={"reason": "lost"}
        ).raise_for_status()
        with SyncClient(config, outbox, trust_refresh_s=0) as client:
            assert client.sync_once().ok
        clock.advance(60)
        denied = kiosk.handle_tap(card_tap(card))
        assert (denied.kind, denied.reason) == (Outcome.DENIED, Reason.CARD_BLOCKED)

        state = requests.get(f"{ledger.url}/v1/kiosks/{config.kiosk_id}", timeout=10).json()
        assert (state["last_seq"], state["head"]) == (3, outbox.events_from(3, 1)[0].hash)
    balance = ledger.admin.get(f"{ledger.url}/v1/cards/{card}/balance").json()
    assert balance["balance"] == 24
    verify = ledger.admin.get(f"{ledger.url}/v1/admin/verify").json()
    assert verify["ok"] and verify["events"] == 3


def test_the_served_trust_list_names_no_card_yet_blocks_and_coordinators_work(
    ledger, tmp_path, issuer, card_tap, indicator
):
    """Trust list v4 from the real server: no card ID of the economy in it; blocks and bosses still act."""
    ledger.admin.post(
        f"{ledger.url}/v1/admin/issuer-keys", json={"public_key": issuer.key.public_key.to_b64()}
    ).raise_for_status()
    config, key, _ = _enrol(ledger, tmp_path / "kiosk")
    boss, lost, volunteer = (
        ledger.admin.post(
            f"{ledger.url}/v1/admin/cards", json={"name": name, "site_id": config.site_id}
        ).json()["card_id"]
        for name in ("Boss", "Lost", "Vol")
    )
    ledger.admin.post(
        f"{ledger.url}/v1/admin/cards/{boss}/coordinator", json={"coordinator": True}
    ).raise_for_status()
    ledger.admin.post(f"{ledger.url}/v1/admin/cards/{lost}/block", json={"reason": "lost"}).raise_for_status()
    served = requests.get(f"{ledger.url}/v1/kiosks/{config.kiosk_id}/trust", timeout=10).json()
    body = b64decode(served["body"], field="body")
    for card in (boss, lost, volunteer):
        assert card.encode() not in body and card[2:].encode() not in body
    clock = clock_from_now()
    with Outbox(config.outbox_path) as outbox:
        trust = TrustStore(outbox, server_key=config.server_public_key, kiosk_id=config.kiosk_id)
        trust.store(served)
        kiosk = Kiosk(config=config, key=key, outbox=outbox, clock=clock, indicator=indicator, trust=trust)
        assert kiosk.handle_tap(card_tap(boss)).kind is Outcome.COORDINATOR
        denied = kiosk.handle_tap(card_tap(lost))
        assert (denied.kind, denied.reason) == (Outcome.DENIED, Reason.CARD_BLOCKED)
        assert kiosk.handle_tap(card_tap(volunteer)).kind is Outcome.CHECK_IN


def test_after_a_real_restore_and_clearing_the_alarm_one_sync_resends_without_a_tap(
    tmp_path, issuer, card_tap, indicator
):
    """Issue 20 §3: the server goes back to an older backup; the kiosk re-feeds it at once, no tap needed."""
    server_dir = tmp_path / "server"
    init = datadir.init_data_dir(server_dir)
    backup = tmp_path / "ledger-backup.db"
    clock = clock_from_now()

    def serve():  # the server process, started again after the restore
        context = datadir.open_data_dir(server_dir)
        return context, runner.serve_in_thread(app_module.create_app(context))

    context, serving = serve()
    with context, serving as url, requests.Session() as admin:
        admin.headers["Authorization"] = f"Bearer {init.admin_token}"
        ledger = Ledger(url, admin)
        admin.post(f"{url}/v1/admin/issuer-keys", json={"public_key": issuer.key.public_key.to_b64()})
        config, key, first_trust = _enrol(ledger, tmp_path / "kiosk")
        outbox = Outbox(config.outbox_path)
        trust = TrustStore(outbox, server_key=config.server_public_key, kiosk_id=config.kiosk_id)
        trust.store(first_trust)
        kiosk = Kiosk(config=config, key=key, outbox=outbox, clock=clock, indicator=indicator, trust=trust)
        cards = [ids.new_id(ids.CARD) for _ in range(3)]

        def taps(count: int) -> None:
            for n in range(count):
                clock.advance(61)
                kiosk.handle_tap(card_tap(cards[n % len(cards)]))

        taps(2)
        with SyncClient(config, outbox) as client:
            assert client.sync_once().ok
        backup_ledger(server_dir, backup)  # the server's backup holds seq 1..2
        taps(4)
        with SyncClient(config, outbox) as client:
            assert client.sync_once().pending == 0  # the server now holds 1..6; the backup does not
    # The restore, as docs/operations.md tells it: stop the server, put the backup in place, start it.
    for suffix in ("", "-wal", "-shm"):
        (server_dir / f"{LEDGER}{suffix}").unlink(missing_ok=True)
    shutil.copy2(backup, server_dir / LEDGER)
    context, serving = serve()
    with context, serving as url, outbox:
        config = dataclasses.replace(config, server_url=url)
        state_url = f"{url}/v1/kiosks/{config.kiosk_id}"
        assert requests.get(state_url, timeout=10).json()["last_seq"] == 2
        with SyncClient(config, outbox) as client:
            alarmed = client.sync_once()  # no tap since: the kiosk's witness finds the log went back
            assert alarmed.error == Reason.LOG_INCONSISTENT.value and outbox.alarm is not None
            outbox.clear_alarm()  # a coordinator knows it is the restore
            result = client.sync_once()
        assert result.ok, result
        assert (result.sent, result.acknowledged, result.pending) == (4, 0, 0)  # 3..6 again, all synced
        state = requests.get(state_url, timeout=10).json()
        assert (state["last_seq"], state["head"]) == (6, outbox.events_from(6, 1)[0].hash)
        assert outbox.log_checkpoint() is not None  # witnessed afresh from the restored log
        with SyncClient(config, outbox) as client:
            again = client.sync_once()  # nothing to resend twice
        assert (again.error, again.sent) == (None, 0)
        verify = requests.get(
            f"{url}/v1/admin/verify", headers={"Authorization": f"Bearer {init.admin_token}"}, timeout=10
        ).json()
        assert verify["ok"] and verify["events"] == 6  # nothing lost, nothing twice
